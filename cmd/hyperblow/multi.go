package main

// Several torrents in one mount: `hyperblow mount SOURCE... MOUNTPOINT` with two
// or more SOURCEs, or a folder SOURCE, which is watched. The mount's root holds
// one folder per torrent (fs.MultiRoot); a torrentSet keeps the engine's
// torrents and the folders in step; a watcher turns the .torrent and .magnet
// files of a folder into additions and removals.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/metainfo"
	hfs "github.com/hyperblow/hyperblow/fs"
)

// isFolder reports whether src names an existing folder (a watched SOURCE).
func isFolder(src string) bool {
	st, err := os.Stat(src)
	return err == nil && st.IsDir()
}

// source is a SOURCE argument that is not a folder, parsed.
type source struct {
	arg string
	mt  *metainfo.Torrent
	m   *metainfo.Magnet
}

// runMultiMount is `hyperblow mount SOURCE... MOUNTPOINT` with several SOURCEs
// or a folder SOURCE. Every SOURCE that is not a folder must be valid, as with
// one SOURCE; a folder's files are checked as they come.
func runMultiMount(mf *mountFlags, srcs []string, mnt string, stdout, stderr io.Writer) error {
	if err := checkMountpoint(mnt); err != nil {
		return err
	}
	log := mf.logger(stderr)
	ctx, stop := signal.NotifyContext(context.Background(), mountSignals()...) // as runMount
	defer stop()
	var fixed []source
	var dirs []string
	for _, src := range srcs {
		if isFolder(src) {
			dir, err := checkWatchDir(src, mnt)
			if err != nil {
				return err
			}
			if !slices.Contains(dirs, dir) {
				dirs = append(dirs, dir)
			}
			continue
		}
		mt, m, err := parseSource(ctx, src)
		if err != nil {
			return err
		}
		fixed = append(fixed, source{arg: src, mt: mt, m: m})
	}
	return serveMulti(ctx, stop, log, mf, fixed, dirs, mnt)
}

// checkWatchDir returns the watched folder's absolute path; it may not be the
// mount point or inside it.
func checkWatchDir(dir, mnt string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		return "", fmt.Errorf("watched folder %s: %w", dir, err)
	}
	m, err := filepath.Abs(mnt)
	if err == nil {
		if r, err := filepath.EvalSymlinks(m); err == nil {
			m = r
		}
	}
	if abs == m || strings.HasPrefix(abs, m+string(filepath.Separator)) {
		return "", usagef("watched folder %s is inside the mount point %s: give a folder outside it", dir, mnt)
	}
	return abs, nil
}

// serveMulti mounts a MultiRoot with the fixed sources' torrents and the
// watched folders' files, and blocks until it is unmounted or ctx ends.
func serveMulti(ctx context.Context, stopSignals func(), log *slog.Logger, mf *mountFlags, fixed []source, dirs []string, mnt string) error {
	mf.life, mf.log = newMountLife(ctx), log
	stopProfile, err := startProfile(mf)
	if err != nil {
		return err
	}
	defer stopProfile()
	client, err := newClient(log, mf)
	if err != nil {
		return err
	}
	// Magnets resolving in a multi mount show in their folders' status files,
	// not in --status's magnets[] (it follows one resolution).
	stopStatus, err := startStatus(log, mf.status, client, nil)
	if err != nil {
		client.Close()
		return err
	}
	defer stopStatus()
	root := hfs.NewMultiRoot(mf.rootOptions(time.Now()))
	set := newTorrentSet(log, mf, client, root)
	var watchers []*watcher
	fail := func(err error) error {
		set.stop()
		for _, w := range watchers {
			w.close()
		}
		client.Close()
		return err
	}
	for _, s := range fixed {
		if err := set.add(s.arg, s.mt, s.m); err != nil {
			return fail(err)
		}
	}
	for _, dir := range dirs {
		w := newWatcher(dir, set, log)
		watchers = append(watchers, w)
		w.again = w.scan(time.Now()) // what is there already shows at once
	}
	server, err := hfs.Mount(mnt, root, mf.mountOptions(log)) // options.go: -o
	if err != nil {
		return fail(err)
	}
	log.Info("mounted", "torrents", len(root.Names()), "watching", dirs, "mountpoint", mnt,
		"listen", client.ListenAddr().String())
	for _, w := range watchers {
		go w.run(set.ctx)
	}
	defer func() {
		for _, t := range torrentsWithInfo(client) {
			logStats(log.With("torrent", t.Info().Name), t)
		}
	}()
	stopView := mf.startView(mnt, client, set.magnets) // tty.go; its final frame comes before "stopped"
	defer stopView()
	// The set stops changing the engine before the engine stops.
	return waitUnmount(mf.life, stopSignals, log, client, server, mnt, set.stop)
}

