package utp

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

// rwndPeer feeds a receiving Conn DATA packets as a sender on a path with a
// 100 ms round trip would (50 ms each way, told through the timestamps),
// on a clock of its own, and reads the window the Conn advertises back.
type rwndPeer struct {
	t    *testing.T
	c    *Conn
	peer net.PacketConn // where the Conn's STATEs go
	now  time.Time
	seq  uint16
	buf  []byte
}

const (
	rwndOneWay = 50 * time.Millisecond
	rwndRate   = 4e6 // bytes a second
)

func newRwndPeer(t *testing.T) *rwndPeer {
	s := newSocket(t, Config{RecvBuffer: 8 << 20}, nil)
	peer := listenUDP(t)
	t.Cleanup(func() { peer.Close() })
	raddr := peer.LocalAddr().(*net.UDPAddr).AddrPort()
	c := newConn(s, netip.AddrPortFrom(raddr.Addr().Unmap(), raddr.Port()), 100, 101)
	c.state = stateConnected
	c.ack = 999
	return &rwndPeer{t: t, c: c, peer: peer, now: time.Now(), seq: 1000, buf: make([]byte, maxPayload)}
}

// send delivers packet seq at p.now, then moves the clock on by one packet
// at rate (bytes a second).
func (p *rwndPeer) send(seq uint16, rate float64) {
	c := p.c
	c.mu.Lock()
	micros := c.s.micros(p.now)
	h := header{typ: stData, connID: c.recvID, seq: seq, ack: c.seq - 1, wnd: 1 << 20,
		ts: micros - uint32(rwndOneWay/time.Microsecond), tsDiff: uint32(rwndOneWay / time.Microsecond)}
	c.handle(h, p.buf, p.now)
	c.readQueued(make([]byte, c.rqBytes)) // the application keeps up
	c.mu.Unlock()
	p.now = p.now.Add(time.Duration(float64(len(p.buf)) / rate * float64(time.Second)))
}

// run sends the next packets in order for d.
func (p *rwndPeer) run(d time.Duration, rate float64) {
	for end := p.now.Add(d); p.now.Before(end); p.seq++ {
		p.send(p.seq, rate)
	}
}

func (p *rwndPeer) cap() int {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	return p.c.rw.cap
}

// wire is the window of the last packet the Conn sent.
func (p *rwndPeer) wire() uint32 {
	p.t.Helper()
	c := p.c
	c.mu.Lock()
	c.sendState(p.now)
	c.mu.Unlock()
	b := make([]byte, 2048)
	p.peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		n, _, err := p.peer.ReadFrom(b)
		if err != nil {
			p.t.Fatal(err)
		}
		h, _, err := parseHeader(b[:n])
		if err != nil {
			p.t.Fatal(err)
		}
		if h.typ == stState && h.ack == c.ack && h.ts == c.s.micros(p.now) {
			return h.wnd
		}
	}
}

// TestAdvertisedWindowCap: a path that never drops keeps the whole receive
// buffer as our window; after a loss, the window we advertise is held a little
// below what the sender had in flight then (so that libtorrent, whose window
// grows only while it is what limits it, stops short of the point of loss),
// and rises, by n/capGrowDiv of a packet in the n-th round trip, while it
// holds the sender back; more gaps in the same loss and a loss while the sender is
// regrowing its window do not cut it again.
func TestAdvertisedWindowCap(t *testing.T) {
	p := newRwndPeer(t)
	p.run(time.Second, rwndRate)
	if got := p.wire(); p.cap() != 0 || got != 8<<20 {
		t.Fatalf("no loss yet: window %d (cap %d), want the whole buffer %d", got, p.cap(), 8<<20)
	}

	// A packet lost: the next one shows the gap.
	lost := p.skip()
	p.run(5*time.Millisecond, rwndRate)
	// In flight: a round trip (100 ms) at 4 MB/s, 400 KB.
	inFlight := rwndRate * 2 * rwndOneWay.Seconds()
	lo, hi := int((capBeta-0.05)*inFlight), int((capBeta+0.05)*inFlight)
	cap0 := p.cap()
	if cap0 < lo || cap0 > hi {
		t.Fatalf("after a loss: cap %d, want %d..%d (%v of %.0f in flight)", cap0, lo, hi, capBeta, inFlight)
	}
	if got := p.wire(); got != uint32(cap0) {
		t.Fatalf("advertised %d, want the cap %d", got, cap0)
	}
	p.send(lost, rwndRate) // the retransmission fills the hole
	p.run(50*time.Millisecond, rwndRate)

	// Another gap of the same loss (within a few round trips): no new cut.
	lost = p.skip()
	p.run(50*time.Millisecond, rwndRate)
	if got := p.cap(); got < cap0 {
		t.Fatalf("a second gap of the same loss cut the cap %d -> %d", cap0, got)
	}
	p.send(lost, rwndRate)

	// The sender keeps the cap full for 60 round trips: it rises by
	// 1/256, 2/256, ... 60/256 of a packet, about 7 in all.
	p.run(6*time.Second, rwndRate)
	if got, lo, hi := p.cap(), cap0+6*maxPayload, cap0+9*maxPayload; got < lo || got > hi {
		t.Fatalf("after 60 round trips at the cap: %d, want %d..%d", got, lo, hi)
	}

	// A loss while the sender regrows its window (an eighth of the cap in
	// flight) says nothing about the path: the cap stays (it does not rise
	// either: it holds nobody back).
	p.run(time.Second, rwndRate/8)
	cap1 := p.cap()
	lost = p.skip()
	p.run(5*time.Millisecond, rwndRate/8)
	if got := p.cap(); got != cap1 {
		t.Fatalf("a loss with little in flight moved the cap %d -> %d", cap1, got)
	}
	p.send(lost, rwndRate)

	// A later loss with the cap full sets it again from what was in flight
	// (half the rate now: 200 KB).
	p.run(2*time.Second, rwndRate/2)
	p.skip()
	p.run(5*time.Millisecond, rwndRate/2)
	if got := p.cap(); got < lo/2 || got > hi/2 {
		t.Fatalf("a loss at half the rate: cap %d, want %d..%d", got, lo/2, hi/2)
	}
}

// skip loses the next packet: it returns its sequence number.
func (p *rwndPeer) skip() uint16 {
	p.seq++
	return p.seq - 1
}

// TestAdvertisedWindowFloor: the cap never shuts the window below capFloor,
// however little came in when a loss showed.
func TestAdvertisedWindowFloor(t *testing.T) {
	p := newRwndPeer(t)
	p.run(time.Second, 20e3) // 2 KB a round trip
	lost := p.skip()
	p.run(5*time.Millisecond, 20e3)
	if got := p.wire(); p.cap() != capFloor || got != capFloor {
		t.Fatalf("window %d (cap %d), want the floor %d", got, p.cap(), capFloor)
	}
	// The path can do far more: the cap rises faster the longer it holds
	// the sender back, 100²/512 packets in 100 round trips.
	p.send(lost, 1e6)
	p.run(10*time.Second, 1e6)
	if got, lo := p.cap(), capFloor+17*maxPayload; got < lo {
		t.Fatalf("after 100 round trips at the floor: cap %d, want >= %d", got, lo)
	}
}
