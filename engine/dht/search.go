package dht

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
)

// FindNode looks up the K nodes closest to target (BEP 5 find_node, iterated) and
// returns those that answered, closest first.
func (n *Node) FindNode(ctx context.Context, target ID) ([]NodeInfo, error) {
	cs, err := n.lookup(ctx, target, methodFindNode, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("dht: find_node %s: %w", target, err)
	}
	out := make([]NodeInfo, len(cs))
	for i, c := range cs {
		out[i] = c.NodeInfo
	}
	return out, nil
}

// GetPeers looks up peers for ih (BEP 5 get_peers, iterated) and returns every peer
// found, at most a few thousand, including peers announced to this node itself.
func (n *Node) GetPeers(ctx context.Context, ih bt.InfoHash) ([]netip.AddrPort, error) {
	var peers []netip.AddrPort
	err := n.GetPeersFunc(ctx, ih, func(ps []netip.AddrPort) { peers = append(peers, ps...) })
	return peers, err
}

// GetPeersFunc is GetPeers streaming: fn receives each batch of new peers as the
// lookup finds them, one call at a time, on the caller's goroutine. The lookup ends
// when the K closest nodes have answered; peers found before a failure or cancellation
// have already been passed to fn.
func (n *Node) GetPeersFunc(ctx context.Context, ih bt.InfoHash, fn func([]netip.AddrPort)) error {
	seen := make(map[netip.AddrPort]bool)
	emit := func(ps []netip.AddrPort) {
		var fresh []netip.AddrPort
		for _, p := range ps {
			if !seen[p] {
				seen[p] = true
				fresh = append(fresh, p)
			}
		}
		if len(fresh) > 0 {
			fn(fresh)
		}
	}
	n.mu.Lock()
	local := n.store.get(ih, maxValuesVerified, time.Now())
	n.mu.Unlock()
	emit(local)
	if _, err := n.lookup(ctx, ID(ih), methodGetPeers, nil, emit); err != nil {
		return fmt.Errorf("dht: get_peers %s: %w", ih, err)
	}
	return nil
}

// Announce tells the DHT that a peer for ih listens on port (BEP 5 announce_peer): it
// looks up the K nodes closest to ih, then announces to each that gave a token. With
// impliedPort, receivers use the source port of our UDP packets instead of port (for
// peers reachable at the DHT socket's port, as with uTP or NAT); port 0 then means
// the DHT port. It returns the peers the lookup found, and an error unless at least
// one node accepted the announcement.
func (n *Node) Announce(ctx context.Context, ih bt.InfoHash, port uint16, impliedPort bool) ([]netip.AddrPort, error) {
	if port == 0 {
		if !impliedPort {
			return nil, fmt.Errorf("dht: announce %s: port 0", ih)
		}
		port = n.addr.Port()
	}
	var peers []netip.AddrPort
	closest, err := n.lookup(ctx, ID(ih), methodGetPeers, nil, func(ps []netip.AddrPort) { peers = append(peers, ps...) })
	if err != nil {
		return peers, fmt.Errorf("dht: announce %s: %w", ih, err)
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		ok      int
		lastErr error
	)
	for _, c := range closest {
		if len(c.token) == 0 {
			continue
		}
		wg.Go(func() {
			_, err := n.query(ctx, c.Addr, methodAnnouncePeer, queryArgs{Target: ID(ih), Port: port, ImpliedPort: impliedPort, Token: c.token})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				lastErr = err
				return
			}
			ok++
		})
	}
	wg.Wait()
	if ok == 0 {
		if lastErr == nil {
			return peers, fmt.Errorf("dht: announce %s: %w (no node gave a token)", ih, ErrNotAnnounced)
		}
		return peers, fmt.Errorf("dht: announce %s: %w: %w", ih, ErrNotAnnounced, lastErr)
	}
	n.log.Debug("dht: announced", "infohash", ih, "nodes", ok)
	return peers, nil
}
