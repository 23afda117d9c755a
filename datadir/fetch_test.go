package datadir

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/enginetest"
	"github.com/hyperblow/hyperblow/engine/metainfo"
	"github.com/hyperblow/hyperblow/engine/storage"
	"github.com/hyperblow/hyperblow/session"
)

// newSession is get's session: it fetches every piece, from peers only.
func newSession(t *testing.T, peers ...netip.AddrPort) *session.Session {
	t.Helper()
	s, err := session.New(session.Config{Engine: engine.Config{Listen: "127.0.0.1:0", Fetch: engine.FetchAll},
		CacheSize: 8 << 20, Readahead: 1 << 20, NoTrackers: true, Peers: peers, Logger: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// An empty folder: Complete stays open until the Layout holds every piece
// from the seeder, then Wait returns and DIR/NAME has the torrent's bytes.
func TestFetchToComplete(t *testing.T) {
	data := enginetest.RandomBytes(1, 300<<10)
	mt, _ := enginetest.Torrent(t, "file.bin", 16<<10, []enginetest.File{{Data: data}})
	dir := t.TempDir()
	s := newSession(t) // no peer yet: nothing can complete before the check
	ctx := testCtx(t)
	f, err := Start(ctx, s, session.Source{Torrent: mt}, dir, Options{Log: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Checked().HeldBytes; got != 0 {
		t.Fatalf("checked an empty folder: %d bytes held, want 0", got)
	}
	select {
	case <-f.Complete():
		t.Fatal("complete before any piece came")
	default:
	}
	f.Torrent().AddPeers([]netip.AddrPort{enginetest.Seed(t, mt, data)})
	if err := f.Wait(ctx); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if !f.Layout().Complete() {
		t.Fatal("Wait returned before the Layout holds every piece")
	}
	if err := f.Layout().Sync(); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "file.bin")); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("DIR/NAME after Wait: %v; want the torrent's bytes", err)
	}
}

// A folder that holds the torrent already: the check hashes it (Check is
// told and its end called), Complete is closed at once, nothing fetched.
func TestFetchAlreadyThere(t *testing.T) {
	data := enginetest.RandomBytes(2, 200<<10)
	mt, _ := enginetest.Torrent(t, "file.bin", 16<<10, []enginetest.File{{Data: data}})
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "file.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	var total, done atomic.Int64
	var ended atomic.Bool
	check := func(root string, n int64, d func() int64) func() {
		if root != filepath.Join(dir, "file.bin") {
			t.Errorf("check of %s", root)
		}
		total.Store(n)
		return func() { done.Store(d()); ended.Store(true) }
	}
	f, err := Start(testCtx(t), newSession(t), session.Source{Torrent: mt}, dir, Options{Log: enginetest.Logger(t), Check: check})
	if err != nil {
		t.Fatal(err)
	}
	if !ended.Load() || total.Load() != int64(len(data)) || done.Load() != int64(len(data)) {
		t.Fatalf("check: total %d, done %d at its end, ended %v; want %d, %d, true", total.Load(), done.Load(), ended.Load(), len(data), len(data))
	}
	if got := f.Checked().HeldBytes; got != int64(len(data)) {
		t.Fatalf("held %d bytes, want %d", got, len(data))
	}
	select {
	case <-f.Complete():
	default:
		t.Fatal("not complete though DIR/NAME holds every piece")
	}
}

// A cancelled ctx while a magnet's metadata is awaited: an *Interrupted
// that says so.
func TestFetchInterruptedMetadata(t *testing.T) {
	mt, _ := enginetest.Torrent(t, "file.bin", 16<<10, []enginetest.File{{Data: enginetest.RandomBytes(3, 64<<10)}})
	s := newSession(t, netip.MustParseAddrPort("127.0.0.1:9")) // nobody answers
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := Start(ctx, s, session.Source{Magnet: &metainfo.Magnet{InfoHash: mt.InfoHash}}, t.TempDir(), Options{Log: enginetest.Logger(t)})
		done <- err
	}()
	cancel()
	err := <-done
	var ie *Interrupted
	if !errors.As(err, &ie) || ie.Checking != "" || !strings.Contains(err.Error(), "fetching the metadata") {
		t.Fatalf("Start cancelled during the metadata: %v; want an *Interrupted while fetching the metadata", err)
	}
}

// smallTmpfs mounts a tmpfs of size under the test's temporary folder.
func smallTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	dir := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// A disk that fills up while fetching: Wait fails saying the writes
// stopped and why, and Complete never closes.
func TestFetchDiskFull(t *testing.T) {
	dir := smallTmpfs(t, "256k")
	data := enginetest.RandomBytes(4, 1<<20)
	mt, _ := enginetest.Torrent(t, "file.bin", 16<<10, []enginetest.File{{Data: data}})
	s := newSession(t, enginetest.Seed(t, mt, data))
	ctx := testCtx(t)
	f, err := Start(ctx, s, session.Source{Torrent: mt}, dir, Options{Log: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	err = f.Wait(ctx)
	if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "writing") || !strings.Contains(err.Error(), "stopped") ||
		!strings.Contains(err.Error(), "no space") {
		t.Fatalf("Wait on a full disk: %v; want writing ... stopped: no space", err)
	}
	select {
	case <-f.Complete():
		t.Fatal("complete on a full disk")
	default:
	}
}

// A folder it cannot write: Start fails saying so, before any fetch.
func TestFetchReadOnlyFolder(t *testing.T) {
	dir := smallTmpfs(t, "1m")
	if err := unix.Mount("", dir, "", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		t.Skipf("remount read-only: %v", err)
	}
	mt, _ := enginetest.Torrent(t, "file.bin", 16<<10, []enginetest.File{{Data: enginetest.RandomBytes(5, 64<<10)}})
	_, err := Start(testCtx(t), newSession(t), session.Source{Torrent: mt}, dir, Options{Log: enginetest.Logger(t)})
	if err == nil || !strings.Contains(err.Error(), "file.bin: cannot write here") || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("Start in a read-only folder: %v; want DIR/NAME: cannot write here: ... read-only", err)
	}
}

// A get that completed, started again: the resume record it kept vouches
// for every piece, so the restart hashes none (no Check, Hashed 0) and is
// complete at once; a file changed since is hashed again, and only it.
func TestFetchRestartDoesNotRehash(t *testing.T) {
	a := enginetest.RandomBytes(6, 200<<10)
	b := enginetest.RandomBytes(7, 100<<10)
	mt, all := enginetest.Torrent(t, "tree", 16<<10, []enginetest.File{{Path: []string{"a.bin"}, Data: a}, {Path: []string{"b.bin"}, Data: b}})
	dir := t.TempDir()
	s := newSession(t, enginetest.Seed(t, mt, all))
	ctx := testCtx(t)
	f, err := Start(ctx, s, session.Source{Torrent: mt}, dir, Options{Log: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Wait(ctx); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if err := f.Layout().Sync(); err != nil { // as get does once complete
		t.Fatal(err)
	}
	s.Close()

	var checks atomic.Int64
	check := func(string, int64, func() int64) func() { checks.Add(1); return func() {} }
	f, err = Start(ctx, newSession(t), session.Source{Torrent: mt}, dir, Options{Log: enginetest.Logger(t), Check: check})
	if err != nil {
		t.Fatal(err)
	}
	n := mt.Info.NumPieces
	if c := f.Checked(); c.Hashed != 0 || c.Trusted != n || c.HeldBytes != mt.Info.TotalLength || checks.Load() != 0 {
		t.Fatalf("restarted get: check %+v, %d progress lines; want %d pieces trusted and none hashed", c, checks.Load(), n)
	}
	select {
	case <-f.Complete():
	default:
		t.Fatal("a restarted complete get is not complete at once")
	}
	f.sess.Close()

	// b.bin changed behind our back (same bytes, new mtime): its pieces
	// alone are hashed.
	p := filepath.Join(dir, "tree", "b.bin")
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(p, later, later); err != nil {
		t.Fatal(err)
	}
	f, err = Start(ctx, newSession(t), session.Source{Torrent: mt}, dir, Options{Log: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	bFirst := int(mt.Info.Files[len(mt.Info.Files)-1].Offset / mt.Info.PieceLength)
	if c := f.Checked(); c.Hashed != n-bFirst || c.Valid != c.Hashed || c.Trusted != bFirst {
		t.Fatalf("after b.bin's mtime changed: check %+v; want its %d pieces hashed and the %d before trusted", c, n-bFirst, bFirst)
	}
}

// Two gets of one DIR/NAME (two sessions: two processes as far as the
// flock goes): the second fails at Start saying the files are in use, and
// writes nothing; the first goes on.
func TestFetchFolderInUse(t *testing.T) {
	data := enginetest.RandomBytes(8, 64<<10)
	mt, _ := enginetest.Torrent(t, "file.bin", 16<<10, []enginetest.File{{Data: data}})
	dir := t.TempDir()
	ctx := testCtx(t)
	first, err := Start(ctx, newSession(t), session.Source{Torrent: mt}, dir, Options{Log: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Start(ctx, newSession(t), session.Source{Torrent: mt}, dir, Options{Log: enginetest.Logger(t)})
	if !errors.Is(err, storage.ErrInUse) || !strings.Contains(err.Error(), filepath.Join(dir, "file.bin")) {
		t.Fatalf("a second get of the same folder: %v; want storage.ErrInUse naming DIR/NAME", err)
	}
	if st := first.Layout().Stats(); st.Degraded {
		t.Fatalf("the first get stopped writing: %s", st.LastError)
	}
}
