package tracker

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
)

// call is one announce seen by a fake.
type call struct {
	at  time.Time
	url string
	req AnnounceRequest
}

// fakeAnnounceClient answers announces with reply and reports every call on calls.
type fakeAnnounceClient struct {
	calls chan call
	reply func(ctx context.Context, n int, c call) (*AnnounceResponse, error) // n counts from 0
	mu    sync.Mutex
	n     int
}

func newFakeAnnounceClient(reply func(ctx context.Context, n int, c call) (*AnnounceResponse, error)) *fakeAnnounceClient {
	return &fakeAnnounceClient{calls: make(chan call, 100), reply: reply}
}

func (f *fakeAnnounceClient) Announce(ctx context.Context, u string, req AnnounceRequest) (*AnnounceResponse, error) {
	c := call{at: time.Now(), url: u, req: req}
	f.mu.Lock()
	n := f.n
	f.n++
	f.mu.Unlock()
	f.calls <- c
	return f.reply(ctx, n, c)
}

// next waits for the next call.
func (f *fakeAnnounceClient) next(t *testing.T) call {
	t.Helper()
	select {
	case c := <-f.calls:
		return c
	case <-time.After(3 * time.Second):
		t.Fatal("no announce")
		return call{}
	}
}

// runAnnouncer starts a.Run and returns a function that cancels it and waits for it.
func runAnnouncer(a *Announcer) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

func testAnnouncer(fc *fakeAnnounceClient, cfg AnnouncerConfig) *Announcer {
	if cfg.Tiers == nil {
		cfg.Tiers = [][]string{{"http://t/announce"}}
	}
	cfg.Client = NewClient(Config{}) // replaced by the fake; never used
	a := NewAnnouncer(cfg)
	a.client = fc
	return a
}

func every(d time.Duration) func(context.Context, int, call) (*AnnounceResponse, error) {
	return func(context.Context, int, call) (*AnnounceResponse, error) {
		return &AnnounceResponse{Interval: d}, nil
	}
}

func TestAnnouncerPeriodic(t *testing.T) {
	fc := newFakeAnnounceClient(every(30 * time.Millisecond))
	left := int64(1000)
	a := testAnnouncer(fc, AnnouncerConfig{Stats: func() Stats { return Stats{Left: left} }})
	stop := runAnnouncer(a)
	first := fc.next(t)
	if first.req.Event != EventStarted || first.req.Left != 1000 || first.req.NumWant != DefaultNumWant {
		t.Fatalf("first announce %+v", first.req)
	}
	prev := first
	for range 2 {
		c := fc.next(t)
		if c.req.Event != EventNone {
			t.Fatalf("re-announce with event %v", c.req.Event)
		}
		if gap := c.at.Sub(prev.at); gap < 25*time.Millisecond {
			t.Fatalf("re-announced after %v, interval is 30 ms", gap)
		}
		if c.req.Key != first.req.Key {
			t.Fatal("key changed between announces")
		}
		prev = c
	}
	stop()
	var last call
	for len(fc.calls) > 0 {
		last = <-fc.calls
	}
	if last.req.Event != EventStopped {
		t.Fatalf("last event %v, want stopped", last.req.Event)
	}
}

func TestAnnouncerMinInterval(t *testing.T) {
	fc := newFakeAnnounceClient(func(context.Context, int, call) (*AnnounceResponse, error) {
		return &AnnounceResponse{Interval: 5 * time.Millisecond, MinInterval: 60 * time.Millisecond}, nil
	})
	stop := runAnnouncer(testAnnouncer(fc, AnnouncerConfig{}))
	defer stop()
	a, b := fc.next(t), fc.next(t)
	if gap := b.at.Sub(a.at); gap < 55*time.Millisecond {
		t.Fatalf("re-announced after %v despite a 60 ms min interval", gap)
	}
}

func TestAnnouncerBackoff(t *testing.T) {
	fc := newFakeAnnounceClient(func(_ context.Context, n int, _ call) (*AnnounceResponse, error) {
		if n < 3 {
			return nil, errors.New("down")
		}
		return &AnnounceResponse{Interval: time.Hour}, nil
	})
	stop := runAnnouncer(testAnnouncer(fc, AnnouncerConfig{MinBackoff: 10 * time.Millisecond, MaxBackoff: 25 * time.Millisecond}))
	defer stop()
	calls := []call{fc.next(t), fc.next(t), fc.next(t), fc.next(t)}
	for i, want := range []time.Duration{10, 20, 25} {
		want *= time.Millisecond
		if gap := calls[i+1].at.Sub(calls[i].at); gap < want-2*time.Millisecond {
			t.Errorf("retry %d after %v, want %v", i+1, gap, want)
		}
	}
	for i, c := range calls {
		if c.req.Event != EventStarted {
			t.Errorf("call %d: event %v, want started until it gets through", i, c.req.Event)
		}
	}
}

