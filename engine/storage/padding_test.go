package storage

import (
	"bytes"
	"crypto/sha1"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/hyperblow/hyperblow/engine/metainfo"
)

// paddedTorrent has file a (1000 bytes), a BEP 47 padding file up to the next
// piece, and file b (20000 bytes): three 16 KiB pieces.
func paddedTorrent(t *testing.T) *testTorrent {
	const pl, pad = 16384, 16384 - 1000
	a := bytes.Repeat([]byte{'a'}, 1000)
	b := make([]byte, 20000)
	for i := range b {
		b[i] = byte(i * 7)
	}
	data := append(append(append([]byte{}, a...), make([]byte, pad)...), b...)
	var pieces []byte
	for off := 0; off < len(data); off += pl {
		h := sha1.Sum(data[off:min(off+pl, len(data))])
		pieces = append(pieces, h[:]...)
	}
	info := fmt.Sprintf("d5:filesld6:lengthi1000e4:pathl1:aeed4:attr1:p6:lengthi%de4:pathl4:.pad%d:%dee"+
		"d6:lengthi20000e4:pathl1:beee4:name1:t12:piece lengthi%de6:pieces%d:%se",
		pad, len(fmt.Sprint(pad)), pad, pl, len(pieces), pieces)
	mt, err := metainfo.Parse([]byte("d4:info" + info + "e"))
	if err != nil {
		t.Fatal(err)
	}
	if !mt.Info.Files[1].Padding {
		t.Fatal("the padding file was not recognised")
	}
	return &testTorrent{mt: mt, data: data, files: [][]byte{a, b}}
}

func TestLayoutPaddingFilesAreNotWritten(t *testing.T) {
	dir := t.TempDir()
	tt := paddedTorrent(t)
	l, _ := openLayout(t, tt, dir, LayoutConfig{})
	putAll(t, l, tt)
	l.Close()
	ents, _ := os.ReadDir(filepath.Join(dir, "t"))
	if len(ents) != 2 {
		t.Fatalf("folder holds %d entries, want a and b only", len(ents))
	}
	for k, name := range []string{"a", "b"} {
		got, err := os.ReadFile(filepath.Join(dir, "t", name))
		if err != nil || !bytes.Equal(got, tt.files[k]) {
			t.Fatalf("file %s: %v", name, err)
		}
	}
	l2, chk := openLayout(t, tt, dir, LayoutConfig{})
	if chk.Trusted != 3 || checkServed(t, l2, tt) != 3 {
		t.Fatalf("check %+v", chk)
	}
	// Without the record, the pieces are found by hashing, padding read as zeros.
	os.RemoveAll(filepath.Join(dir, ".hyperblow"))
	l2.Close()
	_, chk = openLayout(t, tt, dir, LayoutConfig{})
	if chk.Valid != 3 {
		t.Fatalf("check %+v", chk)
	}
}
