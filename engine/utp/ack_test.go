package utp

import (
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// capturePC is a PacketConn that keeps what is written to it and reads
// nothing: a Socket on it, without its goroutines, lets a test drive a Conn
// step by step.
type capturePC struct {
	net.PacketConn // nil: only WriteTo and LocalAddr are used
	mu             sync.Mutex
	sent           [][]byte
}

func (p *capturePC) WriteTo(b []byte, _ net.Addr) (int, error) {
	p.mu.Lock()
	p.sent = append(p.sent, append([]byte(nil), b...))
	p.mu.Unlock()
	return len(b), nil
}

// acks returns the STATE packets written since the last call.
func (p *capturePC) acks(t *testing.T) []header {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	var hs []header
	for _, b := range p.sent {
		h, _, err := parseHeader(b)
		if err != nil {
			t.Fatalf("we sent a bad packet: %v", err)
		}
		if h.typ == stState {
			hs = append(hs, h)
		}
	}
	p.sent = nil
	return hs
}

// TestDelayedAcks: packets that come one per batch (WAN rates) are acked
// every second packet and the reader is woken per 16 KiB, not per packet;
// a lone packet is acked, and its bytes handed to the reader, by the tick; a
// packet shorter than the sender's full ones, one out of order and one that
// fills a hole are acked at once.
func TestDelayedAcks(t *testing.T) {
	pc := &capturePC{}
	s := &Socket{pc: pc, cfg: Config{}.withDefaults(), epoch: time.Now(), conns: map[connKey]*Conn{}}
	c := newConn(s, netip.MustParseAddrPort("127.0.0.1:9"), 10, 11)
	c.state = stateConnected
	c.ack = 100
	now := time.Now()
	full := make([]byte, maxPayload)
	seq := uint16(100)
	// packet sends one DATA packet as the peer and ends the socket's batch.
	packet := func(payload []byte) {
		t.Helper()
		seq++
		c.mu.Lock()
		c.handle(header{typ: stData, connID: 10, seq: seq, ack: c.seq - 1, wnd: 1 << 20}, payload, now)
		c.mu.Unlock()
		s.flushAcks()
	}
	woken := func() bool {
		select {
		case <-c.readable:
			return true
		default:
			return false
		}
	}
	wantAcks := func(what string, want ...uint16) {
		t.Helper()
		got := pc.acks(t)
		if len(got) != len(want) {
			t.Fatalf("%s: %d acks, want %d", what, len(got), len(want))
		}
		for i, h := range got {
			if h.ack != want[i] {
				t.Fatalf("%s: ack %d, want %d", what, h.ack, want[i])
			}
		}
	}

	for range ackEvery - 1 {
		packet(full)
		wantAcks("a full packet")
	}
	packet(full)
	wantAcks("full packets", seq)
	if woken() {
		t.Fatalf("reader woken for %d packets", ackEvery)
	}
	// Packets of varied sizes (libtorrent probes the path MTU) are not
	// taken for the end of a burst.
	n := 0
	for i := 0; c.rqBytes+len(full) < wakeBytes; i++ {
		p := full
		if i%2 == 0 {
			p = full[:fullPayload+100]
		}
		packet(p)
		n++
		if woken() {
			t.Fatalf("reader woken with %d bytes queued", c.rqBytes)
		}
	}
	if acks := len(pc.acks(t)); acks > n/ackEvery {
		t.Fatalf("%d acks for %d packets", acks, n)
	}
	packet(full)
	if !woken() {
		t.Fatalf("reader not woken with %d bytes queued", c.rqBytes)
	}
	c.mu.Lock()
	c.readQueued(make([]byte, c.rqBytes))
	c.mu.Unlock()
	pc.acks(t)

	// A lone full packet waits for the tick, which acks it and wakes the reader.
	for c.ackOwed > 0 {
		packet(full) // even up
	}
	pc.acks(t)
	woken()
	packet(full)
	wantAcks("lone full packet")
	if woken() {
		t.Fatal("reader woken for 1 packet")
	}
	c.mu.Lock()
	c.tick(now)
	c.mu.Unlock()
	wantAcks("tick", seq)
	if !woken() {
		t.Fatal("tick did not wake the reader")
	}

	// The end of a burst: acked and handed over at once.
	packet(full)
	packet([]byte("have"))
	wantAcks("short packet", seq) // one ack for both
	if !woken() {
		t.Fatal("reader not woken for the end of a burst")
	}

	// Out of order: acked at once with a selective ack; the packet that
	// fills the hole too.
	seq++ // lost
	packet(full)
	got := pc.acks(t)
	if len(got) != 1 || got[0].ack != seq-2 || len(got[0].sack) == 0 {
		t.Fatalf("out of order: acks %+v, want one for %d with a selective ack", got, seq-2)
	}
	hole := seq - 1
	c.mu.Lock()
	c.handle(header{typ: stData, connID: 10, seq: hole, ack: c.seq - 1, wnd: 1 << 20}, full, now)
	c.mu.Unlock()
	s.flushAcks()
	wantAcks("hole filled", seq)
	if !woken() {
		t.Fatal("reader not woken when a hole was filled")
	}
}

// TestReceiveAllocs: a DATA packet received in order, acked every second
// time, costs no allocation (the receive queue's chunks are pooled; acks go
// out through the socket's own send path, to a port nobody reads).
func TestReceiveAllocs(t *testing.T) {
	pc := listenUDP(t)
	defer pc.Close()
	udp := pc.(*net.UDPConn)
	s := &Socket{pc: pc, udp: udp, cfg: Config{}.withDefaults(), epoch: time.Now(), conns: map[connKey]*Conn{}}
	if rc, err := udp.SyscallConn(); err == nil {
		s.raw = newRawWriter(rc)
	}
	c := newConn(s, netip.MustParseAddrPort("127.0.0.1:9"), 10, 11)
	c.state = stateConnected
	full := make([]byte, maxPayload)
	read := make([]byte, 64<<10)
	seq := c.ack
	now := time.Now()
	allocs := testing.AllocsPerRun(1000, func() {
		seq++
		c.mu.Lock()
		c.handle(header{typ: stData, connID: 10, seq: seq, ack: c.seq - 1, wnd: 1 << 20}, full, now)
		c.mu.Unlock()
		s.flushAcks()
		if c.rqBytes >= 32<<10 {
			c.mu.Lock()
			c.readQueued(read)
			c.mu.Unlock()
		}
	})
	if allocs > 0.1 {
		t.Fatalf("%.2f allocations per packet", allocs)
	}
}
