package peerconn

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/wire"
)

func TestMessagesInOrder(t *testing.T) {
	checkGoroutines(t)
	events := make(chan Event, 16)
	c, p := startPeer(t, testConfig(), events)

	var want []wire.Message
	want = append(want, wire.Message{ID: wire.Bitfield, Payload: bytes.Repeat([]byte{0xff}, 12)}) // 100 pieces: last byte below
	want[0].Payload = append(want[0].Payload, 0xf0)
	for i := range 300 {
		want = append(want, wire.Message{ID: wire.Have, Index: uint32(i % testPieces)})
		if i%30 == 0 {
			want = append(want, wire.Message{ID: wire.Piece, Index: uint32(i % testPieces), Begin: uint32(i), Payload: bytes.Repeat([]byte{byte(i)}, bt.BlockSize)})
		}
	}
	want = append(want, wire.Message{ID: wire.Extended, ExtID: 3, Payload: []byte("d1:ai1ee")})
	go func() {
		p.send(wire.Message{Keepalive: true}, wire.Message{ID: 0x42, Payload: []byte("skipped")}) // not delivered
		p.send(want...)
	}()
	// Send the other way meanwhile; the raw peer reads after its writes.
	for i := range 200 {
		if !c.Send(wire.Message{ID: wire.Request, Index: uint32(i % testPieces), Begin: uint32(i), Length: bt.BlockSize}) {
			t.Fatal("Send failed")
		}
	}
	var got []wire.Message
	for len(got) < len(want) {
		ev, ok := next(t, events).(Msg)
		if !ok {
			t.Fatalf("after %d messages: %#v", len(got), ev)
		}
		if ev.Conn != c {
			t.Fatal("Msg for another Conn")
		}
		got = append(got, ev.M)
	}
	// Only now compare: payloads delivered earlier must not have been overwritten.
	for i := range want {
		if g, w := got[i], want[i]; g.ID != w.ID || g.Index != w.Index || g.Begin != w.Begin || g.ExtID != w.ExtID || !bytes.Equal(g.Payload, w.Payload) {
			t.Fatalf("message %d = %v, want %v", i, g, w)
		}
	}
	for i := range 200 {
		m := p.read()
		if m.ID != wire.Request || m.Begin != uint32(i) {
			t.Fatalf("raw peer: message %d = %v", i, m)
		}
	}
	if c.BytesRead() < int64(len(want))*9 || c.BytesWritten() < 200*17 {
		t.Errorf("counters: read %d, written %d", c.BytesRead(), c.BytesWritten())
	}
	c.Close(nil)
	if err := waitClosed(t, c, events); !errors.Is(err, ErrClosed) {
		t.Errorf("closed with %v", err)
	}
}

// frame builds a message with an arbitrary length prefix.
func frame(n uint32, id wire.ID, body ...byte) []byte {
	return append([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n), byte(id)}, body...)
}

// TestViolationsClose: every limit violation closes the connection with a reason
// the owner can match.
func TestViolationsClose(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"length prefix beyond the cap", frame(2<<20, wire.Extended), wire.ErrMessageTooLong},
		{"length prefix 0xFFFFFFFF", frame(0xFFFFFFFF, wire.Piece), wire.ErrMessageTooLong},
		{"piece block over 16 KiB", frame(9+bt.BlockSize+1, wire.Piece), wire.ErrBadLength},
		{"bitfield of the wrong size", frame(15, wire.Bitfield), wire.ErrBadLength},
		{"bitfield with spare bits", wire.AppendMessage(nil, wire.Message{ID: wire.Bitfield, Payload: make([]byte, 12, 13)[:13:13]}), nil},
		{"have of 6 bytes", frame(6, wire.Have, 0, 0, 0, 0, 0), wire.ErrBadLength},
		{"have beyond the last piece", wire.AppendHave(nil, testPieces), wire.ErrIndexOutOfRange},
		{"request of 12 bytes", frame(12, wire.Request), wire.ErrBadLength},
	}
	// Spare bits: 100 pieces leave 4 spare bits in the 13th byte.
	cases[4].in[len(cases[4].in)-1] = 0x01
	cases[4].want = bt.ErrBitfield
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkGoroutines(t)
			events := make(chan Event, 4)
			c, p := startPeer(t, testConfig(), events)
			go p.nc.Write(tc.in)
			err := waitClosed(t, c, events)
			if !errors.Is(err, tc.want) {
				t.Fatalf("closed with %v, want %v", err, tc.want)
			}
			if !errors.Is(c.Err(), tc.want) {
				t.Fatalf("Err() = %v", c.Err())
			}
		})
	}
}

