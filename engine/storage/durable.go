package storage

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hyperblow/hyperblow/engine/bt"
)

// Durability of the DiskCache, off the write path.
//
// The writer writes a piece to a temporary file and renames it into place
// without fsync: a kill -9 loses nothing (the page cache belongs to the
// kernel), and the rename makes the file appear whole or not at all to every
// process. Every read verifies the piece (header, length, SHA-1), so the
// fsync a piece used to get before its rename bought no correctness, only
// durability across a power cut, and it held the writer to the disk's fsync
// rate (40-60 MB/s on the build VM, while loopback peers deliver 100-250 MB/s:
// the write-behind queue filled and dropped most pieces of a fast read).
//
// Durability is batched instead: a syncer goroutine fsyncs the pieces written
// since its last round (each file, then each folder once) every syncEvery or
// syncBytes, whichever comes first, and when the cache or a torrent closes.
// What a power cut can cost is what the kernel had not written yet of the last
// round or so, and a marker file makes that cost a re-fetch, never a wrong
// byte nor a piece advertised that is not there:
//
//	DIR/.unsynced-<pid>-<n>  "<boot id> <unix ns>\n": pieces this process
//	                         wrote from that time on may not be on the disk yet
//
// The marker is written durably (temporary file, fsync, rename, folder fsync)
// before the first piece after an idle syncer, moved forward after each round
// to the oldest piece still unsynced, and removed when none is. Opening a
// cache reads the markers: one from an earlier boot (a power cut or a crash of
// the machine came after its writes) makes the opener verify every piece file
// modified since its time, and delete those that fail, before any is counted
// as held; one of this boot whose process is gone (kill -9) is made durable
// with syncfs and removed. Reads verify every piece anyway: the marker is what
// keeps a piece torn by a power cut out of the bitfield a restart advertises.

// syncEvery is the longest a written piece waits for its fsync (a variable
// for tests).
var syncEvery = 5 * time.Second

// syncerTicking, when set (tests), is told each time a syncer's ticker starts
// or stops.
var syncerTicking func(bool)

const (
	syncBytes   = 256 << 20
	markPrefix  = ".unsynced-"
	markSlack   = 2 * time.Second // mtime granularity and clock steps
	maxMarkSize = 256
)

// bootID is the kernel's boot id: a marker of another boot means the machine
// went down after that process's last sync. A variable for tests.
var bootID = func() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "" // unknown: every marker found is treated as of another boot
	}
	return string(bytes.TrimSpace(b))
}

// syncers numbers the DiskCaches of this process (tests open several on one
// folder), so that each has its own marker.
var syncers atomic.Int64

type syncItem struct {
	path string
	at   time.Time
}

// syncer makes written pieces durable in rounds; see above.
type syncer struct {
	dir     string
	mark    string // DIR/.unsynced-<pid>-<n>: one per DiskCache of a process
	log     *slog.Logger
	degrade func(error)

	round sync.Mutex // one round at a time

	mu      sync.Mutex // guards the fields below
	pending []syncItem // renamed into place, not fsynced yet
	dirs    map[string]bool
	bytes   int64
	marked  bool // the marker is on disk and covers every pending piece
	writing int  // batches between begin and add: the marker must stay
	failed  bool // an fsync failed: the marker stays, for the next boot to check
	closed  bool

	kick chan struct{}
	wake chan struct{} // begin wrote a marker: run ticks until none is left
	quit chan struct{}
	done chan struct{}
}

