package demo

import (
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteFiles: the tree has what the demo's help tells people to try, and
// SHA256SUMS matches every file (what `sha256sum -c` checks on the mount).
func TestWriteFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "d")
	if err := WriteFiles(dir, 100_000); err != nil {
		t.Fatal(err)
	}
	sums, err := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(sums)), "\n")
	if len(lines) != 6 {
		t.Errorf("SHA256SUMS has %d lines, want 6:\n%s", len(lines), sums)
	}
	for _, l := range lines {
		sum, name, ok := strings.Cut(l, "  ")
		if !ok {
			t.Fatalf("bad line %q", l)
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("%x", sha256.Sum256(b)); got != sum {
			t.Errorf("%s: sum %s, SHA256SUMS says %s", name, got, sum)
		}
	}
	if st, err := os.Stat(filepath.Join(dir, "big", "random.bin")); err != nil || st.Size() != 100_000 {
		t.Errorf("big file: %v, %v", st, err)
	}
}

// TestStart: the swarm's torrent holds the sample files, its seeder listens
// on loopback, and Close removes the files.
func TestStart(t *testing.T) {
	sw, err := Start(1<<20, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(sw.Torrent.Info.VisibleFiles()); n != 7 {
		t.Errorf("%d files in the torrent, want 7 (6 and SHA256SUMS)", n)
	}
	if !sw.Seeder.Addr().IsLoopback() || sw.Seeder.Port() == 0 {
		t.Errorf("seeder at %v, want a loopback address", sw.Seeder)
	}
	dir := sw.dir
	if err := sw.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s left after Close: %v", dir, err)
	}
}
