package engine_test

import (
	"testing"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/storage"
)

// TestClientBoundsTierQueue: a client over a disk cache limits the cache's
// write-behind queue to a quarter of its RAM cache (at least 16 MiB), so that
// pieces waiting for the disk stay within the process's memory margin.
func TestClientBoundsTierQueue(t *testing.T) {
	for _, tc := range []struct{ cache, want int64 }{
		{64 << 20, 16 << 20},
		{8 << 20, 16 << 20},
		{128 << 20, 32 << 20},
		{1 << 30, storage.DefaultQueueBytes},
	} {
		dc := openDiskCache(t, t.TempDir())
		c, err := engine.NewClient(engine.Config{Listen: "127.0.0.1:0", CacheSize: tc.cache, DiskCache: dc})
		if err != nil {
			t.Fatal(err)
		}
		got := dc.QueueLimit()
		c.Close()
		dc.Close()
		if got != tc.want {
			t.Errorf("cache %d: queue bound %d, want %d", tc.cache, got, tc.want)
		}
	}
}
