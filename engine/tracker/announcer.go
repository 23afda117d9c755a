package tracker

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
)

// Announcer defaults.
const (
	DefaultMinBackoff     = 15 * time.Second
	DefaultMaxBackoff     = 30 * time.Minute
	DefaultNumWant        = 50
	DefaultAttemptTimeout = 60 * time.Second
	DefaultStopTimeout    = 5 * time.Second
	// DefaultSlowAfter is when a tracker that has not answered is reported as
	// failing while its announce goes on: the first retransmission of BEP 15.
	DefaultSlowAfter = DefaultUDPRetryBase

	// defaultInterval is used when a tracker gives no interval.
	defaultInterval = 30 * time.Minute
	// defaultMinGap bounds NeedPeers when a tracker gives no min interval.
	defaultMinGap = time.Minute
)

// Stats are the transfer counters reported in an announce (BEP 3).
type Stats struct {
	Uploaded, Downloaded, Left int64
}

// AnnouncerConfig configures an Announcer. Client and Tiers are required.
type AnnouncerConfig struct {
	Client   *Client
	Tiers    [][]string // BEP 12 announce-list; a single "announce" URL is one tier of one
	InfoHash bt.InfoHash
	PeerID   bt.PeerID
	Port     uint16
	// IPv6 is sent as "ipv6=" to HTTP trackers when valid (AnnounceRequest.IPv6).
	IPv6 netip.Addr
	// Stats returns the current counters; nil reports zeros.
	Stats func() Stats
	// OnPeers receives the peers of each successful announce, on the Run goroutine; it
	// should hand them off quickly.
	OnPeers func([]netip.AddrPort)
	Logger  *slog.Logger
	// MinBackoff and MaxBackoff bound the wait after a failed round: MinBackoff doubling
	// up to MaxBackoff. Zero means 15 s and 30 min.
	MinBackoff, MaxBackoff time.Duration
	// NumWant is how many peers to ask for; zero means 50.
	NumWant int
	// AttemptTimeout bounds one announce to one tracker; zero means 60 s.
	AttemptTimeout time.Duration
	// StopTimeout bounds the "stopped" announce at shutdown; zero means 5 s.
	StopTimeout time.Duration
	// SlowAfter is how long an announce may go unanswered before its tracker is
	// reported failing (and logged) while it is still tried; zero means 15 s.
	SlowAfter time.Duration
}

// announceClient is what an Announcer needs from a Client (a seam for tests).
type announceClient interface {
	Announce(ctx context.Context, trackerURL string, req AnnounceRequest) (*AnnounceResponse, error)
}

// Announcer decides when one torrent announces: "started" first, then regular
// re-announces at the tracker's interval, "completed" when told, "stopped" at shutdown.
//
// Every BEP 12 tier announces on its own schedule, at the same time as the others
// (as Transmission and qBittorrent do): a tracker that does not answer delays no
// other tier, and every tier's peers arrive as soon as it answers. Within a tier
// the trackers are asked in order until one answers, and that one is asked first
// next time (BEP 12).
//
// The scheduling state is owned by the Run goroutine; each tier's announce runs in
// a goroutine of its own and reports back to Run. What each tracker did last is
// kept in a table that Trackers copies, for status pages.
type Announcer struct {
	cfg       AnnouncerConfig
	client    announceClient
	tiers     *tierList
	status    *statusTable
	key       uint32 // BEP 7 key, constant for the session
	log       *slog.Logger
	now       func() time.Time
	completed chan struct{} // capacity 1
	needPeers chan struct{} // capacity 1
	also      twin          // the announces under a hybrid's other hash (also.go)
}

