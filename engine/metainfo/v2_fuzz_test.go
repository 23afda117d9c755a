package metainfo

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzParseV2 is FuzzParse seeded with BEP 52 torrents (libtorrent's v2-only and hybrid
// fixtures and broken variants), for the file tree, piece layers and the hybrid checks.
func FuzzParseV2(f *testing.F) {
	paths, _ := filepath.Glob("testdata/v2/*.torrent")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(bytes.Replace(b, []byte("6:lengthi1e"), []byte("6:lengthi2e"), 1))
	}
	x := bytes.Repeat([]byte("hello world"), 9000)
	for _, format := range []Format{FormatV2, FormatHybrid} {
		for _, files := range [][]InputFile{{FileBytes(x)}, {FileBytes(x, "a"), FileBytes(nil, "e"), FileBytes(x[:5], "d", "b")}} {
			out, err := CreateFromFiles("seed", files, CreateOptions{Format: format})
			if err != nil {
				f.Fatal(err)
			}
			f.Add(out)
		}
	}
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
		}
	})
}

// checkV2 asserts what a parsed v2 or hybrid torrent must keep: its hashes, every v2
// file on a piece boundary, a piece layer for every file a v2-only torrent needs, and
// pieces that verify without panicking.
func checkV2(t *testing.T, tor *Torrent) {
	t.Helper()
	i := tor.Info
	h := sha256.Sum256(tor.RawInfo)
	if tor.InfoHashV2 != h {
		t.Fatal("InfoHashV2 is not the SHA-256 of RawInfo")
	}
	if want := sha1.Sum(tor.RawInfo); i.HasV1() && tor.InfoHash != want || !i.HasV1() && tor.InfoHash != [20]byte(h[:20]) {
		t.Fatal("InfoHash is neither the v1 hash of a hybrid nor the truncated v2 hash")
	}
	if i.PieceLength&(i.PieceLength-1) != 0 {
		t.Fatalf("v2 piece length %d", i.PieceLength)
	}
	if n := i.MissingPieceLayers(); n != 0 {
		t.Fatalf("a v2 torrent file parsed with %d piece layers missing", n)
	}
	for k, f := range i.Files {
		if _, ok := i.PiecesRoot(k); ok && f.Offset%i.PieceLength != 0 {
			t.Fatalf("file %d at %d is not on a piece boundary", k, f.Offset)
		}
	}
	for p := range min(i.NumPieces, 4) {
		if i.PieceLen(p) <= 1<<20 { // a fuzzed 64 MiB piece would take the fuzzer's time
			_ = i.VerifyPiece(p, make([]byte, i.PieceLen(p)))
		}
	}
	again, err := ParseInfo(tor.RawInfo)
	if err != nil || again.NumPieces != i.NumPieces || !reflect.DeepEqual(again.Files, i.Files) {
		t.Fatalf("ParseInfo(RawInfo) = %v, differs from Parse", err)
	}
}
