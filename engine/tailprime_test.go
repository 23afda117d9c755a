package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/enginetest"
	"github.com/hyperblow/hyperblow/engine/wire"
)

// A file's tail prime (its last MiB: an MKV's cues, wanted at the first
// seek) comes while the file stays open even when reads always wait, as a
// player's do when it fills its cache as fast as the swarm delivers: once its
// delay (2 s after the first read, for a 2 MiB head) has passed, it ranks
// with the reads that wait. Before, it was readahead, which waiting reads
// always go before, and it came only when the reader reached it.
//
// The one peer takes a single request at a time (reqq 1) and answers each
// after 10 ms (at most 100 pieces of 64 KiB in 4 s here, fewer on a loaded
// machine); the reader keeps three reads of the next pieces waiting.
func TestTailPrimeNotStarvedByWaitingReads(t *testing.T) {
	const pieceLen = 64 << 10
	const numPieces = 128 // head prime 0-31 (2 MiB), tail prime 112-127 (1 MiB)
	data := enginetest.RandomBytes(21, numPieces*pieceLen)
	mt, _ := enginetest.Torrent(t, "tail.mkv", pieceLen, []enginetest.File{{Data: data}})
	c, tor := enginetest.Leecher(t, mt, engine.Config{Listen: "127.0.0.1:0", CacheSize: 64 << 20})
	fp := enginetest.DialFake(t, c.ListenAddr(), mt, wire.Reserved{}.WithExtended())
	full := bt.NewBitfield(numPieces)
	full.SetAll()
	fp.Send(
		wire.Message{ID: wire.Extended, ExtID: wire.ExtHandshakeID, Payload: wire.AppendExtHandshake(nil, wire.ExtHandshake{ReqQ: 1, V: "fake"})},
		wire.Message{ID: wire.Bitfield, Payload: full.Bytes()},
		wire.Message{ID: wire.Unchoke},
	)
	r := tor.NewReader(mt.Info.Files[0])
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		sem := make(chan struct{}, 3)
		for k := range numPieces {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			go func() {
				defer func() { <-sem }()
				r.ReadAt(ctx, make([]byte, 4096), int64(k)*pieceLen)
			}()
		}
	}()
	const tailFrom, bound = 112, 100
	for {
		msgs, ok := fp.Expect(30*time.Second, func(m wire.Message) bool { return m.ID == wire.Request })
		if !ok {
			t.Fatalf("no request in 30 s; got %d other messages", len(msgs))
		}
		req := msgs[len(msgs)-1]
		i := int(req.Index)
		if i >= tailFrom {
			t.Logf("the tail (piece %d) was asked for before piece %d", i, bound)
			return
		}
		if i >= bound {
			t.Fatalf("piece %d asked for before the tail: the tail prime waited until the reader came near it", i)
		}
		time.Sleep(10 * time.Millisecond) // the peer's pace
		off := i*pieceLen + int(req.Begin)
		fp.Send(wire.Message{ID: wire.Piece, Index: req.Index, Begin: req.Begin, Payload: data[off : off+int(req.Length)]})
	}
}
