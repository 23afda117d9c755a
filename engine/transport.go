package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hyperblow/hyperblow/engine/dht"
	"github.com/hyperblow/hyperblow/engine/utp"
)

// Transports: every peer is dialled over TCP or uTP (BEP 29), whichever
// works, and redialled over the one that delivered more. TCP goes first to a
// peer we know nothing of: where it connects it is the cheaper of the two,
// and most peers take it. uTP follows when TCP fails, or after utpHeadStart
// without an answer (a peer behind a NAT that passes only UDP, a client with
// TCP off); the first to connect wins and the other is dropped.
//
// Per address, each transport's record says whether it failed (a dial that
// failed, or a connection that ended before its first byte) and the rate its
// connections delivered while busy (bytes over the time between reads that
// came less than busyGap apart; an idle connection is not a slow one). A
// redial goes first over:
//   - the faster of the two, when both delivered;
//   - the other one, once, when only one delivered and the other was never
//     tried (so both get measured); the one that delivered is dialled at
//     the same moment, and the explored one is taken only if it connects
//     within the other's own connect time (at least exploreGraceFloor): an
//     address that does not answer over it (a TCP-only client, UDP dropped on
//     the way) costs an exploring dial one connect time more, not
//     utpHeadStart;
//   - the one that delivered, or that failed less;
//   - TCP.
var (
	utpHeadStart = 300 * time.Millisecond
	// exploreGraceFloor: how long, at least, an exploring dial waits for
	// the explored transport once the known one has connected.
	exploreGraceFloor = 5 * time.Millisecond
)

const (
	// maxTransportMemory bounds the per-address memory; it starts over when
	// full.
	maxTransportMemory = 4096
	// busyGap: reads further apart than this are an idle connection, not a
	// slow one; the gap does not count toward its rate.
	busyGap = 250 * time.Millisecond
	// minRateBytes: a connection that delivered less than this says it
	// works, not how fast.
	minRateBytes = 128 << 10
)

type transport uint8

const (
	transportUnknown transport = iota
	transportTCP
	transportUTP
)

func (t transport) String() string {
	switch t {
	case transportTCP:
		return "tcp"
	case transportUTP:
		return "utp"
	}
	return ""
}

func (t transport) other() transport {
	if t == transportTCP {
		return transportUTP
	}
	return transportTCP
}

// trRecord is what one transport did for one address.
type trRecord struct {
	tried bool    // a dial was made over it (won a race, or failed)
	fails int     // failures since it last delivered
	works bool    // a connection over it delivered a byte
	rate  float64 // bytes/s while busy (moving average); 0: not measured
}

// peerTransports is what is known of one address.
type peerTransports struct {
	tcp, utp trRecord
	last     transport // what connected last
	explored bool      // the transport not measured was tried once
}

func (p *peerTransports) rec(t transport) *trRecord {
	if t == transportUTP {
		return &p.utp
	}
	return &p.tcp
}

// first is the transport a dial tries first (see Transports).
func (p *peerTransports) first() transport {
	t, _ := p.choose()
	return t
}

// choose is first, and whether it is the exploring try of a transport never
// tried while the other one delivered.
func (p *peerTransports) choose() (transport, bool) {
	if p == nil {
		return transportTCP, false
	}
	t, u := &p.tcp, &p.utp
	switch {
	case t.rate > 0 && u.rate > 0:
		if u.rate > t.rate {
			return transportUTP, false
		}
		return transportTCP, false
	case t.works != u.works:
		good := transportTCP
		if u.works {
			good = transportUTP
		}
		if o := p.rec(good.other()); !o.tried && !p.explored {
			p.explored = true
			return good.other(), true
		}
		return good, false
	case u.fails < t.fails:
		return transportUTP, false
	}
	return transportTCP, false
}

// transports holds the uTP socket and what worked per address.
type transports struct {
	utp    *utp.Socket // nil: TCP only
	accept bool        // it listens on the TCP port number: accept on it
	// dht4 and dht6 are the DHT nodes that share the uTP socket (its
	// datagrams that are not uTP), or nil.
	dht4, dht6 atomic.Pointer[dht.Node]

	mu    sync.Mutex
	peers map[netip.AddrPort]*peerTransports
}

// peer returns ap's record, made if need be. tr.mu is held.
func (tr *transports) peer(ap netip.AddrPort) *peerTransports {
	p := tr.peers[ap]
	if p == nil {
		if tr.peers == nil || len(tr.peers) >= maxTransportMemory {
			tr.peers = make(map[netip.AddrPort]*peerTransports)
		}
		p = &peerTransports{}
		tr.peers[ap] = p
	}
	return p
}

// firstFor is the transport to try first for ap, and whether that try
// explores it (see choose).
func (tr *transports) firstFor(ap netip.AddrPort) (transport, bool) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.peers[ap].choose()
}

