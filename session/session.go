package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/metainfo"
	"github.com/hyperblow/hyperblow/engine/storage"
)

// Config is what a session is made of: the engine's settings, the one cache
// budget, and what every torrent of the session starts with.
type Config struct {
	// Engine is the engine client's configuration, except CacheSize,
	// Readahead, Idle and Logger, which the session sets from the fields below.
	Engine engine.Config
	// AnyPortIfBusy: when Engine.Listen is busy, listen on any free port
	// (the default port is taken by another client).
	AnyPortIfBusy bool
	// CacheSize is the one budget of verified pieces in memory shared by all
	// the torrents, in bytes; Readahead caps one reader's window.
	CacheSize int64
	Readahead int64
	// Idle is how long a torrent nothing reads stays awake (0: always);
	// NoSleep keeps every torrent of the session awake (seed, get --seed).
	Idle    time.Duration
	NoSleep bool
	// Peers and WebSeeds are given to every torrent, with its own.
	Peers    []netip.AddrPort
	WebSeeds []string
	// NoTrackers: no torrent announces to its trackers (demo).
	NoTrackers bool
	// MetadataTimeout bounds the fetching of a magnet's metadata (0: no bound).
	MetadataTimeout time.Duration
	// DataDir, if set, keeps each torrent's pieces in its own files under it
	// (data.go: DIR/NAME, as get writes them), never evicted, instead of the
	// disk cache (Engine.DiskCache), which is then unused.
	DataDir string
	// Folders shows the torrents of the set (Add, Remove) in a mount; nil: none.
	Folders Folders
	Logger  *slog.Logger
}

// Folders is how a mount shows the torrents of a session's set: the session
// never imports fs; the mount is told of additions and removals. Add and
// Remove are called with the session's lock held, Attach and Failed without.
type Folders interface {
	// Add shows e (e.Torrent is nil while a magnet resolves) and returns the
	// name it shows under.
	Add(e *Entry) (name string, err error)
	// Attach shows e's torrent, started once a magnet's metadata came.
	Attach(e *Entry)
	// Failed says e's metadata did not come, or its torrent did not start.
	Failed(e *Entry, err error)
	// Remove hides e; the channel closes once nothing in it is open.
	Remove(e *Entry) <-chan struct{}
}

// Session is the set of torrents of one process, on one engine client.
type Session struct {
	cfg    Config
	log    *slog.Logger
	client *engine.Client
	ctx    context.Context // ends at Stop: resolutions and removals end with it
	cancel context.CancelFunc

	// mu guards torrents, opening, watchers and stopped; the engine is changed under
	// it (or by a removal counted in wg) so that Stop can end every change
	// before the client closes. Lock order: mu, then the Folders' own locks.
	mu       sync.Mutex
	torrents map[bt.InfoHash]*Entry
	opening  map[bt.InfoHash]*Entry // Add starting a .torrent, its tier opening (addopen.go)
	watchers []*watcher
	stopped  bool
	wg       sync.WaitGroup

	data dataRoots // the files of --data torrents in use (data.go)
	// openHook, if set (tests), runs as a --data torrent's files open.
	openHook func(*metainfo.Torrent)
}

// New starts an engine client sized by cfg and a session on it.
func New(cfg Config) (*Session, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	// The cache is most of the heap: a soft limit near it keeps the garbage
	// collector from letting the process grow to twice the cache. The bench
	// measured the whole process at this limit (VmHWM), so it is the target,
	// the cache + 64 MiB, less room for stacks and the runtime.
	debug.SetMemoryLimit(cfg.CacheSize + 48<<20)
	ec := cfg.Engine
	ec.CacheSize, ec.Readahead, ec.Idle, ec.Logger = cfg.CacheSize, cfg.Readahead, cfg.Idle, cfg.Logger
	c, err := engine.NewClient(ec)
	if err != nil && cfg.AnyPortIfBusy && ec.Listen != "" {
		ec.Listen = ":0"
		c, err = engine.NewClient(ec)
	}
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Session{cfg: cfg, log: cfg.Logger, client: c, ctx: ctx, cancel: cancel,
		torrents: map[bt.InfoHash]*Entry{}}, nil
}

// Client is the session's engine client.
func (s *Session) Client() *engine.Client { return s.client }

// Source is a SOURCE parsed: a torrent, or a magnet whose metadata must
// still be fetched.
type Source struct {
	Torrent *metainfo.Torrent
	Magnet  *metainfo.Magnet
}

// InfoHash is the source's info-hash.
func (src Source) InfoHash() bt.InfoHash {
	if src.Torrent != nil {
		return src.Torrent.InfoHash
	}
	return src.Magnet.InfoHash
}

