package engine

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/hyperblow/hyperblow/engine/wire"
)

// BEP 3 choking: every rechokeEvery the interested peers that gave us the most
// (or, when we seed, took the most) keep the regular upload slots; one more slot,
// the optimistic unchoke, rotates every optimisticEvery among the others so that
// new peers get a chance to show their rate.
const (
	rechokeEvery    = 10 * time.Second
	optimisticEvery = 30 * time.Second
)

// choke stops uploading to p; queued blocks are dropped (and rejected, BEP 6).
func (t *Torrent) choke(p *peer) {
	if p.amChoking {
		return
	}
	p.amChoking = true
	p.optimistic = false
	t.unchoked--
	var dropped []wire.Message
	p.conn.CancelQueued(func(m wire.Message) bool {
		if m.ID == wire.Piece {
			dropped = append(dropped, m)
			return true
		}
		return false
	})
	p.conn.Send(wire.Message{ID: wire.Choke})
	if p.fast {
		for _, m := range p.upPending {
			p.conn.Send(wire.Message{ID: wire.Reject, Index: m.Index, Begin: m.Begin, Length: m.Length})
		}
	}
	p.upPending = nil
	for _, m := range dropped {
		t.stats.uploaded.Add(-int64(len(m.Payload)))
		p.up -= int64(len(m.Payload))
		if p.fast {
			p.conn.Send(wire.Message{ID: wire.Reject, Index: m.Index, Begin: m.Begin, Length: uint32(len(m.Payload))})
		}
	}
}

func (t *Torrent) unchoke(p *peer) {
	if !p.amChoking {
		return
	}
	p.amChoking = false
	t.unchoked++
	p.conn.Send(wire.Message{ID: wire.Unchoke})
}

// maybeUnchoke gives a newly interested peer a free slot at once, without waiting
// for the next rechoke.
func (t *Torrent) maybeUnchoke(p *peer) {
	if p.amChoking && t.have.Count() > 0 && t.unchoked < t.c.cfg.UploadSlots+1 {
		t.unchoke(p)
	}
}

// rechoke redistributes the upload slots by rate.
func (t *Torrent) rechoke(now time.Time, rotate bool) {
	secs := rechokeEvery.Seconds()
	var cands []*peer
	var opt *peer
	for _, p := range t.peers {
		p.downRate = float64(p.down-p.lastDown) / secs
		p.upRate = float64(p.up-p.lastUp) / secs
		p.lastDown, p.lastUp = p.down, p.up
		if !p.peerInterested {
			t.choke(p)
			continue
		}
		if p.optimistic && !rotate {
			opt = p
			continue
		}
		cands = append(cands, p)
	}
	seeding := t.have.Full()
	slices.SortFunc(cands, func(a, b *peer) int {
		ra, rb := a.downRate, b.downRate
		if seeding {
			ra, rb = a.upRate, b.upRate
		}
		switch {
		case ra > rb:
			return -1
		case ra < rb:
			return 1
		}
		return 0
	})
	slots := t.c.cfg.UploadSlots
	if t.have.Count() == 0 {
		slots = 0
	}
	for i, p := range cands {
		if i < slots {
			p.optimistic = false
			t.unchoke(p)
		}
	}
	rest := cands[min(slots, len(cands)):]
	if opt == nil && len(rest) > 0 && t.have.Count() > 0 {
		opt = rest[rand.IntN(len(rest))]
		opt.optimistic = true
		t.unchoke(opt)
	}
	for _, p := range rest {
		if p != opt {
			t.choke(p)
		}
	}
}
