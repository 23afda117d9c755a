package dht

import (
	"net/netip"
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// idWithPrefix returns an id sharing exactly cpl bits with self, distinct per seq.
func idWithPrefix(self ID, cpl int, seq byte) ID {
	id := self
	id[cpl/8] ^= 0x80 >> (cpl % 8)
	id[19] ^= seq << 1 // low bits: different ids, same bucket (for cpl < 152)
	return id
}

func addrN(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 6881)
}

// TestTableSplit: the bucket containing our id splits when full; others do not.
func TestTableSplit(t *testing.T) {
	self := testID("self")
	tb := newTable(self, t0)
	// K nodes far away (cpl 0) fill the only bucket.
	for i := range K {
		if in, _ := tb.seen(NodeInfo{idWithPrefix(self, 0, byte(i)), addrN(i)}, t0, true); !in {
			t.Fatalf("node %d not added", i)
		}
	}
	if len(tb.buckets) != 1 {
		t.Fatalf("%d buckets before split", len(tb.buckets))
	}
	// A node near us: the full bucket contains our id, so it splits.
	if in, _ := tb.seen(NodeInfo{idWithPrefix(self, 5, 0), addrN(100)}, t0, true); !in {
		t.Fatal("near node not added after split")
	}
	if len(tb.buckets) != 2 || len(tb.buckets[0].nodes) != K || len(tb.buckets[1].nodes) != 1 {
		t.Fatalf("after split: %d buckets, sizes %d, %d", len(tb.buckets), len(tb.buckets[0].nodes), len(tb.buckets[1].nodes))
	}
	// Another far node: bucket 0 no longer contains our id and is full of good nodes,
	// so it is refused (kept as a replacement).
	far := NodeInfo{idWithPrefix(self, 0, 50), addrN(50)}
	if in, ping := tb.seen(far, t0, true); in || ping != nil {
		t.Fatalf("far node: in=%v ping=%v, want refused with nothing to ping", in, ping)
	}
	if len(tb.buckets[0].replacements) != 1 {
		t.Fatalf("replacements %d", len(tb.buckets[0].replacements))
	}
	// Many near nodes split repeatedly; every node stays in the bucket of its range.
	for i := range 40 {
		tb.seen(NodeInfo{idWithPrefix(self, 1+i%20, 1+byte(i/20)), addrN(200 + i)}, t0, true)
	}
	for i, b := range tb.buckets {
		for _, n := range b.nodes {
			if got := tb.bucketIndex(n.ID); got != i {
				t.Fatalf("node with cpl %d in bucket %d", commonPrefixLen(self, n.ID), i)
			}
		}
		if len(b.nodes) > K {
			t.Fatalf("bucket %d holds %d nodes", i, len(b.nodes))
		}
	}
	if tb.len() != K+1+40 {
		t.Fatalf("table holds %d nodes, want %d", tb.len(), K+41)
	}
}

// TestTableStates: good, questionable and bad by time and failures (BEP 5).
func TestTableStates(t *testing.T) {
	self := testID("self")
	tb := newTable(self, t0)
	a := NodeInfo{idWithPrefix(self, 0, 1), addrN(1)}
	tb.seen(a, t0, true)
	e := tb.find(a.ID)
	for _, tc := range []struct {
		at   time.Duration
		want nodeState
	}{{0, stateGood}, {14 * time.Minute, stateGood}, {15 * time.Minute, stateQuestionable}} {
		if got := e.state(t0.Add(tc.at)); got != tc.want {
			t.Errorf("after %v: %v, want %v", tc.at, got, tc.want)
		}
	}
	// A query from it (having answered once) makes it good again.
	tb.seen(a, t0.Add(20*time.Minute), false)
	if got := e.state(t0.Add(21 * time.Minute)); got != stateGood {
		t.Errorf("after its query: %v", got)
	}
	tb.failed(a.ID, t0.Add(22*time.Minute))
	if got := e.state(t0.Add(22 * time.Minute)); got == stateBad {
		t.Errorf("bad after one failure")
	}
	tb.failed(a.ID, t0.Add(22*time.Minute))
	if got := e.state(t0.Add(22 * time.Minute)); got != stateBad {
		t.Errorf("after two failures: %v", got)
	}
	// A reply clears failures.
	tb.seen(a, t0.Add(23*time.Minute), true)
	if got := e.state(t0.Add(23 * time.Minute)); got != stateGood {
		t.Errorf("after a reply: %v", got)
	}
	// A node that never answered is questionable, and bad after one failure.
	b := NodeInfo{idWithPrefix(self, 0, 2), addrN(2)}
	tb.seen(b, t0, false)
	eb := tb.find(b.ID)
	if got := eb.state(t0); got != stateQuestionable {
		t.Errorf("unverified node: %v", got)
	}
	tb.failed(b.ID, t0)
	if got := eb.state(t0); got != stateBad {
		t.Errorf("unverified node after a failure: %v", got)
	}
}

