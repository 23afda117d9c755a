package storage

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDefaultCacheDir(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/x/cache")
	d, err := DefaultCacheDir()
	if err != nil || d != "/x/cache/hyperblow/pieces" {
		t.Fatalf("got %q, %v", d, err)
	}
}

func TestDefaultDiskCacheSize(t *testing.T) {
	if got := DefaultDiskCacheSize(filepath.Join(t.TempDir(), "not", "yet")); got <= 0 || got > DefaultDiskCacheMax {
		t.Fatalf("size %d on the temp folder", got)
	}
	if got := DefaultDiskCacheSize(smallTmpfs(t, "100m")); got != 0 {
		t.Fatalf("size %d on a 100 MiB file system, want 0 (a tenth is below 64 MiB)", got)
	}
}

// OpenDefaultDiskCache opens a bounded folder, gives RAM only (nil) for size
// 0 or a folder it cannot make, and never fails.
func TestOpenDefaultDiskCache(t *testing.T) {
	dir := t.TempDir()
	dc := OpenDefaultDiskCache(dir, 64<<20, nil)
	if dc == nil {
		t.Fatal("no disk cache in a fresh folder")
	}
	if got := dc.Stats().MaxBytes; got != 64<<20 {
		t.Errorf("bound %d, want %d", got, 64<<20)
	}
	dc.Close()
	if dc := OpenDefaultDiskCache(dir, 0, nil); dc != nil {
		t.Error("size 0: a disk cache, want RAM only")
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if dc := OpenDefaultDiskCache(filepath.Join(file, "sub"), 64<<20, nil); dc != nil {
		t.Error("a folder under a file: a disk cache, want RAM only")
	}
}
