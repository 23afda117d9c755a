package storage

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestLimitQueue: LimitQueue lowers the write-behind bound (never raises it),
// and a Put beyond the lowered bound is dropped, never waited for.
func TestLimitQueue(t *testing.T) {
	c, err := OpenDiskCache(DiskCacheConfig{Dir: t.TempDir(), MaxBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.QueueLimit(); got != DefaultQueueBytes {
		t.Fatalf("default bound %d, want %d", got, DefaultQueueBytes)
	}
	c.LimitQueue(128 << 20)
	c.LimitQueue(0)
	if got := c.QueueLimit(); got != DefaultQueueBytes {
		t.Fatalf("bound %d after raising and 0, want it unchanged (%d)", got, DefaultQueueBytes)
	}
	c.LimitQueue(2 << 10)
	if got := c.QueueLimit(); got != 2<<10 {
		t.Fatalf("bound %d, want %d", got, 2<<10)
	}
	release := make(chan struct{})
	c.beforeWrite = func() { <-release } // the disk is "slow": the first batch waits
	defer close(release)
	const plen = 1 << 10
	data := make([][]byte, 4)
	for i := range data {
		data[i] = make([]byte, plen)
		data[i][0] = byte(i)
	}
	sums := make([][20]byte, len(data))
	for i := range data {
		sums[i] = sha1Sum(data[i])
	}
	ct, err := c.Torrent(Spec{NumPieces: len(data), PieceLen: func(int) int64 { return plen }, PieceHash: func(i int) [20]byte { return sums[i] }})
	if err != nil {
		t.Fatal(err)
	}
	accepted := 0
	for i := range data {
		if ct.Put(i, data[i]) {
			accepted++
		}
	}
	// The writer may have taken the first piece out of the queue before it
	// waits, so 2 or 3 fit; never all 4 (4 KiB) under a 2 KiB bound.
	if accepted < 2 || accepted > 3 {
		t.Fatalf("%d of 4 pieces of 1 KiB queued under a 2 KiB bound, want 2 or 3", accepted)
	}
	if s := ct.Stats(); s.Dropped != int64(len(data)-accepted) {
		t.Fatalf("dropped %d, want %d", s.Dropped, len(data)-accepted)
	}
}

// TestDiskCacheReadOnlyEmptyFolder: a read-only folder that never held a cache
// cannot become one; the error says it is not writable and why (the file
// system's or the permission's error), not that a lock file is missing.
func TestDiskCacheReadOnlyEmptyFolder(t *testing.T) {
	dir, freeze := readOnlyDir(t)
	freeze()
	_, err := OpenDiskCache(DiskCacheConfig{Dir: dir, MaxBytes: 1 << 20})
	if err == nil {
		t.Fatal("an empty read-only folder opened as a disk cache")
	}
	if msg := err.Error(); !strings.Contains(msg, "not writable") ||
		!(errors.Is(err, unix.EROFS) || errors.Is(err, unix.EACCES)) {
		t.Fatalf("error %q: want it to say not writable, wrapping EROFS or EACCES", msg)
	}
}
