package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCheckWatchDir: a watched folder may not be the mount point or under it.
func TestCheckWatchDir(t *testing.T) {
	mnt := t.TempDir()
	sub := filepath.Join(mnt, "sub")
	os.Mkdir(sub, 0o755)
	for _, bad := range []string{mnt, sub} {
		if _, err := checkWatchDir(bad, mnt); err == nil {
			t.Errorf("checkWatchDir(%s, %s): no error", bad, mnt)
		}
	}
	other := t.TempDir()
	if got, err := checkWatchDir(other, mnt); err != nil || !filepath.IsAbs(got) {
		t.Errorf("checkWatchDir(%s): %q, %v", other, got, err)
	}
}
