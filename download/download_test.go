package download

import (
	"bytes"
	"context"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/enginetest"
	"github.com/hyperblow/hyperblow/engine/metainfo"
)

const piece = 16 << 10

// testTorrent: three files whose pieces span them, 90000 bytes, 6 pieces.
func testTorrent(t *testing.T) (*metainfo.Torrent, []byte) {
	mt, all := enginetest.Torrent(t, "tree", piece, []enginetest.File{
		{Path: []string{"a"}, Data: enginetest.RandomBytes(1, 20000)},
		{Path: []string{"sub", "b"}, Data: enginetest.RandomBytes(2, 40000)},
		{Path: []string{"sub", "d", "c"}, Data: enginetest.RandomBytes(3, 30000)},
	})
	return mt, all
}

func TestMissingSegments(t *testing.T) {
	mt, _ := testTorrent(t)
	segs := missingSegments(mt.Info, []bool{true, false, false, true, false, false}, 4)
	want := []segment{{1 * piece, 2 * piece}, {4 * piece, 90000 - 4*piece}}
	if !slices.Equal(segs, want) {
		t.Errorf("segments %v, want %v", segs, want)
	}
	if segs := missingSegments(mt.Info, []bool{true, true, true, true, true, true}, 4); len(segs) != 0 {
		t.Errorf("nothing missing: segments %v", segs)
	}
}

func TestReadBlock(t *testing.T) {
	for pl, want := range map[int64]int{16 << 10: 4 << 20, 3 << 20: 3 << 20, 64 << 20: 64 << 20, 20000: 209 * 20000} {
		if got := readBlock(pl); got != want || int64(got)%pl != 0 {
			t.Errorf("readBlock(%d) = %d, want %d (whole pieces)", pl, got, want)
		}
	}
}

// memSink keeps what it is given.
type memSink struct {
	mu     sync.Mutex
	pieces map[int][]byte
}

func (m *memSink) Write(i int, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, dup := m.pieces[i]; dup {
		panic("a piece written twice")
	}
	m.pieces[i] = bytes.Clone(data)
	return nil
}

// TestMissing: from an in-process seeder, exactly the pieces not held reach
// the sink, whole and right, and written counts their bytes.
func TestMissing(t *testing.T) {
	mt, all := testTorrent(t)
	peer := enginetest.Seed(t, mt, all)
	c, err := engine.NewClient(engine.Config{Listen: "127.0.0.1:0", CacheSize: 8 << 20, Logger: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tor, err := c.AddTorrent(mt, engine.TorrentOptions{Peers: []netip.AddrPort{peer}, NoTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	have := []bool{true, false, false, true, false, false}
	sink := &memSink{pieces: map[int][]byte{}}
	var written atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // bounds a hang, not a speed
	defer cancel()
	if err := Missing(ctx, tor, mt.Info, have, sink, &written); err != nil {
		t.Fatal(err)
	}
	var want int64
	for i, ok := range have {
		got, came := sink.pieces[i]
		if ok == came {
			t.Errorf("piece %d: held %v, written %v", i, ok, came)
		}
		if came {
			off := mt.Info.PieceOffset(i)
			if !bytes.Equal(got, all[off:off+mt.Info.PieceLen(i)]) {
				t.Errorf("piece %d: wrong bytes", i)
			}
			want += mt.Info.PieceLen(i)
		}
	}
	if written.Load() != want {
		t.Errorf("written %d, want %d", written.Load(), want)
	}
}
