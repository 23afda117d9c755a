package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/enginetest"
	"github.com/hyperblow/hyperblow/engine/metainfo"
)

// lockedBuffer is a log written by the session and read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// fakeFolders is a mount in miniature: a name per info-hash, " (2)" on a
// clash; Remove's channel is closed by the test (a folder's last file closed).
type fakeFolders struct {
	mu       sync.Mutex
	names    map[bt.InfoHash]string
	idle     map[bt.InfoHash]chan struct{}
	attached chan bt.InfoHash
	failed   chan error
	changed  chan string // "add NAME" / "remove NAME"
}

func newFakeFolders() *fakeFolders {
	return &fakeFolders{names: map[bt.InfoHash]string{}, idle: map[bt.InfoHash]chan struct{}{},
		attached: make(chan bt.InfoHash, 10), failed: make(chan error, 10), changed: make(chan string, 100)}
}

func (f *fakeFolders) Add(e *Entry) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name := e.WantName()
	for n := 2; f.taken(name); n++ {
		name = fmt.Sprintf("%s (%d)", e.WantName(), n)
	}
	f.names[e.InfoHash()] = name
	f.changed <- "add " + name
	return name, nil
}

func (f *fakeFolders) taken(name string) bool {
	for _, n := range f.names {
		if n == name {
			return true
		}
	}
	return false
}

func (f *fakeFolders) Attach(e *Entry)            { f.attached <- e.InfoHash() }
func (f *fakeFolders) Failed(e *Entry, err error) { f.failed <- err }

func (f *fakeFolders) Remove(e *Entry) <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.changed <- "remove " + f.names[e.InfoHash()]
	delete(f.names, e.InfoHash())
	c := make(chan struct{})
	f.idle[e.InfoHash()] = c
	return c
}

func (f *fakeFolders) nameOf(h bt.InfoHash) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.names[h]
}

// closeFolder: the removed folder's last open file is closed.
func (f *fakeFolders) closeFolder(h bt.InfoHash) {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.idle[h])
}

