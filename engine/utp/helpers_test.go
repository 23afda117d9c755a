package utp

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	mrand "math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// faulty wraps a PacketConn and spoils what it sends: it drops, duplicates
// and reorders datagrams (a reordered one is held back a little), and can
// drop everything or count what it sends.
type faulty struct {
	net.PacketConn
	mu                 sync.Mutex
	rng                *mrand.Rand
	loss, dup, reorder float64
	dropAll            atomic.Bool
	dropFirst          atomic.Int32 // drop this many datagrams first
	sent               atomic.Int64
	filter             func(b []byte) bool // true: drop
	wg                 sync.WaitGroup
}

func newFaulty(pc net.PacketConn, loss, dup, reorder float64, seed uint64) *faulty {
	return &faulty{PacketConn: pc, rng: mrand.New(mrand.NewPCG(seed, 7)), loss: loss, dup: dup, reorder: reorder}
}

func (f *faulty) WriteTo(b []byte, to net.Addr) (int, error) {
	f.sent.Add(1)
	if f.dropAll.Load() {
		return len(b), nil
	}
	if f.dropFirst.Load() > 0 && f.dropFirst.Add(-1) >= 0 {
		return len(b), nil
	}
	if f.filter != nil && f.filter(b) {
		return len(b), nil
	}
	f.mu.Lock()
	lose, dup, late := f.rng.Float64() < f.loss, f.rng.Float64() < f.dup, f.rng.Float64() < f.reorder
	delay := time.Duration(f.rng.IntN(3000)) * time.Microsecond
	f.mu.Unlock()
	if lose {
		return len(b), nil
	}
	if late {
		c := bytes.Clone(b)
		f.wg.Add(1)
		time.AfterFunc(delay, func() {
			defer f.wg.Done()
			f.PacketConn.WriteTo(c, to)
		})
		return len(b), nil
	}
	if dup {
		f.PacketConn.WriteTo(b, to)
	}
	return f.PacketConn.WriteTo(b, to)
}

func (f *faulty) Close() error {
	err := f.PacketConn.Close()
	f.wg.Wait()
	return err
}

func listenUDP(t testing.TB) net.PacketConn {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return pc
}

// newSocket runs a Socket on a fresh loopback port; wrap, if set, spoils
// what it sends.
func newSocket(t testing.TB, cfg Config, wrap func(net.PacketConn) net.PacketConn) *Socket {
	t.Helper()
	pc := listenUDP(t)
	if wrap != nil {
		pc = wrap(pc)
	}
	s := New(pc, cfg)
	t.Cleanup(func() { s.Close() })
	return s
}

// pair connects a to b and returns the dialled and the accepted end, closed
// when the test ends.
func pair(t testing.TB, a, b *Socket) (*Conn, *Conn) {
	t.Helper()
	dc, ac, err := connect(a, b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dc.Close(); ac.Close() })
	return dc, ac
}

func connect(a, b *Socket) (*Conn, *Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := b.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	dc, err := a.Dial(ctx, b.Addr().String())
	if err != nil {
		return nil, nil, err
	}
	select {
	case ac := <-accepted:
		if ac == nil {
			return nil, nil, errors.New("accept failed")
		}
		return dc, ac.(*Conn), nil
	case <-ctx.Done():
		return nil, nil, errors.New("no connection accepted")
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// transfer writes data on w in odd-sized pieces, closes w, reads r to EOF
// and checks that every byte arrived in order.
func transfer(t *testing.T, w, r net.Conn, data []byte) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		p := data
		for len(p) > 0 {
			n := min(len(p), 1+mrand.IntN(70000))
			if _, err := w.Write(p[:n]); err != nil {
				errc <- err
				return
			}
			p = p[n:]
		}
		if cw, ok := w.(interface{ CloseWrite() error }); ok {
			errc <- cw.CloseWrite()
			return
		}
		errc <- w.Close()
	}()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read after %d bytes: %v", len(got), err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	if len(got) != len(data) || sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("got %d bytes (sha256 %x), want %d (sha256 %x)", len(got), sha256.Sum256(got), len(data), sha256.Sum256(data))
	}
}

// waitDead waits until c is gone from its socket.
func waitDead(t *testing.T, c *Conn) {
	t.Helper()
	select {
	case <-c.dead:
	case <-time.After(30 * time.Second):
		t.Fatal("connection still alive after 30 s")
	}
}
