package engine

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/hyperblow/hyperblow/engine/wire"
)

// BEP 11 peer exchange: every pexEvery each peer that speaks ut_pex hears which
// peers we connected to and lost since our last message to it (at most
// wire.MaxPexPeers each); what peers tell us becomes candidates to dial. A peer
// that sends PEX more often than once a pexMinGap is ignored in between. Private
// torrents (BEP 27) do not exchange peers.
const (
	ourPexID  = 2
	pexEvery  = time.Minute
	pexMinGap = 45 * time.Second
)

// listenAddr is the address a peer accepts connections on: the one we dialled,
// or for an incoming peer its address with the port from its extension handshake.
func (p *peer) listenAddr() netip.AddrPort {
	if p.incoming {
		if p.ext.Port == 0 {
			return netip.AddrPort{}
		}
		return netip.AddrPortFrom(p.addr.Addr(), p.ext.Port)
	}
	return p.addr
}

// handlePex takes a peer's ut_pex message.
func (t *Torrent) handlePex(p *peer, payload []byte, now time.Time) error {
	if t.info.Private {
		return nil
	}
	if !p.pexGotAt.IsZero() && now.Sub(p.pexGotAt) < pexMinGap {
		return nil // too often: ignored, not punished (clients differ on the gap)
	}
	p.pexGotAt = now
	m, err := wire.ParsePexMsg(payload)
	if err != nil {
		return err
	}
	t.addAddrs(append(m.Added, m.Added6...), false)
	t.connectMore(now)
	return nil
}

// sendPex sends each ut_pex peer what changed since our last message to it.
// It runs every tick; a peer that is due but had nothing to hear is passed over
// (no map built, nothing allocated) until the set of connected peers changes:
// an idle torrent's tick allocates nothing here.
func (t *Torrent) sendPex(now time.Time) {
	if t.info.Private {
		return
	}
	var sig uint64 // pexSig of the connected set, once a due peer needs it
	var current map[netip.AddrPort]bool
	for _, p := range t.peers {
		if p.closing || now.Sub(p.pexSentAt) < pexEvery {
			continue
		}
		id := p.ext.M[wire.ExtPex]
		if id == 0 {
			continue
		}
		if sig == 0 {
			sig = t.pexSig()
		}
		if p.pexNothing == sig {
			continue // nothing to tell it at the last look, and nothing changed since
		}
		if current == nil {
			current = make(map[netip.AddrPort]bool, len(t.peers))
			for _, q := range t.peers {
				if a := q.listenAddr(); a.IsValid() && !q.closing {
					current[a] = true
				}
			}
		}
		if p.pexSent == nil {
			p.pexSent = make(map[netip.AddrPort]bool)
		}
		var m wire.PexMsg
		self := p.listenAddr()
		for a := range current {
			if a != self && !p.pexSent[a] && len(m.Added)+len(m.Added6) < wire.MaxPexPeers {
				if a.Addr().Unmap().Is4() {
					m.Added = append(m.Added, a)
				} else {
					m.Added6 = append(m.Added6, a)
				}
				p.pexSent[a] = true
			}
		}
		for a := range p.pexSent {
			if !current[a] && len(m.Dropped)+len(m.Dropped6) < wire.MaxPexPeers {
				if a.Addr().Unmap().Is4() {
					m.Dropped = append(m.Dropped, a)
				} else {
					m.Dropped6 = append(m.Dropped6, a)
				}
				delete(p.pexSent, a)
			}
		}
		if len(m.Added)+len(m.Added6)+len(m.Dropped)+len(m.Dropped6) == 0 {
			p.pexNothing = sig
			continue // nothing yet: the first peer we meet is told at once, not a minute later
		}
		p.pexNothing = 0
		p.pexSentAt = now
		p.conn.Send(wire.Message{ID: wire.Extended, ExtID: id, Payload: wire.AppendPexMsg(nil, m)})
	}
}

// pexSig is a signature of the set of connected peers' listen addresses that
// sendPex reads (order-free: a sum of mixed hashes), never 0. A peer whose
// pexNothing equals it had nothing to hear at its last look, and still has
// nothing.
func (t *Torrent) pexSig() uint64 {
	sig := uint64(len(t.peers))
	for _, q := range t.peers {
		if a := q.listenAddr(); a.IsValid() && !q.closing {
			b := a.Addr().As16()
			sig += mix64(binary.LittleEndian.Uint64(b[:8]) ^ mix64(binary.LittleEndian.Uint64(b[8:])^uint64(a.Port())))
		}
	}
	if sig == 0 {
		sig = 1
	}
	return sig
}

// mix64 is SplitMix64's finalizer.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}