// StartOptions are what one torrent starts with besides the session's Config.
type StartOptions struct {
	NoTrackers bool
	NoSleep    bool
	Peers      []netip.AddrPort // more peers to dial
	// OpenTier opens its tier once its info is known (seed and get: a
	// Layout, see OpenData); nil: Config.DataDir's, or the disk cache.
	OpenTier func(*metainfo.Torrent, storage.Events) (storage.Tier, error)
	// UploadOnly: it never downloads (seed: it serves what its tier holds).
	UploadOnly bool
}

// Entry is one torrent of the session: started, or a magnet resolving.
type Entry struct {
	s    *Session
	hash bt.InfoHash
	want string // the name it would like to show under
	opts StartOptions

	infoDone chan struct{} // closed once the metadata is here, or will not come
	removed  chan struct{} // closed once the set removed it and its torrent stopped

	mu  sync.Mutex // guards the fields below
	mt  *metainfo.Torrent
	t   *engine.Torrent // once it has its info
	mag *engine.Torrent // a magnet's torrent, from the start (engine.Client.AddMagnet)
	err error

	// Guarded by Session.mu.
	name     string          // its folder
	refs     map[string]bool // the sources holding it
	cancel   context.CancelFunc
	removing bool
}

// Removed is closed once the set removed the entry (its last source went)
// and its torrent stopped.
func (e *Entry) Removed() <-chan struct{} { return e.removed }

// Entry returns the set's torrent of info-hash h, or nil.
func (s *Session) Entry(h bt.InfoHash) *Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.torrents[h]
}

// InfoHash is the torrent's info-hash.
func (e *Entry) InfoHash() bt.InfoHash { return e.hash }

// WantName is the name the torrent would like to show under: its own, the
// magnet's dn, or its info-hash.
func (e *Entry) WantName() string { return e.want }

// Name is the name it shows under in the mount.
func (e *Entry) Name() string {
	e.s.mu.Lock()
	defer e.s.mu.Unlock()
	return e.name
}

// Torrent is its engine torrent; nil while a magnet resolves (or failed).
func (e *Entry) Torrent() *engine.Torrent {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.t
}

// engineTorrent is its torrent in the engine, a magnet's before its info too.
func (e *Entry) engineTorrent() *engine.Torrent {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.t != nil {
		return e.t
	}
	return e.mag
}

// Metainfo is its parsed torrent; nil until a magnet's metadata is here.
func (e *Entry) Metainfo() *metainfo.Torrent {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.mt
}

// Err is why the metadata did not come or the torrent did not start; nil
// while all is well.
func (e *Entry) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

// WaitInfo waits for the metadata (a .torrent has it at once) and returns it.
func (e *Entry) WaitInfo(ctx context.Context) (*metainfo.Torrent, error) {
	select {
	case <-e.infoDone:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.mt == nil {
		return nil, e.err
	}
	return e.mt, nil
}

// ResolveStatus is how a magnet's resolution stands; ok is false for a
// torrent that came with its metadata.
func (e *Entry) ResolveStatus() (st engine.ResolveStatus, ok bool) {
	e.mu.Lock()
	t := e.mag
	e.mu.Unlock()
	if t == nil {
		return st, false
	}
	return t.ResolveStatus(), true
}

// resolving: a magnet whose torrent is not running (resolving, or failed).
func (e *Entry) resolving() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.mag != nil && e.t == nil
}

// Start starts the torrent of src outside the set: no refcount, no folder.
// A magnet resolves in the background (Entry.WaitInfo); its failure ends
// nothing else. ctx bounds the resolution.
func (s *Session) Start(ctx context.Context, src Source, opts StartOptions) (*Entry, error) {
	e := s.newEntry(src, opts)
	if err := s.start(ctx, e, src, nil); err != nil {
		return nil, err
	}
	return e, nil
}

func (s *Session) newEntry(src Source, opts StartOptions) *Entry {
	e := &Entry{s: s, hash: src.InfoHash(), opts: opts, infoDone: make(chan struct{}), removed: make(chan struct{})}
	if src.Torrent != nil {
		e.want = src.Torrent.Info.Name
	} else if e.want = src.Magnet.Name; e.want == "" {
		e.want = e.hash.String()
	}
	return e
}

// start starts e's torrent, or the resolution of its magnet; onInfo, if set,
// runs when a magnet's torrent started or failed.
func (s *Session) start(ctx context.Context, e *Entry, src Source, onInfo func(error)) error {
	if src.Torrent == nil {
		return s.startMagnet(ctx, e, src.Magnet, onInfo)
	}
	e.mt = src.Torrent
	close(e.infoDone)
	t, err := s.client.AddTorrent(src.Torrent, s.torrentOptions(e.opts, nil))
	if err != nil {
		return err
	}
	e.t = t
	return nil
}