// TestTableReplace: a full bucket of questionable nodes asks for a ping; when the
// pinged node fails it is replaced by the newest candidate. A bad node is replaced at
// once.
func TestTableReplace(t *testing.T) {
	self := testID("self")
	tb := newTable(self, t0)
	// Fill bucket 0 (cpl 0), then split it away by adding a near node, so that bucket
	// 0 no longer contains our id.
	for i := range K {
		tb.seen(NodeInfo{idWithPrefix(self, 0, byte(i)), addrN(i)}, t0.Add(time.Duration(i)*time.Second), true)
	}
	tb.seen(NodeInfo{idWithPrefix(self, 3, 0), addrN(99)}, t0, true)
	later := t0.Add(time.Hour) // everyone is questionable now
	cand := NodeInfo{idWithPrefix(self, 0, 20), addrN(20)}
	in, ping := tb.seen(cand, later, true)
	if in || ping == nil {
		t.Fatalf("in=%v ping=%v, want a node to ping", in, ping)
	}
	if want := idWithPrefix(self, 0, 0); ping.ID != want {
		t.Fatalf("asked to ping %x, want the least recently seen %x", ping.ID, want)
	}
	tb.failed(ping.ID, later)
	if tb.find(ping.ID) == nil {
		t.Fatal("replaced after one failure of a node that had answered")
	}
	tb.failed(ping.ID, later)
	if tb.find(ping.ID) != nil {
		t.Fatal("bad node not replaced")
	}
	if tb.find(cand.ID) == nil {
		t.Fatal("replacement not in the table")
	}
	// Make another node bad: a newcomer takes its place at once.
	victim := idWithPrefix(self, 0, 3)
	tb.failed(victim, later)
	tb.failed(victim, later)
	nc := NodeInfo{idWithPrefix(self, 0, 30), addrN(30)}
	if in, _ := tb.seen(nc, later, true); !in {
		t.Fatal("newcomer did not replace a bad node")
	}
	if tb.find(victim) != nil {
		t.Fatal("bad node still in the table")
	}
	if len(tb.buckets[0].nodes) != K {
		t.Fatalf("bucket holds %d", len(tb.buckets[0].nodes))
	}
}

// TestTableSpoofing: a known id cannot be moved to another address, and an address
// cannot be claimed by a second id.
func TestTableSpoofing(t *testing.T) {
	self := testID("self")
	tb := newTable(self, t0)
	a := NodeInfo{idWithPrefix(self, 0, 1), addrN(1)}
	tb.seen(a, t0, true)
	tb.seen(NodeInfo{a.ID, addrN(2)}, t0, true)
	if e := tb.find(a.ID); e.Addr != a.Addr {
		t.Fatalf("node moved to %v", e.Addr)
	}
	if in, _ := tb.seen(NodeInfo{idWithPrefix(self, 0, 9), a.Addr}, t0, false); in {
		t.Fatal("second id at the same address admitted")
	}
	// A reply from that address under a new id (the node restarted) replaces it.
	if in, _ := tb.seen(NodeInfo{idWithPrefix(self, 0, 9), a.Addr}, t0, true); !in || tb.find(a.ID) != nil || tb.len() != 1 {
		t.Fatal("a node's new id did not replace its old one")
	}
	if in, _ := tb.seen(NodeInfo{self, addrN(3)}, t0, true); in {
		t.Fatal("our own id admitted")
	}
}

// TestTableClosest: closest returns nodes by XOR distance, without bad nodes, and
// with verifiedOnly without nodes that never answered.
func TestTableClosest(t *testing.T) {
	self := testID("self")
	tb := newTable(self, t0)
	for i := range 30 {
		tb.seen(NodeInfo{idWithPrefix(self, i%10, byte(i/10)), addrN(i)}, t0, i != 3)
	}
	target := idWithPrefix(self, 9, 7)
	got := tb.closest(target, K, t0, false)
	if len(got) != K {
		t.Fatalf("%d nodes", len(got))
	}
	for i := 1; i < len(got); i++ {
		if closer(target, got[i].ID, got[i-1].ID) {
			t.Fatalf("not sorted at %d", i)
		}
	}
	unverified := idWithPrefix(self, 3, 0)
	for _, n := range tb.closest(unverified, 100, t0, true) {
		if n.ID == unverified {
			t.Fatal("unverified node handed out")
		}
	}
	if n := tb.closest(unverified, 1, t0, false); n[0].ID != unverified {
		t.Fatalf("closest to itself: %x", n[0].ID)
	}
}

// TestTableRefresh: buckets unchanged for the interval are reported once per interval.
func TestTableRefresh(t *testing.T) {
	self := testID("self")
	tb := newTable(self, t0)
	for i := range 20 {
		tb.seen(NodeInfo{idWithPrefix(self, i, 0), addrN(i)}, t0, true)
	}
	n := len(tb.buckets)
	if got := tb.staleBuckets(t0.Add(14*time.Minute), 15*time.Minute, 100); len(got) != 0 {
		t.Fatalf("stale too early: %v", got)
	}
	if got := tb.staleBuckets(t0.Add(15*time.Minute), 15*time.Minute, 3); len(got) != 3 {
		t.Fatalf("stale: %v, want 3 (the limit)", got)
	}
	if got := tb.staleBuckets(t0.Add(16*time.Minute), 15*time.Minute, 100); len(got) != n-3 {
		t.Fatalf("stale: %d, want the other %d", len(got), n-3)
	}
	for i := range tb.buckets {
		target := tb.refreshTarget(i)
		if got := tb.bucketIndex(target); got != i {
			t.Fatalf("refresh target of bucket %d falls in %d", i, got)
		}
	}
}
