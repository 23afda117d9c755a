package fs

import (
	"fmt"
	"testing"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/metainfo"
)

// tree100k builds the node filesystem of a torrent with 100,000 files in 1,000
// folders, without mounting it (the kernel's requests are called directly).
func tree100k(tb testing.TB) fuse.RawFileSystem {
	tb.Helper()
	var files []metainfo.InputFile
	for i := 0; i < 100_000; i++ {
		files = append(files, metainfo.FileBytes([]byte{byte(i)}, fmt.Sprintf("d%04d", i/100), fmt.Sprintf("f%06d", i)))
	}
	raw, err := metainfo.CreateFromFiles("big", files, metainfo.CreateOptions{PieceLength: 64 << 10})
	if err != nil {
		tb.Fatal(err)
	}
	mt, err := metainfo.Parse(raw)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := engine.NewClient(engine.Config{CacheSize: 4 << 20})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	t, err := c.AddTorrent(mt, engine.TorrentOptions{NoTrackers: true})
	if err != nil {
		tb.Fatal(err)
	}
	return gofs.NewNodeFS(NewRoot(t, Options{}), &gofs.Options{})
}

func lookup(tb testing.TB, rfs fuse.RawFileSystem, parent uint64, name string) uint64 {
	var out fuse.EntryOut
	if st := rfs.Lookup(nil, &fuse.InHeader{NodeId: parent}, name, &out); st != fuse.OK {
		tb.Fatalf("lookup %s: %v", name, st)
	}
	return out.NodeId
}

// TestTree100k: every level of a big tree is found, with the right size.
func TestTree100k(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 100k-file torrent")
	}
	rfs := tree100k(t)
	dir := lookup(t, rfs, 1, "d0999")
	f := lookup(t, rfs, dir, "f099999")
	var attr fuse.AttrOut
	if st := rfs.GetAttr(nil, &fuse.GetAttrIn{InHeader: fuse.InHeader{NodeId: f}}, &attr); st != fuse.OK || attr.Size != 1 || attr.Mode&0o777 != 0o444 {
		t.Fatalf("getattr: %v, %+v", st, attr.Attr)
	}
	var out fuse.EntryOut
	if st := rfs.Lookup(nil, &fuse.InHeader{NodeId: dir}, "f000000", &out); st != fuse.ENOENT {
		t.Fatalf("a file of another folder found: %v", st)
	}
}

// BenchmarkLookupGetattr100k: lookup of a folder and a file and getattr of the
// file in a 100k-file tree; it must not grow with the number of files.
func BenchmarkLookupGetattr100k(b *testing.B) {
	rfs := tree100k(b)
	var attr fuse.AttrOut
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := i % 100_000
		dir := lookup(b, rfs, 1, fmt.Sprintf("d%04d", k/100))
		f := lookup(b, rfs, dir, fmt.Sprintf("f%06d", k))
		rfs.GetAttr(nil, &fuse.GetAttrIn{InHeader: fuse.InHeader{NodeId: f}}, &attr)
	}
}