func (s *Session) torrentOptions(o StartOptions, more []netip.AddrPort) engine.TorrentOptions {
	to := engine.TorrentOptions{NoTrackers: o.NoTrackers || s.cfg.NoTrackers, NoSleep: o.NoSleep || s.cfg.NoSleep,
		Peers: slices.Concat(s.cfg.Peers, o.Peers, more), OpenTier: o.OpenTier, UploadOnly: o.UploadOnly}
	if to.OpenTier == nil && s.cfg.DataDir != "" {
		to.OpenTier = s.openDataTier // data.go
	}
	if !o.UploadOnly {
		to.WebSeeds = s.cfg.WebSeeds
	}
	return to
}

// startMagnet is the one place a magnet becomes a torrent: a torrent
// without its info (engine.Client.AddMagnet) that fetches the metadata from
// its own peers and carries on with the same connections once it has it.
// onInfo, if set, runs once the info is here or will not come;
// Entry.WaitInfo returns then.
func (s *Session) startMagnet(ctx context.Context, e *Entry, m *metainfo.Magnet, onInfo func(error)) error {
	opts := s.torrentOptions(e.opts, nil)
	opts.MetadataTimeout = s.cfg.MetadataTimeout
	if err := s.client.CanFindPeers(m, opts); err != nil {
		return WithPeerHint(err)
	}
	t, err := s.client.AddMagnet(m, opts)
	if err != nil {
		return WithPeerHint(err)
	}
	e.mu.Lock()
	e.mag = t
	e.mu.Unlock()
	go func() {
		mt, err := t.WaitInfo(ctx)
		// Under the session's lock, as every change to the set is, so that
		// Stop and Remove see it.
		s.mu.Lock()
		e.mu.Lock()
		if err == nil {
			e.mt = mt
			if !s.stopped && !e.removing {
				e.t = t
			}
		}
		e.err = WithPeerHint(err)
		e.mu.Unlock()
		s.mu.Unlock()
		close(e.infoDone)
		if onInfo != nil {
			onInfo(e.err)
		}
	}()
	return nil
}

// gone: the set removed e, or the session stopped, while its metadata came.
func (e *Entry) gone() bool {
	s := e.s
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopped || e.removing
}

// WithPeerHint adds to an error that says a magnet has no way to find peers
// (engine.ErrNoPeerSource) how to give it one.
func WithPeerHint(err error) error {
	if errors.Is(err, engine.ErrNoPeerSource) {
		return fmt.Errorf("%w (give --peer HOST:PORT, a magnet link with a tracker, or leave the DHT on)", err)
	}
	return err
}

// errRemoving: a torrent cannot be added again while its folder, removed,
// still has open files; a watcher tries again later.
var errRemoving = errors.New("its earlier folder is being removed")

// Add puts the torrent of source ref in the set and shows it (Folders), or
// counts ref as one more source of a torrent already there: one torrent per
// info-hash, which goes when the last source holding it goes.
func (s *Session) Add(ref string, src Source) error {
	h := src.InfoHash()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return fmt.Errorf("%s: %w", ref, engine.ErrClosed)
	}
	if e := s.torrents[h]; e != nil {
		if e.removing {
			return fmt.Errorf("%s: torrent %s: %w", ref, h, errRemoving)
		}
		e.refs[ref] = true
		s.log.Info("torrent already in the mount", "source", Safe(ref), "folder", Safe(e.name), "info_hash", h.String())
		return nil
	}
	if e := s.opening[h]; e != nil {
		e.refs[ref] = true // one more source of the torrent being started
		s.log.Info("torrent already being added to the mount", "source", Safe(ref), "info_hash", h.String())
		return nil
	}
	e := s.newEntry(src, StartOptions{})
	e.refs = map[string]bool{ref: true}
	ctx, cancel := context.WithCancel(s.ctx)
	e.cancel = cancel
	var err error
	if src.Torrent != nil {
		var gone bool
		if gone, err = s.startUnlocked(ctx, e, src); gone {
			cancel()
			return err
		}
	} else {
		err = s.start(ctx, e, src, func(err error) { s.resolved(e, ref, err) })
	}
	if err != nil {
		cancel()
		if src.Torrent != nil {
			return fmt.Errorf("%s: starting the torrent: %w", ref, err)
		}
		return fmt.Errorf("%s: %w", ref, err)
	}
	if s.cfg.Folders != nil {
		if e.name, err = s.cfg.Folders.Add(e); err != nil {
			e.removing = true // resolved gives up
			cancel()
			if t := e.engineTorrent(); t != nil {
				s.client.RemoveTorrent(t)
			}
			return fmt.Errorf("%s: %w", ref, err)
		}
	}
	if e.name == "" {
		e.name = e.want
	}
	s.torrents[h] = e
	if mt := src.Torrent; mt != nil {
		s.log.Info("torrent added", "source", Safe(ref), "folder", Safe(e.name), "info_hash", h.String(),
			"files", len(mt.Info.VisibleFiles()), "size", mt.Info.TotalLength)
	} else {
		s.log.Info("magnet added; fetching metadata", "source", Safe(ref), "folder", Safe(e.name), "info_hash", h.String())
	}
	return nil
}

