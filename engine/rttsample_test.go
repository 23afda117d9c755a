package engine

import (
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/metainfo"
	"github.com/hyperblow/hyperblow/engine/picker"
	"github.com/hyperblow/hyperblow/engine/wire"
)

// A block we cancelled and then asked of the same peer again may come as
// the copy the peer had sent for the first request, sooner than any round
// trip: it gives no round-trip sample (nor slow-start growth). A block asked
// once does, and so does the next one after the old copy came. A REJECT
// ends a cancel too.
func TestReRequestedBlockIsNoRTTSample(t *testing.T) {
	const pieceLen = 8 * bt.BlockSize // no piece completes (no hashing here)
	info := &metainfo.Info{PieceLength: pieceLen, TotalLength: 4 * pieceLen, NumPieces: 4}
	p := &peer{key: 1, peerChoking: true, fast: true} // choking: handlePiece asks nothing more
	tr := &Torrent{info: info, pk: picker.New(4, pieceLen, 4*pieceLen), byKey: map[picker.PeerKey]*peer{1: p}, downloads: map[int]*download{}}
	has := func(int) bool { return true }
	t0 := time.Unix(1000, 0)
	ask := func(at time.Time, n int) []picker.Block {
		t.Helper()
		blks := tr.pk.Pick(p.key, has, n, at)
		if len(blks) != n {
			t.Fatalf("picked %d blocks, want %d", len(blks), n)
		}
		p.batches[p.nbatch%len(p.batches)] = sendBatch{at: at, ahead: p.inflight}
		p.nbatch++
		p.inflight += n
		return blks
	}
	arrive := func(b picker.Block, at time.Time) {
		t.Helper()
		if err := tr.handlePiece(p, wire.Message{ID: wire.Piece, Index: uint32(b.Piece), Begin: uint32(b.Begin), Payload: make([]byte, b.Length)}, at); err != nil {
			t.Fatal(err)
		}
	}
	tr.pk.Want(0, t0)
	tr.pk.Want(1, t0)

	// A real round trip: 150 ms into an empty pipeline.
	b := ask(t0, 1)[0]
	arrive(b, t0.Add(150*time.Millisecond))
	if p.rtt != 150*time.Millisecond {
		t.Fatalf("rtt %v after a 150 ms block, want 150ms", p.rtt)
	}

	// Cancelled (a seek), asked again into an empty pipeline, and the old
	// copy comes 2 ms later.
	t1 := t0.Add(time.Second)
	b = ask(t1, 1)[0]
	if !tr.pk.Rejected(p.key, b) {
		t.Fatal("the request was not outstanding")
	}
	p.inflight--
	p.forgiven++
	p.noteCancelled(b)
	t2 := t1.Add(100 * time.Millisecond)
	if again := ask(t2, 1)[0]; again != b {
		t.Fatalf("asked %+v again, want %+v", again, b)
	}
	arrive(b, t2.Add(2*time.Millisecond))
	if p.rtt != 150*time.Millisecond {
		t.Fatalf("rtt %v after the old copy of a re-requested block came 2 ms after the new request, want 150ms kept", p.rtt)
	}

	// The cancel is spent: the next block asked into an empty pipeline counts.
	t3 := t2.Add(time.Second)
	b = ask(t3, 1)[0]
	arrive(b, t3.Add(40*time.Millisecond))
	if p.rtt != 40*time.Millisecond {
		t.Fatalf("rtt %v after a 40 ms block, want 40ms (a cancel must not stop samples for good)", p.rtt)
	}

	// A REJECT answers a CANCEL: the block asked again later is sampled.
	t4 := t3.Add(time.Second)
	b = ask(t4, 1)[0]
	tr.pk.Rejected(p.key, b)
	p.inflight--
	p.noteCancelled(b)
	if err := tr.handlePeerMsg(p, wire.Message{ID: wire.Reject, Index: uint32(b.Piece), Begin: uint32(b.Begin), Length: uint32(b.Length)}, t4); err != nil {
		t.Fatal(err)
	}
	t5 := t4.Add(time.Second)
	if again := ask(t5, 1)[0]; again != b {
		t.Fatalf("asked %+v again, want %+v", again, b)
	}
	arrive(b, t5.Add(30*time.Millisecond))
	if p.rtt != 30*time.Millisecond {
		t.Fatalf("rtt %v after a rejected block asked again came in 30 ms, want 30ms", p.rtt)
	}
}
