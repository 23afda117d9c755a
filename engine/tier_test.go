package engine_test

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/enginetest"
	"github.com/hyperblow/hyperblow/engine/metainfo"
	"github.com/hyperblow/hyperblow/engine/storage"
	"github.com/hyperblow/hyperblow/engine/wire"
)

func openDiskCache(t *testing.T, dir string) *storage.DiskCache {
	t.Helper()
	dc, err := storage.OpenDiskCache(storage.DiskCacheConfig{Dir: dir, MaxBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return dc
}

// diskClient starts a client with a disk tier in dir and adds mt, dialling
// peers; closing the client closes the tier (the cache folder stays).
func diskClient(t *testing.T, mt *metainfo.Torrent, dir string, peers ...netip.AddrPort) (*engine.Client, *engine.Torrent, *storage.DiskCache) {
	t.Helper()
	dc := openDiskCache(t, dir)
	c, tor := enginetest.Leecher(t, mt, engine.Config{DiskCache: dc, CacheSize: 8 << 20}, peers...)
	t.Cleanup(func() { dc.Close() })
	return c, tor, dc
}

// A piece read once is on disk after Flush, and a new client on the same cache
// folder, with no peer at all, reads the whole file from it: 0 bytes fetched,
// every piece a disk hit, every piece had from the start (resume).
func TestDiskTierResumeFetchesNothing(t *testing.T) {
	data := enginetest.RandomBytes(21, 3<<20+4321)
	mt, all := enginetest.Torrent(t, "resume.bin", 256<<10, []enginetest.File{{Data: data}})
	seeder := enginetest.Seed(t, mt, all)
	dir := t.TempDir()
	c1, tor1, dc1 := diskClient(t, mt, dir, seeder)
	if got := readAll(t, tor1, mt.Info.Files[0], 128<<10); !bytes.Equal(got, data) {
		t.Fatal("first read: bytes differ from the source")
	}
	dc1.Flush()
	st := tor1.Stats()
	n := mt.Info.NumPieces
	if st.Tier.Disk.Writes != int64(n) || !st.Tier.HasDisk {
		t.Fatalf("after Flush the disk tier wrote %d pieces (tier %+v), want %d", st.Tier.Disk.Writes, st.Tier, n)
	}
	c1.Close()
	dc1.Close()

	c2, tor2, _ := diskClient(t, mt, dir) // no peers: only the disk can serve
	_ = c2
	if st := tor2.Stats(); st.PiecesHave != n {
		t.Fatalf("a new client on the same cache has %d pieces at start, want %d", st.PiecesHave, n)
	}
	if held, _ := tor2.PiecesHeld(0, n); held != n { // what du and the xattrs show
		t.Fatalf("PiecesHeld = %d before any read, want the %d pieces on disk", held, n)
	}
	if got := readAll(t, tor2, mt.Info.Files[0], 128<<10); !bytes.Equal(got, data) {
		t.Fatal("second client: bytes differ from the source")
	}
	st = tor2.Stats()
	if st.Downloaded != 0 || st.Tier.DiskHits < int64(n) {
		t.Fatalf("second client downloaded %d bytes with %d disk hits; want 0 bytes and at least %d hits", st.Downloaded, st.Tier.DiskHits, n)
	}
}

// A piece file changed behind our back is never served: the reader gets the
// right bytes, fetched again from the swarm, and only that piece is fetched.
func TestDiskTierCorruptPieceRefetched(t *testing.T) {
	data := enginetest.RandomBytes(22, 2<<20)
	const plen = 256 << 10
	mt, all := enginetest.Torrent(t, "corrupt.bin", plen, []enginetest.File{{Data: data}})
	seeder := enginetest.Seed(t, mt, all)
	dir := t.TempDir()
	c1, tor1, dc1 := diskClient(t, mt, dir, seeder)
	readAll(t, tor1, mt.Info.Files[0], 128<<10)
	dc1.Flush()
	c1.Close()
	dc1.Close()

	const bad = 3
	p := filepath.Join(dir, mt.InfoHash.String(), strconv.Itoa(bad))
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-100] ^= 0xff // a byte of the piece, not of its header
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, tor2, _ := diskClient(t, mt, dir, seeder)
	if got := readAll(t, tor2, mt.Info.Files[0], 128<<10); !bytes.Equal(got, data) {
		t.Fatal("bytes differ from the source after a piece file was corrupted")
	}
	st := tor2.Stats()
	if st.Downloaded != plen || st.Tier.Disk.Corrupt != 1 {
		t.Fatalf("downloaded %d bytes, %d corrupt pieces; want exactly the one piece (%d bytes), 1 corrupt", st.Downloaded, st.Tier.Disk.Corrupt, plen)
	}
}

// gateTier is an in-memory tier whose writes land only when the test says:
// it shows when the engine advertises a piece.
type gateTier struct {
	ev   storage.Events
	puts chan int

	mu     sync.Mutex
	pieces map[int][]byte // stored
	queued map[int][]byte
	n      int
}

func newGateTier(n int) func(storage.Events) (storage.Tier, error) {
	return func(ev storage.Events) (storage.Tier, error) {
		return &gateTier{ev: ev, n: n, puts: make(chan int, n), pieces: map[int][]byte{}, queued: map[int][]byte{}}, nil
	}
}

func (g *gateTier) Put(i int, d []byte) bool {
	g.mu.Lock()
	g.queued[i] = d
	g.mu.Unlock()
	g.puts <- i
	return true
}

func (g *gateTier) store(i int) {
	g.mu.Lock()
	g.pieces[i] = g.queued[i]
	delete(g.queued, i)
	g.mu.Unlock()
	g.ev.Stored(i)
}

func (g *gateTier) evict(i int) {
	g.mu.Lock()
	delete(g.pieces, i)
	g.mu.Unlock()
	g.ev.Evicted(i)
}

func (g *gateTier) Get(i int) ([]byte, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if d, ok := g.pieces[i]; ok {
		return d, nil
	}
	return nil, storage.ErrNotFound
}

func (g *gateTier) ReadAt(i int, p []byte, off int64) (int, error) {
	d, err := g.Get(i)
	if err != nil {
		return 0, err
	}
	return copy(p, d[off:]), nil
}

func (g *gateTier) Has(i int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, ok := g.pieces[i]
	return ok
}

func (g *gateTier) Bitfield() bt.Bitfield {
	g.mu.Lock()
	defer g.mu.Unlock()
	bf := bt.NewBitfield(g.n)
	for i := range g.pieces {
		bf.Set(i)
	}
	return bf
}

func (g *gateTier) Stats() storage.Stats { return storage.Stats{} }
func (g *gateTier) Close() error         { return nil }

// With a disk tier, HAVE goes out when the tier has stored a piece, not when
// it verified; a piece the tier evicts is not in a new peer's bitfield.
func TestHaveOnlyAfterStored(t *testing.T) {
	data := enginetest.RandomBytes(23, 1<<20)
	mt, all := enginetest.Torrent(t, "have.bin", 256<<10, []enginetest.File{{Data: data}})
	seeder := enginetest.Seed(t, mt, all)
	c, err := engine.NewClient(engine.Config{Listen: "127.0.0.1:0", Logger: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var gate *gateTier
	open := newGateTier(mt.Info.NumPieces)
	tor, err := c.AddTorrent(mt, engine.TorrentOptions{Peers: []netip.AddrPort{seeder}, NoTrackers: true,
		OpenTier: func(_ *metainfo.Torrent, ev storage.Events) (storage.Tier, error) {
			st, err := open(ev)
			gate = st.(*gateTier)
			return st, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	fp := enginetest.DialFake(t, c.ListenAddr(), mt, wire.Reserved{}.WithFast())
	fp.Send(wire.Message{ID: wire.HaveNone})
	if msgs, ok := fp.Expect(10*time.Second, func(m wire.Message) bool { return m.ID == wire.HaveNone }); !ok {
		t.Fatalf("want HAVE_NONE from a client whose tier is empty, got %v", msgs)
	}
	// Read piece 0: it verifies, and the reader has it before the tier stores it.
	r := tor.NewReader(mt.Info.Files[0])
	defer r.Close()
	buf := make([]byte, 1000)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := r.ReadAt(ctx, buf, 0); err != nil {
		t.Fatal(err)
	}
	for i := range gate.puts { // readahead may verify others first
		if i == 0 {
			break
		}
	}
	// The owner has handled the verification (the read returned after it). A
	// request now is answered after anything the verification sent: no HAVE
	// may come before the answer.
	fp.Send(wire.Message{ID: wire.Request, Index: 0, Begin: 0, Length: bt.BlockSize})
	msgs, ok := fp.Expect(10*time.Second, func(m wire.Message) bool {
		return (m.ID == wire.Reject || m.ID == wire.Piece) && m.Index == 0
	})
	if !ok {
		t.Fatalf("no answer to a request: %v", msgs)
	}
	for _, m := range msgs {
		if m.ID == wire.Have {
			t.Fatalf("HAVE %d sent before the tier stored it: %v", m.Index, msgs)
		}
	}
	gate.store(0)
	if msgs, ok := fp.Expect(10*time.Second, func(m wire.Message) bool { return m.ID == wire.Have && m.Index == 0 }); !ok {
		t.Fatalf("no HAVE 0 after the tier stored it: %v", msgs)
	}
	// Evicted from the tier: a new peer is not told (though RAM still has it).
	gate.evict(0)
	tor.Stats() // the eviction is handled: it was sent to the owner before this
	fp2 := enginetest.DialFake(t, c.ListenAddr(), mt, wire.Reserved{}.WithFast())
	fp2.Send(wire.Message{ID: wire.HaveNone})
	msgs, ok = fp2.Expect(10*time.Second, func(m wire.Message) bool {
		return m.ID == wire.HaveNone || m.ID == wire.Bitfield || m.ID == wire.HaveAll
	})
	if !ok || msgs[len(msgs)-1].ID != wire.HaveNone {
		t.Fatalf("a new peer after the eviction got %v; want HAVE_NONE", msgs)
	}
	if st := tor.Stats(); st.Tier.Advertised != 0 {
		t.Fatalf("advertised %d pieces after the eviction, want 0", st.Tier.Advertised)
	}
}

// With RAM only, a peer that keeps asking for pieces we no longer hold gets
// REJECTs, and after rejectsBeforeReset (32) of them its connection is closed
// (its next one gets a true bitfield); what a new peer is told is what RAM
// holds.
func TestUnheldRequestsResetThePeer(t *testing.T) {
	const plen = 256 << 10
	data := enginetest.RandomBytes(24, 16<<20)
	mt, all := enginetest.Torrent(t, "evict.bin", plen, []enginetest.File{{Data: data}})
	seeder := enginetest.Seed(t, mt, all)
	c, err := engine.NewClient(engine.Config{Listen: "127.0.0.1:0", CacheSize: 2 << 20, Logger: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	tor, err := c.AddTorrent(mt, engine.TorrentOptions{Peers: []netip.AddrPort{seeder}, NoTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, tor, mt.Info.Files[0], 128<<10) // 16 MiB through 2 MiB of RAM
	fp := enginetest.DialFake(t, c.ListenAddr(), mt, wire.Reserved{}.WithFast())
	fp.Send(wire.Message{ID: wire.HaveNone}, wire.Message{ID: wire.Interested})
	msgs, ok := fp.Expect(10*time.Second, func(m wire.Message) bool { return m.ID == wire.Unchoke })
	if !ok {
		t.Fatalf("not unchoked: %v", msgs)
	}
	var adv bt.Bitfield
	for _, m := range msgs {
		if m.ID == wire.Bitfield {
			adv, _ = bt.BitfieldFromBytes(m.Payload, mt.Info.NumPieces)
		}
	}
	if adv.Len() > 0 && adv.Count() > (2<<20)/plen {
		t.Fatalf("told a new peer of %d pieces with RAM for %d", adv.Count(), (2<<20)/plen)
	}
	// Ask for every block of pieces not advertised (all held once, most
	// evicted since): 64 requests.
	var reqs []wire.Message
	for i := 0; i < mt.Info.NumPieces && len(reqs) < 64; i++ {
		if adv.Len() > 0 && adv.Has(i) {
			continue
		}
		for b := 0; b < plen/bt.BlockSize && len(reqs) < 64; b++ {
			reqs = append(reqs, wire.Message{ID: wire.Request, Index: uint32(i), Begin: uint32(b * bt.BlockSize), Length: bt.BlockSize})
		}
	}
	fp.Send(reqs...)
	rejects := 0
	msgs, _ = fp.Expect(10*time.Second, func(m wire.Message) bool {
		if m.ID == wire.Reject {
			rejects++
		}
		return false // read until the connection closes
	})
	st := tor.Stats().Tier
	if rejects > 32 || st.PeersReset != 1 || st.RejectedRequests > 32 || st.RejectedRequests < int64(rejects) {
		t.Fatalf("%d rejects before the connection ended; tier stats %+v; want at most 32, then a reset (last messages %v)", rejects, st, tail(msgs))
	}
	if !fp.WaitClosed(10 * time.Second) {
		t.Fatal("the connection was not closed")
	}
}
