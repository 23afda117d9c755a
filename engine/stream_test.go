package engine_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/enginetest"
	"github.com/hyperblow/hyperblow/engine/metainfo"
	"github.com/hyperblow/hyperblow/engine/wire"
)

// unchokingSeed starts a leecher of a one-file torrent of data and a fake
// peer, fp, that has every piece and unchokes it (it answers nothing unless
// the test makes it).
func unchokingSeed(t *testing.T, name string, pieceLen int64, data []byte) (*metainfo.Torrent, *engine.Torrent, *enginetest.FakePeer) {
	t.Helper()
	mt, _ := enginetest.Torrent(t, name, pieceLen, []enginetest.File{{Data: data}})
	c, tor := enginetest.Leecher(t, mt, engine.Config{Listen: "127.0.0.1:0", CacheSize: 64 << 20})
	fp := enginetest.DialFake(t, c.ListenAddr(), mt, wire.Reserved{})
	full := bt.NewBitfield(mt.Info.NumPieces)
	full.SetAll()
	fp.Send(wire.Message{ID: wire.Bitfield, Payload: full.Bytes()}, wire.Message{ID: wire.Unchoke})
	return mt, tor, fp
}

// silentPeerReader starts a leecher of a 16 MiB torrent (64 KiB pieces) whose
// one peer, fp, has every piece, unchokes, and never answers a request; read
// reads 128 KiB at off through one Reader, giving up after 300 ms.
func silentPeerReader(t *testing.T, seed byte) (fp *enginetest.FakePeer, tor *engine.Torrent, read func(off int64)) {
	t.Helper()
	mt, tor, fp := unchokingSeed(t, "silent.bin", 64<<10, enginetest.RandomBytes(seed, 16<<20))
	r := tor.NewReader(mt.Info.Files[0])
	t.Cleanup(func() { r.Close() })
	read = func(off int64) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		r.ReadAt(ctx, make([]byte, 128<<10), off) // the peer never answers: it times out
	}
	return fp, tor, read
}

func readerWindow(t *testing.T, tor *engine.Torrent) int64 {
	t.Helper()
	rs := tor.Stats().Readers
	if len(rs) != 1 {
		t.Fatalf("%d readers in stats, want 1", len(rs))
	}
	return rs[0].WindowBytes
}

