package fs

import (
	"testing"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/hyperblow/hyperblow/engine/enginetest"
)

func statfsOf(t *testing.T, rfs fuse.RawFileSystem, node uint64) fuse.StatfsOut {
	t.Helper()
	var out fuse.StatfsOut
	if st := rfs.StatFs(nil, &fuse.InHeader{NodeId: node}, &out); st != fuse.OK {
		t.Fatalf("statfs: %v", st)
	}
	return out
}

func checkStatfs(t *testing.T, what string, out fuse.StatfsOut, size int64, files uint64) {
	t.Helper()
	blocks := uint64((size + StatfsBlockSize - 1) / StatfsBlockSize)
	if out.Blocks != blocks || out.Bsize != StatfsBlockSize || out.Frsize != StatfsBlockSize || out.Files != files ||
		out.Bfree != 0 || out.Bavail != 0 || out.NameLen != 255 {
		t.Errorf("%s: statfs %+v; want %d blocks of %d (size %d), %d files, none free", what, out, blocks, StatfsBlockSize, size, files)
	}
}

// TestStatfs: df on a mount, at its root or on any file in it, shows the
// torrent's total size and its number of files; a mount of several torrents
// shows their sum; a magnet's folder counts once its metadata is in.
func TestStatfs(t *testing.T) {
	c := testClient(t)
	a, b := enginetest.RandomBytes(1, 50000), enginetest.RandomBytes(2, 7000)
	tor := testTorrent(t, c, "t", enginetest.File{Path: []string{"a"}, Data: a}, enginetest.File{Path: []string{"sub", "b"}, Data: b})
	rfs := gofs.NewNodeFS(NewRoot(tor, Options{}), &gofs.Options{})
	checkStatfs(t, "root", statfsOf(t, rfs, 1), 57000, 2)
	checkStatfs(t, "a file", statfsOf(t, rfs, mustLookup(t, rfs, 1, "a").NodeId), 57000, 2)
	sub := mustLookup(t, rfs, 1, "sub").NodeId
	checkStatfs(t, "a folder's file", statfsOf(t, rfs, mustLookup(t, rfs, sub, "b").NodeId), 57000, 2)

	pending := NewPendingRoot(func() string { return "resolving\n" }, Options{})
	prfs := gofs.NewNodeFS(pending, &gofs.Options{})
	checkStatfs(t, "a magnet mount", statfsOf(t, prfs, 1), 0, 0)
	checkStatfs(t, "its status file", statfsOf(t, prfs, mustLookup(t, prfs, 1, StatusFile).NodeId), 0, 0)

	one := testTorrent(t, c, "one.bin", tfile("0123456789"))
	m := NewMultiRoot(Options{})
	mrfs := gofs.NewNodeFS(m, &gofs.Options{})
	late := NewPendingRoot(func() string { return "resolving\n" }, Options{})
	for key, r := range map[string]*Root{tor.InfoHash().String(): NewRoot(tor, Options{}), one.InfoHash().String(): NewRoot(one, Options{}), "late": late} {
		if _, err := m.Add(key, key, r); err != nil {
			t.Fatal(err)
		}
	}
	checkStatfs(t, "a mount of several torrents", statfsOf(t, mrfs, 1), 57010, 3)
	other := testTorrent(t, c, "other.bin", tfile("abc"))
	late.Attach(other)
	dir := mustLookup(t, mrfs, 1, one.InfoHash().String()).NodeId
	checkStatfs(t, "a file of one of several torrents", statfsOf(t, mrfs, mustLookup(t, mrfs, dir, "one.bin").NodeId), 57013, 4)
}