// connected records that t connected to ap.
func (tr *transports) connected(ap netip.AddrPort, t transport) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	p := tr.peer(ap)
	p.last = t
	p.rec(t).tried = true
}

// failed records that t failed for ap: a dial, or a connection that ended
// before its first byte.
func (tr *transports) failed(ap netip.AddrPort, t transport) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	r := tr.peer(ap).rec(t)
	r.tried = true
	r.fails++
}

// delivered records a connection over t that delivered bytes, rate of them
// per second while busy (0: too few to say).
func (tr *transports) delivered(ap netip.AddrPort, t transport, rate float64) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	r := tr.peer(ap).rec(t)
	r.tried, r.works, r.fails = true, true, 0
	switch {
	case rate <= 0:
	case r.rate == 0:
		r.rate = rate
	default:
		r.rate = (r.rate + rate) / 2
	}
}

// startUTP opens the uTP socket: on the TCP listener's port number when
// there is one (peers learn one port), else on any port.
func (c *Client) startUTP() error {
	addr := ":0"
	if c.ln != nil {
		addr = c.ln.Addr().String()
	}
	s, err := utp.Listen("udp", addr, utp.Config{Unhandled: c.tr.toDHT})
	accept := c.ln != nil
	if err != nil && c.ln != nil {
		// The port is taken on UDP: dial from any port, accept over TCP only.
		c.log.Warn("utp: no listener on the TCP port number; dialling only", "err", err)
		host, _, _ := net.SplitHostPort(addr)
		s, err = utp.Listen("udp", net.JoinHostPort(host, "0"), utp.Config{})
		accept = false
	}
	if err != nil {
		return fmt.Errorf("utp: %w", err)
	}
	c.tr.utp = s
	c.tr.accept = accept // NewClient starts acceptUTP once the DHT is set up
	return nil
}

// toDHT hands a datagram that is not uTP to the DHT node of its family, if
// one shares the socket.
func (tr *transports) toDHT(b []byte, from netip.AddrPort) {
	p := &tr.dht4
	if from.Addr().Is6() {
		p = &tr.dht6
	}
	if n := p.Load(); n != nil {
		n.Deliver(b, from)
	}
}

// newDHTNode starts a DHT node for host and port: on the uTP socket when
// that listens there (one UDP port for both, as other clients do: one port to
// open in a firewall or map on a NAT), else on a socket of its own.
func (c *Client) newDHTNode(cfg dht.Config, host string, port int) (*dht.Node, error) {
	ap, ok := c.tr.sharedDHTAddr(host, port)
	if !ok {
		return dht.New(cfg)
	}
	n, err := dht.NewShared(cfg, c.tr.utp, ap)
	if err != nil {
		return nil, err
	}
	if ap.Addr().Is4() {
		c.tr.dht4.Store(n)
	} else {
		c.tr.dht6.Store(n)
	}
	return n, nil
}

// sharedDHTAddr says whether a DHT node for host and port can share the uTP
// socket (it listens on that port, on host or on the wildcard of both
// families), and the node's address.
func (tr *transports) sharedDHTAddr(host string, port int) (netip.AddrPort, bool) {
	if tr.utp == nil || !tr.accept || port <= 0 || port > 0xffff {
		return netip.AddrPort{}, false
	}
	u, err := netip.ParseAddrPort(tr.utp.Addr().String())
	h, herr := netip.ParseAddr(host)
	if err != nil || herr != nil || int(u.Port()) != port {
		return netip.AddrPort{}, false
	}
	ua, h := u.Addr().Unmap(), h.Unmap()
	dual := ua.IsUnspecified() && ua.Is6() // Go's "udp" on [::] takes IPv4 too
	if ua != h && !(dual && h.IsUnspecified()) {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(h, uint16(port)), true
}

// acceptUTP feeds incoming uTP connections to the same handshake as TCP's.
func (c *Client) acceptUTP() {
	defer c.wg.Done()
	for {
		nc, err := c.tr.utp.Accept()
		if err != nil {
			return
		}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.handleIncoming(nc)
		}()
	}
}

// UTPAddr returns the uTP socket's address, or an invalid one without uTP.
func (c *Client) UTPAddr() netip.AddrPort {
	if c.tr.utp == nil {
		return netip.AddrPort{}
	}
	ap, _ := netip.ParseAddrPort(c.tr.utp.Addr().String())
	return ap
}

// dialPeer connects to a peer over TCP or uTP (see transports). It is
// peerconn.Config.Dial.
func (c *Client) dialPeer(ctx context.Context, addr string) (net.Conn, error) {
	return c.tr.dial(ctx, addr)
}

