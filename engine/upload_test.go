package engine_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/enginetest"
	"github.com/hyperblow/hyperblow/engine/wire"
)

// A peer may queue up to our reqq (4000) requests at once. They wait as
// requests and are read into the send queue as it drains, so a peer that does
// not read holds little of our memory; a CANCEL takes back requests still
// waiting; every block sent is the right one.
func TestUploadRequestsBeyondTheSendQueue(t *testing.T) {
	const pieces, total, cancelled = 4000, 4000, 1000 // one 16 KiB block per piece
	mt, data := enginetest.Torrent(t, "up.bin", bt.BlockSize, []enginetest.File{{Data: enginetest.RandomBytes(9, pieces*bt.BlockSize)}})
	addr := enginetest.Seed(t, mt, data)
	fp := enginetest.DialFake(t, addr, mt, wire.Reserved{}.WithFast().WithExtended())
	fp.Send(wire.Message{ID: wire.HaveNone}, wire.Message{ID: wire.Interested})
	msgs, ok := fp.Expect(10*time.Second, func(m wire.Message) bool { return m.ID == wire.Unchoke })
	if !ok {
		t.Fatalf("not unchoked: %v", msgs)
	}
	var reqs []wire.Message
	for i := 0; i < total; i++ {
		reqs = append(reqs, wire.Message{ID: wire.Request, Index: uint32(i), Length: bt.BlockSize})
	}
	fp.Send(reqs...) // while we do not read: the seed's writer fills the socket and stops
	time.Sleep(500 * time.Millisecond)
	var cancels []wire.Message
	for i := total - cancelled; i < total; i++ {
		cancels = append(cancels, wire.Message{ID: wire.Cancel, Index: uint32(i), Length: bt.BlockSize})
	}
	fp.Send(cancels...)
	// Let the seed take the CANCELs before we read: reading drains the socket,
	// and the seed feeds its send queue from what is still pending.
	time.Sleep(1500 * time.Millisecond)
	got := map[uint32]bool{}
	for len(got) < total-cancelled {
		msgs, ok := fp.Expect(20*time.Second, func(m wire.Message) bool { return m.ID == wire.Piece })
		if !ok {
			t.Fatalf("after %d blocks: no more PIECEs (last messages %v)", len(got), tail(msgs))
		}
		m := msgs[len(msgs)-1]
		if m.Index >= total-cancelled {
			t.Fatalf("block %d was sent after its CANCEL (it cannot have left the seed's pending list before: the socket was full)", m.Index)
		}
		if got[m.Index] || m.Begin != 0 || !bytes.Equal(m.Payload, data[int(m.Index)*bt.BlockSize:int(m.Index+1)*bt.BlockSize]) {
			t.Fatalf("block %d: duplicate or wrong data", m.Index)
		}
		got[m.Index] = true
	}
	// Nothing more comes: the cancelled requests are gone.
	if msgs, ok := fp.Expect(time.Second, func(m wire.Message) bool { return m.ID == wire.Piece }); ok {
		t.Fatalf("a PIECE after every uncancelled block came: %v", tail(msgs))
	}
}

func tail(msgs []wire.Message) []wire.Message {
	if len(msgs) > 5 {
		return msgs[len(msgs)-5:]
	}
	return msgs
}
