package storage

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// DefaultDiskCacheMax is the recommended disk cache size before the free-space cap.
const DefaultDiskCacheMax = 2 << 30

// DefaultCacheDir is where the disk cache goes when --cache-dir is not given:
// $XDG_CACHE_HOME/hyperblow/pieces, else ~/.cache/hyperblow/pieces.
func DefaultCacheDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("disk cache: no cache folder: %w", err)
	}
	return filepath.Join(d, "hyperblow", "pieces"), nil
}

// DefaultDiskCacheSize is the recommended bound for a disk cache in dir:
// DefaultDiskCacheMax, or a tenth of the space free on dir's file system (of
// its nearest existing parent) if that is less. 0 means "too little room":
// run with RAM only.
func DefaultDiskCacheSize(dir string) int64 {
	var st unix.Statfs_t
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if err := unix.Statfs(d, &st); err == nil {
			break
		}
		if d == filepath.Dir(d) {
			return 0
		}
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	size := min(int64(DefaultDiskCacheMax), free/10)
	if size < 64<<20 {
		return 0
	}
	return size
}
