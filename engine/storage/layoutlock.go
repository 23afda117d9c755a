package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrInUse means a Layout's files are being written by another process (or
// another Layout of this one): two writers of one DIR/NAME would each trust
// a resume record the other makes false.
var ErrInUse = errors.New("in use: another process writes these files (a hyperblow get, or a mount --data of the same folder); stop it, or give another folder")

// lockRoot takes, without waiting, an exclusive flock on the torrent's root:
// its file (single-file torrent) or its folder (multi-file). A Layout that
// writes holds it until Close; a read-only one (seed) takes none, since it
// verifies every read. flock belongs to the open file description, so the
// lock is released by the kernel when the process ends, however it ends
// (kill -9 leaves no stale lock), and two opens in one process conflict as
// two processes do. nil, nil: the root does not exist (nothing to write).
func lockRoot(root string) (*os.File, error) {
	f, err := os.OpenFile(root, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	if err := flock(f, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, ErrInUse
		}
		return nil, fmt.Errorf("lock: %w", err)
	}
	return f, nil
}