// resolved shows a magnet's torrent in its folder once its metadata is here,
// unless the folder was removed meanwhile.
func (s *Session) resolved(e *Entry, ref string, err error) {
	if e.gone() || s.cfg.Folders == nil {
		return
	}
	if err != nil {
		s.cfg.Folders.Failed(e, err)
		return
	}
	s.cfg.Folders.Attach(e)
	mt := e.Metainfo()
	s.log.Info("metadata fetched", "folder", Safe(e.Name()), "torrent", Safe(mt.Info.Name),
		"files", len(mt.Info.VisibleFiles()), "size", mt.Info.TotalLength)
}

// Remove drops source ref of torrent h. When no source holds it any more it
// leaves the mount at once (Folders.Remove), and the torrent stops once
// nothing in its folder is open.
func (s *Session) Remove(ref string, h bt.InfoHash) {
	s.mu.Lock()
	if o := s.opening[h]; o != nil {
		delete(o.refs, ref) // Add sees no source left and takes it away
		s.mu.Unlock()
		return
	}
	e := s.torrents[h]
	if e == nil || !e.refs[ref] {
		s.mu.Unlock()
		return
	}
	delete(e.refs, ref)
	if len(e.refs) > 0 || e.removing || s.stopped {
		s.mu.Unlock()
		return
	}
	e.removing = true
	e.cancel()
	idle := closedChan
	if s.cfg.Folders != nil {
		idle = s.cfg.Folders.Remove(e)
	}
	s.mu.Unlock()
	s.log.Info("torrent removed from the mount", "source", Safe(ref), "folder", Safe(e.name), "info_hash", h.String())
	go func() {
		select {
		case <-idle:
		case <-s.ctx.Done():
			return // the client closes with the session
		}
		s.mu.Lock()
		if s.stopped {
			s.mu.Unlock()
			return
		}
		t := e.engineTorrent()
		s.wg.Add(1)
		s.mu.Unlock()
		defer s.wg.Done()
		if t != nil {
			s.client.RemoveTorrent(t)
		}
		s.mu.Lock()
		if s.torrents[h] == e {
			delete(s.torrents, h)
		}
		s.mu.Unlock()
		close(e.removed)
		s.log.Info("torrent stopped", "folder", Safe(e.name), "info_hash", h.String())
	}()
}

var closedChan = func() <-chan struct{} { c := make(chan struct{}); close(c); return c }()

// Entries lists the set's torrents, by name.
func (s *Session) Entries() []*Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Entry, 0, len(s.torrents))
	for _, e := range s.torrents {
		if !e.removing {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b *Entry) int { return strings.Compare(a.name, b.name) })
	return out
}

// magnets returns the status of the set's magnets whose torrent does not
// run (resolving, or failed), by name.
func (s *Session) magnets() []engine.ResolveStatus {
	var out []engine.ResolveStatus
	for _, e := range s.Entries() {
		if e.resolving() {
			if st, ok := e.ResolveStatus(); ok {
				out = append(out, st)
			}
		}
	}
	slices.SortFunc(out, func(a, b engine.ResolveStatus) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Stop ends every change to the engine (additions, removals, resolutions,
// watched folders) and waits for those under way. The client stays open.
func (s *Session) Stop() {
	s.mu.Lock()
	s.stopped = true
	ws := s.watchers
	s.watchers = nil
	s.mu.Unlock()
	s.cancel()
	for _, w := range ws {
		w.close()
	}
	s.wg.Wait()
}

// Close stops the session and its engine client: trackers are told.
func (s *Session) Close() error {
	s.Stop()
	err := s.client.Close()
	if dc := s.cfg.Engine.DiskCache; dc != nil {
		if cerr := dc.Close(); cerr != nil && err == nil { // its queue is written first
			err = fmt.Errorf("disk cache: %w", cerr)
		}
	}
	return err
}

// CloseWithin is Close, waited for no longer than d: a stop that takes
// longer is logged with every goroutine's stack (a bug to report), and left
// to finish in the background. It reports whether the engine stopped in time.
func (s *Session) CloseWithin(d time.Duration) bool {
	closed := make(chan struct{})
	go func() {
		s.Close()
		close(closed)
	}()
	select {
	case <-closed:
		return true
	case <-time.After(d):
	}
	var b strings.Builder
	pprof.Lookup("goroutine").WriteTo(&b, 1)
	s.log.Warn("the engine did not stop in time; exiting anyway", "waited", d)
	s.log.Warn("goroutines of the stop that did not end", "stacks", b.String())
	return false
}
