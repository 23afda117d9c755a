package enginetest

import (
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/metainfo"
	"github.com/hyperblow/hyperblow/engine/wire"
)

// ServingPeer is a seeder under the test's control: it connects to a client,
// has every piece, unchokes, and answers REQUESTs in order from data, one
// PIECE at a time (a write blocks while the link is full, as on a real path).
// It records every message it receives, so a test can check what was asked
// and in which order.
type ServingPeer struct {
	t    testing.TB
	conn net.Conn
	data []byte
	mt   *metainfo.Torrent
	// honourCancel: a CANCEL removes a request not yet answered. A peer that
	// does not (BEP 3 makes CANCEL advisory, and a peer may have queued the
	// block for sending already) sends every block it was asked for.
	honourCancel bool

	mu     sync.Mutex
	cond   *sync.Cond
	got    []Received // every message received, in order
	queue  []wire.Message
	sent   int64 // PIECE payload bytes written
	closed bool
}

// Received is one message a ServingPeer received, and when.
type Received struct {
	At  time.Time
	Msg wire.Message // Payload dropped
}

// ServePeer dials a client at addr (directly, or through a relay in front of
// it), handshakes for mt and serves data. honourCancel: see ServingPeer. It
// stops in t.Cleanup.
func ServePeer(t testing.TB, addr netip.AddrPort, mt *metainfo.Torrent, data []byte, honourCancel bool) *ServingPeer {
	t.Helper()
	fp := DialFake(t, addr, mt, wire.Reserved{})
	sp := &ServingPeer{t: t, conn: fp.Conn, data: data, mt: mt, honourCancel: honourCancel}
	sp.cond = sync.NewCond(&sp.mu)
	full := bt.NewBitfield(mt.Info.NumPieces)
	full.SetAll()
	if _, err := sp.conn.Write(wire.AppendMessage(wire.AppendMessage(nil, wire.Message{ID: wire.Bitfield, Payload: full.Bytes()}), wire.Message{ID: wire.Unchoke})); err != nil {
		t.Fatalf("serving peer: %v", err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); sp.read(fp.r) }()
	go func() { defer wg.Done(); sp.write() }()
	t.Cleanup(func() {
		sp.conn.Close()
		sp.mu.Lock()
		sp.closed = true
		sp.cond.Broadcast()
		sp.mu.Unlock()
		wg.Wait()
	})
	return sp
}

func (sp *ServingPeer) read(r *wire.Reader) {
	defer func() {
		sp.mu.Lock()
		sp.closed = true
		sp.cond.Broadcast()
		sp.mu.Unlock()
	}()
	for {
		m, err := r.ReadMessage()
		if err != nil {
			return
		}
		m.Payload = nil
		sp.mu.Lock()
		sp.got = append(sp.got, Received{At: time.Now(), Msg: m})
		switch m.ID {
		case wire.Request:
			sp.queue = append(sp.queue, m)
		case wire.Cancel:
			if sp.honourCancel {
				sp.queue = slices.DeleteFunc(sp.queue, func(q wire.Message) bool {
					return q.Index == m.Index && q.Begin == m.Begin && q.Length == m.Length
				})
			}
		}
		sp.cond.Broadcast()
		sp.mu.Unlock()
	}
}

func (sp *ServingPeer) write() {
	for {
		sp.mu.Lock()
		for len(sp.queue) == 0 && !sp.closed {
			sp.cond.Wait()
		}
		if sp.closed {
			sp.mu.Unlock()
			return
		}
		m := sp.queue[0]
		sp.queue = sp.queue[1:]
		sp.mu.Unlock()
		off := int64(m.Index)*sp.mt.Info.PieceLength + int64(m.Begin)
		if m.Length > bt.BlockSize || off+int64(m.Length) > int64(len(sp.data)) {
			sp.conn.Close()
			return
		}
		b := wire.AppendMessage(nil, wire.Message{ID: wire.Piece, Index: m.Index, Begin: m.Begin, Payload: sp.data[off : off+int64(m.Length)]})
		if _, err := sp.conn.Write(b); err != nil {
			return
		}
		sp.mu.Lock()
		sp.sent += int64(m.Length)
		sp.mu.Unlock()
	}
}

// Received returns a copy of the messages received so far.
func (sp *ServingPeer) Received() []Received {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return slices.Clone(sp.got)
}

// Mark is how many messages have been received so far: ReceivedSince(mark)
// returns those after it.
func (sp *ServingPeer) Mark() int {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return len(sp.got)
}

// ReceivedSince returns the messages received after mark.
func (sp *ServingPeer) ReceivedSince(mark int) []Received {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return slices.Clone(sp.got[min(mark, len(sp.got)):])
}

// Sent is how many PIECE payload bytes the peer has written.
func (sp *ServingPeer) Sent() int64 {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.sent
}

// WaitFor waits until a message after mark satisfies match, or d passes (a
// bound on a hang, not a measurement); it reports whether one did.
func (sp *ServingPeer) WaitFor(mark int, d time.Duration, match func(wire.Message) bool) bool {
	deadline := time.AfterFunc(d, func() {
		sp.mu.Lock()
		sp.cond.Broadcast()
		sp.mu.Unlock()
	})
	defer deadline.Stop()
	end := time.Now().Add(d)
	sp.mu.Lock()
	defer sp.mu.Unlock()
	for k := mark; ; {
		for ; k < len(sp.got); k++ {
			if match(sp.got[k].Msg) {
				return true
			}
		}
		if sp.closed || !time.Now().Before(end) {
			return false
		}
		sp.cond.Wait()
	}
}
