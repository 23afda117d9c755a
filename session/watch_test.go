package session

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/metainfo"
)

// fakeSet records what a watcher asks of its torrent set.
type fakeSet struct {
	mu       sync.Mutex
	events   []string // "add NAME HASH" / "remove NAME HASH", NAME the file's base name
	removing map[bt.InfoHash]bool
	changed  chan struct{}
}

func newFakeSet() *fakeSet {
	return &fakeSet{removing: map[bt.InfoHash]bool{}, changed: make(chan struct{}, 100)}
}

func (f *fakeSet) Add(ref string, src Source) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	h, m := src.InfoHash(), src.Magnet
	if f.removing[h] {
		return fmt.Errorf("%s: %w", ref, errRemoving)
	}
	kind := "torrent"
	if m != nil {
		kind = "magnet"
	}
	f.events = append(f.events, fmt.Sprintf("add %s %s %s", filepath.Base(ref), kind, h.String()[:8]))
	f.changed <- struct{}{}
	return nil
}

func (f *fakeSet) Remove(ref string, h bt.InfoHash) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, fmt.Sprintf("remove %s %s", filepath.Base(ref), h.String()[:8]))
	f.changed <- struct{}{}
}

// take returns the events so far and forgets them.
func (f *fakeSet) take() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	ev := f.events
	f.events = nil
	return ev
}

