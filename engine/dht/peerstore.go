package dht

import (
	"net/netip"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
)

// Peer store limits (BEP 5 announce_peer). An announcement expires after peerTTL
// unless renewed (BEP 5 clients re-announce every 15 to 30 minutes).
const (
	peerTTL              = 30 * time.Minute
	defaultMaxPeersPerIH = 100
	defaultMaxInfoHashes = 10_000
)

// peerStore holds the peers announced to us, per info-hash, each with an expiry. It is
// bounded in both dimensions: a full swarm drops its oldest announcement for a new
// one; when the number of info-hashes is at its limit, a new info-hash is refused
// (evicting would let a flood of fake info-hashes flush real ones). A plain struct with
// time passed in; the Node guards it with its mutex.
type peerStore struct {
	maxPeers, maxHashes int
	swarms              map[bt.InfoHash]map[netip.AddrPort]time.Time // peer -> expiry
	peers               int                                          // total across swarms
	swept               time.Time                                    // last full expiry sweep
}

// sweepEvery bounds how often a full store is swept for expired entries on add: a
// sweep walks every stored peer, which a flood of new info-hashes must not trigger
// on every packet.
const sweepEvery = time.Minute

func newPeerStore(maxPeers, maxHashes int) *peerStore {
	return &peerStore{maxPeers: maxPeers, maxHashes: maxHashes, swarms: make(map[bt.InfoHash]map[netip.AddrPort]time.Time)}
}

// add records peer p for ih until now+peerTTL. It returns false when the store is full
// of other info-hashes.
func (s *peerStore) add(ih bt.InfoHash, p netip.AddrPort, now time.Time) bool {
	sw := s.swarms[ih]
	if sw == nil {
		if len(s.swarms) >= s.maxHashes && now.Sub(s.swept) >= sweepEvery {
			s.expire(now)
		}
		if len(s.swarms) >= s.maxHashes {
			return false
		}
		sw = make(map[netip.AddrPort]time.Time)
		s.swarms[ih] = sw
	}
	if _, ok := sw[p]; !ok {
		if len(sw) >= s.maxPeers {
			s.expireSwarm(ih, sw, now)
		}
		if len(sw) >= s.maxPeers {
			var oldest netip.AddrPort
			var at time.Time
			for q, exp := range sw {
				if at.IsZero() || exp.Before(at) {
					oldest, at = q, exp
				}
			}
			delete(sw, oldest)
			s.peers--
		}
		s.peers++
	}
	sw[p] = now.Add(peerTTL)
	s.swarms[ih] = sw // expireSwarm may have dropped it while it was empty
	return true
}

// get returns up to max live peers of ih (in map order, so repeated queries see
// different subsets of a large swarm).
func (s *peerStore) get(ih bt.InfoHash, max int, now time.Time) []netip.AddrPort {
	sw := s.swarms[ih]
	if sw == nil {
		return nil
	}
	out := make([]netip.AddrPort, 0, min(max, len(sw)))
	for p, exp := range sw {
		if len(out) == max {
			break
		}
		if now.Before(exp) {
			out = append(out, p)
		}
	}
	return out
}

// expire drops every expired announcement and empty swarm.
func (s *peerStore) expire(now time.Time) {
	s.swept = now
	for ih, sw := range s.swarms {
		s.expireSwarm(ih, sw, now)
	}
}

func (s *peerStore) expireSwarm(ih bt.InfoHash, sw map[netip.AddrPort]time.Time, now time.Time) {
	for p, exp := range sw {
		if !now.Before(exp) {
			delete(sw, p)
			s.peers--
		}
	}
	if len(sw) == 0 {
		delete(s.swarms, ih)
	}
}