func TestAnnouncerCompleted(t *testing.T) {
	fc := newFakeAnnounceClient(every(time.Hour))
	a := testAnnouncer(fc, AnnouncerConfig{})
	a.Completed() // before Run: kept until "started" got through
	stop := runAnnouncer(a)
	defer stop()
	if ev := fc.next(t).req.Event; ev != EventStarted {
		t.Fatalf("first event %v", ev)
	}
	if ev := fc.next(t).req.Event; ev != EventCompleted {
		t.Fatalf("second event %v, want completed", ev)
	}
	select {
	case c := <-fc.calls:
		t.Fatalf("unexpected announce %v", c.req.Event)
	case <-time.After(30 * time.Millisecond):
	}
}

func TestAnnouncerNeedPeers(t *testing.T) {
	fc := newFakeAnnounceClient(func(context.Context, int, call) (*AnnounceResponse, error) {
		return &AnnounceResponse{Interval: time.Hour, MinInterval: 40 * time.Millisecond}, nil
	})
	a := testAnnouncer(fc, AnnouncerConfig{})
	stop := runAnnouncer(a)
	defer stop()
	started := fc.next(t)
	a.NeedPeers()
	early := fc.next(t)
	if early.req.Event != EventNone || early.at.Sub(started.at) < 35*time.Millisecond {
		t.Fatalf("early announce %v after %v, want none after ≥ 40 ms", early.req.Event, early.at.Sub(started.at))
	}
	a.NeedPeers()
	a.NeedPeers()
	again := fc.next(t)
	if again.at.Sub(early.at) < 35*time.Millisecond {
		t.Fatalf("NeedPeers not rate-limited: %v apart", again.at.Sub(early.at))
	}
	select {
	case <-fc.calls:
		t.Fatal("repeated NeedPeers gave more than one announce")
	case <-time.After(60 * time.Millisecond):
	}
}

// TestAnnouncerStopBounded: shutdown does not hang on a tracker that never answers.
func TestAnnouncerStopBounded(t *testing.T) {
	fc := newFakeAnnounceClient(func(ctx context.Context, n int, c call) (*AnnounceResponse, error) {
		if n == 0 {
			return &AnnounceResponse{Interval: time.Hour}, nil
		}
		<-ctx.Done() // never answers
		return nil, ctx.Err()
	})
	a := testAnnouncer(fc, AnnouncerConfig{StopTimeout: 50 * time.Millisecond})
	stop := runAnnouncer(a)
	fc.next(t)
	start := time.Now()
	stop()
	if d := time.Since(start); d < 45*time.Millisecond || d > 10*time.Second { // the upper bound: a hang
		t.Fatalf("Run returned %v after cancel, want about the 50 ms stop timeout", d)
	}
	if c := fc.next(t); c.req.Event != EventStopped {
		t.Fatalf("event %v, want stopped", c.req.Event)
	}
}

func TestAnnouncerNoStoppedWithoutStarted(t *testing.T) {
	fc := newFakeAnnounceClient(func(context.Context, int, call) (*AnnounceResponse, error) { return nil, errors.New("down") })
	stop := runAnnouncer(testAnnouncer(fc, AnnouncerConfig{MinBackoff: time.Hour}))
	fc.next(t)
	stop()
	if len(fc.calls) != 0 {
		t.Fatal("sent stopped though started never got through")
	}
}

// TestAnnouncerHTTPEndToEnd drives a real Client against a fake HTTP tracker: the
// second tracker of the tier answers, peers reach OnPeers, and the tracker sees
// started, completed and stopped with the caller's counters.
func TestAnnouncerHTTPEndToEnd(t *testing.T) {
	events := make(chan string, 10)
	srv := fakeHTTPTracker(t, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("info_hash") != string(awkwardHash[:]) || q.Get("port") != "6881" || q.Get("left") != "77" {
			t.Errorf("query %v", q)
		}
		events <- q.Get("event")
		w.Write([]byte("d8:intervali3600e5:peers6:\x0a\x00\x00\x09\x1a\xe1e"))
	})
	down := fakeHTTPTracker(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("d14:failure reason4:downe"))
	})
	client := NewClient(Config{})
	defer client.Close()
	peers := make(chan []netip.AddrPort, 10)
	a := NewAnnouncer(AnnouncerConfig{
		Client:   client,
		Tiers:    [][]string{{down.URL + "/announce", srv.URL + "/announce"}},
		InfoHash: awkwardHash, PeerID: bt.NewPeerID(), Port: 6881,
		Stats:   func() Stats { return Stats{Left: 77} },
		OnPeers: func(p []netip.AddrPort) { peers <- p },
	})
	stop := runAnnouncer(a)
	want := func(ev string) {
		t.Helper()
		select {
		case got := <-events:
			if got != ev {
				t.Fatalf("tracker saw event %q, want %q", got, ev)
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("no %q announce", ev)
		}
	}
	want("started")
	if p := <-peers; len(p) != 1 || p[0].String() != "10.0.0.9:6881" {
		t.Fatalf("peers %v", p)
	}
	a.Completed()
	want("completed")
	stop()
	want("stopped")
}
