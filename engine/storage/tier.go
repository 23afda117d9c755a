package storage

import (
	"errors"
	"sync/atomic"

	"github.com/hyperblow/hyperblow/engine/bt"
)

// ErrNotFound means the tier does not hold the piece: look further (the swarm).
var ErrNotFound = errors.New("storage: piece not held")

// ErrCorrupt means the tier held the piece but its bytes no longer match their
// hash (torn by a crash, changed behind our back, bad disk). The piece has been
// dropped from the tier and the Evicted event fired; fetch it again.
var ErrCorrupt = errors.New("storage: piece failed verification on read")

// Tier is one torrent's verified-piece store below the RAM cache: a bounded disk
// cache (DiskCache.Torrent) or the torrent's own files (Layout). Every method is
// safe for concurrent use; none waits for a disk write.
type Tier interface {
	// Put hands a verified piece to the write-behind queue and returns at once.
	// It reports false when the write was not queued: the queue is full (the
	// piece is dropped, never waited for), the tier is degraded to read-only,
	// the piece is held already, or data has the wrong length. The slice must
	// not be modified afterwards (the engine's verified buffers are immutable).
	Put(piece int, data []byte) bool
	// Get returns the whole piece, verified against its hash on this read, or
	// ErrNotFound, or ErrCorrupt (the piece is then dropped), or an I/O error.
	// A piece still in the write-behind queue is served from memory.
	Get(piece int) ([]byte, error)
	// ReadAt copies len(p) bytes of the piece from off; it verifies the whole
	// piece, as Get does (so prefer Get and keep the piece in the RAM cache).
	ReadAt(piece int, p []byte, off int64) (int, error)
	// Has reports whether the piece is stored (written, not merely queued).
	Has(piece int) bool
	// Bitfield returns a copy of what is stored: what a peer may be told we have.
	Bitfield() bt.Bitfield
	// Stats returns this torrent's counters.
	Stats() Stats
	// Close flushes the queue and releases the torrent's files and locks.
	Close() error
}

// Events tell the engine what entered and what left a tier. They are called from
// the tier's writer goroutine (or from a reader that found a piece corrupt),
// perhaps while the cache folder is locked: they must not block and must not
// call the store. Forward them to the owner goroutine over a buffered channel,
// or set an atomic flag. Nil functions are skipped.
type Events struct {
	// Stored: the piece is on disk (for DiskCache: written and renamed into
	// place; its fsync comes later, in a batch, and a power cut before it
	// costs a re-fetch, never a wrong byte). With a disk tier, this is when
	// to send HAVE.
	Stored func(piece int)
	// Evicted: the piece left the tier (LRU eviction, found corrupt or missing
	// on read). Stop advertising it to new peers and reject requests for it.
	Evicted func(piece int)
}

func (e Events) stored(i int) {
	if e.Stored != nil {
		e.Stored(i)
	}
}

func (e Events) evicted(i int) {
	if e.Evicted != nil {
		e.Evicted(i)
	}
}

// Stats are cumulative counters and what a tier holds now.
type Stats struct {
	// HeldBytes is the piece bytes stored: for a torrent, its pieces; for
	// DiskCache.Stats, the size of the folder's piece files (64-byte headers
	// included), every torrent and every process sharing it, as of the last
	// scan plus what this process wrote since.
	HeldBytes   int64
	MaxBytes    int64 // the bound (0 for a Layout: never evicted)
	QueuedBytes int64 // verified bytes waiting in the write-behind queue
	Hits        int64 // Get/ReadAt served
	Misses      int64 // Get/ReadAt of a piece not held
	Writes      int64 // pieces written
	WriteErrors int64
	Dropped     int64 // Puts refused: queue full or degraded
	Evictions   int64 // pieces evicted to stay within MaxBytes
	Corrupt     int64 // pieces that failed verification on read and were dropped
	Degraded    bool  // writes stopped after an error (read-only folder, full disk, ...)
	LastError   string
}

// counters is the atomic form of Stats.
type counters struct {
	held, hits, misses, writes, writeErrors, dropped, evictions, corrupt atomic.Int64
	degraded                                                             atomic.Bool
	lastErr                                                              atomic.Pointer[string]
}

func (c *counters) snapshot() Stats {
	s := Stats{
		HeldBytes: c.held.Load(), Hits: c.hits.Load(), Misses: c.misses.Load(),
		Writes: c.writes.Load(), WriteErrors: c.writeErrors.Load(), Dropped: c.dropped.Load(),
		Evictions: c.evictions.Load(), Corrupt: c.corrupt.Load(), Degraded: c.degraded.Load(),
	}
	if e := c.lastErr.Load(); e != nil {
		s.LastError = *e
	}
	return s
}

func (c *counters) setErr(err error) {
	s := err.Error()
	c.lastErr.Store(&s)
}
