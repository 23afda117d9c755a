package tracker

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
)

// TestAnnouncerAlsoAnnounce: a hybrid's second hash, added while Run is under
// way, is announced to the same tracker with the same key; the peers under both
// hashes reach OnPeers; "completed" and "stopped" go out under both.
func TestAnnouncerAlsoAnnounce(t *testing.T) {
	v1, v2 := bt.InfoHash{1}, bt.InfoHash{2}
	peerOf := map[bt.InfoHash]netip.AddrPort{
		v1: netip.MustParseAddrPort("127.0.0.1:1001"),
		v2: netip.MustParseAddrPort("127.0.0.1:1002"),
	}
	fc := newFakeAnnounceClient(func(_ context.Context, _ int, c call) (*AnnounceResponse, error) {
		return &AnnounceResponse{Interval: time.Hour, Peers: []netip.AddrPort{peerOf[c.req.InfoHash]}}, nil
	})
	got := make(chan netip.AddrPort, 10)
	a := testAnnouncer(fc, AnnouncerConfig{InfoHash: v1, OnPeers: func(ps []netip.AddrPort) {
		for _, p := range ps {
			got <- p
		}
	}})
	if _, _, ok := a.AlsoTrackers(); ok {
		t.Fatal("AlsoTrackers before AlsoAnnounce")
	}
	stop := runAnnouncer(a)
	first := fc.next(t)
	if first.req.InfoHash != v1 || first.req.Event != EventStarted {
		t.Fatalf("first announce %+v", first.req)
	}
	a.AlsoAnnounce(v1, nil) // its own hash: nothing
	a.AlsoAnnounce(v2, nil)
	a.AlsoAnnounce(bt.InfoHash{3}, nil) // only the first counts
	second := fc.next(t)
	if second.req.InfoHash != v2 || second.req.Event != EventStarted || second.req.Key != first.req.Key || second.url != first.url {
		t.Fatalf("second announce %+v to %s; first %+v to %s", second.req, second.url, first.req, first.url)
	}
	want := map[netip.AddrPort]bool{peerOf[v1]: true, peerOf[v2]: true}
	for len(want) > 0 {
		select {
		case p := <-got:
			delete(want, p)
		case <-time.After(3 * time.Second):
			t.Fatalf("peers not handed on: %v", want)
		}
	}
	a.Completed()
	seen := map[bt.InfoHash]Event{}
	for range 2 {
		c := fc.next(t)
		seen[c.req.InfoHash] = c.req.Event
	}
	if seen[v1] != EventCompleted || seen[v2] != EventCompleted {
		t.Fatalf("after Completed: %v", seen)
	}
	if h, st, ok := a.AlsoTrackers(); !ok || h != v2 || len(st) != 1 || st[0].State != StateOK {
		t.Fatalf("AlsoTrackers: %v %+v %v", h, st, ok)
	}
	stop()
	seen = map[bt.InfoHash]Event{}
	for range 2 {
		c := fc.next(t)
		seen[c.req.InfoHash] = c.req.Event
	}
	if seen[v1] != EventStopped || seen[v2] != EventStopped {
		t.Fatalf("at the end: %v", seen)
	}
	select {
	case c := <-fc.calls:
		t.Fatalf("announce after Run returned: %+v", c.req)
	default:
	}
}

// TestAnnouncerAlsoBeforeRun: a second hash given before Run starts with it, and
// again after a second Run (an idle torrent that wakes).
func TestAnnouncerAlsoBeforeRun(t *testing.T) {
	fc := newFakeAnnounceClient(every(time.Hour))
	a := testAnnouncer(fc, AnnouncerConfig{InfoHash: bt.InfoHash{1}})
	a.AlsoAnnounce(bt.InfoHash{2}, nil)
	for round := range 2 {
		stop := runAnnouncer(a)
		seen := map[bt.InfoHash]Event{}
		for range 2 {
			c := fc.next(t)
			seen[c.req.InfoHash] = c.req.Event
		}
		if len(seen) != 2 || seen[bt.InfoHash{1}] != EventStarted || seen[bt.InfoHash{2}] != EventStarted {
			t.Fatalf("round %d: %v", round, seen)
		}
		stop()
		for range 2 {
			if c := fc.next(t); c.req.Event != EventStopped {
				t.Fatalf("round %d: %+v", round, c.req)
			}
		}
	}
}
