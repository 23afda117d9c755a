package engine_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/enginetest"
	"github.com/hyperblow/hyperblow/engine/wire"
)

// Each hostile input makes the client hang up on that peer with a logged reason,
// without a panic, and the client keeps serving others.
func TestHostilePeersAreDisconnected(t *testing.T) {
	data := enginetest.RandomBytes(9, 1<<20+5) // 17 pieces of 64 KiB: spare bits exist
	mt, all := enginetest.Torrent(t, "x.bin", 64<<10, []enginetest.File{{Data: data}})
	n := mt.Info.NumPieces
	full := bt.NewBitfield(n)
	full.SetAll()
	spare := append([]byte(nil), full.Bytes()...)
	spare[len(spare)-1] |= 1
	lenPrefix := func(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }

	cases := []struct {
		name   string
		seeder bool // the client under attack seeds (for REQUEST cases)
		fast   bool
		script func(fp *enginetest.FakePeer)
		reason string
	}{
		{"length prefix beyond the limit", false, false, func(fp *enginetest.FakePeer) {
			fp.Write(append(lenPrefix(1<<30), 7))
		}, "too long"},
		{"bitfield of the wrong length", false, false, func(fp *enginetest.FakePeer) {
			fp.Send(wire.Message{ID: wire.Bitfield, Payload: make([]byte, 40)})
		}, "bitfield"},
		{"bitfield with spare bits set", false, false, func(fp *enginetest.FakePeer) {
			fp.Send(wire.Message{ID: wire.Bitfield, Payload: spare})
		}, "spare bits"},
		{"second bitfield taking pieces back", false, false, func(fp *enginetest.FakePeer) {
			fp.Send(wire.Message{ID: wire.Bitfield, Payload: full.Bytes()}, wire.Message{ID: wire.Bitfield, Payload: make([]byte, len(full.Bytes()))})
		}, "takes back pieces"},
		{"bitfield after have, without that piece", false, false, func(fp *enginetest.FakePeer) {
			fp.Send(wire.Message{ID: wire.Have, Index: 1}, wire.Message{ID: wire.Bitfield, Payload: make([]byte, len(full.Bytes()))})
		}, "takes back pieces"},
		{"piece for a block never requested", false, false, func(fp *enginetest.FakePeer) {
			fp.Send(wire.Message{ID: wire.Piece, Index: 1, Begin: 0, Payload: make([]byte, bt.BlockSize)})
		}, "never requested"},
		{"have out of range", false, false, func(fp *enginetest.FakePeer) {
			fp.Send(wire.Message{ID: wire.Have, Index: 0xFFFFFFFF})
		}, "out of range"},
		{"request beyond the piece", true, false, func(fp *enginetest.FakePeer) {
			fp.Send(wire.Message{ID: wire.Request, Index: 0, Begin: 60 << 10, Length: bt.BlockSize})
		}, "REQUEST out of range"},
		{"request longer than a block", true, false, func(fp *enginetest.FakePeer) {
			fp.Send(wire.Message{ID: wire.Request, Index: 0, Begin: 0, Length: 1 << 17})
		}, "REQUEST out of range"},
		{"request flood while choked", true, false, func(fp *enginetest.FakePeer) {
			var b []byte
			for i := 0; i < 1200; i++ {
				b = wire.AppendRequest(b, uint32(i%(n-1)), 0, bt.BlockSize)
			}
			fp.Write(b)
		}, "request flood"},
		{"have-all without the fast extension", false, false, func(fp *enginetest.FakePeer) {
			fp.Send(wire.Message{ID: wire.HaveAll})
		}, "fast-extension"},
		{"reject without the fast extension", false, false, func(fp *enginetest.FakePeer) {
			fp.Send(wire.Message{ID: wire.Reject, Index: 0, Begin: 0, Length: bt.BlockSize})
		}, "fast-extension"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var logs enginetest.LogBuffer
			c, err := engine.NewClient(engine.Config{Listen: "127.0.0.1:0", CacheSize: 4 << 20, Logger: logs.Logger()})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			opts := engine.TorrentOptions{NoTrackers: true}
			if tc.seeder {
				opts.OpenTier, opts.UploadOnly = engine.ReaderTier(bytes.NewReader(all)), true
			}
			if _, err := c.AddTorrent(mt, opts); err != nil {
				t.Fatal(err)
			}
			var res wire.Reserved
			if tc.fast {
				res = res.WithFast()
			}
			fp := enginetest.DialFake(t, c.ListenAddr(), mt, res)
			tc.script(fp)
			if !fp.WaitClosed(5 * time.Second) {
				t.Fatalf("connection still open; logs:\n%s", logs.String())
			}
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(logs.String(), tc.reason) && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if !strings.Contains(logs.String(), tc.reason) {
				t.Fatalf("no disconnect reason containing %q in logs:\n%s", tc.reason, logs.String())
			}
			// The client still serves another, honest peer.
			fp2 := enginetest.DialFake(t, c.ListenAddr(), mt, res)
			if fp2.WaitClosed(200 * time.Millisecond) {
				t.Fatal("an honest peer was disconnected")
			}
		})
	}
}

// A peer that unchokes, takes requests and then drips data too slowly to ever
// finish a block is dropped as snubbed, and the read completes from an honest peer.
func TestDrippingPeerIsSnubbed(t *testing.T) {
	data := enginetest.RandomBytes(10, 256<<10)
	mt, all := enginetest.Torrent(t, "x.bin", 64<<10, []enginetest.File{{Data: data}})
	var logs enginetest.LogBuffer
	c, err := engine.NewClient(engine.Config{Listen: "127.0.0.1:0", CacheSize: 4 << 20, Logger: logs.Logger(), SnubTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tor, err := c.AddTorrent(mt, engine.TorrentOptions{NoTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	fp := enginetest.DialFake(t, c.ListenAddr(), mt, wire.Reserved{})
	full := bt.NewBitfield(mt.Info.NumPieces)
	full.SetAll()
	fp.Send(wire.Message{ID: wire.Bitfield, Payload: full.Bytes()}, wire.Message{ID: wire.Unchoke})
	// Drip: the first 4 bytes of a PIECE header, then one byte a while.
	go func() {
		hdr := wire.AppendPieceHeader(nil, 0, 0, bt.BlockSize)
		for _, b := range hdr {
			if _, err := fp.Conn.Write([]byte{b}); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	r := tor.NewReader(mt.Info.Files[0])
	defer r.Close()
	done := make(chan error, 1)
	buf := make([]byte, len(data))
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, err := r.ReadAt(ctx, buf, 0)
		done <- err
	}()
	if !fp.WaitClosed(10 * time.Second) {
		t.Fatalf("dripping peer not dropped; logs:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "snubbed") {
		t.Fatalf("no snub reason in logs:\n%s", logs.String())
	}
	tor.AddPeers(nil)
	good := enginetest.Seed(t, mt, all)
	tor.AddPeers([]netip.AddrPort{good})
	if err := <-done; err != nil {
		t.Fatalf("read: %v", err)
	}
	if !bytes.Equal(buf, data) {
		t.Fatal("content differs")
	}
}