// TestQueueOverflow: a peer that never reads gets closed, and Send never blocks.
func TestQueueOverflow(t *testing.T) {
	checkGoroutines(t)
	cfg := testConfig()
	cfg.MaxQueueBytes = 256 << 10
	events := make(chan Event, 4)
	c, _ := startPeer(t, cfg, events) // the raw peer never reads
	block := make([]byte, bt.BlockSize)
	start := time.Now()
	sent := 0
	for ; sent < 1000; sent++ {
		if !c.Send(wire.Message{ID: wire.Piece, Index: 1, Payload: block}) {
			break
		}
	}
	if sent == 1000 {
		t.Fatal("queue never overflowed")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Send blocked for %v", d)
	}
	if c.Send(wire.Message{ID: wire.Choke}) {
		t.Error("Send on a closed Conn succeeded")
	}
	if err := waitClosed(t, c, events); !errors.Is(err, ErrSendQueueOverflow) {
		t.Fatalf("closed with %v", err)
	}
	// The count bound works too.
	cfg = testConfig()
	cfg.MaxQueueLen = 10
	c, _ = startPeer(t, cfg, events)
	for range 20 {
		c.Send(wire.Message{ID: wire.Have, Index: 1})
	}
	if err := waitClosed(t, c, events); !errors.Is(err, ErrSendQueueOverflow) {
		t.Fatalf("count bound: closed with %v", err)
	}
}

// TestCloseWhileOwnerNotReading: the reader is blocked delivering to an owner that
// does not read; Close returns at once and Closed is still delivered, last.
func TestCloseWhileOwnerNotReading(t *testing.T) {
	checkGoroutines(t)
	events := make(chan Event) // unbuffered, and nobody reads for now
	c, p := startPeer(t, testConfig(), events)
	go func() {
		for i := range 10 {
			if _, err := p.nc.Write(wire.AppendHave(nil, uint32(i))); err != nil {
				return
			}
		}
	}()
	time.Sleep(20 * time.Millisecond) // let the reader block on delivery
	closed := make(chan struct{})
	go func() {
		c.Close(errors.New("owner is done"))
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(10 * time.Second): // a bound on a hang
		t.Fatal("Close blocked")
	}
	if err := waitClosed(t, c, events); err.Error() != "owner is done" {
		t.Fatalf("closed with %v", err)
	}
}

// TestExactlyOneClosed closes from many goroutines while the peer hangs up too.
func TestExactlyOneClosed(t *testing.T) {
	checkGoroutines(t)
	events := make(chan Event, 64)
	c, p := startPeer(t, testConfig(), events)
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { c.Close(nil) })
	}
	p.nc.Close()
	wg.Wait()
	waitClosed(t, c, events) // fails on a second Closed
	c.Close(errors.New("late"))
	if !errors.Is(c.Err(), ErrClosed) && !errors.Is(c.Err(), ErrPeerClosed) {
		t.Fatalf("Err() = %v", c.Err())
	}
}

func TestCloseBeforeStart(t *testing.T) {
	checkGoroutines(t)
	ini, acc := handshakePipe(t, testConfig(), testConfig(), testTorrent)
	if ini.err != nil || acc.err != nil {
		t.Fatal(ini.err, acc.err)
	}
	acc.c.Close(nil)
	ini.c.Close(nil)
	events := make(chan Event, 1)
	ini.c.Start(events)
	if err := waitClosed(t, ini.c, events); !errors.Is(err, ErrClosed) {
		t.Fatalf("closed with %v", err)
	}
}

func TestIdleTimeout(t *testing.T) {
	checkGoroutines(t)
	cfg := testConfig()
	// 20 times the keep-alive gap below: a loaded machine may pause the sender.
	cfg.IdleTimeout = time.Second
	events := make(chan Event, 4)
	c, p := startPeer(t, cfg, events)
	// Keep-alives from the peer keep the connection open...
	for range 5 {
		p.send(wire.Message{Keepalive: true})
		time.Sleep(50 * time.Millisecond)
	}
	if err := c.Err(); err != nil {
		t.Fatalf("closed despite keep-alives: %v", err)
	}
	// ...silence closes it.
	start := time.Now()
	if err := waitClosed(t, c, events); !errors.Is(err, ErrIdle) {
		t.Fatalf("closed with %v", err)
	}
	if d := time.Since(start); d > 10*time.Second { // a bound on a hang
		t.Errorf("idle close took %v", d)
	}
}

