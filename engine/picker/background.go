package picker

import (
	"math/rand/v2"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
)

// Background pieces are wanted with no deadline (--fetch=file|all): they are
// requested only when a peer has nothing with a deadline to do, rarest first,
// a few pieces at a time so that each completes quickly.

// maxBackgroundActive bounds the background pieces in progress at once.
const maxBackgroundActive = 16

// SetBackground marks piece i wanted in the background, or not.
func (p *Picker) SetBackground(i int, on bool) {
	if i < 0 || i >= p.numPieces {
		return
	}
	if p.background.Len() == 0 {
		p.background = bt.NewBitfield(p.numPieces)
	}
	if on == p.background.Has(i) {
		return
	}
	if on {
		p.background.Set(i)
		p.numBackground++
	} else {
		p.background.Clear(i)
		p.numBackground--
	}
}

// Background reports whether piece i is wanted in the background.
func (p *Picker) Background(i int) bool { return p.background.Has(i) }

// NumBackground is the number of pieces wanted in the background.
func (p *Picker) NumBackground() int { return p.numBackground }

// pickBackground continues background pieces in progress, then starts the
// rarest the peer has.
func (p *Picker) pickBackground(out []Block, peer PeerKey, has func(int) bool, max int, now time.Time) []Block {
	if p.numBackground == 0 {
		return out
	}
	active := 0
	for i, ap := range p.active {
		if _, wanted := p.wants[i]; wanted || !p.background.Has(i) {
			continue
		}
		active++
		if len(out) < max && has(i) && ap.unasked > 0 && !(ap.exclusive && ap.owner != 0 && ap.owner != peer) {
			out = p.askBlocks(out, peer, i, ap, max, now)
		}
	}
	for len(out) < max && active < maxBackgroundActive {
		i := p.rarestBackground(has)
		if i < 0 {
			break
		}
		active++
		out = p.askBlocks(out, peer, i, p.activate(i), max, now)
	}
	return out
}

// rarestBackground returns the background piece the peer has that is not in
// progress and is held by the fewest peers, starting the scan at a random index
// so that equally rare pieces spread over peers; -1 if none.
func (p *Picker) rarestBackground(has func(int) bool) int {
	best, bestAvail := -1, ^uint16(0)
	start := rand.IntN(p.numPieces)
	for k := 0; k < p.numPieces; k++ {
		i := (start + k) % p.numPieces
		if !p.background.Has(i) || p.active[i] != nil || !has(i) {
			continue
		}
		if _, wanted := p.wants[i]; wanted {
			continue
		}
		if a := p.avail[i]; a < bestAvail {
			best, bestAvail = i, a
			if a <= 1 {
				break
			}
		}
	}
	return best
}

// askBlocks hands out the unasked blocks of an active piece, in order (an
// exclusive piece becomes the peer's).
func (p *Picker) askBlocks(out []Block, peer PeerKey, i int, ap *activePiece, max int, now time.Time) []Block {
	if ap.exclusive {
		ap.owner = peer
	}
	for b := ap.firstFree; b < len(ap.blocks) && len(out) < max; b++ {
		bs := &ap.blocks[b]
		if bs.received || len(bs.reqs) > 0 {
			if b == ap.firstFree {
				ap.firstFree++
			}
			continue
		}
		bs.reqs = append(bs.reqs, request{peer, now})
		ap.unasked--
		out = append(out, p.block(i, b))
	}
	return out
}
