package tracker

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/netip"
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
}

// announceClient is what an Announcer needs from a Client (a seam for tests).
type announceClient interface {
	Announce(ctx context.Context, trackerURL string, req AnnounceRequest) (*AnnounceResponse, error)
}

// Announcer decides when one torrent announces: "started" first, then regular
// re-announces at the tracker's interval, "completed" when told, "stopped" at shutdown.
// Each announce walks the BEP 12 tiers. All its state is owned by the Run goroutine.
type Announcer struct {
	cfg       AnnouncerConfig
	client    announceClient
	tiers     *tierList
	key       uint32 // BEP 7 key, constant for the session
	log       *slog.Logger
	now       func() time.Time
	completed chan struct{} // capacity 1
	needPeers chan struct{} // capacity 1
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
	if cfg.NumWant <= 0 {
		cfg.NumWant = DefaultNumWant
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Announcer{
		cfg:       cfg,
		client:    cfg.Client,
		tiers:     newTierList(cfg.Tiers, nil),
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

// Completed asks for a "completed" announce at the next opportunity (after "started"
// has got through). It never blocks.
func (a *Announcer) Completed() { poke(a.completed) }

// NeedPeers asks for an early announce. It is rate-limited by the tracker's min
// interval (or the interval, at most a minute, when none is given), and ignored until
// "started" has got through or while failing. It never blocks.
func (a *Announcer) NeedPeers() { poke(a.needPeers) }

func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// announceState is the Run goroutine's state.
type announceState struct {
	started          bool // a "started" announce got through
	completedPending bool // Completed was called and "completed" has not got through
	failures         int  // failed rounds in a row
	lastOK           time.Time
	next             time.Time     // when the next regular announce is due
	minGap           time.Duration // shortest allowed time between announces
}

func (s *announceState) event() Event {
	switch {
	case !s.started:
		return EventStarted
	case s.completedPending:
		return EventCompleted
	}
	return EventNone
}

// Run announces until ctx ends, then sends "stopped" (bounded by StopTimeout) if
// "started" got through, and returns. Call it once.
func (a *Announcer) Run(ctx context.Context) {
	var s announceState
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			a.stop(ctx, &s)
			return
		case <-a.completed:
			s.completedPending = true
			if s.started {
				timer.Reset(0)
			}
		case <-a.needPeers:
			if d, ok := a.earlyDelay(&s); ok {
				timer.Reset(d)
			}
		case <-timer.C:
			if ctx.Err() != nil {
				continue // both were ready; shut down rather than announce
			}
			a.announce(ctx, &s)
			if ctx.Err() == nil {
				timer.Reset(s.next.Sub(a.now()))
			}
		}
	}
}

// earlyDelay says how soon NeedPeers may announce, if earlier than the regular time.
func (a *Announcer) earlyDelay(s *announceState) (time.Duration, bool) {
	if !s.started || s.failures > 0 {
		return 0, false
	}
	at := s.lastOK.Add(s.minGap)
	if !at.Before(s.next) {
		return 0, false
	}
	return max(0, at.Sub(a.now())), true
}

// announce runs one round over the tiers and schedules the next one.
func (a *Announcer) announce(ctx context.Context, s *announceState) {
	ev := s.event()
	resp, url, err := a.tiers.announce(ctx, func(ctx context.Context, u string) (*AnnounceResponse, error) {
		return a.announceOne(ctx, u, ev)
	})
	now := a.now()
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		s.failures++
		wait := backoff(a.cfg.MinBackoff, a.cfg.MaxBackoff, s.failures)
		s.next = now.Add(wait)
		a.log.Warn("tracker: announce failed", "event", ev.String(), "retry_in", wait, "err", err)
		return
	}
	a.succeeded(s, ev, resp, now)
	a.log.Debug("tracker: announced", "tracker", url, "event", ev.String(), "peers", len(resp.Peers),
		"seeders", resp.Seeders, "leechers", resp.Leechers, "next_in", s.next.Sub(now))
	if resp.Warning != "" {
		a.log.Warn("tracker: warning", "tracker", url, "warning", resp.Warning)
	}
	if len(resp.Peers) > 0 && a.cfg.OnPeers != nil {
		a.cfg.OnPeers(resp.Peers)
	}
}

// succeeded updates the state after an answered announce: the event got through, and
// the next regular announce is due after the interval (never below the min interval).
func (a *Announcer) succeeded(s *announceState, ev Event, resp *AnnounceResponse, now time.Time) {
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

// announceOne announces ev to one tracker, bounded by AttemptTimeout.
func (a *Announcer) announceOne(ctx context.Context, trackerURL string, ev Event) (*AnnounceResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.AttemptTimeout)
	defer cancel()
	return a.client.Announce(ctx, trackerURL, a.request(ev))
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
	}
}

// stop sends "stopped" with a fresh deadline: ctx has already ended, and shutdown must
// not hang on an unreachable tracker.
func (a *Announcer) stop(ctx context.Context, s *announceState) {
	if !s.started {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.StopTimeout)
	defer cancel()
	_, url, err := a.tiers.announce(ctx, func(ctx context.Context, u string) (*AnnounceResponse, error) {
		return a.announceOne(ctx, u, EventStopped)
	})
	if err != nil {
		a.log.Info("tracker: stopped announce failed", "err", err)
		return
	}
	a.log.Debug("tracker: stopped", "tracker", url)
}

// backoff is the wait after the n-th failed round in a row: lo·2^(n-1), at most hi.
func backoff(lo, hi time.Duration, n int) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}
