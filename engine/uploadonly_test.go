package engine_test

import (
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/enginetest"
	"github.com/hyperblow/hyperblow/engine/wire"
)

// nextExtHandshake reads until the client's next BEP 10 handshake.
func nextExtHandshake(t *testing.T, fp *enginetest.FakePeer, d time.Duration) (wire.ExtHandshake, bool) {
	t.Helper()
	msgs, ok := fp.Expect(d, func(m wire.Message) bool { return m.ID == wire.Extended && m.ExtID == wire.ExtHandshakeID })
	if !ok {
		return wire.ExtHandshake{}, false
	}
	h, err := wire.ParseExtHandshake(msgs[len(msgs)-1].Payload)
	if err != nil {
		t.Fatalf("our extension handshake does not parse: %v", err)
	}
	return h, true
}

// A mount that fetches only what is read is a BEP 21 partial seed: it announces
// upload_only to a peer once it knows that peer is not a seed, takes it back
// when the peer becomes one, and never announces it to a seed.
func TestUploadOnlyPartialSeed(t *testing.T) {
	mt, _ := enginetest.Torrent(t, "uo.bin", 16<<10, []enginetest.File{{Data: enginetest.RandomBytes(7, 8*16<<10)}})
	reserved := wire.Reserved{}.WithExtended().WithFast()
	hello := wire.Message{ID: wire.Extended, ExtID: wire.ExtHandshakeID,
		Payload: wire.AppendExtHandshake(nil, wire.ExtHandshake{M: map[string]uint8{wire.ExtMetadata: 2}, V: "fake"})}

	t.Run("leecher", func(t *testing.T) {
		c, _ := enginetest.Leecher(t, mt, engine.Config{Listen: "127.0.0.1:0", CacheSize: 4 << 20, Fetch: engine.FetchLazy})
		fp := enginetest.DialFake(t, c.ListenAddr(), mt, reserved)
		h, ok := nextExtHandshake(t, fp, 5*time.Second)
		if !ok || h.UploadOnly {
			t.Fatalf("first handshake (peer's pieces unknown): %+v, %v; want one without upload_only", h, ok)
		}
		bf := bt.NewBitfield(mt.Info.NumPieces)
		bf.Set(3)
		fp.Send(hello, wire.Message{ID: wire.Bitfield, Payload: bf.Bytes()})
		if h, ok = nextExtHandshake(t, fp, 5*time.Second); !ok || !h.UploadOnly {
			t.Fatalf("after a partial bitfield: %+v, %v; want a handshake with upload_only", h, ok)
		}
		for i := 0; i < mt.Info.NumPieces; i++ {
			if i != 3 {
				fp.Send(wire.Message{ID: wire.Have, Index: uint32(i)})
			}
		}
		if h, ok = nextExtHandshake(t, fp, 5*time.Second); !ok || h.UploadOnly {
			t.Fatalf("after the peer completed: %+v, %v; want upload_only taken back", h, ok)
		}
	})
	t.Run("seed", func(t *testing.T) {
		c, _ := enginetest.Leecher(t, mt, engine.Config{Listen: "127.0.0.1:0", CacheSize: 4 << 20, Fetch: engine.FetchLazy})
		fp := enginetest.DialFake(t, c.ListenAddr(), mt, reserved)
		if h, ok := nextExtHandshake(t, fp, 5*time.Second); !ok || h.UploadOnly {
			t.Fatalf("first handshake: %+v, %v", h, ok)
		}
		fp.Send(hello, wire.Message{ID: wire.HaveAll})
		// The client answers HAVE_ALL with INTERESTED; no handshake may come
		// before it, nor right after.
		msgs, ok := fp.Expect(5*time.Second, func(m wire.Message) bool { return m.ID == wire.Interested })
		if !ok {
			t.Fatalf("no INTERESTED after HAVE_ALL: %v", msgs)
		}
		for _, m := range msgs {
			if m.ID == wire.Extended && m.ExtID == wire.ExtHandshakeID {
				t.Fatalf("a second handshake to a seed: %v", msgs)
			}
		}
		if h, ok := nextExtHandshake(t, fp, 1500*time.Millisecond); ok {
			t.Fatalf("a seed was sent another handshake: %+v", h)
		}
	})
	t.Run("fetch-all", func(t *testing.T) {
		c, _ := enginetest.Leecher(t, mt, engine.Config{Listen: "127.0.0.1:0", CacheSize: 4 << 20, Fetch: engine.FetchAll})
		fp := enginetest.DialFake(t, c.ListenAddr(), mt, reserved)
		if h, ok := nextExtHandshake(t, fp, 5*time.Second); !ok || h.UploadOnly {
			t.Fatalf("first handshake: %+v, %v", h, ok)
		}
		bf := bt.NewBitfield(mt.Info.NumPieces)
		bf.Set(3)
		fp.Send(hello, wire.Message{ID: wire.Bitfield, Payload: bf.Bytes()})
		if h, ok := nextExtHandshake(t, fp, 1500*time.Millisecond); ok {
			t.Fatalf("--fetch all intends to complete the torrent, yet sent %+v", h)
		}
	})
}
