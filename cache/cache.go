// Package cache holds verified pieces in memory, bounded in bytes.
//
// Two tiers share the budget given to New:
//
//   - a small "hot" tier, an exact LRU that always admits: the pieces verified or
//     read most recently. The kernel reads a piece in several FUSE READs (128 KiB to
//     1 MiB each), and readers' readahead windows are made of pieces that were just
//     verified; those must still be here a moment later, whatever ristretto decides.
//   - ristretto (TinyLFU admission, sampled LFU eviction) for the rest. Ristretto may
//     refuse or drop a Set, and its Set is asynchronous, so nothing may depend on a
//     piece being found there: a reader waiting on a download gets its bytes from the
//     verification hand-off in the engine, and a miss simply means "fetch again".
//
// Values are immutable once Put: callers must not modify a slice they put or got.
// Cache is safe for concurrent use. The mutex guards the hot tier only.
package cache

import (
	"container/list"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/dgraph-io/ristretto/v2"
)

// Key names one piece of one torrent.
type Key struct {
	Torrent uint32 // engine-assigned torrent number
	Piece   uint32
}

func (k Key) u64() uint64 { return uint64(k.Torrent)<<32 | uint64(k.Piece) }

// MinSize is the smallest budget New accepts.
const MinSize = 1 << 20

// ttlSweepSeconds is ristretto's TTL sweep period, doubled (it ticks every
// half): once an hour, since no entry has a TTL.
const ttlSweepSeconds = 2 * 3600

// Stats are cumulative counters, and what the cache holds now.
type Stats struct {
	Hits, Misses, Evictions, Rejections int64
	// HeldBytes is the piece data held now, in both tiers, exactly: the Puts and
	// Drops made before Stats was called are counted.
	HeldBytes int64
	HotBytes  int64 // the hot tier's share of HeldBytes
	MaxBytes  int64
}

// Cache is a byte-bounded store of verified pieces.
type Cache struct {
	max int64
	rc  *ristretto.Cache[uint64, []byte]

	mu       sync.Mutex // guards hot, hotIndex, hotBytes
	hot      *list.List // of *entry, front = most recent
	hotIndex map[uint64]*list.Element
	hotBytes int64
	hotMax   int64

	hits, misses, evictions, rejections atomic.Int64

	// closeMu guards closed: Stats waits on ristretto's buffers, which must not
	// happen once Close has stopped the goroutine that drains them.
	closeMu sync.RWMutex
	closed  bool
}

type entry struct {
	key  uint64
	data []byte
}

// New returns a cache that holds at most maxBytes of piece data (plus ristretto's
// bookkeeping, a few bytes per counter).
func New(maxBytes int64) (*Cache, error) {
	if maxBytes < MinSize {
		return nil, fmt.Errorf("cache: size %d bytes is below the minimum of %d", maxBytes, MinSize)
	}
	hotMax := min(maxBytes/4, 64<<20)
	c := &Cache{
		max:      maxBytes,
		hot:      list.New(),
		hotIndex: make(map[uint64]*list.Element),
		hotMax:   hotMax,
	}
	// Pieces are at least 16 KiB; assume 256 KiB on average for the counter count,
	// at 10 counters per item as ristretto advises.
	counters := max(1000, 10*(maxBytes-hotMax)/(256<<10))
	rc, err := ristretto.NewCache(&ristretto.Config[uint64, []byte]{
		NumCounters:        counters,
		MaxCost:            maxBytes - hotMax,
		BufferItems:        64,
		IgnoreInternalCost: true,
		// No entry has a TTL, so ristretto's TTL sweep finds nothing; its
		// ticker (every 2.5 s by default) would only wake an idle process.
		TtlTickerDurationInSec: ttlSweepSeconds,
		OnEvict:                func(*ristretto.Item[[]byte]) { c.evictions.Add(1) },
		OnReject:               func(*ristretto.Item[[]byte]) { c.rejections.Add(1) },
	})
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	c.rc = rc
	return c, nil
}