// seededReader starts a leecher of a 48 MiB file (256 KiB pieces, a 32 MiB
// readahead cap) from a Hyperblow seeder, and a reader of it; ctx bounds the
// test's reads.
func seededReader(t *testing.T, seed byte) ([]byte, *engine.Torrent, *engine.Reader, context.Context) {
	t.Helper()
	data := enginetest.RandomBytes(seed, 48<<20)
	mt, all := enginetest.Torrent(t, "v.bin", 256<<10, []enginetest.File{{Data: data}})
	_, tor := enginetest.Leecher(t, mt, engine.Config{CacheSize: 256 << 20, Readahead: 32 << 20}, enginetest.Seed(t, mt, all))
	r := tor.NewReader(mt.Info.Files[0])
	t.Cleanup(func() { r.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return data, tor, r, ctx
}

// The readahead window grows while reads are sequential and collapses on a seek.
func TestWindowGrowsAndCollapsesOnSeek(t *testing.T) {
	_, tor, r, ctx := seededReader(t, 11)
	buf := make([]byte, 128<<10)
	if _, err := r.ReadAt(ctx, buf, 0); err != nil {
		t.Fatal(err)
	}
	first := readerWindow(t, tor)
	for off := int64(len(buf)); off < 8<<20; off += int64(len(buf)) {
		if _, err := r.ReadAt(ctx, buf, off); err != nil {
			t.Fatal(err)
		}
	}
	grown := readerWindow(t, tor)
	if grown < 4*first {
		t.Fatalf("window after 8 MiB of sequential reads: %d bytes; first %d: it should grow", grown, first)
	}
	if _, err := r.ReadAt(ctx, buf, 40<<20); err != nil {
		t.Fatal(err)
	}
	after := readerWindow(t, tor)
	if after >= grown/2 {
		t.Fatalf("window after a seek: %d bytes, was %d: it should collapse", after, grown)
	}
	// Slightly out of order reads inside the window are not seeks.
	if _, err := r.ReadAt(ctx, buf, 40<<20+512<<10); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadAt(ctx, buf, 40<<20+256<<10); err != nil {
		t.Fatal(err)
	}
	if w := readerWindow(t, tor); w < after {
		t.Fatalf("window %d after out-of-order reads, %d right after the seek: they were taken for seeks", w, after)
	}
}

// Requests for a region the reader left are cancelled (CANCEL on the wire).
func TestSeekCancelsAbandonedRequests(t *testing.T) {
	data := enginetest.RandomBytes(12, 16<<20)
	mt, tor, fp := unchokingSeed(t, "v.bin", 64<<10, data)
	r := tor.NewReader(mt.Info.Files[0])
	defer r.Close()
	// A read at 4 MiB (past the head that opening primes): the peer, which never
	// answers, is asked for its pieces.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	r.ReadAt(ctx, make([]byte, 4096), 4<<20)
	cancel()
	firstPiece := uint32((4 << 20) / (64 << 10))
	if _, ok := fp.Expect(5*time.Second, func(m wire.Message) bool { return m.ID == wire.Request && m.Index == firstPiece }); !ok {
		t.Fatal("no request for the piece under the read")
	}
	// Seek far away: the old window's requests are cancelled.
	ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
	r.ReadAt(ctx, make([]byte, 4096), 9<<20)
	cancel()
	// (The pipeline is sized in time: with a silent peer it holds a few
	// blocks, those of the piece under the read among them.)
	msgs, ok := fp.Expect(5*time.Second, func(m wire.Message) bool {
		return m.ID == wire.Cancel && m.Index >= firstPiece && m.Index < firstPiece+4
	})
	if !ok {
		t.Fatalf("no CANCEL for the abandoned readahead; got %d messages", len(msgs))
	}
}

// Two readers of one file keep their own windows.
func TestTwoReadersKeepTheirOwnWindows(t *testing.T) {
	data := enginetest.RandomBytes(13, 32<<20)
	mt, all := enginetest.Torrent(t, "v.bin", 256<<10, []enginetest.File{{Data: data}})
	seeder := enginetest.Seed(t, mt, all)
	_, tor := enginetest.Leecher(t, mt, engine.Config{CacheSize: 128 << 20}, seeder)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := tor.NewReader(mt.Info.Files[0]), tor.NewReader(mt.Info.Files[0])
	defer a.Close()
	defer b.Close()
	buf := make([]byte, 256<<10)
	for k := int64(0); k < 16; k++ {
		if _, err := a.ReadAt(ctx, buf, k*int64(len(buf))); err != nil {
			t.Fatal(err)
		}
		if _, err := b.ReadAt(ctx, buf, 20<<20+k*int64(len(buf))); err != nil {
			t.Fatal(err)
		}
	}
	rs := tor.Stats().Readers
	if len(rs) != 2 {
		t.Fatalf("%d readers, want 2", len(rs))
	}
	for _, r := range rs {
		if r.WindowBytes <= 2<<20 {
			t.Fatalf("reader %d window %d: interleaved sequential readers must not reset each other", r.ID, r.WindowBytes)
		}
	}
}

// --fetch=all downloads the whole torrent in the background, with no reader.
func TestFetchAllInBackground(t *testing.T) {
	data := enginetest.RandomBytes(14, 6<<20)
	mt, all := enginetest.Torrent(t, "v.bin", 64<<10, []enginetest.File{{Data: data}})
	seeder := enginetest.Seed(t, mt, all)
	_, tor := enginetest.Leecher(t, mt, engine.Config{CacheSize: 64 << 20, Fetch: engine.FetchAll}, seeder)
	deadline := time.Now().Add(time.Minute)
	for tor.Stats().PiecesHave < mt.Info.NumPieces {
		if time.Now().After(deadline) {
			t.Fatalf("fetch=all: %d of %d pieces after a minute", tor.Stats().PiecesHave, mt.Info.NumPieces)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := readAll(t, tor, mt.Info.Files[0], 1<<20); !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
}

// --fetch=file downloads an opened file whole, and nothing else.
func TestFetchFileInBackground(t *testing.T) {
	a, b := enginetest.RandomBytes(15, 3<<20), enginetest.RandomBytes(16, 3<<20)
	mt, all := enginetest.Torrent(t, "two", 64<<10, []enginetest.File{{Path: []string{"a"}, Data: a}, {Path: []string{"b"}, Data: b}})
	seeder := enginetest.Seed(t, mt, all)
	_, tor := enginetest.Leecher(t, mt, engine.Config{CacheSize: 64 << 20, Fetch: engine.FetchFile}, seeder)
	r := tor.NewReader(mt.Info.Files[0])
	defer r.Close()
	half := mt.Info.NumPieces / 2
	deadline := time.Now().Add(time.Minute)
	for tor.Stats().PiecesHave < half {
		if time.Now().After(deadline) {
			t.Fatalf("fetch=file: %d of %d pieces of the opened file", tor.Stats().PiecesHave, half)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if st := tor.Stats(); st.PiecesHave > half+1 {
		t.Fatalf("fetch=file fetched %d pieces; the opened file has %d", st.PiecesHave, half)
	}
}

// The kernel's readahead sends READs out of order: a read a few MiB ahead of
// one still waiting is not a seek, and must not cancel what the reader left
// behind on its way (it would be fetched twice: wasted bytes).
func TestOutOfOrderReadsKeepRequestsInFlight(t *testing.T) {
	fp, tor, read := silentPeerReader(t, 13)
	read(2 << 20)
	piece := uint32((2 << 20) / (64 << 10))
	if _, ok := fp.Expect(5*time.Second, func(m wire.Message) bool { return m.ID == wire.Request && m.Index == piece }); !ok {
		t.Fatal("no request for the piece under the first read")
	}
	read(2<<20 + 128<<10) // sequential
	read(5 << 20)         // ahead, as the kernel's readahead goes: not a seek
	if msgs, ok := fp.Expect(time.Second, func(m wire.Message) bool { return m.ID == wire.Cancel }); ok {
		t.Fatalf("a read ahead cancelled requests left behind: %v", msgs[len(msgs)-1])
	}
	if st := tor.Stats(); st.Wasted != 0 {
		t.Fatalf("wasted %d bytes", st.Wasted)
	}
}

// After a seek, the window starts at the seek: nothing behind it is fetched,
// however the reader goes on (a player reading on after a seek).
func TestNothingFetchedBehindASeek(t *testing.T) {
	fp, _, read := silentPeerReader(t, 14)
	const seekTo = 12 << 20
	read(seekTo) // the first read: a seek from nowhere
	read(seekTo + 128<<10)
	read(seekTo + 256<<10)
	lo, hi := uint32((2<<20)/(64<<10)), uint32(seekTo/(64<<10)) // past the 1 MiB head that opening fetches
	msgs, _ := fp.Expect(time.Second, func(wire.Message) bool { return false })
	for _, m := range msgs {
		if m.ID == wire.Request && m.Index >= lo && m.Index < hi {
			t.Fatalf("piece %d, behind the seek to piece %d, was requested", m.Index, hi)
		}
	}
}

// A file's first read is asked of the peers before the head and tail that
// opening wants: over a slow link they would otherwise fill the pipelines
// ahead of it.
func TestFirstReadBeforePrime(t *testing.T) {
	mt, tor, fp := unchokingSeed(t, "prime.bin", 64<<10, enginetest.RandomBytes(15, 16<<20))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := tor.NewReader(mt.Info.Files[0])
	defer r.Close()
	// The owner has seen the open (and the peer's unchoke) before the read
	// comes, as when a player opens a file and reads a moment later.
	if _, err := tor.Inspect(ctx); err != nil {
		t.Fatal(err)
	}
	const at = 12 << 20
	short, stop := context.WithTimeout(ctx, 300*time.Millisecond)
	r.ReadAt(short, make([]byte, 1), at) // the peer never answers: it times out
	stop()
	msgs, ok := fp.Expect(5*time.Second, func(m wire.Message) bool { return m.ID == wire.Request })
	if !ok {
		t.Fatal("no request came")
	}
	if got, want := msgs[len(msgs)-1].Index, uint32(at/(64<<10)); got != want {
		t.Fatalf("first request for piece %d, want %d (the read's) before the head's and tail's", got, want)
	}
}

// The first read of a file wants its head (2 MiB) and its tail (the last MiB), but not a
// whole piece more for the few tail bytes that fall into the piece before the
// last when the last piece holds at least half of that MiB: ffprobe of an MP4
// reads only the moov there.
func TestOpenPrimesHeadAndTail(t *testing.T) {
	for _, tc := range []struct {
		name string
		last int64 // bytes in the last piece
		want int   // pieces wanted at open
	}{
		{"last piece 700 KiB", 700 << 10, 2 + 1},
		{"last piece 100 KiB", 100 << 10, 2 + 2},
		{"last piece full", 1 << 20, 2 + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mt, _ := enginetest.Torrent(t, "v.mp4", 1<<20, []enginetest.File{{Data: enginetest.RandomBytes(12, 9<<20+int(tc.last))}})
			c, tor := enginetest.Leecher(t, mt, engine.Config{Listen: "127.0.0.1:0", CacheSize: 64 << 20})
			enginetest.DialFake(t, c.ListenAddr(), mt, wire.Reserved{}) // has nothing: wanted pieces stay wanted
			r := tor.NewReader(mt.Info.Files[0])
			defer r.Close()
			short, stop := context.WithTimeout(context.Background(), 100*time.Millisecond)
			r.ReadAt(short, make([]byte, 1), 0) // the peer has nothing: it times out
			stop()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			snap, err := tor.Inspect(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if snap.PiecesWanted != tc.want {
				t.Errorf("%d pieces wanted after opening a file of %d pieces, want %d", snap.PiecesWanted, mt.Info.NumPieces, tc.want)
			}
		})
	}
}

// A file closed while a piece is on its way, every missing block of it
// asked: the piece is let finish, not thrown away with what came of it (a
// readahead piece when ffmpeg exits cost a MiB of waste).
func TestCloseFinishesPieceOnItsWay(t *testing.T) {
	const pieceLen = 64 << 10
	data := enginetest.RandomBytes(13, 8<<20)
	mt, tor, fp := unchokingSeed(t, "v.bin", pieceLen, data)
	r := tor.NewReader(mt.Info.Files[0])
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	r.ReadAt(ctx, make([]byte, 4096), 0) // the peer does not answer yet
	cancel()
	asked := map[uint32]bool{}
	if _, ok := fp.Expect(10*time.Second, func(m wire.Message) bool {
		if m.ID == wire.Request && m.Index == 0 {
			asked[m.Begin] = true
		}
		return len(asked) == pieceLen/bt.BlockSize
	}); !ok {
		t.Fatalf("piece 0 not wholly asked: %d of its blocks", len(asked))
	}
	block := func(begin int) wire.Message {
		return wire.Message{ID: wire.Piece, Index: 0, Begin: uint32(begin), Payload: data[begin : begin+bt.BlockSize]}
	}
	fp.Send(block(0)) // a quarter of it
	// The first block is in before the close (the owner handles messages in
	// order: Inspect answers after the block's message and the close's).
	waitCtx, waitCancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer waitCancel()
	for {
		if tor.Stats().Downloaded >= bt.BlockSize {
			break
		}
		if _, err := tor.Inspect(waitCtx); err != nil {
			t.Fatal("the first block never arrived:", err)
		}
	}
	r.Close()
	if _, err := tor.Inspect(waitCtx); err != nil {
		t.Fatal(err)
	}
	for b := bt.BlockSize; b < pieceLen; b += bt.BlockSize {
		fp.Send(block(b))
	}
	// A new reader gets piece 0 without asking again: the silent peer would
	// never answer a new request.
	r2 := tor.NewReader(mt.Info.Files[0])
	defer r2.Close()
	buf := make([]byte, pieceLen)
	if _, err := r2.ReadAt(waitCtx, buf, 0); err != nil {
		t.Fatalf("piece 0 was not finished after the close: %v", err)
	}
	if !bytes.Equal(buf, data[:pieceLen]) {
		t.Fatal("wrong bytes")
	}
	if w := tor.Stats().Wasted; w != 0 {
		t.Errorf("%d bytes wasted, want 0", w)
	}
}

// The head that opening a file primes is asked before its tail: a player that
// reads on from the head (an MKV) needs the second piece right after its first
// frame, and one that wants the tail first (an MP4's moov) reads it, which
// comes before any prime.
func TestPrimeHeadBeforeTail(t *testing.T) {
	data := enginetest.RandomBytes(16, 10<<20+700<<10)
	mt, _ := enginetest.Torrent(t, "v.mkv", 1<<20, []enginetest.File{{Data: data}})
	c, tor := enginetest.Leecher(t, mt, engine.Config{Listen: "127.0.0.1:0", CacheSize: 64 << 20})
	sp := enginetest.ServePeer(t, c.ListenAddr(), mt, data, true)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := tor.NewReader(mt.Info.Files[0])
	defer r.Close()
	if _, err := r.ReadAt(ctx, make([]byte, 1), 0); err != nil {
		t.Fatal(err)
	}
	last := uint32(mt.Info.NumPieces - 1)
	if !sp.WaitFor(0, 20*time.Second, func(m wire.Message) bool { return m.ID == wire.Request && m.Index == last }) {
		t.Fatal("the tail was never asked for")
	}
	lastHead, firstTail := -1, -1
	for k, rc := range sp.Received() {
		switch {
		case rc.Msg.ID != wire.Request:
		case rc.Msg.Index == 1:
			lastHead = k
		case rc.Msg.Index == last && firstTail < 0:
			firstTail = k
		}
	}
	if lastHead < 0 || lastHead > firstTail {
		t.Fatalf("the head's second piece was asked (last request at message %d) after the tail's first request (message %d)", lastHead, firstTail)
	}
}

// A sequential read through a RAM cache as small as the kernel's trail
// (trailKeep) fetches each piece about once: the pieces behind the read that
// the window keeps (the kernel's READs come out of order) are not fetched
// again once they came and were evicted; a READ that does come for one
// fetches it itself. (Read whole through an 8 MiB cache, a 64 MiB file was
// downloaded 9.6 times.)
func TestSmallCacheSequentialFetchesOnce(t *testing.T) {
	data := enginetest.RandomBytes(17, 64<<20)
	mt, _ := enginetest.Torrent(t, "big.bin", 256<<10, []enginetest.File{{Data: data}})
	seed := enginetest.Seed(t, mt, data)
	_, tor := enginetest.Leecher(t, mt, engine.Config{Listen: "127.0.0.1:0", CacheSize: 8 << 20}, seed)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := tor.NewReader(mt.Info.Files[0])
	defer r.Close()
	buf := make([]byte, 128<<10)
	for off := int64(0); off < int64(len(data)); off += int64(len(buf)) {
		n, err := r.ReadAt(ctx, buf, off)
		if err != nil && n < len(buf) {
			t.Fatalf("read at %d: %v", off, err)
		}
		if !bytes.Equal(buf[:n], data[off:off+int64(n)]) {
			t.Fatalf("wrong bytes at %d", off)
		}
	}
	if d := tor.Stats().Downloaded; d > int64(len(data))*5/4 {
		t.Fatalf("downloaded %d bytes for a %d-byte file read once in order (%.1fx)", d, len(data), float64(d)/float64(len(data)))
	}
}

// A seek cancels the requests of the pieces it left behind even where a
// READ still waits for them (the kernel's readahead for the old position,
// which spans megabytes): the new position's blocks must not wait behind
// them. Such a piece stays wanted, and the blocks the peer had already sent
// when the CANCEL came are kept: the READ is answered from them, nothing
// wasted.
func TestSeekCancelsWaitedPiecesLeftBehind(t *testing.T) {
	const pieceLen = 64 << 10
	data := enginetest.RandomBytes(15, 16<<20)
	mt, tor, fp := unchokingSeed(t, "v.bin", pieceLen, data)
	r := tor.NewReader(mt.Info.Files[0])
	defer r.Close()
	// A READ at 4 MiB that stays blocked, as a readahead READ does.
	const old = 4 << 20
	piece := uint32(old / pieceLen)
	got := make([]byte, 4096)
	done := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // bounds a failure
	defer cancel()
	go func() {
		_, err := r.ReadAt(ctx, got, old)
		done <- err
	}()
	if _, ok := fp.Expect(5*time.Second, func(m wire.Message) bool { return m.ID == wire.Request && m.Index == piece }); !ok {
		t.Fatal("no request for the piece under the first read")
	}
	// Seek far away: the waited piece's requests are cancelled too.
	sctx, scancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	r.ReadAt(sctx, make([]byte, 4096), 9<<20)
	scancel()
	msgs, ok := fp.Expect(5*time.Second, func(m wire.Message) bool { return m.ID == wire.Cancel && m.Index == piece })
	if !ok {
		t.Fatalf("no CANCEL for the piece a READ still waits for, left behind by the seek; got %d messages", len(msgs))
	}
	// The peer had sent the piece already: its blocks come after the CANCEL.
	for b := 0; b < pieceLen; b += bt.BlockSize {
		off := int(piece)*pieceLen + b
		fp.Send(wire.Message{ID: wire.Piece, Index: piece, Begin: uint32(b), Payload: data[off : off+bt.BlockSize]})
	}
	if err := <-done; err != nil {
		t.Fatalf("the READ left behind: %v (the blocks that came after the CANCEL were not kept)", err)
	}
	if !bytes.Equal(got, data[old:old+len(got)]) {
		t.Fatal("the READ left behind got wrong bytes")
	}
	if st := tor.Stats(); st.Wasted != 0 {
		t.Fatalf("wasted %d bytes: the blocks sent before the CANCEL were thrown away", st.Wasted)
	}
}

// A player's seek keeps its window even through a short excursion on the
// way: mpv, seeking in an MKV, reads the cues at the file's end first. The
// window after it reaches as far as before the seek, paced as before.
func TestPlayerSeekThroughCuesKeepsItsWindow(t *testing.T) {
	data, tor, r, ctx := seededReader(t, 16)
	buf := make([]byte, 128<<10)
	for off := int64(0); off < 12<<20; off += int64(len(buf)) { // a long run: trusted
		if _, err := r.ReadAt(ctx, buf, off); err != nil {
			t.Fatal(err)
		}
	}
	grown := readerWindow(t, tor)
	if _, err := r.ReadAt(ctx, make([]byte, 6<<10), int64(len(data))-8<<10); err != nil { // the cues
		t.Fatal(err)
	}
	if _, err := r.ReadAt(ctx, buf, 24<<20); err != nil { // the position sought
		t.Fatal(err)
	}
	st := tor.Stats().Readers[0]
	if st.WindowBytes < grown/2 {
		t.Fatalf("window after the seek: %d bytes, was %d: a player's seek through its cues was put on probation", st.WindowBytes, grown)
	}
	if st.Rate <= 0 {
		t.Fatalf("window rate %v right after the seek: not the pace of the run before", st.Rate)
	}
}
