package storage

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLayoutWrite: Write stores a piece at once (no queue, nothing dropped),
// refuses bytes that do not match and a piece of the wrong length, and a
// written piece is held and served.
func TestLayoutWrite(t *testing.T) {
	dir := t.TempDir()
	tt := multi(t, 20)
	l, _ := openLayout(t, tt, dir, LayoutConfig{})
	bad := bytes.Clone(tt.piece(1))
	bad[0] ^= 1
	if err := l.Write(1, bad); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("a piece that does not match: %v", err)
	}
	if err := l.Write(1, tt.piece(1)[1:]); err == nil {
		t.Error("a short piece: no error")
	}
	if err := l.Write(tt.mt.Info.NumPieces, tt.piece(0)); err == nil {
		t.Error("a piece out of range: no error")
	}
	if l.Has(1) {
		t.Fatal("a refused piece is held")
	}
	for i := 0; i < tt.mt.Info.NumPieces; i++ {
		if err := l.Write(i, tt.piece(i)); err != nil {
			t.Fatalf("Write(%d): %v", i, err)
		}
		if !l.Has(i) {
			t.Fatalf("piece %d not held right after Write", i)
		}
	}
	if err := l.Write(0, tt.piece(0)); err != nil {
		t.Errorf("writing a held piece again: %v", err)
	}
	if s := l.Stats(); s.QueuedBytes != 0 || s.Dropped != 0 || s.Writes != int64(tt.mt.Info.NumPieces) {
		t.Errorf("stats %+v: want every piece written, none queued or dropped", s)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for k, want := range tt.files {
		if got, err := os.ReadFile(filePath(dir, tt, k)); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("file %d is not the torrent's (%v)", k, err)
		}
	}
	l2, _ := openLayout(t, tt, t.TempDir(), LayoutConfig{})
	l2.Close()
	if err := l2.Write(0, tt.piece(0)); err == nil {
		t.Error("Write after Close: no error")
	}
}

// TestLayoutNoResume: without a resume record nothing but the torrent's files
// is made, and every piece is hashed again on the next open.
func TestLayoutNoResume(t *testing.T) {
	dir := t.TempDir()
	tt := multi(t, 21)
	n := tt.mt.Info.NumPieces
	l, _ := openLayout(t, tt, dir, LayoutConfig{NoResume: true, ResumeEvery: 1})
	for i := 0; i < n; i++ {
		if err := l.Write(i, tt.piece(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) != 1 || ents[0].Name() != "t" {
		t.Fatalf("DIR holds %v (%v), want only the torrent's folder", ents, err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".hyperblow")); !os.IsNotExist(err) {
		t.Errorf("a resume folder was made: %v", err)
	}
	_, chk := openLayout(t, tt, dir, LayoutConfig{NoResume: true})
	if chk.Trusted != 0 || chk.Hashed != n || chk.Valid != n || chk.HeldBytes != int64(len(tt.data)) {
		t.Errorf("reopen: %+v, want all %d pieces hashed and valid, none trusted", chk, n)
	}
}

// TestLayoutFileWhereFolderIs: a file where the torrent needs a folder is an
// error saying so (not ENOTDIR from deeper down).
func TestLayoutFileWhereFolderIs(t *testing.T) {
	dir := t.TempDir()
	tt := multi(t, 22)
	if err := os.MkdirAll(filepath.Join(dir, "t"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "t", "dir"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := OpenLayout(t.Context(), tt.mt.InfoHash, tt.mt.Info, dir, LayoutConfig{})
	if err == nil || !strings.Contains(err.Error(), "needs a folder here, but it is a file") {
		t.Errorf("got %v", err)
	}
}