// errRemoving: a torrent cannot be added again while its folder, removed, still
// has open files; the watcher tries again later.
var errRemoving = errors.New("its earlier folder is being removed")

// torrentSet keeps the engine's torrents and the mount's folders in step. A
// torrent is held by one or more sources (a SOURCE argument, a watched file):
// the same info-hash twice shows once, and its folder goes when the last
// source holding it goes.
type torrentSet struct {
	ctx    context.Context // ends at stop: resolutions and removals end with it
	cancel context.CancelFunc
	log    *slog.Logger
	mf     *mountFlags
	client *engine.Client
	root   *hfs.MultiRoot

	// mu guards torrents and stopped; the engine is changed under it (or by a
	// removal counted in wg) so that stop can end every change before the
	// client closes.
	mu       sync.Mutex
	torrents map[bt.InfoHash]*setEntry
	stopped  bool
	wg       sync.WaitGroup
}

// setEntry is one torrent of the set.
type setEntry struct {
	hash     bt.InfoHash
	name     string          // its folder
	refs     map[string]bool // the sources holding it
	root     *hfs.Root
	t        *engine.Torrent    // nil while a magnet resolves
	res      *engine.Torrent    // a magnet's torrent, before and after its info
	cancel   context.CancelFunc // ends it
	removing bool
}

func newTorrentSet(log *slog.Logger, mf *mountFlags, client *engine.Client, root *hfs.MultiRoot) *torrentSet {
	ctx, cancel := context.WithCancel(context.Background())
	return &torrentSet{ctx: ctx, cancel: cancel, log: log, mf: mf, client: client, root: root,
		torrents: map[bt.InfoHash]*setEntry{}}
}

// add shows the torrent of source ref (mt, or the magnet m) in a folder of its
// own, or counts ref as one more source of a torrent already shown.
func (s *torrentSet) add(ref string, mt *metainfo.Torrent, m *metainfo.Magnet) error {
	var h bt.InfoHash
	if mt != nil {
		h = mt.InfoHash
	} else {
		h = m.InfoHash
	}
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
		s.log.Info("torrent already in the mount", "source", safe(ref), "folder", safe(e.name), "info_hash", h.String())
		return nil
	}
	e := &setEntry{hash: h, refs: map[string]bool{ref: true}}
	var want string
	if mt != nil {
		t, err := s.client.AddTorrent(mt, engine.TorrentOptions{Peers: s.mf.peers, WebSeeds: s.mf.webSeeds})
		if err != nil {
			return fmt.Errorf("%s: starting the torrent: %w", ref, err)
		}
		e.t = t
		modTime := time.Now()
		if mt.CreationDate > 0 {
			modTime = time.Unix(mt.CreationDate, 0)
		}
		e.root = hfs.NewRoot(t, fsOptions(s.mf, modTime))
		want = mt.Info.Name
	} else {
		topts := engine.TorrentOptions{Peers: s.mf.peers, WebSeeds: s.mf.webSeeds, MetadataTimeout: s.mf.metadataTimeout}
		if err := s.client.CanFindPeers(m, topts); err != nil {
			return fmt.Errorf("%s: %w", ref, withPeerHint(err))
		}
		res, err := s.client.AddMagnet(m, topts)
		if err != nil {
			return fmt.Errorf("%s: %w", ref, withPeerHint(err))
		}
		e.res = res
		e.root = hfs.NewPendingRoot(func() string { return resolveStatusText(res.ResolveStatus()) }, fsOptions(s.mf, time.Now()))
		want = m.Name
		if want == "" {
			want = h.String()
		}
		go s.resolved(e, res, ref)
	}
	name, err := s.root.Add(h.String(), want, e.root)
	if err != nil {
		e.removing = true // resolved gives up
		if e.cancel != nil {
			e.cancel()
		}
		if e.t != nil {
			s.client.RemoveTorrent(e.t)
		} else if e.res != nil {
			s.client.RemoveTorrent(e.res)
		}
		return fmt.Errorf("%s: %w", ref, err)
	}
	e.name = name
	s.torrents[h] = e
	if mt != nil {
		s.log.Info("torrent added", "source", safe(ref), "folder", safe(name), "info_hash", h.String(),
			"files", len(mt.Info.VisibleFiles()), "size", mt.Info.TotalLength)
	} else {
		s.log.Info("magnet added; fetching metadata", "source", safe(ref), "folder", safe(name), "info_hash", h.String())
	}
	return nil
}

