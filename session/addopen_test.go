package session

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/enginetest"
	"github.com/hyperblow/hyperblow/engine/metainfo"
	"github.com/hyperblow/hyperblow/engine/storage"
)

// bound is how long a step that must not wait for a blocked open may take
// before the test says it did (a bound on a hang, not a sleep).
const bound = 30 * time.Second

// dataSession is a session with --data dir whose files of torrent block
// open only when release is closed; opening is closed when they start.
func dataSession(t *testing.T, dir string, block *metainfo.Torrent) (s *Session, opening, release chan struct{}) {
	t.Helper()
	s, err := New(Config{Engine: engine.Config{Listen: "127.0.0.1:0"}, CacheSize: 8 << 20, Readahead: 1 << 20,
		NoTrackers: true, DataDir: dir, Folders: newFakeFolders(), Logger: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	opening, release = make(chan struct{}), make(chan struct{})
	s.openHook = func(mt *metainfo.Torrent) {
		if mt.InfoHash == block.InfoHash {
			close(opening)
			<-release
		}
	}
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
		s.Close()
	})
	return s, opening, release
}

// TestAddOpensDataWithoutLock: while a --data torrent's files open (a
// Layout hashing a big folder), another torrent is added, the set and the
// status snapshot are read, and a second source of the opening torrent
// joins it; once the files are open the torrent is in the set with both
// sources, its folder holding the data tier.
func TestAddOpensDataWithoutLock(t *testing.T) {
	mtA, _ := enginetest.Torrent(t, "a.bin", 16<<10, []enginetest.File{{Data: enginetest.RandomBytes(51, 64<<10)}})
	mtB, _ := enginetest.Torrent(t, "b.bin", 16<<10, []enginetest.File{{Data: enginetest.RandomBytes(52, 64<<10)}})
	dir := t.TempDir()
	s, opening, release := dataSession(t, dir, mtA)
	doneA := make(chan error, 1)
	go func() { doneA <- s.Add("a", Source{Torrent: mtA}) }()
	<-opening

	doneB := make(chan error, 1)
	go func() {
		err := s.Add("b", Source{Torrent: mtB})
		s.Entries()
		s.Snapshot(context.Background(), SnapshotOptions{})
		doneB <- err
	}()
	select {
	case err := <-doneB:
		if err != nil {
			t.Fatalf("adding another torrent while one opens: %v", err)
		}
	case <-time.After(bound):
		t.Fatal("adding another torrent, or reading the set, waited for the first one's files to open")
	}
	if err := s.Add("a again", Source{Torrent: mtA}); err != nil {
		t.Fatalf("a second source of the opening torrent: %v", err)
	}
	if n := len(s.Entries()); n != 1 {
		t.Fatalf("%d entries while one opens, want 1", n)
	}
	close(release)
	if err := <-doneA; err != nil {
		t.Fatalf("the opening torrent: %v", err)
	}
	e := s.Entry(mtA.InfoHash)
	if e == nil || e.Torrent() == nil || !e.Torrent().Stats().Tier.HasDisk {
		t.Fatalf("after its files opened: entry %v; want a running torrent with its data tier", e)
	}
	s.mu.Lock()
	refs := len(e.refs)
	s.mu.Unlock()
	if refs != 2 {
		t.Fatalf("%d sources of the torrent, want 2", refs)
	}
	if _, err := os.Stat(filepath.Join(dir, "a.bin")); err != nil {
		t.Fatalf("DIR/NAME: %v", err)
	}
}

// TestRemoveWhileDataOpens: the only source of a torrent removed while its
// files open: Add then takes the torrent away (not in the set, not in the
// engine) and closes its files.
func TestRemoveWhileDataOpens(t *testing.T) {
	mtA, _ := enginetest.Torrent(t, "a.bin", 16<<10, []enginetest.File{{Data: enginetest.RandomBytes(53, 64<<10)}})
	dir := t.TempDir()
	s, opening, release := dataSession(t, dir, mtA)
	doneA := make(chan error, 1)
	go func() { doneA <- s.Add("a", Source{Torrent: mtA}) }()
	<-opening
	s.Remove("a", mtA.InfoHash)
	close(release)
	if err := <-doneA; err != nil {
		t.Fatalf("Add of a source removed meanwhile: %v, want nil", err)
	}
	if e := s.Entry(mtA.InfoHash); e != nil {
		t.Fatal("a torrent whose source was removed while it started is in the set")
	}
	if n := len(s.Client().Torrents()); n != 0 {
		t.Fatalf("%d torrents in the engine, want 0", n)
	}
	// Its files are closed: another writer may open them (layoutlock.go).
	l, _, err := storage.OpenLayout(context.Background(), mtA.InfoHash, mtA.Info, dir, storage.LayoutConfig{})
	if err != nil {
		t.Fatalf("the files of the torrent taken away: %v", err)
	}
	l.Close()
}
