package engine_test

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/enginetest"
	"github.com/hyperblow/hyperblow/engine/metainfo"
	"github.com/hyperblow/hyperblow/engine/storage"
	"github.com/hyperblow/hyperblow/engine/wire"
)

// layoutTier opens the torrent's files under dir as its tier, as --data does;
// complete is closed once the Layout holds every piece.
func layoutTier(t *testing.T, dir string, cfg storage.LayoutConfig) (open func(*metainfo.Torrent, storage.Events) (storage.Tier, error), complete <-chan struct{}, lay **storage.Layout) {
	done := make(chan struct{})
	var l *storage.Layout
	return func(mt *metainfo.Torrent, ev storage.Events) (storage.Tier, error) {
		stored := ev.Stored
		closed := false
		ev.Stored = func(i int) {
			stored(i)
			if !closed && l.Complete() { // the writer goroutine: one at a time
				closed = true
				close(done)
			}
		}
		cfg.Events = ev
		var err error
		l, _, err = storage.OpenLayout(context.Background(), mt.InfoHash, mt.Info, dir, cfg)
		if err == nil && l.Complete() {
			closed = true
			close(done)
		}
		return l, err
	}, done, &l
}

// A --data torrent that fetches only what is read is a partial seed
// (upload_only to a leecher); once every piece is read it is a full seed: it
// takes upload_only back, its files are the torrent's, and a new peer is told
// it has everything.
func TestDataTierBecomesSeed(t *testing.T) {
	data := enginetest.RandomBytes(31, 8*16<<10)
	mt, _ := enginetest.Torrent(t, "data.bin", 16<<10, []enginetest.File{{Data: data}})
	seeder := enginetest.Seed(t, mt, data)
	dir := t.TempDir()
	open, complete, _ := layoutTier(t, dir, storage.LayoutConfig{})
	c, err := engine.NewClient(engine.Config{Listen: "127.0.0.1:0", CacheSize: 4 << 20, Fetch: engine.FetchLazy, Logger: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	tor, err := c.AddTorrent(mt, engine.TorrentOptions{NoTrackers: true, OpenTier: open})
	if err != nil {
		t.Fatal(err)
	}
	reserved := wire.Reserved{}.WithExtended().WithFast()
	hello := wire.Message{ID: wire.Extended, ExtID: wire.ExtHandshakeID,
		Payload: wire.AppendExtHandshake(nil, wire.ExtHandshake{M: map[string]uint8{wire.ExtMetadata: 2}, V: "fake"})}
	fp := enginetest.DialFake(t, c.ListenAddr(), mt, reserved)
	if _, ok := nextExtHandshake(t, fp, 5*time.Second); !ok {
		t.Fatal("no extension handshake")
	}
	fp.Send(hello, wire.Message{ID: wire.HaveNone})
	if h, ok := nextExtHandshake(t, fp, 5*time.Second); !ok || !h.UploadOnly {
		t.Fatalf("a partial --data mount to a leecher: %+v, %v; want upload_only", h, ok)
	}
	tor.AddPeers([]netip.AddrPort{seeder})
	r := tor.NewReader(mt.Info.Files[0])
	defer r.Close()
	got := make([]byte, len(data))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := r.ReadAt(ctx, got, 0); err != nil {
		t.Fatal(err)
	}
	if h, ok := nextExtHandshake(t, fp, 10*time.Second); !ok || h.UploadOnly {
		t.Fatalf("complete: %+v, %v; want upload_only taken back", h, ok)
	}
	select {
	case <-complete:
	case <-ctx.Done():
		t.Fatal("the files never held every piece")
	}
	if b, err := os.ReadFile(filepath.Join(dir, "data.bin")); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("the torrent's file: %v; want the torrent's bytes", err)
	}
	fp2 := enginetest.DialFake(t, c.ListenAddr(), mt, reserved)
	fp2.Send(wire.Message{ID: wire.HaveNone})
	if msgs, ok := fp2.Expect(10*time.Second, func(m wire.Message) bool { return m.ID == wire.HaveAll }); !ok {
		t.Fatalf("a new peer of the complete --data torrent got %v; want HAVE_ALL", msgs)
	}
}

// --fetch all with a --data tier fills the files with no reader, and never
// announces upload_only.
func TestDataTierFetchAll(t *testing.T) {
	data := enginetest.RandomBytes(32, 40*16<<10+5)
	mt, _ := enginetest.Torrent(t, "all.bin", 16<<10, []enginetest.File{{Data: data}})
	seeder := enginetest.Seed(t, mt, data)
	dir := t.TempDir()
	// A queue of one piece: most Puts are refused at first, and handed again.
	open, complete, _ := layoutTier(t, dir, storage.LayoutConfig{QueueBytes: 1})
	c, err := engine.NewClient(engine.Config{Listen: "127.0.0.1:0", CacheSize: 4 << 20, Fetch: engine.FetchAll, Logger: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.AddTorrent(mt, engine.TorrentOptions{NoTrackers: true, OpenTier: open, Peers: []netip.AddrPort{seeder}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-complete:
	case <-time.After(60 * time.Second):
		t.Fatal("--fetch all never completed the files")
	}
	if b, err := os.ReadFile(filepath.Join(dir, "all.bin")); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("the torrent's file: %v; want the torrent's bytes", err)
	}
}

// seed: an upload-only torrent over a read-only Layout of partial data offers
// what the files hold and nothing else, is never interested, and serves a held
// piece.
func TestSeedPartialData(t *testing.T) {
	data := enginetest.RandomBytes(33, 8*16<<10)
	mt, _ := enginetest.Torrent(t, "part.bin", 16<<10, []enginetest.File{{Data: data}})
	dir := t.TempDir()
	part := bytes.Clone(data)
	part[5*16<<10+7] ^= 1                                                                        // piece 5 does not match
	if err := os.WriteFile(filepath.Join(dir, "part.bin"), part[:7*16<<10], 0o644); err != nil { // piece 7 missing
		t.Fatal(err)
	}
	open, _, _ := layoutTier(t, dir, storage.LayoutConfig{ReadOnly: true})
	c, err := engine.NewClient(engine.Config{Listen: "127.0.0.1:0", CacheSize: 4 << 20, Logger: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.AddTorrent(mt, engine.TorrentOptions{NoTrackers: true, OpenTier: open, UploadOnly: true}); err != nil {
		t.Fatal(err)
	}
	fp := enginetest.DialFake(t, c.ListenAddr(), mt, wire.Reserved{}.WithExtended().WithFast())
	msgs, ok := fp.Expect(10*time.Second, func(m wire.Message) bool { return m.ID == wire.Bitfield })
	if !ok {
		t.Fatalf("no bitfield: %v", msgs)
	}
	bf, err := bt.BitfieldFromBytes(msgs[len(msgs)-1].Payload, mt.Info.NumPieces)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < mt.Info.NumPieces; i++ {
		if want := i != 5 && i != 7; bf.Has(i) != want {
			t.Errorf("piece %d advertised %v, want %v", i, bf.Has(i), want)
		}
	}
	fp.Send(wire.Message{ID: wire.Bitfield, Payload: bt.NewBitfield(mt.Info.NumPieces).Bytes()}, wire.Message{ID: wire.Interested})
	msgs, ok = fp.Expect(10*time.Second, func(m wire.Message) bool { return m.ID == wire.Unchoke })
	if !ok {
		t.Fatalf("not unchoked: %v", msgs)
	}
	fp.Send(wire.Message{ID: wire.Request, Index: 2, Begin: 0, Length: bt.BlockSize},
		wire.Message{ID: wire.Request, Index: 5, Begin: 0, Length: bt.BlockSize})
	var gotPiece, gotReject bool
	msgs, _ = fp.Expect(10*time.Second, func(m wire.Message) bool {
		gotPiece = gotPiece || m.ID == wire.Piece && m.Index == 2 && bytes.Equal(m.Payload, data[2*16<<10:3*16<<10])
		gotReject = gotReject || m.ID == wire.Reject && m.Index == 5
		return gotPiece && gotReject
	})
	if !gotPiece || !gotReject {
		t.Fatalf("want piece 2 served and piece 5 rejected: %v", msgs)
	}
	for _, m := range msgs {
		if m.ID == wire.Interested || m.ID == wire.Request {
			t.Fatalf("an upload-only seed sent %v", m)
		}
	}
}

// refusingTier keeps every piece (it has Complete, as a Layout does) but
// refuses every Put until opened: a write-behind queue that stays full.
type refusingTier struct {
	ev       storage.Events
	n        int
	open     atomic.Bool
	done     chan struct{}
	mu       sync.Mutex
	pieces   map[int][]byte
	refusals atomic.Int64
}

func (r *refusingTier) Put(i int, d []byte) bool {
	if !r.open.Load() {
		r.refusals.Add(1)
		return false
	}
	r.mu.Lock()
	_, had := r.pieces[i]
	r.pieces[i] = d
	full := len(r.pieces) == r.n
	r.mu.Unlock()
	if !had {
		r.ev.Stored(i)
		if full {
			close(r.done)
		}
	}
	return true
}

func (r *refusingTier) Get(i int) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if d, ok := r.pieces[i]; ok {
		return d, nil
	}
	return nil, storage.ErrNotFound
}

func (r *refusingTier) ReadAt(i int, p []byte, off int64) (int, error) {
	d, err := r.Get(i)
	if err != nil {
		return 0, err
	}
	return copy(p, d[off:]), nil
}

func (r *refusingTier) Has(i int) bool { _, err := r.Get(i); return err == nil }

func (r *refusingTier) Bitfield() bt.Bitfield {
	r.mu.Lock()
	defer r.mu.Unlock()
	bf := bt.NewBitfield(r.n)
	for i := range r.pieces {
		bf.Set(i)
	}
	return bf
}

func (r *refusingTier) Complete() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pieces) == r.n
}

func (r *refusingTier) Stats() storage.Stats { return storage.Stats{} }
func (r *refusingTier) Close() error         { return nil }

// A keeping tier that refused pieces while RAM could not hold them all still
// ends with every piece: those still in RAM are handed again, the others are
// fetched again (--fetch all), and none is lost. With the torrent holding no
// refused bytes for the tier (SetTierHoldBytes(0)), some must be fetched again;
// with the default hold, none (held, then handed again).
func TestDataTierRefetchesEvicted(t *testing.T) {
	defer engine.SetTierHoldBytes(0)()
	if st := refusedThenOpened(t); st.Downloaded <= 3<<20 {
		t.Fatalf("downloaded %d bytes of %d: nothing was fetched again, yet 1 MiB of RAM cannot hold 3 MiB", st.Downloaded, 3<<20)
	}
}

func TestDataTierHoldsRefusedPieces(t *testing.T) {
	if st := refusedThenOpened(t); st.Downloaded != 3<<20 {
		t.Fatalf("downloaded %d bytes of %d: pieces the tier refused were fetched again", st.Downloaded, 3<<20)
	}
}

// refusedThenOpened downloads 3 MiB through 1 MiB of RAM (FetchAll) into a
// tier that refuses every piece until all have verified, then takes them; it
// returns the torrent's stats once the tier holds every piece, right.
func refusedThenOpened(t *testing.T) engine.Stats {
	data := enginetest.RandomBytes(34, 3<<20)
	mt, _ := enginetest.Torrent(t, "refetch.bin", 64<<10, []enginetest.File{{Data: data}})
	seeder := enginetest.Seed(t, mt, data)
	rt := &refusingTier{n: mt.Info.NumPieces, done: make(chan struct{}), pieces: map[int][]byte{}}
	c, err := engine.NewClient(engine.Config{Listen: "127.0.0.1:0", CacheSize: 1 << 20, Fetch: engine.FetchAll, Logger: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	tor, err := c.AddTorrent(mt, engine.TorrentOptions{NoTrackers: true, Peers: []netip.AddrPort{seeder},
		OpenTier: func(_ *metainfo.Torrent, ev storage.Events) (storage.Tier, error) { rt.ev = ev; return rt, nil }})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for tor.Stats().PiecesHave < mt.Info.NumPieces {
		if time.Now().After(deadline) {
			t.Fatalf("not every piece verified: %+v", tor.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	rt.open.Store(true)
	select {
	case <-rt.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("the tier never got every piece: %v of %d; torrent %+v", rt.Bitfield(), mt.Info.NumPieces, tor.Stats())
	}
	for i := 0; i < mt.Info.NumPieces; i++ {
		d, _ := rt.Get(i)
		if !bytes.Equal(d, data[mt.Info.PieceOffset(i):mt.Info.PieceOffset(i)+mt.Info.PieceLen(i)]) {
			t.Fatalf("piece %d in the tier is not the torrent's", i)
		}
	}
	st := tor.Stats()
	t.Logf("refused %d Puts; downloaded %d bytes of %d", rt.refusals.Load(), st.Downloaded, mt.Info.TotalLength)
	return st
}
