package tracker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestStatusTableStates walks one tracker through its states with a fake clock.
func TestStatusTableStates(t *testing.T) {
	const u = "udp://t.example:6969/announce?passkey=secret"
	st := newStatusTable([][]string{{u, "http://b/announce"}, {"http://c/announce"}})
	t0 := time.Unix(1000, 0)
	get := func() Status {
		t.Helper()
		for _, s := range st.snapshot() {
			if s.Tier == 0 && strings.HasPrefix(s.URL, "udp://") {
				return s
			}
		}
		t.Fatal("tracker missing")
		return Status{}
	}
	if s := get(); s.State != StateWaiting || strings.Contains(s.URL, "secret") {
		t.Fatalf("initial %+v", s)
	}
	n := st.begin(0, u, t0)
	if s := get(); s.State != StateAnnouncing || !s.Announcing || !s.Since.Equal(t0) {
		t.Fatalf("after begin: %+v", s)
	}
	if !st.slow(0, u, n, 15*time.Second, t0.Add(15*time.Second)) {
		t.Fatal("the first slow announce is not news")
	}
	if s := get(); s.State != StateFailing || !s.Announcing || !strings.Contains(s.Err, "no answer after 15s") {
		t.Fatalf("after slow: %+v", s)
	}
	if st.slow(0, u, n, 15*time.Second, t0.Add(16*time.Second)) {
		t.Fatal("slow twice is news twice")
	}
	if !st.fail(0, u, "no answer within 1m0s", t0.Add(time.Minute)) {
		t.Fatal("the final reason after the slow notice is not news")
	}
	st.schedule(0, []string{u, "http://b/announce"}, false, t0.Add(75*time.Second))
	s := get()
	if s.State != StateFailing || s.Announcing || s.Failures != 1 || !s.Next.Equal(t0.Add(75*time.Second)) || !s.Since.Equal(t0.Add(15*time.Second)) {
		t.Fatalf("after fail: %+v", s)
	}
	// The same failure again is not news: it is logged once.
	n = st.begin(0, u, t0.Add(75*time.Second))
	if st.slow(0, u, n, 15*time.Second, t0.Add(90*time.Second)) {
		t.Fatal("slow while failing already is news")
	}
	if st.fail(0, u, "no answer within 1m0s", t0.Add(135*time.Second)) {
		t.Fatal("the same reason twice is news")
	}
	if st.fail(0, u, "connection refused", t0.Add(136*time.Second)) == false {
		t.Fatal("a new reason is not news")
	}
	if s := get(); s.Failures != 3 {
		t.Fatalf("failures %d, want 3", s.Failures)
	}
	// An answer makes it ok, with the peer count; the others of its tier are backups.
	st.begin(0, u, t0.Add(200*time.Second))
	resp := &AnnounceResponse{Peers: make([]netip.AddrPort, 7), Seeders: 3, Leechers: 4}
	if before := st.ok(0, u, resp, t0.Add(201*time.Second)); before != StateFailing {
		t.Fatalf("state before the answer %v, want failing", before)
	}
	st.schedule(0, []string{u, "http://b/announce"}, true, t0.Add(2000*time.Second))
	s = get()
	if s.State != StateOK || s.Peers != 7 || s.Seeders != 3 || s.Leechers != 4 || s.Failures != 0 || s.Err != "" ||
		!s.LastOK.Equal(t0.Add(201*time.Second)) || !s.Next.Equal(t0.Add(2000*time.Second)) {
		t.Fatalf("after ok: %+v", s)
	}
	for _, o := range st.snapshot() {
		if o.URL == "http://b/announce" && (o.State != StateWaiting || !o.Next.IsZero()) {
			t.Fatalf("backup %+v, want waiting with no next announce", o)
		}
	}
	// A slow notice left over from an earlier announce does not touch the next one.
	old := st.begin(0, u, t0.Add(2000*time.Second))
	st.ok(0, u, resp, t0.Add(2001*time.Second))
	st.begin(0, u, t0.Add(4000*time.Second))
	if st.slow(0, u, old, 15*time.Second, t0.Add(4001*time.Second)) || get().State != StateOK {
		t.Fatalf("a stale slow notice changed the state: %+v", get())
	}
	// Cancelled at shutdown: a tracker never heard from is waiting again.
	st.begin(1, "http://c/announce", t0)
	st.abandon(1, "http://c/announce")
	for _, o := range st.snapshot() {
		if o.Tier == 1 && (o.State != StateWaiting || o.Announcing) {
			t.Fatalf("abandoned %+v", o)
		}
	}
}

