package tracker

import (
	"context"
	"net/netip"
	"sync"

	"github.com/hyperblow/hyperblow/engine/bt"
)

// BEP 52: a hybrid torrent is one torrent in two swarms, the v1 one under its SHA-1
// info-hash and the v2 one under its SHA-256 info-hash truncated to 20 bytes. A
// tracker that knows nothing of v2 keeps the two apart, so a hybrid announces under
// both hashes and takes the peers of both, as libtorrent and qBittorrent do (two
// announces to every tracker, each with its own schedule and the same counters).

// twin is the second hash's Announcer, run beside its first.
type twin struct {
	mu  sync.Mutex
	a   *Announcer      // nil until AlsoAnnounce
	ctx context.Context // the first's Run context while it runs
	wg  sync.WaitGroup  // the twin's Run
}

// AlsoAnnounce makes the Announcer announce the torrent under a second info-hash h
// as well (a hybrid's other hash): to the same trackers, each tier on its own
// schedule as for the first hash, the peers going to onPeers (nil: OnPeers), so
// that they can be dialled with h. Completed
// and NeedPeers reach both. Only the first call counts, and h equal to InfoHash is
// ignored. Safe for concurrent use: if Run is under way, the announces under h
// start at once, and Run returns when those under both hashes have said "stopped".
func (a *Announcer) AlsoAnnounce(h bt.InfoHash, onPeers func([]netip.AddrPort)) {
	if h == a.cfg.InfoHash {
		return
	}
	a.also.mu.Lock()
	defer a.also.mu.Unlock()
	if a.also.a != nil {
		return
	}
	cfg := a.cfg
	cfg.InfoHash = h
	if onPeers != nil {
		cfg.OnPeers = onPeers
	}
	a.also.a = NewAnnouncer(cfg)
	a.also.a.key = a.key // BEP 7: one client, one key
	a.also.a.client, a.also.a.now = a.client, a.now
	if a.also.ctx != nil {
		a.also.start()
	}
}

// AlsoTrackers is Trackers for the second info-hash, and false without one.
func (a *Announcer) AlsoTrackers() (bt.InfoHash, []Status, bool) {
	a.also.mu.Lock()
	o := a.also.a
	a.also.mu.Unlock()
	if o == nil {
		return bt.InfoHash{}, nil, false
	}
	return o.cfg.InfoHash, o.Trackers(), true
}

// other returns the second hash's Announcer, or nil.
func (a *Announcer) other() *Announcer {
	a.also.mu.Lock()
	defer a.also.mu.Unlock()
	return a.also.a
}

// runTwin starts the twin with ctx (Run's) and returns a function that waits for it.
func (a *Announcer) runTwin(ctx context.Context) (wait func()) {
	a.also.mu.Lock()
	a.also.ctx = ctx
	if a.also.a != nil {
		a.also.start()
	}
	a.also.mu.Unlock()
	return func() {
		a.also.mu.Lock()
		a.also.ctx = nil
		a.also.mu.Unlock()
		a.also.wg.Wait()
	}
}

// start runs the twin under the first's context. mu is held.
func (tw *twin) start() {
	o, ctx := tw.a, tw.ctx
	tw.wg.Go(func() { o.Run(ctx) })
}
