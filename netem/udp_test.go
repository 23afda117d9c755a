package netem

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// udpEcho is a UDP target that echoes every datagram to its sender and
// counts them.
type udpEcho struct {
	conn    *net.UDPConn
	got     atomic.Int64
	mu      sync.Mutex
	senders map[string]bool
	seqs    []uint32 // the first 4 bytes of each datagram, in arrival order
}

func startUDPEcho(t *testing.T) *udpEcho {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	e := &udpEcho{conn: c, senders: make(map[string]bool)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			e.mu.Lock()
			e.senders[from.String()] = true
			if n >= 4 {
				e.seqs = append(e.seqs, binary.BigEndian.Uint32(buf))
			}
			e.mu.Unlock()
			e.got.Add(1)
			c.WriteToUDP(buf[:n], from)
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return e
}

func startUDPRelay(t *testing.T, target string, cfg Config) *Relay {
	t.Helper()
	r, err := cfg.ListenUDP(context.Background(), "127.0.0.1:0", target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Close()
		noRelayGoroutines(t)
	})
	return r
}

func udpClient(t *testing.T, r *Relay) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP("udp", nil, r.Addr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(hangGuard))
	t.Cleanup(func() { c.Close() })
	return c
}

func datagram(seq uint32, size int) []byte {
	b := make([]byte, size)
	binary.BigEndian.PutUint32(b, seq)
	return b
}

