package dht

import (
	"testing"
	"time"
)

// TestMaintain: maintenance refreshes stale buckets with a lookup and pings
// questionable nodes; a node that stops answering goes bad after two failures.
func TestMaintain(t *testing.T) {
	a := startNode(t, Config{QueryTimeout: 100 * time.Millisecond})
	b := startNode(t, Config{Bootstrap: []string{a.Addr().String()}, QueryTimeout: 100 * time.Millisecond})
	if err := b.Bootstrap(testCtx(t, 3*time.Second)); err != nil {
		t.Fatal(err)
	}
	bID := b.ID()
	later := time.Now().Add(16 * time.Minute) // every bucket stale, every node questionable
	sent := b.Stats().QueriesSent
	b.maintain(later) // runs the refresh lookup (one find_node to a) before returning
	waitFor(t, "refresh and ping queries", func() bool { return b.Stats().QueriesSent >= sent+2 })

	// b goes away: a's pings and refresh lookups time out, and b turns bad, but not
	// before two of them did (BEP 5: "multiple queries in a row").
	waitFor(t, "a to know b", func() bool { return a.Stats().Nodes == 1 })
	b.Close()
	bad := func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.table.find(bID).state(later) == stateBad
	}
	for range 3 {
		a.maintain(later)
		waitFor(t, "a's pings to end", func() bool {
			a.mu.Lock()
			defer a.mu.Unlock()
			return len(a.pinging) == 0
		})
		if bad() {
			break
		}
	}
	if !bad() {
		t.Fatal("b did not turn bad")
	}
	if s := a.Stats(); s.Timeouts < 2 {
		t.Fatalf("b bad after %d timeouts", s.Timeouts)
	}
}
