package dht

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
)

// TestNetwork runs an in-process DHT of 32 nodes on 127.0.0.1, each bootstrapped from
// one or two earlier nodes. One node announces an info-hash; a node that holds no
// announcement itself and was bootstrapped elsewhere finds the peer with GetPeers.
func TestNetwork(t *testing.T) {
	const size = 32
	rng := rand.New(rand.NewPCG(1, 2))
	nodes := make([]*Node, size)
	boot := make([][]string, size)
	for i := range nodes {
		cfg := Config{}
		if i > 0 {
			cfg.Bootstrap = []string{nodes[i-1].Addr().String()}
			if i > 1 {
				cfg.Bootstrap = append(cfg.Bootstrap, nodes[rng.IntN(i-1)].Addr().String())
			}
		}
		boot[i] = cfg.Bootstrap
		nodes[i] = startNode(t, cfg)
		if i > 0 {
			if err := nodes[i].Bootstrap(testCtx(t, 5*time.Second)); err != nil {
				t.Fatalf("node %d: %v", i, err)
			}
		}
	}
	for i, n := range nodes {
		if s := n.Stats(); s.Nodes+s.Questionable == 0 {
			t.Errorf("node %d has an empty routing table", i)
		}
	}

	// FindNode finds the K nodes closest to random targets: compare with the truth.
	for trial := range 5 {
		target := RandomID()
		from := nodes[rng.IntN(size)]
		var all []ID
		for _, n := range nodes {
			if n != from {
				all = append(all, n.ID())
			}
		}
		slices.SortFunc(all, func(a, b ID) int { return cmpDistance(target, a, b) })
		got, err := from.FindNode(testCtx(t, 5*time.Second), target)
		if err != nil {
			t.Fatalf("find_node: %v", err)
		}
		if len(got) != K {
			t.Fatalf("trial %d: find_node returned %d nodes, want %d", trial, len(got), K)
		}
		for i := range got {
			if got[i].ID != all[i] {
				t.Fatalf("trial %d: find_node's node %d is %v, want %v", trial, i, got[i].ID, all[i])
			}
		}
	}

	var ih bt.InfoHash
	copy(ih[:], "network test infohash")
	announcer := nodes[7]
	want := netip.MustParseAddrPort("127.0.0.1:4242")
	if _, err := announcer.Announce(testCtx(t, 5*time.Second), ih, want.Port(), false); err != nil {
		t.Fatalf("announce: %v", err)
	}
	holders := 0
	var querier *Node
	for i := size - 1; i >= 0; i-- {
		n := nodes[i]
		n.mu.Lock()
		held := len(n.store.get(ih, 10, time.Now())) > 0
		n.mu.Unlock()
		if held {
			holders++
		} else if querier == nil && n != announcer && !slices.Contains(boot[i], announcer.Addr().String()) &&
			!slices.Contains(boot[7], n.Addr().String()) {
			querier = n
		}
	}
	if holders == 0 {
		t.Fatal("no node stored the announcement")
	}
	t.Logf("%d nodes hold the announcement", holders)
	peers, err := querier.GetPeers(testCtx(t, 5*time.Second), ih)
	if err != nil {
		t.Fatalf("get_peers: %v", err)
	}
	if !slices.Contains(peers, want) {
		t.Fatalf("get_peers found %v, want %v among them", peers, want)
	}
}