// torrentBytes is a small .torrent named name holding content.
func torrentBytes(t *testing.T, name, content string) ([]byte, *metainfo.Torrent) {
	t.Helper()
	raw, err := metainfo.CreateFromFiles(name, []metainfo.InputFile{metainfo.FileBytes([]byte(content))}, metainfo.CreateOptions{PieceLength: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	mt, err := metainfo.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return raw, mt
}

func writeFileAt(t *testing.T, path string, data []byte, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if !mtime.IsZero() {
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
}

func wantEvents(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s: events %q, want %q", what, got, want)
	}
}

// TestWatcherScan drives scan with a clock: a file is read once it is quiet,
// a half-written .torrent is neither used nor reported until it settles,
// garbage is reported once and retried when it changes, a removed file is
// removed, a .magnet is read, hidden and other files are ignored, and a
// torrent still being removed is tried again.
func TestWatcherScan(t *testing.T) {
	dir := t.TempDir()
	var logBuf lockedBuffer
	log := slog.New(slog.NewTextHandler(&logBuf, nil))
	set := newFakeSet()
	w := &watcher{dir: dir, set: set, log: log, files: map[string]*watchedFile{}}
	old := time.Now().Add(-time.Hour)
	rawA, mtA := torrentBytes(t, "a", "content of a")
	rawB, mtB := torrentBytes(t, "b", "content of b")
	short := func(mt *metainfo.Torrent) string { return mt.InfoHash.String()[:8] }

	// Present before the mount, written long ago: added at once.
	writeFileAt(t, filepath.Join(dir, "a.torrent"), rawA, old)
	writeFileAt(t, filepath.Join(dir, ".hidden.torrent"), rawB, old)
	writeFileAt(t, filepath.Join(dir, "notes.txt"), []byte("hello"), old)
	if again := w.scan(time.Now()); again != 0 {
		t.Errorf("nothing pending, yet again = %v", again)
	}
	wantEvents(t, "first scan", set.take(), "add a.torrent torrent "+short(mtA))

	// Written just now: read once quiet.
	now := time.Now()
	writeFileAt(t, filepath.Join(dir, "b.torrent"), rawB, time.Time{})
	if again := w.scan(now); again <= 0 || again > watchQuiet {
		t.Errorf("fresh file: again = %v, want (0, %v]", again, watchQuiet)
	}
	wantEvents(t, "fresh file", set.take())
	w.scan(now.Add(watchQuiet + 10*time.Millisecond))
	wantEvents(t, "quiet file", set.take(), "add b.torrent torrent "+short(mtB))

	// Half a torrent: not used, not reported while it may still be written.
	rawC, mtC := torrentBytes(t, "c", "content of c")
	now = time.Now()
	writeFileAt(t, filepath.Join(dir, "c.torrent"), rawC[:len(rawC)/2], time.Time{})
	w.scan(now)
	if again := w.scan(now.Add(watchQuiet + 10*time.Millisecond)); again <= 0 {
		t.Errorf("half a torrent: again = %v, want > 0", again)
	}
	wantEvents(t, "half a torrent", set.take())
	if strings.Contains(logBuf.String(), "c.torrent") {
		t.Errorf("half a torrent reported before it settled:\n%s", logBuf.String())
	}
	// The rest comes: it is a new version, read once quiet.
	now = time.Now().Add(time.Second) // mtime granularity: a later time for sure
	writeFileAt(t, filepath.Join(dir, "c.torrent"), rawC, now)
	w.scan(now)
	w.scan(now.Add(watchQuiet + 10*time.Millisecond))
	wantEvents(t, "whole torrent", set.take(), "add c.torrent torrent "+short(mtC))
	if strings.Contains(logBuf.String(), "c.torrent") {
		t.Errorf("a torrent written in two halves was reported:\n%s", logBuf.String())
	}

	// Garbage: reported once after it settles, skipped, retried when it changes.
	now = time.Now()
	writeFileAt(t, filepath.Join(dir, "bad.torrent"), []byte("this is not a torrent"), time.Time{})
	w.scan(now)
	w.scan(now.Add(watchSettle + 10*time.Millisecond))
	w.scan(now.Add(watchSettle + 20*time.Millisecond))
	wantEvents(t, "garbage", set.take())
	if n := strings.Count(logBuf.String(), "bad.torrent"); n != 1 || !strings.Contains(logBuf.String(), "level=WARN") {
		t.Errorf("garbage reported %d times, want once as a warning:\n%s", n, logBuf.String())
	}
	later := time.Now().Add(2 * time.Second)
	writeFileAt(t, filepath.Join(dir, "bad.torrent"), rawA, later) // now a (duplicate) torrent
	w.scan(later)
	w.scan(later.Add(watchQuiet + 10*time.Millisecond))
	wantEvents(t, "fixed garbage", set.take(), "add bad.torrent torrent "+short(mtA))

	// A magnet file: an info-hash after a comment.
	hash := strings.Repeat("ab", 20)
	writeFileAt(t, filepath.Join(dir, "m.magnet"), []byte("# a film\n\n"+hash+"\n"), old)
	w.scan(time.Now())
	wantEvents(t, "magnet", set.take(), "add m.magnet magnet abababab")

	// Removed files are removed.
	os.Remove(filepath.Join(dir, "a.torrent"))
	os.Remove(filepath.Join(dir, "m.magnet"))
	w.scan(time.Now())
	got := set.take()
	slices.Sort(got)
	wantEvents(t, "removal", got, "remove a.torrent "+short(mtA), "remove m.magnet abababab")

	// A file replaced by another torrent: the old one goes, the new one comes.
	writeFileAt(t, filepath.Join(dir, "b.torrent"), rawC, old)
	w.scan(time.Now())
	wantEvents(t, "replaced", set.take(), "remove b.torrent "+short(mtB), "add b.torrent torrent "+short(mtC))

	// A torrent whose earlier folder is still being removed is tried again.
	set.mu.Lock()
	set.removing[mtA.InfoHash] = true
	set.mu.Unlock()
	writeFileAt(t, filepath.Join(dir, "a.torrent"), rawA, old)
	if again := w.scan(time.Now()); again != watchRetry {
		t.Errorf("busy torrent: again = %v, want %v", again, watchRetry)
	}
	wantEvents(t, "busy", set.take())
	set.mu.Lock()
	delete(set.removing, mtA.InfoHash)
	set.mu.Unlock()
	w.scan(time.Now())
	wantEvents(t, "busy, then free", set.take(), "add a.torrent torrent "+short(mtA))
}

// TestWatcherInotify: with inotify, a .torrent renamed into the folder is
// added, and removing it removes it, each well within a second.
func TestWatcherInotify(t *testing.T) {
	dir := t.TempDir()
	set := newFakeSet()
	w := newWatcher(dir, set, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if w.notify == nil {
		t.Skip("inotify is not available")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	raw, mt := torrentBytes(t, "x", "dropped in")
	tmp := filepath.Join(dir, "x.part")
	writeFileAt(t, tmp, raw, time.Time{})
	start := time.Now()
	if err := os.Rename(tmp, filepath.Join(dir, "x.torrent")); err != nil {
		t.Fatal(err)
	}
	waitEvent := func(what string) {
		t.Helper()
		select {
		case <-set.changed:
		// Under the 1 min rescan (watchRescan), so that only inotify can
		// pass; with room for a loaded machine.
		case <-time.After(watchRescan / 2):
			t.Fatalf("%s: nothing happened in %v (events %q)", what, watchRescan/2, set.take())
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s took %v", what, d)
		}
	}
	waitEvent("drop")
	wantEvents(t, "drop", set.take(), "add x.torrent torrent "+mt.InfoHash.String()[:8])
	start = time.Now()
	os.Remove(filepath.Join(dir, "x.torrent"))
	waitEvent("removal")
	wantEvents(t, "removal", set.take(), "remove x.torrent "+mt.InfoHash.String()[:8])
}

// TestReadWatched: what a watched file may be, and the reasons it is not.
func TestReadWatched(t *testing.T) {
	dir := t.TempDir()
	raw, mt := torrentBytes(t, "ok", "fine")
	hash := strings.Repeat("0f", 20)
	files := map[string][]byte{
		"ok.torrent":        raw,
		"ok.magnet":         []byte("\n  magnet:?xt=urn:btih:" + hash + "&dn=x  \n"),
		"hash.magnet":       []byte("# comment\n" + hash),
		"empty.magnet":      []byte("# only a comment\n\n"),
		"garbage.magnet":    []byte("not a magnet"),
		"garbage.torrent":   []byte("d4:infoi1ee"),
		"huge.magnet":       []byte(strings.Repeat("x", maxMagnetFile+1)),
		"truncated.torrent": raw[:len(raw)-1],
	}
	for name, data := range files {
		writeFileAt(t, filepath.Join(dir, name), data, time.Time{})
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.torrent"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, hash, err string
	}{
		{"ok.torrent", mt.InfoHash.String(), ""},
		{"ok.magnet", hash, ""},
		{"hash.magnet", hash, ""},
		{"empty.magnet", "", "empty"},
		{"garbage.magnet", "", "want a magnet link or an info-hash"},
		{"garbage.torrent", "", "not a valid torrent"},
		{"huge.magnet", "", "larger than"},
		{"truncated.torrent", "", "not a valid torrent"},
		{"fifo.torrent", "", "not a regular file"}, // and it does not block
	} {
		mt, m, err := readWatched(filepath.Join(dir, c.name))
		switch {
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want one saying %q", c.name, err, c.err)
			}
		case err != nil:
			t.Errorf("%s: %v", c.name, err)
		case infoHashOf(mt, m).String() != c.hash:
			t.Errorf("%s: info-hash %s, want %s", c.name, infoHashOf(mt, m), c.hash)
		}
	}
	// A FIFO in the folder is skipped by scan without being opened.
	set := newFakeSet()
	w := &watcher{dir: dir, set: set, log: slog.New(slog.NewTextHandler(io.Discard, nil)), files: map[string]*watchedFile{}}
	w.scan(time.Now().Add(time.Minute))
	for _, ev := range set.take() {
		if strings.Contains(ev, "fifo") {
			t.Errorf("scan added a FIFO: %s", ev)
		}
	}
}
