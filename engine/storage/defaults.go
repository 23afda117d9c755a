package storage

import (
	"fmt"
	"log/slog"
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

// OpenDefaultDiskCache opens the disk cache of dir (empty: DefaultCacheDir)
// bounded by size bytes (negative: DefaultDiskCacheSize), or returns nil:
// RAM only, when size is 0, or the folder has too little room or cannot be made or locked.
// That is logged, never an error: a mount does not fail for its disk cache.
func OpenDefaultDiskCache(dir string, size int64, log *slog.Logger) *DiskCache {
	if size == 0 {
		return nil
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if dir == "" {
		d, err := DefaultCacheDir()
		if err != nil {
			log.Warn("no disk cache: memory only", "err", err)
			return nil
		}
		dir = d
	}
	if size < 0 {
		if size = DefaultDiskCacheSize(dir); size == 0 {
			log.Info("no disk cache: little free space", "dir", dir)
			return nil
		}
	}
	dc, err := OpenDiskCache(DiskCacheConfig{Dir: dir, MaxBytes: size, Log: log})
	if err != nil {
		log.Warn("no disk cache: memory only", "err", err)
		return nil
	}
	log.Debug("disk cache", "dir", dir, "size", size)
	return dc
}
