package fs

import (
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/enginetest"
	"github.com/hyperblow/hyperblow/engine/metainfo"
)

// testTorrent starts a torrent of files (a single-file torrent when one file
// has no path), seeded by an in-process seeder on 127.0.0.1.
func testTorrent(t *testing.T, c *engine.Client, name string, files ...enginetest.File) *engine.Torrent {
	t.Helper()
	mt, data := enginetest.Torrent(t, name, 16<<10, files)
	seeder := enginetest.Seed(t, mt, data)
	tor, err := c.AddTorrent(mt, engine.TorrentOptions{NoTrackers: true, Peers: []netip.AddrPort{seeder}})
	if err != nil {
		t.Fatal(err)
	}
	return tor
}

func tfile(data string, path ...string) enginetest.File {
	return enginetest.File{Path: path, Data: []byte(data)}
}

func testClient(t *testing.T) *engine.Client {
	t.Helper()
	c, err := engine.NewClient(engine.Config{CacheSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func mustLookup(t *testing.T, rfs fuse.RawFileSystem, parent uint64, name string) fuse.EntryOut {
	t.Helper()
	var out fuse.EntryOut
	if st := rfs.Lookup(nil, &fuse.InHeader{NodeId: parent}, name, &out); st != fuse.OK {
		t.Fatalf("lookup %q: %v", name, st)
	}
	return out
}

func lookupStatus(rfs fuse.RawFileSystem, parent uint64, name string) fuse.Status {
	var out fuse.EntryOut
	return rfs.Lookup(nil, &fuse.InHeader{NodeId: parent}, name, &out)
}

func childNames(in *gofs.Inode) string {
	var names []string
	for name := range in.Children() {
		names = append(names, name)
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}

// TestMultiRootLayout: each torrent is a folder named after it; a single-file
// torrent's folder holds its one file; the same name twice gets " (2)"; the
// same key twice is refused; folders added before the mount are there once it
// is; xattrs of a torrent's folder name its torrent.
func TestMultiRootLayout(t *testing.T) {
	c := testClient(t)
	movie := testTorrent(t, c, "movie.mkv", tfile("moving pictures"))
	album := testTorrent(t, c, "album", tfile("one", "cd1", "01.flac"), tfile("two", "02.flac"))
	other := testTorrent(t, c, "album", tfile("another album", "x.flac"))

	m := NewMultiRoot(Options{})
	if name, err := m.Add(movie.InfoHash().String(), movie.Info().Name, NewRoot(movie, Options{})); err != nil || name != "movie.mkv" {
		t.Fatalf("Add before the mount: %q, %v", name, err)
	}
	rfs := gofs.NewNodeFS(m, &gofs.Options{})
	for _, tor := range []*engine.Torrent{album, other} {
		if _, err := m.Add(tor.InfoHash().String(), tor.Info().Name, NewRoot(tor, Options{})); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.Add(album.InfoHash().String(), "album", NewRoot(album, Options{})); err == nil {
		t.Error("the same torrent added twice: no error")
	}
	if got, want := childNames(m.EmbeddedInode()), "album,album (2),movie.mkv"; got != want {
		t.Fatalf("root holds %s, want %s", got, want)
	}
	names := m.Names()
	if names[album.InfoHash().String()] != "album" || names[other.InfoHash().String()] != "album (2)" {
		t.Errorf("Names() = %v", names)
	}

	mv := mustLookup(t, rfs, 1, "movie.mkv")
	if mv.Mode&syscall.S_IFMT != syscall.S_IFDIR {
		t.Errorf("movie.mkv is not a folder: mode %o", mv.Mode)
	}
	if f := mustLookup(t, rfs, mv.NodeId, "movie.mkv"); f.Size != uint64(len("moving pictures")) {
		t.Errorf("movie.mkv/movie.mkv: size %d", f.Size)
	}
	al := mustLookup(t, rfs, 1, "album")
	cd := mustLookup(t, rfs, al.NodeId, "cd1")
	if f := mustLookup(t, rfs, cd.NodeId, "01.flac"); f.Size != 3 {
		t.Errorf("album/cd1/01.flac: size %d", f.Size)
	}
	al2 := mustLookup(t, rfs, 1, "album (2)")
	mustLookup(t, rfs, al2.NodeId, "x.flac")
	if st := lookupStatus(rfs, al2.NodeId, "02.flac"); st != fuse.ENOENT {
		t.Errorf("album (2)/02.flac: %v, want ENOENT", st)
	}

	buf := make([]byte, 64)
	n, st := rfs.GetXAttr(nil, &fuse.InHeader{NodeId: al2.NodeId}, XattrInfoHash, buf)
	if st != fuse.OK || string(buf[:n]) != other.InfoHash().String() {
		t.Errorf("%s of album (2): %q, %v; want %s", XattrInfoHash, buf[:n], st, other.InfoHash())
	}
	n, st = rfs.GetXAttr(nil, &fuse.InHeader{NodeId: cd.NodeId}, XattrInfoHash, buf)
	if st != fuse.OK || string(buf[:n]) != album.InfoHash().String() {
		t.Errorf("%s of album/cd1: %q, %v; want %s", XattrInfoHash, buf[:n], st, album.InfoHash())
	}
	if _, st := rfs.GetXAttr(nil, &fuse.InHeader{NodeId: 1}, XattrInfoHash, buf); st != fuse.ENODATA {
		t.Errorf("%s of the mount's root: %v, want ENODATA", XattrInfoHash, st)
	}
}

// TestMultiRootRemove: a removed folder is gone from the tree at once, an open
// file of it keeps reading until released, then Remove's channel is closed,
// and the name is free again; a torrent added again gets its old name back.
func TestMultiRootRemove(t *testing.T) {
	c := testClient(t)
	a := testTorrent(t, c, "same", tfile("first torrent's bytes"))
	b := testTorrent(t, c, "same", tfile("second"))
	m := NewMultiRoot(Options{})
	rfs := gofs.NewNodeFS(m, &gofs.Options{})
	ka, kb := a.InfoHash().String(), b.InfoHash().String()
	if _, err := m.Add(ka, "same", NewRoot(a, Options{})); err != nil {
		t.Fatal(err)
	}
	if name, _ := m.Add(kb, "same", NewRoot(b, Options{})); name != "same (2)" {
		t.Fatalf("second name: %q", name)
	}

	dir := mustLookup(t, rfs, 1, "same")
	f := mustLookup(t, rfs, dir.NodeId, "same")
	var oo fuse.OpenOut
	if st := rfs.Open(nil, &fuse.OpenIn{InHeader: fuse.InHeader{NodeId: f.NodeId}, Flags: syscall.O_RDONLY}, &oo); st != fuse.OK {
		t.Fatalf("open: %v", st)
	}

	done := m.Remove(ka)
	if done == nil {
		t.Fatal("Remove of a mounted torrent returned nil")
	}
	if st := lookupStatus(rfs, 1, "same"); st != fuse.ENOENT {
		t.Errorf("lookup of a removed folder: %v, want ENOENT", st)
	}
	if got := childNames(m.EmbeddedInode()); got != "same (2)" {
		t.Errorf("root holds %s after the removal", got)
	}
	select {
	case <-done:
		t.Fatal("Remove's channel closed while a file is open")
	case <-time.After(50 * time.Millisecond):
	}
	buf := make([]byte, 64)
	giveUp := make(chan struct{}) // the read is interrupted (EINTR) if it hangs
	defer time.AfterFunc(20*time.Second, func() { close(giveUp) }).Stop()
	res, st := rfs.Read(giveUp, &fuse.ReadIn{InHeader: fuse.InHeader{NodeId: f.NodeId}, Fh: oo.Fh, Size: 64}, buf)
	if st != fuse.OK {
		t.Fatalf("read of an open file of a removed folder: %v", st)
	}
	data, _ := res.Bytes(buf)
	if string(data) != "first torrent's bytes" {
		t.Errorf("read %q", data)
	}
	rfs.Release(nil, &fuse.ReleaseIn{InHeader: fuse.InHeader{NodeId: f.NodeId}, Fh: oo.Fh})
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Remove's channel not closed after the last handle was released")
	}
	if st := rfs.Open(nil, &fuse.OpenIn{InHeader: fuse.InHeader{NodeId: f.NodeId}, Flags: syscall.O_RDONLY}, &oo); st != fuse.ENOENT {
		t.Errorf("open after the folder is gone: %v, want ENOENT", st)
	}
	if m.Remove(ka) != nil {
		t.Error("Remove of a torrent not in the mount: not nil")
	}

	// The second torrent keeps its name; the first, added again, gets its own back.
	if _, err := m.Add(ka, "same", NewRoot(a, Options{})); err != nil {
		t.Fatal(err)
	}
	if names := m.Names(); names[ka] != "same" || names[kb] != "same (2)" {
		t.Errorf("names after adding again: %v", names)
	}
	// A folder without open files is released at once.
	select {
	case <-m.Remove(kb):
	case <-time.After(5 * time.Second):
		t.Fatal("Remove of a folder with no open file did not finish")
	}
}

// TestMultiRootPending: a magnet's folder shows the status file until Attach,
// then the torrent's files.
func TestMultiRootPending(t *testing.T) {
	c := testClient(t)
	tor := testTorrent(t, c, "late", tfile("x", "inside.txt"))
	m := NewMultiRoot(Options{})
	rfs := gofs.NewNodeFS(m, &gofs.Options{})
	root := NewPendingRoot(func() string { return "resolving\n" }, Options{})
	if _, err := m.Add(tor.InfoHash().String(), "late", root); err != nil {
		t.Fatal(err)
	}
	dir := mustLookup(t, rfs, 1, "late")
	mustLookup(t, rfs, dir.NodeId, StatusFile)
	root.Attach(tor)
	if st := lookupStatus(rfs, dir.NodeId, StatusFile); st != fuse.ENOENT {
		t.Errorf("status file after Attach: %v", st)
	}
	mustLookup(t, rfs, dir.NodeId, "inside.txt")
}

func TestNumberedName(t *testing.T) {
	if got := numberedName("x", 2); got != "x (2)" {
		t.Errorf("numberedName = %q", got)
	}
	long := strings.Repeat("é", 200) // 400 bytes
	got := numberedName(long, 12)
	if len(got) > metainfo.MaxNameLen || !strings.HasSuffix(got, " (12)") || !validName(got) {
		t.Errorf("numberedName of a long name: %d bytes, %q", len(got), got[len(got)-8:])
	}
	for _, bad := range []string{"", ".", "..", "a/b", "a\x00b", "\xff"} {
		if validName(bad) {
			t.Errorf("validName(%q) = true", bad)
		}
	}
}