func TestReason(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("tracker http://x/announce: %w", &net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}), "cannot resolve x.invalid: no such host"},
		{fmt.Errorf("tracker http://x/announce: %w", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}), "connection refused"},
		{fmt.Errorf("tracker udp://x:1: %w", context.DeadlineExceeded), "no answer within 1m0s"},
		{fmt.Errorf("tracker http://x/announce: %w", &FailureError{Reason: "unregistered torrent"}), "tracker says: unregistered torrent"},
		{fmt.Errorf("tracker http://x/announce: %w", errors.New("HTTP status 404")), "HTTP status 404"},
	} {
		if got := Reason(c.err, time.Minute); got != c.want {
			t.Errorf("Reason(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitStatus waits until cond holds for the announcer's trackers, looking again
// after each change of their states.
func waitStatus(t *testing.T, a *Announcer, what string, cond func([]Status) bool) []Status {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		st := a.Trackers()
		if cond(st) {
			return st
		}
		select {
		case <-a.status.changed:
		case <-deadline:
			t.Fatalf("%s: never happened; trackers %+v", what, st)
		}
	}
}

// TestAnnouncerTrackerStates: every tier announces at once, so a tracker that never
// answers delays no other; a refusal is failing (and logged at info) at once, the
// silent one after SlowAfter, the working one is ok with its peer count.
func TestAnnouncerTrackerStates(t *testing.T) {
	fc := newFakeAnnounceClient(func(ctx context.Context, n int, c call) (*AnnounceResponse, error) {
		switch c.url {
		case "udp://silent:1":
			<-ctx.Done()
			return nil, fmt.Errorf("tracker %s: %w", c.url, ctx.Err())
		case "http://refused/announce":
			return nil, fmt.Errorf("tracker %s: %w", c.url, &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED})
		}
		return &AnnounceResponse{Interval: time.Hour, Peers: make([]netip.AddrPort, 3)}, nil
	})
	var logs syncBuffer
	slowAfter := 200 * time.Millisecond
	a := testAnnouncer(fc, AnnouncerConfig{
		Tiers:     [][]string{{"udp://silent:1"}, {"http://refused/announce"}, {"http://works/announce"}},
		Logger:    slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		SlowAfter: slowAfter, MinBackoff: time.Hour,
	})
	a.status.changed = make(chan struct{}, 1)
	stop := runAnnouncer(a)
	var once sync.Once
	defer once.Do(stop)
	state := func(st []Status, url string) Status {
		for _, s := range st {
			if s.URL == url {
				return s
			}
		}
		return Status{}
	}
	// The tiers' announces start in any order (on a busy machine the silent
	// one's may start last): wait until it is under way too.
	st := waitStatus(t, a, "refused and working trackers settle, the silent one's announce under way", func(st []Status) bool {
		r, w := state(st, "http://refused/announce"), state(st, "http://works/announce")
		s := state(st, "udp://silent:1")
		return r.State == StateFailing && !r.Next.IsZero() && w.State == StateOK && !w.Next.IsZero() &&
			(s.State == StateAnnouncing || s.State == StateFailing)
	})
	if s := state(st, "http://works/announce"); s.Peers != 3 || s.Tier != 2 || s.Next.IsZero() {
		t.Errorf("working tracker %+v", s)
	}
	if s := state(st, "http://refused/announce"); s.Err != "connection refused" || s.Failures != 1 || s.Next.IsZero() {
		t.Errorf("refused tracker %+v", s)
	}
	if s := state(st, "udp://silent:1"); !s.Announcing {
		t.Errorf("silent tracker %+v while its first announce is under way", s)
	}
	if !strings.Contains(logs.String(), "level=INFO msg=\"tracker: announce failed\" infohash=") ||
		!strings.Contains(logs.String(), "tracker=http://refused/announce event=started reason=\"connection refused\"") {
		t.Errorf("the first failure is not logged at info:\n%s", logs.String())
	}
	st = waitStatus(t, a, "the silent tracker is reported", func(st []Status) bool {
		return state(st, "udp://silent:1").State == StateFailing
	})
	if s := state(st, "udp://silent:1"); !s.Announcing || !strings.Contains(s.Err, "no answer after 200ms") {
		t.Errorf("silent tracker %+v", s)
	}
	once.Do(stop) // the announce under way ends, and with it its log lines
	if !strings.Contains(logs.String(), `level=INFO msg="tracker: no answer yet, still trying" infohash=0000000000000000000000000000000000000000 tracker=udp://silent:1`) {
		t.Errorf("the silent tracker is not logged:\n%s", logs.String())
	}
}
