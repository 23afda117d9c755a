package fs

import (
	"strings"
	"syscall"
	"testing"
)

func TestFormatPercent(t *testing.T) {
	cases := []struct {
		part, whole int
		want        string
	}{
		{0, 8, "0.0%"},
		{3, 8, "37.5%"},
		{8, 8, "100.0%"},
		{1, 100000, "0.1%"}, // one piece is never shown as nothing
		{99999, 100000, "99.9%"},
		{0, 0, "100.0%"},
	}
	for _, c := range cases {
		if got := formatPercent(c.part, c.whole); got != c.want {
			t.Errorf("formatPercent(%d, %d) = %q, want %q", c.part, c.whole, got, c.want)
		}
	}
}

func TestFilePieces(t *testing.T) {
	cases := []struct {
		pieceLen, off, length int64
		lo, hi                int
	}{
		{16, 0, 16, 0, 1},
		{16, 0, 17, 0, 2},
		{16, 15, 2, 0, 2},
		{16, 16, 16, 1, 2},
		{16, 40, 0, 0, 0},
	}
	for _, c := range cases {
		lo, hi := filePieces(c.pieceLen, c.off, c.length)
		if lo != c.lo || hi != c.hi {
			t.Errorf("filePieces(%d, %d, %d) = [%d, %d), want [%d, %d)", c.pieceLen, c.off, c.length, lo, hi, c.lo, c.hi)
		}
	}
}

func TestPieceMap(t *testing.T) {
	held := func(i int) bool { return i%2 == 0 }
	if got := pieceMap(held, 3, 8, 100); got != ".#.#." {
		t.Errorf("pieceMap = %q, want %q", got, ".#.#.")
	}
	if got := pieceMap(held, 3, 3, 100); got != "" {
		t.Errorf("empty range: %q", got)
	}
	// 40 pieces in 10 characters: 4 per character.
	some := func(i int) bool { return i < 8 || i == 21 }
	got := pieceMap(some, 0, 40, 10)
	want := "##...+...."
	if !strings.HasPrefix(got, want+" (") || !strings.Contains(got, "40 pieces, about 4 per character") {
		t.Errorf("pieceMap = %q, want %q and a note", got, want)
	}
}

func TestPutXattr(t *testing.T) {
	n, errno := putXattr(nil, "37.5%")
	if n != 5 || errno != syscall.ERANGE {
		t.Errorf("size query: got %d, %v; want 5, ERANGE", n, errno)
	}
	buf := make([]byte, 4)
	if n, errno := putXattr(buf, "37.5%"); n != 5 || errno != syscall.ERANGE {
		t.Errorf("small buffer: got %d, %v; want 5, ERANGE", n, errno)
	}
	buf = make([]byte, 64)
	if n, errno := putXattr(buf, "37.5%"); n != 5 || errno != 0 || string(buf[:n]) != "37.5%" {
		t.Errorf("got %d, %v, %q", n, errno, buf[:n])
	}
	if l := xattrList("a", "b"); l != "a\x00b\x00" {
		t.Errorf("xattrList = %q", l)
	}
}
