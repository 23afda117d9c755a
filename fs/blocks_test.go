package fs

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/enginetest"
)

func TestHeldBytes(t *testing.T) {
	all := func(int) bool { return true }
	none := func(int) bool { return false }
	even := func(i int) bool { return i%2 == 0 }
	cases := []struct {
		name                  string
		held                  func(int) bool
		pieceLen, off, length int64
		want                  int64
	}{
		{"all of a file inside one piece", all, 16, 3, 10, 10},
		{"none held", none, 16, 0, 100, 0},
		{"empty file", all, 16, 40, 0, 0},
		{"whole pieces", all, 16, 16, 32, 32},
		// bytes 10..50: piece 0 gives 6 (10..16), piece 2 gives 16 (32..48).
		{"partial first piece held, partial last not", even, 16, 10, 40, 6 + 16},
		// bytes 20..70: pieces 1 (20..32: 12), 2 (16), 3 (16), 4 (64..70: 6); even: 2 and 4.
		{"partial last piece held", even, 16, 20, 50, 16 + 6},
		// A piece length that is no power of two (v1 allows it).
		{"odd piece length", func(i int) bool { return i == 1 }, 20000, 15000, 10000, 5000},
	}
	for _, c := range cases {
		if got := heldBytes(c.held, c.pieceLen, c.off, c.length); got != c.want {
			t.Errorf("%s: heldBytes(%d, %d, %d) = %d, want %d", c.name, c.pieceLen, c.off, c.length, got, c.want)
		}
	}
}

// attrOf looks up path from the root and returns the node's attributes as
// GETATTR answers them.
func attrOf(t *testing.T, rfs fuse.RawFileSystem, path ...string) fuse.Attr {
	t.Helper()
	id := uint64(1)
	for _, name := range path {
		id = mustLookup(t, rfs, id, name).NodeId
	}
	var out fuse.AttrOut
	if st := rfs.GetAttr(nil, &fuse.GetAttrIn{InHeader: fuse.InHeader{NodeId: id}}, &out); st != fuse.OK {
		t.Fatalf("getattr %v: %v", path, st)
	}
	return out.Attr
}

// readAll reads file path of torrent tor through an engine reader, as a FUSE
// handle does.
func readAll(t *testing.T, tor *engine.Torrent, path string) {
	t.Helper()
	for _, f := range tor.Info().VisibleFiles() {
		if strings.Join(f.Path, "/") != path {
			continue
		}
		r := tor.NewReader(f)
		defer r.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		buf := make([]byte, f.Length)
		if n, err := r.ReadAt(ctx, buf, 0); int64(n) != f.Length {
			t.Fatalf("read %s: %d of %d bytes: %v", path, n, f.Length, err)
		}
		return
	}
	t.Fatalf("no file %s in the torrent", path)
}

func blocksOf(n int64) uint64 { return uint64(n+511) / 512 }

// TestGetattrOwnerModeBlocks: uid, gid and umask apply to folders and files;
// st_blocks counts the bytes held, exactly at pieces shared with neighbours.
func TestGetattrOwnerModeBlocks(t *testing.T) {
	c := testClient(t)
	// Pieces of 16 KiB: a = [0, 10000), b = [10000, 60000), c = [60000, 67000).
	a, b, cc := enginetest.RandomBytes(1, 10000), enginetest.RandomBytes(2, 50000), enginetest.RandomBytes(3, 7000)
	tor := testTorrent(t, c, "t",
		enginetest.File{Path: []string{"a"}, Data: a},
		enginetest.File{Path: []string{"sub", "b"}, Data: b},
		enginetest.File{Path: []string{"sub", "c"}, Data: cc})
	rfs := gofs.NewNodeFS(NewRoot(tor, Options{UID: 1234, GID: 2345, Umask: 0o027}), &gofs.Options{NullPermissions: true})

	for _, p := range [][]string{{"a"}, {"sub"}, {"sub", "b"}} {
		at := attrOf(t, rfs, p...)
		want := uint32(0o440)
		if at.Mode&syscall.S_IFMT == syscall.S_IFDIR {
			want = 0o550
		}
		if at.Uid != 1234 || at.Gid != 2345 || at.Mode&0o7777 != want {
			t.Errorf("%v: uid %d gid %d mode %o, want 1234 2345 %o", p, at.Uid, at.Gid, at.Mode&0o7777, want)
		}
		if at.Mode&syscall.S_IFMT == syscall.S_IFREG && at.Blocks != 0 {
			t.Errorf("%v: %d blocks before anything was read, want 0", p, at.Blocks)
		}
	}
	if at := attrOf(t, rfs, "sub", "b"); at.Size != 50000 {
		t.Errorf("size of b: %d, want 50000", at.Size)
	}

	readAll(t, tor, "sub/b") // pieces 0..3 at least
	if got, want := attrOf(t, rfs, "sub", "b").Blocks, blocksOf(50000); got != want {
		t.Errorf("b read whole: %d blocks, want %d", got, want)
	}
	// a lies inside piece 0, which b's first bytes share: all of a is held.
	if got, want := attrOf(t, rfs, "a").Blocks, blocksOf(10000); got != want {
		t.Errorf("a: %d blocks, want %d (its one piece is held)", got, want)
	}
	// c: piece 3 (bytes 60000..65536) is b's last piece; piece 4 may or may
	// not have come with readahead.
	wantC := int64(65536 - 60000)
	if tor.PieceHeld(4) {
		wantC = 7000
	}
	if got, want := attrOf(t, rfs, "sub", "c").Blocks, blocksOf(wantC); got != want {
		t.Errorf("c: %d blocks, want %d (%d bytes held)", got, want, wantC)
	}
}

// TestGetattrUmaskAll: umask=0777 leaves no permission bits at all (go-fuse
// would otherwise make a mode of 0 into 0644).
func TestGetattrUmaskAll(t *testing.T) {
	c := testClient(t)
	tor := testTorrent(t, c, "one.bin", tfile("data"))
	root := NewRoot(tor, Options{Umask: 0o777})
	rfs := gofs.NewNodeFS(root, &gofs.Options{NullPermissions: true})
	if at := attrOf(t, rfs, "one.bin"); at.Mode&0o7777 != 0 {
		t.Errorf("umask 0777: mode %o, want 0", at.Mode&0o7777)
	}
}

// TestGetattrBigFileBlocks: a file of more pieces than memoPieces remembers its
// count for memoTTL, and then follows what is held.
func TestGetattrBigFileBlocks(t *testing.T) {
	c := testClient(t)
	const size = (memoPieces+6)*16<<10 + 123
	tor := testTorrent(t, c, "big.bin", enginetest.File{Data: enginetest.RandomBytes(4, size)})
	rfs := gofs.NewNodeFS(NewRoot(tor, Options{}), &gofs.Options{})
	if b := attrOf(t, rfs, "big.bin").Blocks; b != 0 {
		t.Fatalf("%d blocks before reading, want 0", b)
	}
	readAll(t, tor, "big.bin")
	deadline := time.Now().Add(memoTTL + 20*time.Second) // a bound on a hang
	for {
		b := attrOf(t, rfs, "big.bin").Blocks
		if b == blocksOf(size) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d blocks %v after reading the whole file, want %d", b, memoTTL+20*time.Second, blocksOf(size))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
