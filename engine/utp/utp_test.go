package utp

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/netem"
)

func TestTransfer(t *testing.T) {
	a, b := newSocket(t, Config{}, nil), newSocket(t, Config{}, nil)
	dc, ac := pair(t, a, b)
	transfer(t, dc, ac, randomBytes(8<<20))
	// And the other way, on a second connection.
	dc2, ac2 := pair(t, a, b)
	transfer(t, ac2, dc2, randomBytes(1<<20))
}

// TestTransferHostileNetwork moves 4 MiB each way over a path that loses,
// duplicates and reorders datagrams in both directions.
func TestTransferHostileNetwork(t *testing.T) {
	spoil := func(seed uint64) func(net.PacketConn) net.PacketConn {
		return func(pc net.PacketConn) net.PacketConn { return newFaulty(pc, 0.03, 0.03, 0.1, seed) }
	}
	cfg := Config{MinRTO: 100 * time.Millisecond}
	a, b := newSocket(t, cfg, spoil(1)), newSocket(t, cfg, spoil(2))
	dc, ac := pair(t, a, b)
	done := make(chan struct{})
	go func() {
		defer close(done)
		transfer(t, ac, dc, randomBytes(4<<20))
	}()
	transfer(t, dc, ac, randomBytes(4<<20))
	<-done
}