// Get returns the piece's bytes if present.
func (c *Cache) Get(k Key) ([]byte, bool) {
	key := k.u64()
	c.mu.Lock()
	if el, ok := c.hotIndex[key]; ok {
		c.hot.MoveToFront(el)
		data := el.Value.(*entry).data
		c.mu.Unlock()
		c.hits.Add(1)
		return data, true
	}
	c.mu.Unlock()
	if data, ok := c.rc.Get(key); ok {
		c.hits.Add(1)
		return data, true
	}
	c.misses.Add(1)
	return nil, false
}

// Has reports whether the piece is present, without counting a hit or miss and
// without touching ristretto's admission policy (a ristretto Get counts as an
// access; asking whether a piece is here — stat, du, xattrs, status — must not
// make it look popular). GetTTL looks the key up and nothing else.
func (c *Cache) Has(k Key) bool {
	key := k.u64()
	c.mu.Lock()
	_, ok := c.hotIndex[key]
	c.mu.Unlock()
	if ok {
		return true
	}
	_, ok = c.rc.GetTTL(key)
	return ok
}

// Put stores a verified piece in the hot tier; what falls out of the hot tier moves
// on to ristretto, which may keep or refuse it.
func (c *Cache) Put(k Key, data []byte) {
	key := k.u64()
	size := int64(len(data))
	if size > c.hotMax {
		c.rc.Set(key, data, size)
		return
	}
	var spill []*entry
	c.mu.Lock()
	if el, ok := c.hotIndex[key]; ok {
		c.hot.MoveToFront(el)
		c.mu.Unlock()
		return
	}
	c.hotIndex[key] = c.hot.PushFront(&entry{key: key, data: data})
	c.hotBytes += size
	for c.hotBytes > c.hotMax {
		el := c.hot.Back()
		e := el.Value.(*entry)
		c.hot.Remove(el)
		delete(c.hotIndex, e.key)
		c.hotBytes -= int64(len(e.data))
		spill = append(spill, e)
	}
	c.mu.Unlock()
	for _, e := range spill {
		c.rc.Set(e.key, e.data, int64(len(e.data)))
	}
}

// Drop removes every piece of a torrent from the hot tier and the given pieces from
// ristretto; used when a torrent is removed.
func (c *Cache) Drop(torrent uint32, numPieces int) {
	c.mu.Lock()
	for el := c.hot.Front(); el != nil; {
		next := el.Next()
		e := el.Value.(*entry)
		if uint32(e.key>>32) == torrent {
			c.hot.Remove(el)
			delete(c.hotIndex, e.key)
			c.hotBytes -= int64(len(e.data))
		}
		el = next
	}
	c.mu.Unlock()
	for i := 0; i < numPieces; i++ {
		c.rc.Del(Key{torrent, uint32(i)}.u64())
	}
}

// Stats returns the counters and what is held. Ristretto applies Sets and
// Deletes asynchronously, from buffers, and keeps its count of bytes only as it
// applies them; so Stats first waits for the buffers to drain (normally
// microseconds), which makes HeldBytes exact. It is meant for status pages, never
// for the read path.
func (c *Cache) Stats() Stats {
	var rcBytes int64
	c.closeMu.RLock()
	if !c.closed {
		c.rc.Wait()
		rcBytes = c.rc.MaxCost() - c.rc.RemainingCost()
	}
	c.closeMu.RUnlock()
	c.mu.Lock()
	hb := c.hotBytes
	c.mu.Unlock()
	return Stats{
		Hits: c.hits.Load(), Misses: c.misses.Load(),
		Evictions: c.evictions.Load(), Rejections: c.rejections.Load(),
		HeldBytes: hb + rcBytes, HotBytes: hb, MaxBytes: c.max,
	}
}

// Close releases ristretto's goroutines.
func (c *Cache) Close() {
	c.closeMu.Lock()
	c.closed = true
	c.closeMu.Unlock()
	c.rc.Close()
}
