package engine

import (
	"errors"

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
//   - A seed is a torrent whose tier holds every piece (a read-only Layout,
//     ReaderTier): it advertises what the tier holds, everything.
//
// What was advertised may still be evicted (RAM, or the tier's LRU), and a
// peer told earlier keeps asking for it: libtorrent re-requests a rejected
// block at once, for ever, which made a RAM-only partial seed spin (2.5 M
// cache misses a minute, 66 % of a core, MB/s of rejects each way).
//
// Policy: a request for a piece we no longer hold is rejected (BEP 6;
// unanswered under BEP 3), and after rejectsBeforeReset of them the
// connection is closed. Closing is the one way to take HAVEs back: on its
// next connection the peer gets a bitfield of what we hold then, and asks
// for that. So a peer costs at most rejectsBeforeReset refusals per
// connection (plus its reconnection, which our dial backoff or its own
// bounds), and is served what we do hold. Choking it for a while was tried
// first: it bounds the rejects as well, but Transmission, still believing
// the old HAVEs, asked only for evicted pieces after each unchoke and got 0
// bytes in 90 s (TestPartialSeedHonestTransmission). SUGGEST and
// ALLOWED_FAST are hints: neither stops a client from asking for what we
// advertised, and ALLOWED_FAST would oblige us to serve a choked peer.
const rejectsBeforeReset = 32

// errUnheld closes a connection whose peer keeps asking for pieces we no
// longer hold (evicted since we told it).
var errUnheld = errors.New("kept asking for pieces evicted since we announced them: reconnect for a true bitfield")

// advertised (owner) is the bitfield a new peer is told we have.
func (t *Torrent) advertised() bt.Bitfield {
	var bf bt.Bitfield
	switch {
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

// refusedUnheld (owner) counts a request p made for a piece we no longer
// hold, and closes the connection once it has made rejectsBeforeReset of
// them. It reports whether p was closed (its pending requests are gone).
func (t *Torrent) refusedUnheld(p *peer) bool {
	t.tier.rejects.Add(1)
	p.unheld++
	if p.unheld < rejectsBeforeReset {
		return false
	}
	t.tier.resets.Add(1)
	t.dropPeer(p, errUnheld)
	p.upPending = nil
	return true
}
