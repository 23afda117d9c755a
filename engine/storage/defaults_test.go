package storage

import (
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