// TestTransferNetem goes through the netem UDP relay: delay, jitter, a rate
// limit with its queue drops, and random loss.
func TestTransferNetem(t *testing.T) {
	b := newSocket(t, Config{}, nil)
	r, err := netem.ListenUDP(context.Background(), "127.0.0.1:0", b.Addr().String(),
		netem.Shape{Delay: 10 * time.Millisecond, Jitter: 3 * time.Millisecond, Rate: 8 << 20, Loss: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	a := newSocket(t, Config{}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	acc := make(chan net.Conn, 1)
	go func() { c, _ := b.Accept(); acc <- c }()
	dc, err := a.Dial(ctx, r.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	ac := <-acc
	defer ac.Close()
	transfer(t, dc, ac, randomBytes(2<<20))
}

// TestSeqWraparound starts sequence numbers just below 2^16.
func TestSeqWraparound(t *testing.T) {
	cfg := Config{initialSeq: func() uint16 { return 0xfff0 }}
	a, b := newSocket(t, cfg, nil), newSocket(t, cfg, nil)
	dc, ac := pair(t, a, b)
	data := randomBytes(3 << 20) // ~2300 packets: the counters wrap
	transfer(t, dc, ac, data)
	dc.mu.Lock()
	seq := dc.seq
	dc.mu.Unlock()
	if seq >= 0xfff0 {
		t.Fatalf("seq %#x did not wrap", seq)
	}
}

func TestSynRetry(t *testing.T) {
	var fa *faulty
	a := newSocket(t, Config{}, func(pc net.PacketConn) net.PacketConn {
		fa = newFaulty(pc, 0, 0, 0, 1)
		fa.dropFirst.Store(1) // the first SYN is lost
		return fa
	})
	b := newSocket(t, Config{}, nil)
	dc, ac := pair(t, a, b)
	if n := fa.sent.Load(); n < 2 {
		t.Fatalf("%d datagrams sent, want a SYN retry", n)
	}
	transfer(t, dc, ac, []byte("hello"))
}

func TestDialNobody(t *testing.T) {
	a := newSocket(t, Config{}, nil)
	pc := listenUDP(t) // reads nothing, answers nothing
	defer pc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := a.Dial(ctx, pc.LocalAddr().String())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("dial: %v, want deadline exceeded", err)
	}
	if n := a.NumConns(); n != 0 {
		t.Fatalf("%d connections left after a failed dial", n)
	}
}

// TestSynGivesUp: without a context deadline, a dial fails after its SYN
// retries.
func TestSynGivesUp(t *testing.T) {
	if testing.Short() {
		t.Skip("7 s of SYN retries")
	}
	a := newSocket(t, Config{}, nil)
	pc := listenUDP(t)
	defer pc.Close()
	_, err := a.Dial(context.Background(), pc.LocalAddr().String())
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("dial: %v, want %v", err, ErrTimeout)
	}
}

// TestReset: a peer that no longer knows the connection answers with a
// RESET, and our side fails with ErrReset.
func TestReset(t *testing.T) {
	a, b := newSocket(t, Config{}, nil), newSocket(t, Config{}, nil)
	dc, ac := pair(t, a, b)
	ac.mu.Lock()
	ac.fail(errors.New("forgotten")) // silently, as after a restart
	ac.mu.Unlock()
	dc.Write([]byte("anyone there?"))
	_, err := dc.Read(make([]byte, 10))
	if !errors.Is(err, ErrReset) {
		t.Fatalf("read: %v, want %v", err, ErrReset)
	}
	if _, err := dc.Write([]byte("x")); !errors.Is(err, ErrReset) {
		t.Fatalf("write: %v, want %v", err, ErrReset)
	}
}

// TestRefusedDial: a SYN that is refused (the table is full) is answered
// with a RESET and the dial fails at once.
func TestRefusedDial(t *testing.T) {
	a, b := newSocket(t, Config{}, nil), newSocket(t, Config{MaxConns: 1}, nil)
	pair(t, a, b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := a.Dial(ctx, b.Addr().String())
	if !errors.Is(err, ErrReset) {
		t.Fatalf("dial: %v, want %v", err, ErrReset)
	}
}

func TestFinBothWays(t *testing.T) {
	a, b := newSocket(t, Config{}, nil), newSocket(t, Config{}, nil)
	for _, dialerCloses := range []bool{true, false} {
		dc, ac := pair(t, a, b)
		first, second := net.Conn(dc), net.Conn(ac)
		if !dialerCloses {
			first, second = ac, dc
		}
		first.Write([]byte("last words"))
		first.Close()
		got, err := io.ReadAll(second)
		if err != nil || string(got) != "last words" {
			t.Fatalf("read %q, %v; want the data and EOF", got, err)
		}
		// The other side may still write after the FIN (half-close) ...
		if _, err := second.Write([]byte("after")); err != nil {
			t.Fatalf("write after the peer's FIN: %v", err)
		}
		if _, err := first.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read after close: %v, want net.ErrClosed", err)
		}
		second.Close()
		waitDead(t, dc)
		waitDead(t, ac)
	}
	if a.NumConns() != 0 || b.NumConns() != 0 {
		t.Fatalf("connections left: %d, %d", a.NumConns(), b.NumConns())
	}
}

func TestIdleTimeout(t *testing.T) {
	cfg := Config{IdleTimeout: 300 * time.Millisecond}
	var fb *faulty
	a := newSocket(t, cfg, nil)
	b := newSocket(t, Config{}, func(pc net.PacketConn) net.PacketConn { fb = newFaulty(pc, 0, 0, 0, 1); return fb })
	dc, _ := pair(t, a, b)
	fb.dropAll.Store(true) // b goes silent
	_, err := dc.Read(make([]byte, 1))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, ErrTimeout) {
		t.Fatalf("read: %v, want a timeout", err)
	}
}

// TestKeepAlive: a quiet connection with keepalives outlives the idle
// timeout many times over.
func TestKeepAlive(t *testing.T) {
	cfg := Config{IdleTimeout: 300 * time.Millisecond, KeepAlive: 50 * time.Millisecond}
	var fa *faulty
	a := newSocket(t, cfg, func(pc net.PacketConn) net.PacketConn { fa = newFaulty(pc, 0, 0, 0, 1); return fa })
	b := newSocket(t, cfg, nil)
	dc, ac := pair(t, a, b)
	start := fa.sent.Load()
	for fa.sent.Load() < start+20 { // ~1 s of keepalives
		select {
		case <-dc.dead:
			t.Fatal("connection died while idle with keepalives")
		case <-time.After(10 * time.Millisecond):
		}
	}
	transfer(t, ac, dc, []byte("still here"))
}

// TestRetransmitTimeout: a peer that stops acking is given up on after
// MaxRetransmits timeouts.
func TestRetransmitTimeout(t *testing.T) {
	cfg := Config{MinRTO: 20 * time.Millisecond, MaxRetransmits: 3}
	var fa *faulty
	a := newSocket(t, cfg, func(pc net.PacketConn) net.PacketConn { fa = newFaulty(pc, 0, 0, 0, 1); return fa })
	b := newSocket(t, Config{}, nil)
	dc, _ := pair(t, a, b)
	fa.dropAll.Store(true)
	before := fa.sent.Load()
	if _, err := dc.Write([]byte("into the void")); err != nil {
		t.Fatal(err)
	}
	waitDead(t, dc)
	if _, err := dc.Write([]byte("x")); !errors.Is(err, ErrTimeout) {
		t.Fatalf("write: %v, want %v", err, ErrTimeout)
	}
	if n := fa.sent.Load() - before; n != 4 {
		t.Fatalf("%d sends, want 1 + 3 retransmissions", n)
	}
}

// TestWindowFull: a reader that does not read stops the writer (bounded
// buffers on both sides); once it reads, everything arrives.
func TestWindowFull(t *testing.T) {
	cfg := Config{SendBuffer: 64 << 10, RecvBuffer: 64 << 10, MinRTO: 50 * time.Millisecond}
	a, b := newSocket(t, cfg, nil), newSocket(t, cfg, nil)
	dc, ac := pair(t, a, b)
	data := randomBytes(1 << 20)
	// Wait until the receiver's buffer is full.
	dc.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
	n, err := dc.Write(data)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write: %d, %v; want a deadline error", n, err)
	}
	if n > 128<<10 {
		t.Fatalf("wrote %d bytes into 128 KiB of buffers", n)
	}
	ac.mu.Lock()
	held := ac.rqBytes + ac.oooBytes
	ac.mu.Unlock()
	if held > 64<<10 {
		t.Fatalf("receiver holds %d bytes, over its 64 KiB buffer", held)
	}
	dc.SetWriteDeadline(time.Time{})
	done := make(chan error, 1)
	go func() {
		_, err := dc.Write(data[n:])
		dc.Close()
		done <- err
	}()
	got, err := io.ReadAll(ac)
	if err != nil || string(got) != string(data) {
		t.Fatalf("read %d bytes, %v; want %d", len(got), err, len(data))
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestDeadlines(t *testing.T) {
	a, b := newSocket(t, Config{}, nil), newSocket(t, Config{}, nil)
	dc, ac := pair(t, a, b)
	dc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, err := dc.Read(make([]byte, 1))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read: %v, want a timeout", err)
	}
	// A deadline moved while a Read waits takes effect.
	dc.SetReadDeadline(time.Time{})
	errc := make(chan error, 1)
	go func() { _, err := dc.Read(make([]byte, 1)); errc <- err }()
	dc.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	if err := <-errc; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read: %v, want deadline exceeded", err)
	}
	dc.SetReadDeadline(time.Time{})
	ac.Write([]byte("x"))
	if _, err := dc.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
}

