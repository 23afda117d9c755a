package engine

import (
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
)

// HAVE honesty (issue 13, point 4). A HAVE cannot be taken back, so we
// advertise only what we can keep serving:
//
//   - With a tier, a new peer's bitfield is what the tier holds, and a HAVE
//     goes out when the tier has stored a piece (tierEvent), not when it
//     verified. A piece the tier evicts leaves what new peers are told.
//   - With RAM alone, a new peer's bitfield is what the RAM cache holds now,
//     and a HAVE goes out on verification (the piece is in RAM then).
//   - A seed with complete data advertises everything.
//
// What was advertised may still be evicted (RAM, or the tier's LRU), and a
// peer told earlier keeps asking for it: libtorrent re-requests a rejected
// block at once, for ever, which made a RAM-only partial seed spin (2.5 M
// cache misses a minute, 66 % of a core, MB/s of rejects each way). Policy: a
// request for a piece we no longer hold is rejected (BEP 6; unanswered under
// BEP 3), and a peer that has had rejectsBeforeChoke such rejects since its
// last penalty is choked for a while: penaltyBase, doubling with each penalty
// up to penaltyMax; the rechoke does not unchoke it meanwhile. So such a peer
// costs at most about rejectsBeforeChoke + its request queue of rejects per
// penalty, a bounded, shrinking rate, while the peers that ask for what we
// hold are served as before. Choking was chosen over allowed-fast or suggest:
// neither stops a client from asking again for what we advertised (both are
// hints), and allowed-fast would oblige us to serve a choked peer. Choking
// also serves peers that ask for what we hold less while penalised; that is
// the price of a lie we cannot take back, and it shrinks as the penalty grows.
const (
	rejectsBeforeChoke = 32
	penaltyBase        = 30 * time.Second
	penaltyMax         = 8 * time.Minute
)

// honesty is a peer's record of asking for what we no longer hold.
type honesty struct {
	rejects   int       // requests for pieces we no longer hold, since its last penalty
	until     time.Time // choked until then
	penalties int
}

// advertised (owner) is the bitfield a new peer is told we have.
func (t *Torrent) advertised() bt.Bitfield {
	var bf bt.Bitfield
	switch {
	case t.storage != nil:
		bf = t.have.Clone()
	case t.tier.st != nil:
		bf = t.tier.adv.Clone()
	default:
		bf = bt.NewBitfield(t.info.NumPieces)
		for i := 0; i < t.info.NumPieces; i++ {
			if t.have.Has(i) && t.c.cache.Has(t.cacheKey(i)) {
				bf.Set(i)
			}
		}
	}
	t.tier.advCount.Store(int64(bf.Count()))
	return bf
}

// refusedUnheld (owner) counts a request p made for a piece we no longer hold,
// and chokes p for a while once it has made rejectsBeforeChoke of them. It
// reports whether p was choked (its pending requests are then gone).
func (t *Torrent) refusedUnheld(p *peer, now time.Time) bool {
	t.tier.rejects.Add(1)
	p.hon.rejects++
	if p.hon.rejects < rejectsBeforeChoke || p.amChoking {
		return false
	}
	p.hon.rejects = 0
	d := min(penaltyBase<<min(p.hon.penalties, 5), penaltyMax)
	p.hon.penalties++
	p.hon.until = now.Add(d)
	t.tier.penalties.Add(1)
	t.log.Info("choking a peer that keeps asking for pieces we no longer hold",
		"addr", p.addr, "peer_id", p.conn.PeerID(), "for", d)
	t.choke(p)
	return true
}

// penalized reports whether p is choked for asking for what we no longer hold.
func (t *Torrent) penalized(p *peer, now time.Time) bool { return now.Before(p.hon.until) }
