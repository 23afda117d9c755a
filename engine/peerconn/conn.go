package peerconn

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/mse"
	"github.com/hyperblow/hyperblow/engine/wire"
)

// Conn is one handshaken peer connection. Create it with [Dial], [Initiate] or
// [Accept]; start its goroutines with [Conn.Start]; end it with [Conn.Close].
type Conn struct {
	nc  net.Conn
	cfg Config
	log *slog.Logger

	infoHash bt.InfoHash
	peerID   bt.PeerID
	reserved wire.Reserved
	mse      *mse.Conn // nil: a plain handshake

	in  *deadlineReader
	out *deadlineWriter
	rd  *wire.Reader // owned by the handshake, then by the reader goroutine

	numPieces       atomic.Int64
	nRead, nWritten atomic.Int64
	started         atomic.Bool

	done       chan struct{} // closed by Close
	wake       chan struct{} // capacity 1: the queue has messages for the writer
	drain      chan<- *Conn  // see NotifyDrain; nil: no notices
	drainArmed atomic.Bool   // see ArmDrain
	writerDone chan struct{} // closed when the writer goroutine has returned

	mu          sync.Mutex
	err         error          // why the Conn closed; nil while open
	queue       []wire.Message // waiting for the writer
	queuedBytes int            // encoded size of queue
}

func newConn(nc net.Conn, cfg Config) *Conn {
	c := &Conn{
		nc:         nc,
		cfg:        cfg,
		done:       make(chan struct{}),
		wake:       make(chan struct{}, 1),
		writerDone: make(chan struct{}),
	}
	c.log = cfg.Logger.With("peer", nc.RemoteAddr().String())
	c.in = &deadlineReader{nc: nc, n: &c.nRead}
	c.out = &deadlineWriter{nc: nc, n: &c.nWritten}
	lim := cfg.Limits
	lim.NumPieces = 0
	c.rd = wire.NewReader(c.in, lim)
	return c
}

// setTorrent records the torrent once the handshake has named it.
func (c *Conn) setTorrent(t Torrent) {
	c.infoHash = t.InfoHash
	c.SetNumPieces(t.NumPieces)
	lim := c.rd.Limits()
	lim.NumPieces = t.NumPieces
	c.rd.SetLimits(lim)
}

// Start launches the reader and writer goroutines; events receive every Msg and then
// one Closed. Messages queued with Send before Start are sent first. Start must be
// called once (it panics otherwise), and may be called after Close, in which case the
// only event is Closed.
func (c *Conn) Start(events chan<- Event) {
	if events == nil {
		panic("peerconn: Start with a nil events channel")
	}
	if c.started.Swap(true) {
		panic("peerconn: Start called twice")
	}
	c.in.idle = c.cfg.IdleTimeout
	c.out.timeout = c.cfg.WriteTimeout
	go c.writeLoop()
	go c.readLoop(events)
}

// Close closes the connection, recording reason (ErrClosed if nil) as its cause
// unless it was already closed. It is idempotent, safe from any goroutine, and does
// not wait for the goroutines or the owner. Queued messages are dropped.
func (c *Conn) Close(reason error) {
	if reason == nil {
		reason = ErrClosed
	}
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = reason
	clear(c.queue) // let the GC have queued payloads
	c.queue, c.queuedBytes = nil, 0
	c.mu.Unlock()
	close(c.done)
	c.nc.Close()
	c.log.Debug("peer connection closed", "peer_id", c.peerID.String(), "reason", reason)
}

// Err returns why the Conn closed, or nil while it is open.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Done is closed when the Conn is closed.
func (c *Conn) Done() <-chan struct{} { return c.done }

// SetNumPieces sets the piece count used to validate the peer's BITFIELD and piece
// indices, e.g. when a magnet link's metadata arrives. It applies to the messages
// after the one the reader is waiting for when it is called. A bitfield received while the count was unknown was checked only
// against the absolute cap: validate it with bt.BitfieldFromBytes.
func (c *Conn) SetNumPieces(n int) { c.numPieces.Store(int64(max(n, 0))) }

// InfoHash returns the torrent this connection serves.
func (c *Conn) InfoHash() bt.InfoHash { return c.infoHash }

// PeerID returns the remote peer id from its handshake.
func (c *Conn) PeerID() bt.PeerID { return c.peerID }

// Reserved returns the remote's reserved bytes: which extensions it supports.
func (c *Conn) Reserved() wire.Reserved { return c.reserved }

// RemoteAddr returns the remote network address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// AddrPort returns the remote IP address and port, or the zero AddrPort if the
// connection is not over IP (net.Pipe in tests).
func (c *Conn) AddrPort() netip.AddrPort {
	switch a := c.nc.RemoteAddr().(type) {
	case *net.TCPAddr:
		ap := a.AddrPort() // an IPv4 peer on a dual-stack listener is IPv4-mapped
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	case *net.UDPAddr: // uTP
		ap := a.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}

// BytesRead returns the bytes received so far, handshake included.
func (c *Conn) BytesRead() int64 { return c.nRead.Load() }

// BytesWritten returns the bytes sent so far, handshake included.
func (c *Conn) BytesWritten() int64 { return c.nWritten.Load() }

// String identifies the connection for logs.
func (c *Conn) String() string {
	return fmt.Sprintf("peer %v (%v)", c.nc.RemoteAddr(), c.peerID)
}
