package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/metainfo"
)

// ReaderConfig configures a ReaderTier.
type ReaderConfig struct {
	Log    *slog.Logger
	Events Events
	// Verify checks a piece's bytes (default: the info's SHA-1, or a v2
	// torrent's merkle layers).
	Verify func(piece int, data []byte) bool
	// CheckProgress is as LayoutConfig's.
	CheckProgress func(hashed, total int)
}

// ReaderTier is a read-only Tier over a torrent's bytes laid end to end in an
// io.ReaderAt (BEP 47 padding included, as the torrent counts it): an
// in-process seed of data held in memory (the engine's tests) is a torrent
// whose tier holds every piece, as a `hyperblow seed` is one whose tier is a
// read-only Layout. It is checked at open by the code that checks a Layout
// (every piece hashed), holds the pieces that matched, verifies each Get
// again, refuses every Put and never evicts except a piece that fails on
// read.
type ReaderTier struct {
	info *metainfo.Info
	r    io.ReaderAt
	cfg  ReaderConfig
	cnt  counters

	mu   sync.Mutex // guards have
	have bt.Bitfield
}

// OpenReader checks r against the torrent (every piece hashed, in parallel;
// ctx cancels) and returns a tier of the pieces that matched.
func OpenReader(ctx context.Context, info *metainfo.Info, r io.ReaderAt, cfg ReaderConfig) (*ReaderTier, LayoutCheck, error) {
	t := &ReaderTier{info: info, r: r, cfg: cfg, have: bt.NewBitfield(info.NumPieces)}
	if t.cfg.Log == nil {
		t.cfg.Log = slog.New(slog.DiscardHandler)
	}
	t.cnt.degraded.Store(true) // read only: nothing is ever written
	t.cnt.setErr(errors.New("read only"))
	all := make([]int, info.NumPieces)
	for i := range all {
		all[i] = i
	}
	chk := LayoutCheck{Hashed: len(all)}
	err := hashPieces(ctx, all, info.PieceLength, info.PieceLen, t.readPiece, t.verify, cfg.CheckProgress, func(i int) {
		t.have.Set(i)
		chk.Valid++
		chk.HeldBytes += info.PieceLen(i)
	})
	if err != nil {
		return nil, chk, fmt.Errorf("data for %s: %w", info.Name, err)
	}
	t.cnt.held.Store(chk.HeldBytes)
	return t, chk, nil
}

func (t *ReaderTier) readPiece(i int, b []byte) error {
	n, err := t.r.ReadAt(b, t.info.PieceOffset(i))
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = fmt.Errorf("%d bytes of %d: the data ends early", n, len(b))
	}
	return fmt.Errorf("reading piece %d: %w", i, err)
}

func (t *ReaderTier) verify(i int, b []byte) bool {
	if t.cfg.Verify != nil {
		return t.cfg.Verify(i, b)
	}
	return t.info.VerifyPiece(i, b)
}

// FirstBad is the first piece the tier does not hold (-1: it holds all).
func (t *ReaderTier) FirstBad() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := 0; i < t.info.NumPieces; i++ {
		if !t.have.Has(i) {
			return i
		}
	}
	return -1
}

// Put implements Tier: read only, it refuses.
func (t *ReaderTier) Put(int, []byte) bool { return false }

// Get implements Tier: the piece is read and verified again.
func (t *ReaderTier) Get(i int) ([]byte, error) {
	if i < 0 || i >= t.info.NumPieces {
		return nil, fmt.Errorf("data for %s: piece %d out of range [0, %d)", t.info.Name, i, t.info.NumPieces)
	}
	if !t.Has(i) {
		t.cnt.misses.Add(1)
		return nil, ErrNotFound
	}
	b := make([]byte, t.info.PieceLen(i))
	err := t.readPiece(i, b)
	if err == nil && !t.verify(i, b) {
		err = errors.New("the bytes do not match the piece's hash (changed since it was checked?)")
	}
	if err != nil {
		t.cfg.Log.Warn("data: a piece is no longer valid; it is not offered any more", "piece", i, "err", err)
		t.mu.Lock()
		had := t.have.Has(i)
		t.have.Clear(i)
		t.mu.Unlock()
		if had {
			t.cnt.corrupt.Add(1)
			t.cnt.held.Add(-t.info.PieceLen(i))
			t.cfg.Events.evicted(i)
		}
		t.cnt.misses.Add(1)
		return nil, fmt.Errorf("%w: piece %d of %s: %v", ErrCorrupt, i, t.info.Name, err)
	}
	t.cnt.hits.Add(1)
	return b, nil
}

// ReadAt implements Tier.
func (t *ReaderTier) ReadAt(i int, p []byte, off int64) (int, error) {
	d, err := t.Get(i)
	if err != nil {
		return 0, err
	}
	return copyAt(d, p, off)
}

// Has implements Tier.
func (t *ReaderTier) Has(i int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.have.Has(i)
}

// Bitfield implements Tier.
func (t *ReaderTier) Bitfield() bt.Bitfield {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.have.Clone()
}

// Complete reports whether every piece is held. A ReaderTier keeps what it
// holds, as a Layout does.
func (t *ReaderTier) Complete() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.have.Full()
}

// Stats implements Tier.
func (t *ReaderTier) Stats() Stats { return t.cnt.snapshot() }

// Close implements Tier; the reader is the caller's to close.
func (t *ReaderTier) Close() error { return nil }

var _ Tier = (*ReaderTier)(nil)