// TestHalfOpenBound: a flood of SYNs that never complete takes at most
// MaxHalfOpen entries; the rest are refused with a RESET.
func TestHalfOpenBound(t *testing.T) {
	b := newSocket(t, Config{MaxHalfOpen: 8}, nil)
	pc := listenUDP(t)
	defer pc.Close()
	for i := range 100 {
		h := header{typ: stSyn, connID: uint16(i * 2), seq: 1, wnd: 1 << 20}
		var p [headerSize]byte
		h.marshal(p[:])
		pc.WriteTo(p[:], b.Addr())
	}
	resets := 0
	buf := make([]byte, 2048)
	for resets == 0 {
		pc.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no RESET for the SYNs over the bound: %v", err)
		}
		if h, _, err := parseHeader(buf[:n]); err == nil && h.typ == stReset {
			resets++
		}
	}
	if n := b.NumConns(); n > 8 {
		t.Fatalf("%d connections held, want at most 8", n)
	}
	// A real dial still gets through once the half-open ones time out; here
	// we only check that the socket still works for other sockets' data.
}

// TestUnhandled: a datagram that is not uTP (a DHT query) goes to the hook.
func TestUnhandled(t *testing.T) {
	got := make(chan string, 1)
	b := newSocket(t, Config{Unhandled: func(p []byte, from netip.AddrPort) { got <- string(p) }}, nil)
	pc := listenUDP(t)
	defer pc.Close()
	q := "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe"
	pc.WriteTo([]byte(q), b.Addr())
	if s := <-got; s != q {
		t.Fatalf("hook got %q, want %q", s, q)
	}
}

func TestSACKMask(t *testing.T) {
	s := &Socket{cfg: Config{}.withDefaults()}
	c := newConn(s, netip.AddrPort{}, 1, 2)
	c.ack = 0xfffe
	for _, seq := range []uint16{0, 2, 9} { // ack+2, ack+4, ack+11
		c.ooo[seq] = []byte{1}
	}
	m := c.sackMask()
	if len(m) != 4 || m[0] != 0b101 || m[1] != 0b10 {
		t.Fatalf("mask %08b", m)
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	h := header{typ: stState, connID: 0xbeef, ts: 1, tsDiff: 2, wnd: 3, seq: 0xffff, ack: 5, sack: []byte{1, 2, 3, 4}}
	var b [64]byte
	n := h.marshal(b[:])
	g, payload, err := parseHeader(append(b[:n:n], "data"...))
	if err != nil || g.typ != h.typ || g.connID != h.connID || g.seq != h.seq || g.ack != h.ack ||
		g.wnd != h.wnd || string(g.sack) != string(h.sack) || string(payload) != "data" {
		t.Fatalf("got %+v %q %v", g, payload, err)
	}
	if binary.BigEndian.Uint16(b[16:]) != 0xffff {
		t.Fatal("seq not big-endian")
	}
}
