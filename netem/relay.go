package netem

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Config shapes the relays it starts, as net.ListenConfig does for
// listeners. The zero Config is a plain relay.
type Config struct {
	// Up and Down are the starting Shapes of the two directions.
	Up, Down Shape
	// SocketBuffer is the kernel's send and receive buffer of the relay's
	// own TCP sockets, in bytes: 0 is 128 KiB; negative leaves the kernel's
	// autotuned default. Small buffers keep a link's queue in the relay,
	// where Shape.Queue sizes it, rather than in the kernel. (Below about
	// 64 KiB a loopback receiver's window falls under one segment, 64 KiB
	// on loopback, and the sender stalls on the persist timer.)
	SocketBuffer int
	// DialTimeout bounds the TCP connection to the target; 0 is 10 s.
	DialTimeout time.Duration
	// Source, when valid, is the address the relay's sockets to the target
	// are bound to, so that a target sees its clients arrive from a chosen
	// IP (libtorrent, by default, takes one connection per IP); unset, the
	// kernel chooses.
	Source netip.Addr
}

const (
	defaultSocketBuffer = 128 << 10
	defaultDialTimeout  = 10 * time.Second
	// maxUDPPeers bounds the clients a UDP relay keeps an upstream socket
	// for; datagrams from more are dropped.
	maxUDPPeers = 1024
)

// DirStats counts what crossed one direction of a relay.
type DirStats struct {
	// In is the bytes taken from senders into the link, Out the bytes
	// delivered; In-Out is in flight (TCP: including what a connection
	// that failed never delivered).
	In  int64 `json:"in"`
	Out int64 `json:"out"`
	// Dropped counts the UDP datagrams (or IP packets, TUN) dropped
	// because the queue was full; Lost those dropped by Shape.Loss.
	Dropped int64 `json:"dropped"`
	Lost    int64 `json:"lost"`
	// Datagrams (UDP) and packets (TUN) only: how many went in and came
	// out, and the bytes of those dropped and lost. A datagram read from
	// a sender is either In, Dropped or Lost.
	InPackets    int64 `json:"in_packets,omitempty"`
	OutPackets   int64 `json:"out_packets,omitempty"`
	DroppedBytes int64 `json:"dropped_bytes,omitempty"`
	LostBytes    int64 `json:"lost_bytes,omitempty"`
	// Late counts what was delivered more than 5 ms after its time because
	// the emulator fell behind (its goroutines woke late: a loaded
	// machine), not by the Shape; LateMaxMs is the most any was late. A
	// figure measured while many were late measures the machine too.
	Late      int64   `json:"late"`
	LateMaxMs float64 `json:"late_max_ms"`
}

// Stats is a snapshot of a relay's counters.
type Stats struct {
	Up   DirStats `json:"up"`
	Down DirStats `json:"down"`
	// Conns counts the connections accepted (TCP) or the clients seen
	// (UDP); Active those still open (TUN: the devices still read, 2 while
	// the link runs).
	Conns  int64 `json:"conns"`
	Active int64 `json:"active"`
	// DialErrors counts the accepted connections closed because the
	// target could not be reached.
	DialErrors int64 `json:"dial_errors"`
}

// Relay forwards what reaches its address to a target through an emulated
// link, a Shape per direction. Its methods are safe for concurrent use.
type Relay struct {
	network string
	addr    net.Addr
	target  string
	cfg     Config
	links   [2]*link

	done      chan struct{}   // closed by shutdown
	ctx       context.Context // cancelled by shutdown
	cancel    context.CancelFunc
	closeOnce sync.Once
	stopCtx   func() bool
	wg        sync.WaitGroup // every goroutine of the relay

	count  [2]dirCounters
	conns  atomic.Int64
	active atomic.Int64
	dialEr atomic.Int64

	mu    sync.Mutex // guards the fields below
	ln    *net.TCPListener
	pairs map[*tcpPair]struct{}
	pc    *net.UDPConn
	peers map[netip.AddrPort]*udpPeer
	tuns  []io.Closer // a TUN link's two devices
}

func (c Config) newRelay(ctx context.Context, network, target string) (*Relay, error) {
	if err := c.Up.Validate(); err != nil {
		return nil, fmt.Errorf("up: %w", err)
	}
	if err := c.Down.Validate(); err != nil {
		return nil, fmt.Errorf("down: %w", err)
	}
	if c.SocketBuffer == 0 {
		c.SocketBuffer = defaultSocketBuffer
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = defaultDialTimeout
	}
	r := &Relay{
		network: network,
		target:  target,
		cfg:     c,
		links:   [2]*link{newLink(c.Up), newLink(c.Down)},
		done:    make(chan struct{}),
		stopCtx: func() bool { return false },
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	if err := ctx.Err(); err != nil {
		r.cancel()
		return nil, err
	}
	return r, nil
}

// watch closes the relay when ctx is done.
func (r *Relay) watch(ctx context.Context) {
	r.stopCtx = context.AfterFunc(ctx, r.shutdown)
}

// Addr is the address the relay listens on; for a TUN link, the near
// device's address (a *net.IPAddr).
func (r *Relay) Addr() net.Addr { return r.addr }

// Target is the address the relay forwards to; for a TUN link, the far
// device's address.
func (r *Relay) Target() string { return r.target }

// Network is "tcp", "udp" or "tun".
func (r *Relay) Network() string { return r.network }

// SetShape sets both directions' Shape. Connections already open follow
// at once: a stalled link stops, a faster one speeds up.
func (r *Relay) SetShape(s Shape) error {
	if err := s.Validate(); err != nil {
		return err
	}
	r.links[Up].set(s)
	r.links[Down].set(s)
	return nil
}

// SetShapeDir sets one direction's Shape.
func (r *Relay) SetShapeDir(d Dir, s Shape) error {
	if d != Up && d != Down {
		return fmt.Errorf("%v: %w", d, errDir)
	}
	if err := s.Validate(); err != nil {
		return err
	}
	r.links[d].set(s)
	return nil
}

// Shape returns one direction's Shape (the zero Shape for an unknown Dir).
func (r *Relay) Shape(d Dir) Shape {
	if d != Up && d != Down {
		return Shape{}
	}
	s, _ := r.links[d].get()
	return s
}

// Stats returns the relay's counters.
func (r *Relay) Stats() Stats {
	return Stats{
		Up:         r.count[Up].snapshot(),
		Down:       r.count[Down].snapshot(),
		Conns:      r.conns.Load(),
		Active:     r.active.Load(),
		DialErrors: r.dialEr.Load(),
	}
}

// Close stops the relay: it stops listening, closes every connection (data
// in flight is lost, as when a link goes down), and returns when all of its
// goroutines have. It may be called more than once.
func (r *Relay) Close() error {
	r.shutdown()
	r.wg.Wait()
	return nil
}

func (r *Relay) shutdown() {
	r.closeOnce.Do(func() {
		r.stopCtx()
		close(r.done)
		r.cancel()
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.ln != nil {
			r.ln.Close()
		}
		for p := range r.pairs {
			p.abort()
		}
		if r.pc != nil {
			r.pc.Close()
		}
		for _, p := range r.peers {
			p.conn.Close()
		}
		for _, f := range r.tuns {
			f.Close()
		}
	})
}

func (r *Relay) closed() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}