// TestUDPDelay: a datagram's round trip through the relay takes at least
// twice the one-way delay, and each client gets its own socket to the
// target and its own replies.
func TestUDPDelay(t *testing.T) {
	e := startUDPEcho(t)
	s := Shape{Delay: 20 * time.Millisecond, Jitter: 5 * time.Millisecond}
	cfg := shapes(s, s)
	cfg.Source = netip.MustParseAddr("127.0.0.6")
	r := startUDPRelay(t, e.conn.LocalAddr().String(), cfg)
	a, b := udpClient(t, r), udpClient(t, r)
	buf := make([]byte, 100)
	for i := range 4 {
		for j, c := range []*net.UDPConn{a, b} {
			seq := uint32(2*i + j)
			t0 := time.Now()
			if _, err := c.Write(datagram(seq, 10)); err != nil {
				t.Fatal(err)
			}
			n, err := c.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Since(t0); d < 2*(s.Delay-s.Jitter) {
				t.Errorf("round trip %d took %v, less than %v", seq, d, 2*(s.Delay-s.Jitter))
			}
			if got := binary.BigEndian.Uint32(buf[:n]); n != 10 || got != seq {
				t.Errorf("client %d got datagram %d (%d bytes), want its own %d", j, got, n, seq)
			}
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if st := r.Stats(); len(e.senders) != 2 || st.Conns != 2 {
		t.Errorf("the target saw %d senders, the relay %d clients; want 2 each", len(e.senders), st.Conns)
	}
	for a := range e.senders {
		if !strings.HasPrefix(a, "127.0.0.6:") {
			t.Errorf("the target saw %s, want the relay's Source 127.0.0.6", a)
		}
	}
}

// TestUDPLoss: about Loss of the datagrams are lost, the others all
// arrive, and the counters add up.
func TestUDPLoss(t *testing.T) {
	const sent, size = 400, 100
	e := startUDPEcho(t)
	r := startUDPRelay(t, e.conn.LocalAddr().String(), Config{Up: Shape{Loss: 0.5}})
	c := udpClient(t, r)
	accounted := func() int64 { st := r.Stats(); return st.Up.In/size + st.Up.Lost + st.Up.Dropped }
	for i := range sent {
		if _, err := c.Write(datagram(uint32(i), size)); err != nil {
			t.Fatal(err)
		}
		if i%50 == 49 { // keep the relay's socket buffer from overflowing
			waitFor(t, "the relay to take the datagrams", func() bool { return accounted() == int64(i+1) })
		}
	}
	waitFor(t, "the relay to take every datagram", func() bool { return accounted() == sent })
	st := r.Stats()
	waitFor(t, "the target to get what was not lost", func() bool { return e.got.Load() == st.Up.In/size })
	if st.Up.Dropped != 0 || st.Up.Lost < sent/4 || st.Up.Lost > sent*3/4 {
		t.Errorf("stats %+v: want about %d of %d lost and none dropped", st.Up, sent/2, sent)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := 1; i < len(e.seqs); i++ {
		if e.seqs[i] <= e.seqs[i-1] {
			t.Fatalf("datagram %d arrived after %d", e.seqs[i], e.seqs[i-1])
		}
	}
}

// TestUDPQueueFull: a stalled link takes datagrams up to its Window and
// drops the rest; on resume the ones it held arrive, in order.
func TestUDPQueueFull(t *testing.T) {
	const size, queue = 100, 1000
	e := startUDPEcho(t)
	stalled := Shape{Stall: true, Queue: queue}
	r := startUDPRelay(t, e.conn.LocalAddr().String(), Config{Up: stalled})
	c := udpClient(t, r)
	for i := range 20 {
		if _, err := c.Write(datagram(uint32(i), size)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the relay to take the datagram", func() bool {
			st := r.Stats()
			return st.Up.In/size+st.Up.Dropped == int64(i+1)
		})
	}
	if st := r.Stats(); st.Up.In != queue || st.Up.Dropped != 10 || st.Up.Out != 0 {
		t.Fatalf("stats %+v: want %d bytes held, 10 datagrams dropped, none delivered", st.Up, queue)
	}
	if err := r.SetShapeDir(Up, Shape{Queue: queue}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the held datagrams to arrive", func() bool { return e.got.Load() == 10 })
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, seq := range e.seqs {
		if seq != uint32(i) {
			t.Fatalf("arrivals %v: want 0..9 in order", e.seqs)
		}
	}
}

// TestUDPRate: datagrams leave at no more than the link's Rate: by time T
// at most a burst, plus Rate x T, plus the datagram that took the bucket
// into debt.
func TestUDPRate(t *testing.T) {
	const n, size, rate = 100, 1000, 200_000
	e := startUDPEcho(t)
	r := startUDPRelay(t, e.conn.LocalAddr().String(), Config{Down: Shape{Rate: rate, Queue: n * size}})
	c := udpClient(t, r)
	t0 := time.Now()
	for i := range n {
		if _, err := c.Write(datagram(uint32(i), size)); err != nil {
			t.Fatal(err)
		}
		if i%20 == 19 {
			waitFor(t, "the echoes", func() bool { return r.Stats().Down.In == int64((i+1)*size) })
		}
	}
	buf := make([]byte, 2*size)
	for range n {
		if _, err := c.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	took := time.Since(t0)
	burst := Shape{Rate: rate}.burst()
	if least := time.Duration((n*size - burst - size) / rate * float64(time.Second)); took < least {
		t.Errorf("%d bytes came back in %v at %d B/s, want at least %v", n*size, took, rate, least)
	}
}

// TestUDPContextClose: cancelling the context closes the relay.
func TestUDPContextClose(t *testing.T) {
	e := startUDPEcho(t)
	ctx, cancel := context.WithCancel(context.Background())
	r, err := ListenUDP(ctx, "127.0.0.1:0", e.conn.LocalAddr().String(), Shape{})
	if err != nil {
		t.Fatal(err)
	}
	c := udpClient(t, r)
	c.Write(datagram(1, 10))
	if _, err := c.Read(make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	cancel()
	r.Close() // waits for what the cancel started
	noRelayGoroutines(t)
	if _, err := r.pc.WriteToUDP([]byte("x"), e.conn.LocalAddr().(*net.UDPAddr)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("the relay's socket after cancel: %v, want closed", err)
	}
}
