package storage

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"
)

// flipReader is data whose bytes can be changed after the check.
type flipReader struct{ b []byte }

func (f *flipReader) ReadAt(p []byte, off int64) (int, error) {
	return bytes.NewReader(f.b).ReadAt(p, off)
}

// TestReaderTierHoldsWhatMatches: the check at open is the Layout's (every
// piece hashed); a piece that does not match is not held; Get verifies
// again, and a piece changed since the check is dropped with Evicted; Put is
// refused (read only).
func TestReaderTierHoldsWhatMatches(t *testing.T) {
	tt := makeTorrent(t, 7, 16<<10, 100<<10)
	n := tt.mt.Info.NumPieces
	data := bytes.Clone(tt.data)
	data[tt.mt.Info.PieceOffset(2)] ^= 1 // piece 2 is wrong from the start
	r := &flipReader{b: data}
	ev := newEventLog()
	var hashed atomic.Int64 // the most reported
	rt, chk, err := OpenReader(context.Background(), tt.mt.Info, r, ReaderConfig{Events: ev.events(),
		CheckProgress: func(h, total int) {
			for old := hashed.Load(); int64(h) > old && !hashed.CompareAndSwap(old, int64(h)); old = hashed.Load() {
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if chk.Hashed != n || chk.Valid != n-1 || hashed.Load() != int64(n) {
		t.Fatalf("check %+v, progress %d, want %d hashed and %d valid", chk, hashed.Load(), n, n-1)
	}
	if rt.Has(2) || rt.Complete() || rt.FirstBad() != 2 || rt.Bitfield().Count() != n-1 {
		t.Fatalf("holds piece 2 (%v), complete %v, first bad %d, count %d", rt.Has(2), rt.Complete(), rt.FirstBad(), rt.Bitfield().Count())
	}
	if _, err := rt.Get(2); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(2) = %v, want ErrNotFound", err)
	}
	got, err := rt.Get(1)
	if err != nil || !bytes.Equal(got, tt.piece(1)) {
		t.Fatalf("Get(1): %v, equal %v", err, bytes.Equal(got, tt.piece(1)))
	}
	if rt.Put(2, tt.piece(2)) {
		t.Fatal("a read-only tier took a Put")
	}
	data[tt.mt.Info.PieceOffset(3)+5] ^= 1 // changed behind our back
	if _, err := rt.Get(3); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Get(3) after a change = %v, want ErrCorrupt", err)
	}
	if rt.Has(3) || ev.evicted[3] != 1 {
		t.Fatalf("a piece that failed on read is still held (%v) or not reported evicted (%d)", rt.Has(3), ev.evicted[3])
	}
	if s := rt.Stats(); s.Corrupt != 1 || s.HeldBytes != tt.mt.Info.TotalLength-2*(16<<10) || !s.Degraded {
		t.Fatalf("stats %+v", s)
	}
}

// TestReaderTierShortData: data that ends early holds the pieces before
// the end only.
func TestReaderTierShortData(t *testing.T) {
	tt := makeTorrent(t, 8, 16<<10, 64<<10)
	rt, chk, err := OpenReader(context.Background(), tt.mt.Info, bytes.NewReader(tt.data[:40<<10]), ReaderConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if chk.Valid != 2 || !rt.Has(1) || rt.Has(2) {
		t.Fatalf("check %+v, has 1 %v, has 2 %v", chk, rt.Has(1), rt.Has(2))
	}
}

// TestReaderTierCancel: ctx stops the check.
func TestReaderTierCancel(t *testing.T) {
	tt := makeTorrent(t, 9, 16<<10, 64<<10)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := OpenReader(ctx, tt.mt.Info, bytes.NewReader(tt.data), ReaderConfig{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}
