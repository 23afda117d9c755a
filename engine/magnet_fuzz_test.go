package engine_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/enginetest"
	"github.com/hyperblow/hyperblow/engine/metainfo"
	"github.com/hyperblow/hyperblow/engine/wire"
)

// FuzzMagnetEarlyMessages: whatever a peer sends a magnet before its info
// (BITFIELD of any length, HAVE of any index, HAVE_ALL, REQUEST, PIECE,
// extended messages...), kept until the piece count is known and then
// applied, makes the torrent get its info or drop that peer: never a panic
// or a hang. The input is a sequence of length-prefixed messages.
func FuzzMagnetEarlyMessages(f *testing.F) {
	msgs := func(ms ...wire.Message) []byte {
		var b []byte
		for _, m := range ms {
			b = wire.AppendMessage(b, m)
		}
		return b
	}
	u32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	f.Add(msgs(wire.Message{ID: wire.Bitfield, Payload: []byte{0xff, 0xff, 0xff, 0x80}}, wire.Message{ID: wire.Have, Index: 3}))
	f.Add(msgs(wire.Message{ID: wire.Bitfield, Payload: make([]byte, 100)}))
	f.Add(msgs(wire.Message{ID: wire.Have, Index: 1 << 30}))
	f.Add(msgs(wire.Message{ID: wire.HaveAll}, wire.Message{ID: wire.HaveNone}))
	f.Add(msgs(wire.Message{ID: wire.Request, Index: 0, Begin: 0, Length: 16 << 10}, wire.Message{ID: wire.Unchoke}))
	f.Add(msgs(wire.Message{ID: wire.Piece, Index: 0, Begin: 0, Payload: []byte("x")}))
	f.Add(append(u32(3), byte(wire.Extended), 1, 'd'))
	f.Add(append(msgs(wire.Message{ID: wire.Bitfield, Payload: []byte{0x80, 0, 0, 0}}), msgs(wire.Message{ID: wire.Bitfield, Payload: []byte{0, 0, 0, 0}})...))

	mt, _ := enginetest.Torrent(f, "fuzz", 16<<10, []enginetest.File{{Data: enginetest.RandomBytes(1, 25*16<<10+100)}})
	m, err := metainfo.ParseMagnet("magnet:?xt=urn:btih:" + mt.InfoHash.String())
	if err != nil {
		f.Fatal(err)
	}
	c, err := engine.NewClient(engine.Config{NoUTP: true, CacheSize: 4 << 20})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { c.Close() })
	f.Fuzz(func(t *testing.T, b []byte) {
		r := wire.NewReader(bytes.NewReader(b), wire.Limits{MaxMessageLen: 1 << 16})
		var early []wire.Message
		for len(early) < 64 {
			msg, err := r.ReadMessage()
			if err != nil {
				break
			}
			msg.Payload = bytes.Clone(msg.Payload)
			early = append(early, msg)
		}
		p := enginetest.StartMetaPeer(t, mt, enginetest.MetaPeerConfig{Early: early})
		tor, err := c.AddMagnet(m, engine.TorrentOptions{Peers: []netip.AddrPort{p.Addr}, NoTrackers: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.RemoveTorrent(tor)
		select {
		case <-tor.GotInfo():
			if _, err := tor.Inspect(context.Background()); err != nil {
				t.Fatalf("inspect after the info: %v", err)
			}
		case <-p.Gone: // dropped (before or after the info)
		case <-time.After(10 * time.Second):
			t.Fatalf("neither the info nor a disconnect: status %+v", tor.ResolveStatus())
		}
	})
}