func newSyncer(dir string, log *slog.Logger, degrade func(error)) *syncer {
	name := fmt.Sprintf("%s%d-%d", markPrefix, os.Getpid(), syncers.Add(1))
	s := &syncer{dir: dir, mark: filepath.Join(dir, name), log: log, degrade: degrade, dirs: map[string]bool{},
		kick: make(chan struct{}, 1), wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	go s.run()
	return s
}

func (s *syncer) markPath() string { return s.mark }

// begin (writer) makes sure the marker covers the pieces about to be written,
// until add records them. It writes the marker durably once per busy spell,
// not once per piece. Every begin that returns nil is followed by one add,
// given the time begin returned (no piece of the batch is older).
func (s *syncer) begin() (time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if !s.marked {
		if err := writeMarker(s.markPath(), now); err != nil {
			return now, fmt.Errorf("disk cache: marker: %w", err)
		}
		s.marked = true
		select {
		case s.wake <- struct{}{}: // run ticks again
		default:
		}
	}
	s.writing++
	return now, nil
}

// add (writer) records pieces renamed into place, to be fsynced (none: the
// batch wrote nothing), and ends what begin started.
func (s *syncer) add(since time.Time, paths []string, dirs map[string]bool, n int64) {
	s.mu.Lock()
	s.writing--
	for _, p := range paths {
		s.pending = append(s.pending, syncItem{p, since})
	}
	for d := range dirs {
		s.dirs[d] = true
	}
	s.bytes += n
	over := s.bytes >= syncBytes
	s.mu.Unlock()
	if over {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

// run syncs every syncEvery while there is a marker (pieces written and not
// synced), or when kicked; with none it stops its ticker until begin writes
// one, so that an idle process is not woken every syncEvery for nothing.
func (s *syncer) run() {
	defer close(s.done)
	tick := time.NewTicker(syncEvery)
	defer tick.Stop()
	tick.Stop()
	ticking := false
	for {
		var tc <-chan time.Time
		if ticking {
			tc = tick.C
		}
		select {
		case <-s.quit:
			return
		case <-s.wake:
			if !ticking {
				tick.Reset(syncEvery)
				ticking = true
				if syncerTicking != nil {
					syncerTicking(true)
				}
			}
			continue
		case <-tc:
		case <-s.kick:
		}
		s.sync()
		s.mu.Lock()
		idle := !s.marked
		s.mu.Unlock()
		if idle && ticking {
			tick.Stop() // begin sends on wake when it writes the next marker
			ticking = false
			if syncerTicking != nil {
				syncerTicking(false)
			}
		}
	}
}

// sync is one round: fsync what is pending, then move the marker forward or
// remove it. Safe to call from any goroutine (Close, a torrent's Close).
func (s *syncer) sync() {
	s.round.Lock()
	defer s.round.Unlock()
	s.mu.Lock()
	items, dirs := s.pending, s.dirs
	s.pending, s.dirs, s.bytes = nil, map[string]bool{}, 0
	s.mu.Unlock()
	var firstErr error
	for _, it := range items {
		if err := syncFile(it.path); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	for d := range dirs {
		if err := syncDir(d); err != nil && !errors.Is(err, fs.ErrNotExist) && firstErr == nil {
			firstErr = err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if firstErr != nil || s.failed {
		// What the kernel failed to write may read back wrong after a
		// restart: the marker stays, so the next boot verifies it.
		if !s.failed {
			s.failed = true
			s.degrade(fmt.Errorf("disk cache: fsync: %w", firstErr))
		}
		return
	}
	if !s.marked {
		return
	}
	if len(s.pending) == 0 && s.writing == 0 {
		if err := os.Remove(s.markPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("disk cache: removing the sync marker", "err", err)
			return
		}
		s.marked = false
		return
	}
	// Pieces written during this round are not synced yet: the marker moves
	// forward to the oldest of them (a later time never uncovers them). A
	// batch being written keeps it where it is.
	if len(s.pending) == 0 {
		return
	}
	if err := writeMarker(s.markPath(), s.pending[0].at); err != nil {
		s.log.Warn("disk cache: moving the sync marker", "err", err)
	}
}

// close runs a last round and stops the syncer.
func (s *syncer) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	close(s.quit)
	<-s.done
	s.sync()
}

func syncFile(p string) error {
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // evicted since: nothing to keep
	}
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// processAlive reports whether a process of this pid exists (perhaps another
// user's, or a pid reused: then its marker waits for a later open).
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// writeMarker writes a marker durably: pieces written from t on may
// be lost or torn by a power cut.
func writeMarker(p string, t time.Time) error {
	tmp := p + ".tmp"
	body := fmt.Sprintf("%s %d\n", bootID(), t.Add(-markSlack).UnixNano())
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(body)
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(p))
}

// parseMarker reads a marker's boot id and time.
func parseMarker(b []byte) (boot string, since time.Time, ok bool) {
	f := strings.Fields(string(b))
	if len(f) == 1 { // no boot id was known when it was written
		f = []string{"", f[0]}
	}
	if len(f) != 2 {
		return "", time.Time{}, false
	}
	ns, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || ns < 0 {
		return "", time.Time{}, false
	}
	return f[0], time.Unix(0, ns), true
}

// recoverMarkersLocked (under DIR/lock, at open) handles the markers left by
// processes that are gone: see the comment at the top of this file. It
// returns the number of piece files found torn and removed.
func (c *DiskCache) recoverMarkersLocked() int {
	ents, err := os.ReadDir(c.dir)
	if err != nil {
		return 0
	}
	boot := bootID()
	var since time.Time // the earliest time of another boot's marker
	var doubt, stale []string
	syncNeeded := false
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, markPrefix) {
			continue
		}
		p := filepath.Join(c.dir, name)
		if strings.HasSuffix(name, ".tmp") {
			stale = append(stale, p) // a marker being written when its process died
			continue
		}
		pidText, _, _ := strings.Cut(strings.TrimPrefix(name, markPrefix), "-")
		pid, err := strconv.Atoi(pidText)
		b, rerr := readSmall(p, maxMarkSize)
		mb, t, ok := parseMarker(b)
		switch {
		case err != nil || rerr != nil || !ok:
			// Unreadable: assume the worst, from the beginning of time.
			doubt = append(doubt, p)
			since = time.Unix(0, 0)
		case mb != boot || boot == "":
			doubt = append(doubt, p)
			if since.IsZero() || t.Before(since) {
				since = t
			}
		case pid == os.Getpid() || processAlive(pid):
			// A live process sharing the folder (or a pid reused since): its
			// marker is its own.
		default:
			// This boot, its process gone (kill -9): the page cache still
			// holds what it wrote; make that durable, then forget the marker.
			stale = append(stale, p)
			syncNeeded = true
		}
	}
	torn := 0
	if len(doubt) > 0 {
		torn = c.verifySince(since)
		c.log.Info("disk cache: checked the pieces written before the machine went down", "since", since, "torn", torn)
	}
	if syncNeeded {
		if d, err := os.Open(c.dir); err == nil {
			if err := unix.Syncfs(int(d.Fd())); err != nil {
				c.log.Warn("disk cache: syncfs", "err", err)
				stale = nil // keep them: the next boot checks
			}
			d.Close()
		}
	}
	for _, p := range append(doubt, stale...) {
		os.Remove(p)
	}
	return torn
}

// verifySince verifies every piece file modified at or after t (header,
// length, SHA-1 against the header's) and removes those that fail.
func (c *DiskCache) verifySince(t time.Time) int {
	ents, err := os.ReadDir(c.dir)
	if err != nil {
		return 0
	}
	torn := 0
	for _, e := range ents {
		if !e.IsDir() || !isHexHash(e.Name()) {
			continue
		}
		ih, err := bt.ParseInfoHash(e.Name())
		if err != nil {
			continue
		}
		dir := filepath.Join(c.dir, e.Name())
		files, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, f := range files {
			name := f.Name()
			if name == lockName || strings.HasPrefix(name, tmpPrefix) {
				continue
			}
			st, err := f.Info()
			if err != nil || !st.Mode().IsRegular() || st.ModTime().Before(t) {
				continue
			}
			p := filepath.Join(dir, name)
			if !pieceFileOK(p, ih, name, st.Size()) {
				os.Remove(p)
				torn++
				c.cnt.corrupt.Add(1)
			}
		}
	}
	return torn
}

// pieceFileOK reads a piece file and checks it against its own header and name.
func pieceFileOK(p string, ih bt.InfoHash, name string, size int64) bool {
	i, err := strconv.Atoi(name)
	if err != nil || i < 0 || strconv.Itoa(i) != name || size <= headerSize || size > headerSize+maxPieceLength {
		return false
	}
	b, err := readBounded(p, size)
	if err != nil {
		return false
	}
	_, err = checkPieceFile(b, ih, i, size-headerSize, nil)
	return err == nil
}