func TestKeepaliveSent(t *testing.T) {
	checkGoroutines(t)
	cfg := testConfig()
	cfg.KeepaliveInterval = 30 * time.Millisecond
	events := make(chan Event, 4)
	c, p := startPeer(t, cfg, events)
	c.Send(wire.Message{ID: wire.Interested})
	if m := p.read(); m.Keepalive || m.ID != wire.Interested {
		t.Fatalf("first message %v", m)
	}
	for range 2 {
		if m := p.read(); !m.Keepalive {
			t.Fatalf("got %v, want keep-alive", m)
		}
	}
	c.Close(nil)
	waitClosed(t, c, events)
}

// TestWriteStalled: a single write that makes no progress closes the connection
// even though the queue is far from its bound.
func TestWriteStalled(t *testing.T) {
	checkGoroutines(t)
	cfg := testConfig()
	cfg.WriteTimeout = 50 * time.Millisecond
	events := make(chan Event, 4)
	c, _ := startPeer(t, cfg, events) // never reads
	c.Send(wire.Message{ID: wire.Unchoke})
	if err := waitClosed(t, c, events); !errors.Is(err, ErrWriteStalled) {
		t.Fatalf("closed with %v", err)
	}
}

func TestCancelQueued(t *testing.T) {
	checkGoroutines(t)
	ini, acc := handshakePipe(t, testConfig(), testConfig(), testTorrent)
	if ini.err != nil || acc.err != nil {
		t.Fatal(ini.err, acc.err)
	}
	c := ini.c
	// Before Start nothing is written, so the queue is observable.
	for i := range 3 {
		c.Send(wire.Message{ID: wire.Request, Index: uint32(i), Length: bt.BlockSize})
		c.Send(wire.Message{ID: wire.Piece, Index: uint32(i), Payload: make([]byte, 100)})
	}
	if n, b := c.Queued(); n != 6 || b != 3*17+3*113 {
		t.Fatalf("Queued = %d, %d", n, b)
	}
	if n := c.CancelQueued(func(m wire.Message) bool { return m.ID == wire.Piece && m.Index != 1 }); n != 2 {
		t.Fatalf("CancelQueued removed %d, want 2", n)
	}
	if n, b := c.Queued(); n != 4 || b != 3*17+113 {
		t.Fatalf("after cancel: Queued = %d, %d", n, b)
	}
	ievents, aevents := make(chan Event, 8), make(chan Event, 8)
	c.Start(ievents)
	acc.c.Start(aevents)
	var got []string
	for range 4 {
		got = append(got, next(t, aevents).(Msg).M.String())
	}
	want := []string{"request(index=0 begin=0 len=16384)", "request(index=1 begin=0 len=16384)", "piece(index=1 begin=0 len=100)", "request(index=2 begin=0 len=16384)"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("peer received %q, want %q", got, want)
		}
	}
	c.Close(nil)
	waitClosed(t, c, ievents)
	waitClosed(t, acc.c, aevents)
}

// TestSetNumPieces: a magnet connection learns the piece count after the handshake.
func TestSetNumPieces(t *testing.T) {
	checkGoroutines(t)
	cfg := testConfig()
	cfg.Lookup = func(ih bt.InfoHash) (Torrent, bool) { return Torrent{}, true } // count unknown
	events := make(chan Event, 4)
	c, p := startPeer(t, cfg, events)
	p.send(wire.Message{ID: wire.Have, Index: 5000})
	if m := next(t, events).(Msg).M; m.Index != 5000 {
		t.Fatalf("got %v", m)
	}
	c.SetNumPieces(testPieces)
	// The first HAVE may be read under the old limits; the next one cannot be.
	go p.send(wire.Message{ID: wire.Have, Index: 1}, wire.Message{ID: wire.Have, Index: 5000})
	if err := waitClosed(t, c, events); !errors.Is(err, wire.ErrIndexOutOfRange) {
		t.Fatalf("closed with %v", err)
	}
}
