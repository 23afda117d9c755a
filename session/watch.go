package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/metainfo"
)

// Watch follows the *.torrent and *.magnet files of the folder dir (an
// absolute path): each becomes a source of the set (Add) once whole, and
// leaves it (Remove) when deleted. What is there already is added before
// Watch returns; the watching ends at Stop.
func (s *Session) Watch(dir string) error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return fmt.Errorf("watched folder %s: %w", dir, errStopped)
	}
	w := newWatcher(dir, s, s.log)
	s.watchers = append(s.watchers, w)
	s.mu.Unlock()
	w.again = w.scan(time.Now()) // what is there already shows at once
	go w.run(s.ctx)
	return nil
}

var errStopped = errors.New("the session is stopping")

// maxFolders is the most torrents one watched folder contributes (as
// fs.MaxFolders; the session does not import fs).
const maxFolders = 10000

// Watching a folder. A file is read once it has not changed for watchQuiet (a
// .torrent being written does not parse, and is not used, until it is whole);
// one that still does not parse after watchSettle without a change is logged
// and skipped until it changes. inotify says when to look; a periodic rescan
// catches what it misses (and is all there is where inotify is not available).
const (
	watchQuiet    = 250 * time.Millisecond
	watchSettle   = 2 * time.Second
	watchRetry    = time.Second     // a torrent whose earlier folder is still being removed
	watchRescan   = time.Minute     // with inotify: a fallback (a network file system's remote changes); an idle mount's scans cost CPU
	watchPoll     = 2 * time.Second // without
	watchCoalesce = 50 * time.Millisecond
	// maxWatched is the most files one watched folder contributes.
	maxWatched = maxFolders
	// maxMagnetFile is the largest .magnet file read.
	maxMagnetFile = metainfo.MaxMagnetLen + 4<<10
)

// watchMask is every change to a folder's entries that inotify reports.
const watchMask = unix.IN_CREATE | unix.IN_CLOSE_WRITE | unix.IN_MODIFY | unix.IN_ATTRIB | unix.IN_MOVED_TO |
	unix.IN_MOVED_FROM | unix.IN_DELETE | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR

// torrentAdder is what a watcher changes: a Session (a fake in tests).
type torrentAdder interface {
	Add(ref string, src Source) error
	Remove(ref string, h bt.InfoHash)
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
				w.set.Remove(p, f.hash)
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
		w.log.Warn("skipping a file in the watched folder until it changes", "file", Safe(p), "err", err)
		f.done = true
		if f.active {
			w.set.Remove(p, f.hash)
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
		w.set.Remove(p, f.hash)
		f.active = false
	}
	if err := w.set.Add(p, Source{Torrent: mt, Magnet: m}); err != nil {
		if errors.Is(err, errRemoving) {
			return watchRetry
		}
		w.log.Warn("skipping a file in the watched folder until it changes", "file", Safe(p), "err", err)
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
