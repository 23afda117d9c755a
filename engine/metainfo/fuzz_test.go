package metainfo

import (
	"crypto/sha1"
	"reflect"
	"testing"
)

func FuzzParse(f *testing.F) {
	x := []byte("hello world")
	seeds := [][]InputFile{
		{FileBytes(x)},
		{FileBytes(x, "a.txt"), FileBytes(nil, "empty"), FileBytes(x, "dir", "b.bin")},
	}
	for _, files := range seeds {
		out, err := CreateFromFiles("seed", files, CreateOptions{Trackers: [][]string{{"http://t/a", "udp://u:1"}}, WebSeeds: []string{"http://w/"}, Comment: "c"})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(out)
	}
	f.Add(torrentWith(singleInfo()))
	f.Add(torrentWith(multiInfo(40, fileEntry(10, "a"), fileEntry(10, "a"), fileEntry(10, "a", "b"),
		bd("attr", bs("p"), "length", bi(5), "path", bl(bs(".pad"), bs("5"))), fileEntry(5, "..", "", "x/y"))))
	f.Add(torrentWith(bd("pieces", hashes(3), "name", bs("f"), "x", bl(), "piece length", bi(16384), "length", bi(40000))))
	f.Add([]byte("2000000000:x"))
	f.Add([]byte("d4:infod5:filesld6:lengthi1e4:pathl0:eee4:name0:12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var tor *Torrent
		var err error
		got := allocated(func() { tor, err = Parse(data) })
		if limit := uint64(allocPerByte*len(data) + allocSlack); got > limit {
			t.Fatalf("Parse of %d bytes allocated %d, want <= %d", len(data), got, limit)
		}
		if err != nil {
			return
		}
		checkInfo(t, tor.Info)
		if tor.Info.HasV2() {
			checkV2(t, tor)
			return
		}
		if tor.InfoHash != sha1.Sum(tor.RawInfo) {
			t.Fatal("InfoHash is not the SHA-1 of RawInfo")
		}
		again, err := ParseInfo(tor.RawInfo)
		if err != nil || !reflect.DeepEqual(again, tor.Info) {
			t.Fatalf("ParseInfo(RawInfo) = %v, differs from Parse", err)
		}
	})
}

// checkInfo asserts the invariants every parsed Info must keep.
func checkInfo(t *testing.T, i *Info) {
	t.Helper()
	assertSafe(t, i.Name)
	if i.RawName == "." || i.RawName == ".." || (i.RawName != "" && i.RawName == i.Name) {
		t.Fatalf("raw name %q for %q", i.RawName, i.Name)
	}
	var off int64
	for _, f := range i.Files {
		if f.Offset != off || f.Length < 0 || len(f.Path) == 0 || len(f.Path) > MaxPathDepth {
			t.Fatalf("bad file %+v at offset %d", f, off)
		}
		for _, c := range f.Path {
			assertSafe(t, c)
		}
		if f.RawPath != nil && len(f.RawPath) == 0 {
			t.Fatalf("%q: an empty raw path", f.Path)
		}
		for _, c := range f.RawPath {
			if c == "" || c == "." || c == ".." {
				t.Fatalf("%q: raw path %q navigates", f.Path, f.RawPath)
			}
		}
		off += f.Length
	}
	if off != i.TotalLength || i.TotalLength <= 0 {
		t.Fatalf("files sum to %d, total %d", off, i.TotalLength)
	}
	if v := i.VisibleFiles(); !i.MultiFile && (len(v) != 1 || v[0].Path[0] != i.Name || v[0].Offset != 0) {
		t.Fatal("single-file torrent: file is not named after the torrent")
	}
	assertTree(t, i.Files)
	if i.PieceLength < MinPieceLength || i.PieceLength > MaxPieceLength || i.NumPieces < 1 {
		t.Fatalf("piece geometry %d x %d", i.NumPieces, i.PieceLength)
	}
	last := i.NumPieces - 1
	if i.PieceOffset(last)+i.PieceLen(last) != i.TotalLength || i.PieceLen(last) <= 0 || i.PieceLen(last) > i.PieceLength {
		t.Fatalf("last piece %d+%d, total %d", i.PieceOffset(last), i.PieceLen(last), i.TotalLength)
	}
	if i.HasV1() {
		_ = i.PieceHash(last)
	}
}