// newTestSession is a session on loopback: no DHT, no trackers.
func newTestSession(t *testing.T, folders Folders, peers ...netip.AddrPort) (*Session, *lockedBuffer) {
	t.Helper()
	var logs lockedBuffer
	s, err := New(Config{Engine: engine.Config{Listen: "127.0.0.1:0"}, CacheSize: 8 << 20, Readahead: 1 << 20,
		Peers: peers, NoTrackers: true, Folders: folders, Logger: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, &logs
}

// TestSetRefcount: the same torrent from two sources shows once and stays
// until both are gone, then leaves the engine once its folder is idle; a
// name clash gets " (2)"; a magnet shows its folder (named by dn) while it
// resolves and is listed among the snapshot's magnets.
func TestSetRefcount(t *testing.T) {
	folders := newFakeFolders()
	s, _ := newTestSession(t, folders)
	_, a := torrentBytes(t, "same", "first")
	_, b := torrentBytes(t, "same", "second")
	for _, step := range []struct {
		ref string
		mt  *metainfo.Torrent
	}{{"one.torrent", a}, {"two.torrent", a}, {"three.torrent", b}} {
		if err := s.Add(step.ref, Source{Torrent: step.mt}); err != nil {
			t.Fatal(err)
		}
	}
	// A magnet with no way to find peers is refused at once; with one (x.pe,
	// a closed port: it resolves until the test ends) it gets a folder.
	lost, err := metainfo.ParseMagnet("magnet:?xt=urn:btih:" + strings.Repeat("ef", 20) + "&dn=lost")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Add("lost.magnet", Source{Magnet: lost}); !errors.Is(err, engine.ErrNoPeerSource) {
		t.Errorf("adding a magnet with no way to find peers: %v, want ErrNoPeerSource", err)
	}
	m, err := metainfo.ParseMagnet("magnet:?xt=urn:btih:" + strings.Repeat("cd", 20) + "&dn=film&x.pe=127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Add("film.magnet", Source{Magnet: m}); err != nil {
		t.Fatal(err)
	}
	for h, want := range map[bt.InfoHash]string{a.InfoHash: "same", b.InfoHash: "same (2)", m.InfoHash: "film"} {
		if got := folders.nameOf(h); got != want {
			t.Errorf("folder of %s: %q, want %q", h, got, want)
		}
	}
	if n := len(s.Client().Torrents()); n != 3 { // the magnet is a torrent without its info
		t.Errorf("engine runs %d torrents, want 3", n)
	}
	if n := len(s.Entries()); n != 3 {
		t.Errorf("%d entries, want 3", n)
	}

	s.Remove("one.torrent", a.InfoHash)
	if folders.nameOf(a.InfoHash) == "" {
		t.Fatal("a torrent still held by another source left the mount")
	}
	e := s.Entry(a.InfoHash)
	s.Remove("two.torrent", a.InfoHash)
	if folders.nameOf(a.InfoHash) != "" {
		t.Fatal("a torrent no source holds is still in the mount")
	}
	// Added again while its folder still has open files: refused, to retry.
	if err := s.Add("one.torrent", Source{Torrent: a}); err == nil || !strings.Contains(err.Error(), errRemoving.Error()) {
		t.Errorf("added again while being removed: %v, want %v", err, errRemoving)
	}
	select {
	case <-e.Removed():
		t.Fatal("the torrent stopped while its folder still had open files")
	default:
	}
	folders.closeFolder(a.InfoHash)
	<-e.Removed()
	if n := len(s.Client().Torrents()); n != 2 {
		t.Errorf("after the removal the engine runs %d torrents, want 2", n)
	}
	// Added again once gone: it gets its folder name back.
	if err := s.Add("one.torrent", Source{Torrent: a}); err != nil {
		t.Fatal(err)
	}
	if got := folders.nameOf(a.InfoHash); got != "same" {
		t.Errorf("added again as %q, want %q", got, "same")
	}
	em, before := s.Entry(m.InfoHash), len(s.Client().Torrents())
	s.Remove("film.magnet", m.InfoHash)
	if folders.nameOf(m.InfoHash) != "" {
		t.Error("a removed magnet is still in the mount")
	}
	folders.closeFolder(m.InfoHash)
	<-em.Removed()
	if n := len(s.Client().Torrents()); n != before-1 {
		t.Errorf("after the magnet's removal the engine runs %d torrents, want %d: its torrent without info stays", n, before-1)
	}
	s.Stop()
	if err := s.Add("late.torrent", Source{Torrent: b}); !errors.Is(err, engine.ErrClosed) {
		t.Errorf("Add after Stop: %v, want ErrClosed", err)
	}
}

// TestSnapshot: one snapshot holds the set's torrents with their state,
// rates and files, the magnets still resolving (in a set of several: the
// status JSON's magnets[] was empty there), the process's goroutines and
// the engine's connections, and the one cache budget.
func TestSnapshot(t *testing.T) {
	data := enginetest.RandomBytes(7, 1<<20+5)
	mt, all := enginetest.Torrent(t, "snap.bin", 64<<10, []enginetest.File{{Data: data}})
	seeder := enginetest.Seed(t, mt, all)
	folders := newFakeFolders()
	s, _ := newTestSession(t, folders, seeder)
	if err := s.Add("snap.torrent", Source{Torrent: mt}); err != nil {
		t.Fatal(err)
	}
	m, err := metainfo.ParseMagnet("magnet:?xt=urn:btih:" + strings.Repeat("cd", 20) + "&dn=pending&x.pe=127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Add("pending.magnet", Source{Magnet: m}); err != nil {
		t.Fatal(err)
	}
	tor := s.Entry(mt.InfoHash).Torrent()
	r := tor.NewReader(mt.Info.Files[0])
	defer r.Close()
	buf := make([]byte, len(data))
	if n, err := r.ReadAt(t.Context(), buf, 0); n != len(data) || err != nil {
		t.Fatalf("ReadAt: %d, %v", n, err)
	}
	st := s.Snapshot(t.Context(), SnapshotOptions{})
	if len(st.Torrents) != 1 || len(st.Magnets) != 1 {
		t.Fatalf("snapshot: %d torrents, %d magnets; want 1 and 1: %+v", len(st.Torrents), len(st.Magnets), st)
	}
	ts := st.Torrents[0]
	if ts.Name != "snap.bin" || ts.InfoHash != mt.InfoHash.String() || ts.State != "seeding" ||
		ts.ServedToReadersBytes != int64(len(data)) || len(ts.Files) != 1 || len(ts.Readers) != 1 || len(ts.Peers) != 1 {
		t.Errorf("torrent: %+v", ts)
	}
	if mg := st.Magnets[0]; mg.Name != "pending" || mg.InfoHash != m.InfoHash.String() || mg.State != "resolving" {
		t.Errorf("magnet: %+v", mg)
	}
	if st.Goroutines <= 0 || st.Connections != 1 {
		t.Errorf("goroutines %d, connections %d; want some, and 1 (the seeder)", st.Goroutines, st.Connections)
	}
	if st.Cache.MaxBytes != 8<<20 || st.Cache.HeldBytes != mt.Info.TotalLength {
		t.Errorf("cache: %+v, want max %d, held %d", st.Cache, 8<<20, mt.Info.TotalLength)
	}
	if text := s.Entry(m.InfoHash).StatusText(); !strings.Contains(text, "is fetching this torrent's metadata") {
		t.Errorf("status file: %q", text)
	}
	if st := s.Snapshot(t.Context(), SnapshotOptions{Light: true}); len(st.Torrents[0].Files) != 0 {
		t.Errorf("Light: %d files", len(st.Torrents[0].Files))
	}
	var b strings.Builder
	if err := WriteMetrics(&b, st); err != nil || !strings.Contains(b.String(), "hyperblow_magnet_resolving{torrent=\"pending\"") ||
		!strings.Contains(b.String(), "\nhyperblow_goroutines ") {
		t.Errorf("metrics: %v\n%s", err, b.String())
	}
}

// TestSharedBudget: every torrent of a session draws on the one cache the
// session sized; what two torrents hold together stays within it.
func TestSharedBudget(t *testing.T) {
	const budget = 8 << 20
	var peers []netip.AddrPort
	var mts []*metainfo.Torrent
	for i := range 2 {
		data := enginetest.RandomBytes(byte(10+i), 6<<20)
		mt, all := enginetest.Torrent(t, fmt.Sprintf("big%d.bin", i), 256<<10, []enginetest.File{{Data: data}})
		peers = append(peers, enginetest.Seed(t, mt, all))
		mts = append(mts, mt)
	}
	s, _ := newTestSession(t, nil, peers...)
	for _, mt := range mts {
		e, err := s.Start(t.Context(), Source{Torrent: mt}, StartOptions{})
		if err != nil {
			t.Fatal(err)
		}
		r := e.Torrent().NewReader(mt.Info.Files[0])
		if _, err := io.Copy(io.Discard, io.NewSectionReader(readerAt{r}, 0, mt.Info.TotalLength)); err != nil {
			t.Fatal(err)
		}
		r.Close()
	}
	st := s.Snapshot(t.Context(), SnapshotOptions{})
	if st.Cache.MaxBytes != budget {
		t.Errorf("cache budget %d, want the session's %d", st.Cache.MaxBytes, budget)
	}
	var held int64
	for _, ts := range st.Torrents {
		held += ts.HeldBytes
		if ts.Name == "big0.bin" && ts.HeldBytes >= mts[0].Info.TotalLength {
			t.Errorf("the first torrent still holds all of its %d bytes: the second did not share its budget", ts.HeldBytes)
		}
	}
	if held > budget || st.Cache.HeldBytes > budget {
		t.Errorf("torrents hold %d together, the cache %d; want both within %d", held, st.Cache.HeldBytes, budget)
	}
}

// readerAt adapts an engine reader to io.ReaderAt.
type readerAt struct{ r *engine.Reader }

func (a readerAt) ReadAt(p []byte, off int64) (int, error) {
	return a.r.ReadAt(context.Background(), p, off)
}

// TestStartMagnet: a magnet started outside the set gets its metadata from
// the peer, and its torrent is the one that then reads, on the same
// connection: one torrent in the engine, one dial.
func TestStartMagnet(t *testing.T) {
	data := enginetest.RandomBytes(9, 100<<10)
	mt, all := enginetest.Torrent(t, "meta.bin", 16<<10, []enginetest.File{{Data: data}})
	seeder := enginetest.Seed(t, mt, all)
	s, _ := newTestSession(t, nil, seeder)
	m, err := metainfo.ParseSource(mt.InfoHash.String())
	if err != nil {
		t.Fatal(err)
	}
	e, err := s.Start(t.Context(), Source{Magnet: m}, StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.WaitInfo(t.Context())
	if err != nil || got.InfoHash != mt.InfoHash || got.Info.Name != "meta.bin" {
		t.Fatalf("WaitInfo: %v, %v", got, err)
	}
	tor := e.Torrent()
	if tor == nil || len(s.Client().Torrents()) != 1 || s.Client().Torrents()[0] != tor {
		t.Fatalf("after the metadata: entry's torrent %p, engine's %v: want the magnet's one torrent", tor, s.Client().Torrents())
	}
	r := tor.NewReader(tor.Info().Files[0])
	defer r.Close()
	buf := make([]byte, len(data))
	if _, err := r.ReadAt(t.Context(), buf, 0); err != nil || !bytes.Equal(buf, data) {
		t.Fatalf("read after the metadata: %v (bytes equal: %v)", err, bytes.Equal(buf, data))
	}
	if st := tor.Stats(); st.Dials != 1 {
		t.Errorf("%d dials to the one peer, want 1: the metadata's connection should carry the data", st.Dials)
	}
}

// TestSessionWatch: a watched folder's files become torrents of the set, what
// is there already before Watch returns, a file dropped in and removed later
// as they happen; two files of one torrent show it once.
func TestSessionWatch(t *testing.T) {
	dir := t.TempDir()
	old := time.Now().Add(-time.Hour)
	rawA, a := torrentBytes(t, "a", "content of a")
	writeFileAt(t, filepath.Join(dir, "a.torrent"), rawA, old)
	writeFileAt(t, filepath.Join(dir, "a-again.torrent"), rawA, old)
	folders := newFakeFolders()
	s, _ := newTestSession(t, folders)
	if err := s.Watch(dir); err != nil {
		t.Fatal(err)
	}
	next := func(what, want string) {
		t.Helper()
		select {
		case got := <-folders.changed:
			if got != want {
				t.Errorf("%s: %q, want %q", what, got, want)
			}
		case <-time.After(30 * time.Second): // inotify, or the rescan
			t.Fatalf("%s: nothing happened in 30 s", what)
		}
	}
	next("present before", "add a")
	if n := len(s.Entries()); n != 1 {
		t.Fatalf("%d torrents after Watch, want 1", n)
	}
	rawB, b := torrentBytes(t, "b", "content of b")
	writeFileAt(t, filepath.Join(dir, "b.torrent"), rawB, old) // whole and quiet at once
	next("dropped in", "add b")
	if e := s.Entry(b.InfoHash); e == nil || e.Torrent() == nil {
		t.Fatal("b has no running torrent")
	}
	os.Remove(filepath.Join(dir, "a.torrent"))
	os.Remove(filepath.Join(dir, "b.torrent"))
	next("b removed", "remove b")
	if folders.nameOf(a.InfoHash) != "a" {
		t.Error("a left the set while a-again.torrent still holds it")
	}
	os.Remove(filepath.Join(dir, "a-again.torrent"))
	next("a's last file removed", "remove a")
}

// TestSetMagnet: a magnet in the set shows its folder at once; once its
// metadata comes from a peer its torrent starts in the same folder (Attach)
// and the snapshot lists it among the torrents, no longer the magnets; a
// magnet whose metadata does not come in time is reported (Failed) and keeps
// its folder.
func TestSetMagnet(t *testing.T) {
	data := enginetest.RandomBytes(12, 200<<10)
	mt, all := enginetest.Torrent(t, "film.bin", 16<<10, []enginetest.File{{Data: data}})
	seeder := enginetest.Seed(t, mt, all)
	folders := newFakeFolders()
	s, err := New(Config{Engine: engine.Config{Listen: "127.0.0.1:0"}, CacheSize: 8 << 20, Readahead: 1 << 20,
		Peers: []netip.AddrPort{seeder}, NoTrackers: true, MetadataTimeout: 2 * time.Second, Folders: folders,
		Logger: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m, err := metainfo.ParseMagnet("magnet:?xt=urn:btih:" + mt.InfoHash.String() + "&dn=film")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Add("film.magnet", Source{Magnet: m}); err != nil {
		t.Fatal(err)
	}
	if got := folders.nameOf(m.InfoHash); got != "film" {
		t.Errorf("folder %q, want film", got)
	}
	if h := <-folders.attached; h != mt.InfoHash {
		t.Fatalf("attached %s, want %s", h, mt.InfoHash)
	}
	e := s.Entry(mt.InfoHash)
	if e.Torrent() == nil || e.Metainfo().Info.Name != "film.bin" || folders.nameOf(mt.InfoHash) != "film" {
		t.Errorf("after the metadata: torrent %v, folder %q", e.Torrent(), folders.nameOf(mt.InfoHash))
	}
	st := s.Snapshot(t.Context(), SnapshotOptions{})
	if len(st.Torrents) != 1 || len(st.Magnets) != 0 || st.Torrents[0].Name != "film.bin" {
		t.Errorf("snapshot: %d torrents, %d magnets, want 1 and 0: %+v", len(st.Torrents), len(st.Magnets), st)
	}

	// Nobody has this one: its metadata does not come within the timeout.
	lost, err := metainfo.ParseMagnet("magnet:?xt=urn:btih:" + strings.Repeat("ab", 20) + "&dn=lost")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Add("lost.magnet", Source{Magnet: lost}); err != nil {
		t.Fatal(err)
	}
	if err := <-folders.failed; err == nil {
		t.Fatal("Failed with no error")
	}
	if folders.nameOf(lost.InfoHash) != "lost" {
		t.Error("a failed magnet lost its folder")
	}
	st = s.Snapshot(t.Context(), SnapshotOptions{})
	if len(st.Magnets) != 1 || st.Magnets[0].State != "failed" || st.Magnets[0].Error == "" {
		t.Errorf("magnets after the failure: %+v", st.Magnets)
	}
	if text := s.Entry(lost.InfoHash).StatusText(); !strings.Contains(text, "could not fetch") {
		t.Errorf("status file of the failed magnet: %q", text)
	}
}