func (tr *transports) dial(ctx context.Context, addr string) (net.Conn, error) {
	ap, err := netip.ParseAddrPort(addr)
	if tr.utp == nil || err != nil {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	first, explore := tr.firstFor(ap)
	nc, used, err := tr.race(ctx, ap, first, explore)
	if err != nil {
		return nil, err
	}
	tr.connected(ap, used)
	return &meteredConn{Conn: nc, tr: tr, ap: ap, t: used}, nil
}

// meteredConn measures what a dialled connection delivers and tells
// transports when it ends: the rate while busy, or a failure when it ended
// before its first byte (libtorrent with incoming TCP off accepts TCP
// connections only to close them).
type meteredConn struct {
	net.Conn
	tr *transports
	ap netip.AddrPort
	t  transport

	// Only the reading goroutine touches these.
	last        time.Time // the last read that returned bytes
	bytes, busy int64     // bytes read, and nanoseconds busy reading them

	once sync.Once
}

func (m *meteredConn) Read(p []byte) (int, error) {
	n, err := m.Conn.Read(p)
	if n > 0 {
		now := time.Now()
		if !m.last.IsZero() {
			if d := now.Sub(m.last); d < busyGap {
				m.busy += int64(d)
			}
		}
		m.last = now
		m.bytes += int64(n)
	}
	if err != nil {
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
		case errors.Is(err, net.ErrClosed) && m.bytes == 0:
			// We closed it before a byte came: that says nothing of the peer.
		default:
			m.report()
		}
	}
	return n, err
}

// report tells transports how the connection went, once: when a read fails
// (the end the reader sees). A connection closed by us without a read
// failing says nothing.
func (m *meteredConn) report() {
	m.once.Do(func() {
		if m.bytes == 0 {
			m.tr.failed(m.ap, m.t)
			return
		}
		rate := 0.0
		if m.bytes >= minRateBytes && m.busy > 0 {
			rate = float64(m.bytes) / time.Duration(m.busy).Seconds()
		}
		m.tr.delivered(m.ap, m.t, rate)
	})
}

type dialed struct {
	nc  net.Conn
	tr  transport
	err error
}

// race dials first, then the other transport when first fails or has not
// connected within utpHeadStart; it returns the first connection made and
// closes a later one. A dial that fails is recorded.
//
// An exploring race (explore: first was never tried, the other delivered)
// dials both at once, and prefers first: when the other connects first, it
// waits for first as long again as the other took (at least
// exploreGraceFloor), then takes the other.
func (tr *transports) race(ctx context.Context, ap netip.AddrPort, first transport, explore bool) (net.Conn, transport, error) {
	ctx, cancel := context.WithCancel(ctx)
	results := make(chan dialed, 2)
	dial := func(t transport) {
		var nc net.Conn
		var err error
		if t == transportUTP {
			nc, err = tr.utp.DialAddrPort(ctx, ap)
		} else {
			var d net.Dialer
			nc, err = d.DialContext(ctx, "tcp", ap.String())
		}
		if err != nil && ctx.Err() == nil {
			tr.failed(ap, t)
		}
		results <- dialed{nc, t, err}
	}
	second := first.other()
	start := time.Now()
	go dial(first)
	started := 1
	head := time.NewTimer(utpHeadStart)
	if explore {
		head.Reset(0)
	}
	defer head.Stop()
	// held: the other's connection, kept while an exploring race waits
	// for first; grace fires when that wait is over.
	var held net.Conn
	var grace <-chan time.Time
	take := func(nc net.Conn, t transport, got int) (net.Conn, transport, error) {
		cancel()
		// The slower one, if it was started, is closed when it returns.
		if got < started {
			go func() {
				if l := <-results; l.err == nil {
					l.nc.Close()
				}
			}()
		}
		return nc, t, nil
	}
	var errs []error
	for got := 0; got < started; {
		select {
		case <-head.C:
			if started == 1 {
				started++
				go dial(second)
			}
			continue
		case <-grace:
			return take(held, second, got)
		case d := <-results:
			got++
			if d.err == nil {
				if explore && d.tr == second && got < started {
					held = d.nc
					t := time.NewTimer(max(time.Since(start), exploreGraceFloor))
					defer t.Stop()
					grace = t.C
					continue
				}
				if held != nil {
					held.Close()
				}
				return take(d.nc, d.tr, got)
			}
			errs = append(errs, d.err)
			if started == 1 && ctx.Err() == nil {
				started++
				go dial(second)
			}
		}
	}
	cancel()
	if held != nil {
		return held, second, nil
	}
	return nil, transportUnknown, errors.Join(errs...)
}

// connTransport names what a peer connection runs over: "utp" (its remote
// address is a UDP one) or "tcp".
func connTransport(c interface{ RemoteAddr() net.Addr }) string {
	if _, ok := c.RemoteAddr().(*net.UDPAddr); ok {
		return "utp"
	}
	return "tcp"
}