// resolved starts a magnet's torrent once its metadata is here and shows its
// files in its folder, unless the folder was removed meanwhile.
func (s *torrentSet) resolved(e *setEntry, res *engine.Torrent, ref string) {
	mt, err := res.WaitInfo(s.ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped || e.removing {
		return
	}
	if err != nil {
		// The other torrents go on; the folder stays, its status file saying
		// the same as this line, until its source is removed or the mount ends.
		s.log.Error("metadata not fetched; the folder stays empty", "source", safe(ref), "folder", safe(e.name), "info_hash", e.hash.String(), "err", err)
		return
	}
	t := res // the same torrent, now with its info
	e.t = t
	e.root.Attach(t)
	s.log.Info("metadata fetched", "folder", safe(e.name), "torrent", safe(mt.Info.Name),
		"files", len(mt.Info.VisibleFiles()), "size", mt.Info.TotalLength)
}

// remove drops source ref of torrent h. When no source holds it any more its
// folder leaves the mount at once, and the torrent stops once the folder's
// last open file is closed.
func (s *torrentSet) remove(ref string, h bt.InfoHash) {
	s.mu.Lock()
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
	if e.cancel != nil {
		e.cancel()
	}
	idle := s.root.Remove(h.String())
	s.mu.Unlock()
	s.log.Info("torrent removed from the mount", "source", safe(ref), "folder", safe(e.name), "info_hash", h.String())
	go func() {
		select {
		case <-idle:
		case <-s.ctx.Done():
			return // the client closes with the mount
		}
		s.mu.Lock()
		if s.stopped {
			s.mu.Unlock()
			return
		}
		t := e.t
		if t == nil {
			t = e.res // a magnet still without its info, or failed
		}
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
		s.log.Info("torrent stopped", "folder", safe(e.name), "info_hash", h.String())
	}()
}

// magnets returns the status of the magnets whose metadata has not come
// (resolving, or failed), for the live view.
func (s *torrentSet) magnets() []engine.ResolveStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []engine.ResolveStatus
	for _, e := range s.torrents {
		if e.res != nil && e.t == nil && !e.removing {
			out = append(out, e.res.ResolveStatus())
		}
	}
	slices.SortFunc(out, func(a, b engine.ResolveStatus) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// stop ends every change to the engine and waits for those under way.
func (s *torrentSet) stop() {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// Watching a folder. A file is read once it has not changed for watchQuiet (a
// .torrent being written does not parse, and is not used, until it is whole);
// one that still does not parse after watchSettle without a change is logged
// and skipped until it changes. inotify says when to look; a periodic rescan
// catches what it misses (and is all there is where inotify is not available).
const (
	watchQuiet    = 250 * time.Millisecond
	watchSettle   = 2 * time.Second
	watchRetry    = time.Second      // a torrent whose earlier folder is still being removed
	watchRescan   = 10 * time.Second // with inotify
	watchPoll     = 2 * time.Second  // without
	watchCoalesce = 50 * time.Millisecond
	// maxWatched is the most files one watched folder contributes.
	maxWatched = hfs.MaxFolders
	// maxMagnetFile is the largest .magnet file read.
	maxMagnetFile = metainfo.MaxMagnetLen + 4<<10
)

// watchMask is every change to a folder's entries that inotify reports.
const watchMask = unix.IN_CREATE | unix.IN_CLOSE_WRITE | unix.IN_MODIFY | unix.IN_ATTRIB | unix.IN_MOVED_TO |
	unix.IN_MOVED_FROM | unix.IN_DELETE | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR

// torrentAdder is what a watcher changes: a torrentSet (a fake in tests).
type torrentAdder interface {
	add(ref string, mt *metainfo.Torrent, m *metainfo.Magnet) error
	remove(ref string, h bt.InfoHash)
}

// watcher follows the *.torrent and *.magnet files of one folder.
type watcher struct {
	dir    string
	set    torrentAdder
	log    *slog.Logger
	notify *os.File // inotify; nil: rescans only
	fd     int      // notify's descriptor
	files  map[string]*watchedFile
	again  time.Duration // look again this soon (0: at the next event or rescan)

	dirErr  string // the last error reading dir, logged once
	tooMany bool   // warned that dir holds more than maxWatched files
}

// fileSig tells whether a file changed.
type fileSig struct {
	size  int64
	mtime int64
	ino   uint64
}

// watchedFile is what the watcher knows of one file.
type watchedFile struct {
	sig    fileSig
	since  time.Time // when sig was first seen
	done   bool      // this sig is dealt with: added, or logged as invalid
	active bool      // hash is in the set for this file
	hash   bt.InfoHash
}

func newWatcher(dir string, set torrentAdder, log *slog.Logger) *watcher {
	w := &watcher{dir: dir, set: set, log: log, files: map[string]*watchedFile{}}
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err == nil {
		if _, err = unix.InotifyAddWatch(fd, dir, watchMask); err != nil {
			unix.Close(fd)
		} else {
			w.fd = fd
			w.notify = os.NewFile(uintptr(fd), "inotify "+dir) // non-blocking: Close ends a Read
		}
	}
	if err != nil {
		log.Warn("cannot watch the folder with inotify; rescanning it every "+watchPoll.String()+" instead",
			"dir", dir, "err", err)
	}
	return w
}

func (w *watcher) close() {
	if w.notify != nil {
		w.notify.Close()
	}
}

// run looks at the folder on every inotify event (a burst coalesced), when a
// file may have settled, and every watchRescan (watchPoll) anyway, until ctx ends.
func (w *watcher) run(ctx context.Context) {
	defer w.close()
	events := make(chan struct{}, 1)
	period := watchPoll
	if w.notify != nil {
		period = watchRescan
		go w.readEvents(events)
	}
	tick := time.NewTicker(period)
	defer tick.Stop()
	next := time.NewTimer(time.Hour)
	defer next.Stop()
	if w.again > 0 {
		next.Reset(w.again)
	} else {
		next.Stop()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-events:
			next.Reset(watchCoalesce)
			continue
		case <-tick.C:
		case <-next.C:
		}
		if w.again = w.scan(time.Now()); w.again > 0 {
			next.Reset(w.again)
		}
	}
}

// readEvents signals events for every batch inotify reports, until the
// descriptor is closed. The events themselves are not needed: any change
// leads to a scan.
func (w *watcher) readEvents(events chan<- struct{}) {
	buf := make([]byte, 64<<10)
	for {
		if _, err := w.notify.Read(buf); err != nil {
			return
		}
		select {
		case events <- struct{}{}:
		default:
		}
	}
}

// isWatchedName: *.torrent and *.magnet, not hidden (editors' and downloaders'
// temporary files often are).
func isWatchedName(name string) bool {
	if strings.HasPrefix(name, ".") {
		return false
	}
	ext := strings.ToLower(filepath.Ext(name))
	return ext == ".torrent" || ext == ".magnet"
}

// scan brings the set in line with the folder as of now, and says how soon to
// look again for files that may settle (0: nothing pending).
func (w *watcher) scan(now time.Time) time.Duration {
	entries, err := os.ReadDir(w.dir)
	if err != nil {
		if err.Error() != w.dirErr {
			w.log.Warn("cannot read the watched folder; its torrents stay as they are", "dir", w.dir, "err", err)
			w.dirErr = err.Error()
		}
		return 0
	}
	if w.dirErr != "" && w.notify != nil {
		// The folder was gone (or unreadable) and is back: a folder made anew
		// needs a new watch; for the same folder this changes nothing.
		unix.InotifyAddWatch(w.fd, w.dir, watchMask)
	}
	w.dirErr = ""
	var again time.Duration
	soon := func(d time.Duration) {
		if again == 0 || d < again {
			again = d
		}
	}
	seen := map[string]bool{}
	count := 0
	for _, de := range entries {
		if !isWatchedName(de.Name()) {
			continue
		}
		if count++; count > maxWatched {
			if !w.tooMany {
				w.log.Warn("the watched folder holds too many torrents; the rest are skipped", "dir", w.dir, "max", maxWatched)
				w.tooMany = true
			}
			break
		}
		p := filepath.Join(w.dir, de.Name())
		st, err := os.Stat(p)
		if err != nil || !st.Mode().IsRegular() {
			continue // gone, or not a file: as if absent
		}
		seen[p] = true
		f := w.files[p]
		if f == nil {
			f = &watchedFile{}
			w.files[p] = f
		}
		sig := fileSig{size: st.Size(), mtime: st.ModTime().UnixNano()}
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			sig.ino = sys.Ino
		}
		if f.since.IsZero() || f.sig != sig {
			f.sig, f.since, f.done = sig, now, false
		}
		if !f.done {
			if d := w.check(p, f, st.ModTime(), now); d > 0 {
				soon(d)
			}
		}
	}
	for p, f := range w.files {
		if !seen[p] {
			if f.active {
				w.set.remove(p, f.hash)
			}
			delete(w.files, p)
		}
	}
	return again
}

// check reads a changed file once it is quiet and adds its torrent, or says
// how soon to look again.
func (w *watcher) check(p string, f *watchedFile, mtime, now time.Time) time.Duration {
	// How long the file has not changed, by the best evidence: the same size,
	// time and inode seen that long, or its modification time.
	still := max(now.Sub(f.since), now.Sub(mtime))
	if still < watchQuiet {
		return watchQuiet - still
	}
	mt, m, err := readWatched(p)
	if err != nil {
		if still < watchSettle {
			return watchSettle - still // perhaps still being written
		}
		w.log.Warn("skipping a file in the watched folder until it changes", "file", safe(p), "err", err)
		f.done = true
		if f.active {
			w.set.remove(p, f.hash)
			f.active = false
		}
		return 0
	}
	h := infoHashOf(mt, m)
	if f.active && f.hash == h {
		f.done = true
		return 0
	}
	if f.active {
		w.set.remove(p, f.hash)
		f.active = false
	}
	if err := w.set.add(p, mt, m); err != nil {
		if errors.Is(err, errRemoving) {
			return watchRetry
		}
		w.log.Warn("skipping a file in the watched folder until it changes", "file", safe(p), "err", err)
		f.done = true
		return 0
	}
	f.hash, f.active, f.done = h, true, true
	return 0
}

func infoHashOf(mt *metainfo.Torrent, m *metainfo.Magnet) bt.InfoHash {
	if mt != nil {
		return mt.InfoHash
	}
	return m.InfoHash
}

// readWatched reads a watched file: a .torrent, or a .magnet holding a magnet
// link or an info-hash on its first line that is neither empty nor a # comment.
// It never blocks on a FIFO and reads no more than the limits allow.
func readWatched(p string) (*metainfo.Torrent, *metainfo.Magnet, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, nil, errors.New("not a regular file")
	}
	magnet := strings.EqualFold(filepath.Ext(p), ".magnet")
	limit := int64(metainfo.MaxTorrentSize)
	if magnet {
		limit = maxMagnetFile
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, nil, err
	}
	if int64(len(data)) > limit {
		return nil, nil, fmt.Errorf("larger than %d bytes", limit)
	}
	if !magnet {
		mt, err := metainfo.Parse(data)
		if err != nil {
			return nil, nil, fmt.Errorf("not a valid torrent: %w", err)
		}
		return mt, nil, nil
	}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m, err := metainfo.ParseSource(line)
		if err != nil {
			return nil, nil, fmt.Errorf("want a magnet link or an info-hash: %w", err)
		}
		return nil, m, nil
	}
	return nil, nil, errors.New("empty: want a magnet link or an info-hash")
}