// NewAnnouncer returns an Announcer; call Run to start it. It panics if cfg.Client is
// nil, a programming error.
func NewAnnouncer(cfg AnnouncerConfig) *Announcer {
	if cfg.Client == nil {
		panic("tracker: NewAnnouncer without a Client")
	}
	cfg.MinBackoff = positiveOr(cfg.MinBackoff, DefaultMinBackoff)
	cfg.MaxBackoff = max(positiveOr(cfg.MaxBackoff, DefaultMaxBackoff), cfg.MinBackoff)
	cfg.AttemptTimeout = positiveOr(cfg.AttemptTimeout, DefaultAttemptTimeout)
	cfg.StopTimeout = positiveOr(cfg.StopTimeout, DefaultStopTimeout)
	cfg.SlowAfter = positiveOr(cfg.SlowAfter, DefaultSlowAfter)
	if cfg.NumWant <= 0 {
		cfg.NumWant = DefaultNumWant
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tiers := newTierList(cfg.Tiers, nil)
	return &Announcer{
		cfg:       cfg,
		client:    cfg.Client,
		tiers:     tiers,
		status:    newStatusTable(tiers.urls()),
		key:       rand.Uint32(),
		log:       log.With("infohash", cfg.InfoHash.String()),
		now:       time.Now,
		completed: make(chan struct{}, 1),
		needPeers: make(chan struct{}, 1),
	}
}

func positiveOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Completed asks for a "completed" announce at the next opportunity (in each tier,
// after "started" has got through). It never blocks.
func (a *Announcer) Completed() {
	poke(a.completed)
	if o := a.other(); o != nil {
		poke(o.completed)
	}
}

// NeedPeers asks for an early announce. In each tier it is rate-limited by the
// tracker's min interval (or the interval, at most a minute, when none is given), and
// ignored until "started" has got through or while failing. It never blocks.
func (a *Announcer) NeedPeers() {
	poke(a.needPeers)
	if o := a.other(); o != nil {
		poke(o.needPeers)
	}
}

func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Trackers returns the state of every tracker, in tier order. Safe for concurrent
// use; it never waits for the network.
func (a *Announcer) Trackers() []Status { return a.status.snapshot() }

// tierState is one tier's schedule. Owned by the Run goroutine.
type tierState struct {
	started          bool // a "started" announce got through
	completedPending bool // Completed was called and "completed" has not got through
	failures         int  // failed rounds in a row
	lastOK           time.Time
	next             time.Time     // when the next regular announce is due
	minGap           time.Duration // shortest allowed time between announces
	busy             bool          // an announce is under way
	early            bool          // NeedPeers came while busy
}

func (s *tierState) event() Event {
	switch {
	case !s.started:
		return EventStarted
	case s.completedPending:
		return EventCompleted
	}
	return EventNone
}

// tierResult is how one tier's announce ended, sent back to Run.
type tierResult struct {
	tier int
	ev   Event
	url  string // the tracker that answered
	resp *AnnounceResponse
	err  error // every tracker of the tier failed (joined), or ctx ended
}

// Run announces until ctx ends, then sends "stopped" (bounded by StopTimeout) to the
// tiers where "started" got through, and returns. Call it once.
func (a *Announcer) Run(ctx context.Context) {
	tiers := make([]tierState, len(a.tiers.tiers))
	results := make(chan tierResult, len(tiers)) // one announce per tier at a time: never blocks
	var wg sync.WaitGroup
	timer := time.NewTimer(0)
	defer timer.Stop()
	defer a.runTwin(ctx)() // a hybrid's other hash (also.go) ends with this Run
	for {
		select {
		case <-ctx.Done():
			wg.Wait()              // the announces under way end with ctx
			for len(results) > 0 { // answered just before the end: "stopped" is due
				r := <-results
				a.finish(ctx, &tiers[r.tier], r)
			}
			a.stop(ctx, tiers)
			return
		case <-a.completed:
			now := a.now()
			for i := range tiers {
				t := &tiers[i]
				t.completedPending = true
				if t.started && !t.busy {
					t.next = now
				}
			}
		case <-a.needPeers:
			for i := range tiers {
				if tiers[i].busy {
					tiers[i].early = true // decided when its announce ends
					continue
				}
				a.earlier(&tiers[i])
			}
		case r := <-results:
			a.finish(ctx, &tiers[r.tier], r)
		case <-timer.C:
		}
		if ctx.Err() != nil {
			continue // shut down rather than announce
		}
		now := a.now()
		var wake time.Time
		for i := range tiers {
			t := &tiers[i]
			if t.busy {
				continue
			}
			if !t.next.After(now) {
				a.launch(ctx, i, t, results, &wg)
				continue
			}
			if wake.IsZero() || t.next.Before(wake) {
				wake = t.next
			}
		}
		if !wake.IsZero() {
			timer.Reset(wake.Sub(now))
		} else {
			timer.Stop()
		}
	}
}

// earlier brings a tier's next announce forward for NeedPeers, if it is allowed to
// come earlier than its regular time.
func (a *Announcer) earlier(s *tierState) {
	if !s.started || s.failures > 0 {
		return
	}
	at := s.lastOK.Add(s.minGap)
	if !at.Before(s.next) {
		return
	}
	if now := a.now(); at.Before(now) {
		at = now
	}
	s.next = at // as early as the min interval allows
}

// launch starts tier i's announce in a goroutine that reports on results.
func (a *Announcer) launch(ctx context.Context, i int, t *tierState, results chan<- tierResult, wg *sync.WaitGroup) {
	t.busy = true
	ev := t.event()
	urls := append([]string(nil), a.tiers.tiers[i]...)
	wg.Go(func() {
		resp, url, err := walkTier(ctx, urls, func(ctx context.Context, u string) (*AnnounceResponse, error) {
			return a.announceOne(ctx, i, u, ev)
		})
		results <- tierResult{tier: i, ev: ev, url: url, resp: resp, err: err}
	})
}

// finish takes a tier's result: the next announce is scheduled, peers are handed
// on, and the one that answered moves to the front of its tier.
func (a *Announcer) finish(ctx context.Context, t *tierState, r tierResult) {
	t.busy = false
	early := t.early
	t.early = false
	now := a.now()
	if r.err != nil {
		if ctx.Err() != nil {
			return // shutting down
		}
		t.failures++
		wait := backoff(a.cfg.MinBackoff, a.cfg.MaxBackoff, t.failures)
		t.next = now.Add(wait)
		a.status.schedule(r.tier, a.tiers.tiers[r.tier], false, t.next)
		a.log.Debug("tracker: tier failed", "tier", r.tier+1, "event", r.ev.String(), "retry_in", wait, "err", r.err)
		return
	}
	a.tiers.promote(r.tier, r.url)
	a.succeeded(t, r.ev, r.resp, now)
	if early {
		a.earlier(t)
	}
	a.status.schedule(r.tier, a.tiers.tiers[r.tier], true, t.next)
	if r.resp.Warning != "" {
		a.log.Warn("tracker: warning", "tracker", redactString(r.url), "warning", r.resp.Warning)
	}
	if len(r.resp.Peers) > 0 && a.cfg.OnPeers != nil && ctx.Err() == nil { // none while shutting down: the receiver may be gone
		a.cfg.OnPeers(r.resp.Peers)
	}
}

// succeeded updates a tier after an answered announce: the event got through, and
// the next regular announce is due after the interval (never below the min interval).
func (a *Announcer) succeeded(s *tierState, ev Event, resp *AnnounceResponse, now time.Time) {
	switch ev {
	case EventStarted:
		s.started = true
	case EventCompleted:
		s.completedPending = false
	}
	s.failures = 0
	s.lastOK = now
	interval := resp.Interval
	if interval <= 0 {
		interval = defaultInterval
	}
	interval = max(interval, resp.MinInterval)
	s.minGap = resp.MinInterval
	if s.minGap <= 0 {
		s.minGap = min(interval, defaultMinGap)
	}
	s.next = now.Add(interval)
	if s.completedPending {
		s.next = now // "completed" arrived before "started" got through: send it now
	}
}

// announceOne announces ev to one tracker of tier, bounded by AttemptTimeout, and
// records and logs how it went: the first failure (and any change of reason) at
// info level at once, a tracker that has not answered after SlowAfter likewise,
// the first answer and a recovery at info, the rest at debug.
func (a *Announcer) announceOne(ctx context.Context, tier int, u string, ev Event) (*AnnounceResponse, error) {
	shown := redactString(u)
	attempt := a.status.begin(tier, u, a.now())
	slowDone := make(chan struct{})
	slow := time.AfterFunc(a.cfg.SlowAfter, func() {
		defer close(slowDone)
		if a.status.slow(tier, u, attempt, a.cfg.SlowAfter, a.now()) {
			a.log.Info("tracker: no answer yet, still trying", "tracker", shown, "event", ev.String(),
				"after", a.cfg.SlowAfter, "gives_up_after", a.cfg.AttemptTimeout)
		}
	})
	actx, cancel := context.WithTimeout(ctx, a.cfg.AttemptTimeout)
	resp, err := a.client.Announce(actx, u, a.request(ev))
	cancel()
	if !slow.Stop() {
		<-slowDone // its record and log line come before this announce's outcome
	}
	now := a.now()
	switch {
	case err == nil:
		before := a.status.ok(tier, u, resp, now)
		msg := "tracker: announced"
		switch before {
		case StateWaiting, StateAnnouncing:
			msg = "tracker: first answer"
		case StateFailing:
			msg = "tracker: answers again"
		}
		level := slog.LevelInfo
		if before == StateOK {
			level = slog.LevelDebug
		}
		a.log.Log(ctx, level, msg, "tracker", shown, "event", ev.String(), "peers", len(resp.Peers),
			"seeders", resp.Seeders, "leechers", resp.Leechers, "interval", resp.Interval)
		return resp, nil
	case ctx.Err() != nil:
		a.status.abandon(tier, u)
	default:
		reason := Reason(err, a.cfg.AttemptTimeout)
		level := slog.LevelDebug
		if a.status.fail(tier, u, reason, now) {
			level = slog.LevelInfo
		}
		a.log.Log(ctx, level, "tracker: announce failed", "tracker", shown, "event", ev.String(), "reason", reason)
	}
	return nil, err
}

// request builds an announce with the current counters.
func (a *Announcer) request(ev Event) AnnounceRequest {
	var st Stats
	if a.cfg.Stats != nil {
		st = a.cfg.Stats()
	}
	return AnnounceRequest{
		InfoHash:   a.cfg.InfoHash,
		PeerID:     a.cfg.PeerID,
		Port:       a.cfg.Port,
		Uploaded:   st.Uploaded,
		Downloaded: st.Downloaded,
		Left:       st.Left,
		Event:      ev,
		NumWant:    a.cfg.NumWant,
		Key:        a.key,
		IPv6:       a.cfg.IPv6,
	}
}

// stop sends "stopped" to every tier where "started" got through, all at once, with
// a fresh deadline: ctx has already ended, and shutdown must not hang on an
// unreachable tracker.
func (a *Announcer) stop(ctx context.Context, tiers []tierState) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.StopTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for i := range tiers {
		if !tiers[i].started {
			continue
		}
		urls := a.tiers.tiers[i]
		wg.Go(func() {
			_, url, err := walkTier(ctx, urls, func(ctx context.Context, u string) (*AnnounceResponse, error) {
				return a.client.Announce(ctx, u, a.request(EventStopped))
			})
			if err != nil {
				a.log.Info("tracker: stopped announce failed", "tier", i+1, "err", err)
				return
			}
			a.log.Debug("tracker: stopped", "tracker", redactString(url))
		})
	}
	wg.Wait()
}

// backoff is the wait after the n-th failed round in a row: lo·2^(n-1), at most hi.
func backoff(lo, hi time.Duration, n int) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}
