package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/hyperblow/hyperblow/engine/utp"
)

// Transports: every peer is dialled over TCP or uTP (BEP 29), whichever
// works. TCP goes first: where it connects it is the cheaper of the two, and
// most peers take it. uTP follows when TCP fails, or after utpHeadStart
// without an answer (a peer behind a NAT that passes only UDP, a client with
// TCP off); the first to connect wins and the other is dropped. The winner is
// remembered per address and tried first next time.
const (
	utpHeadStart = 300 * time.Millisecond
	// maxTransportMemory bounds the per-address memory; it starts over when
	// full.
	maxTransportMemory = 4096
)

type transport uint8

const (
	transportUnknown transport = iota
	transportTCP
	transportUTP
)

// transports holds the uTP socket and what worked per address.
type transports struct {
	utp    *utp.Socket // nil: TCP only
	accept bool        // it listens on the TCP port number: accept on it

	mu    sync.Mutex
	works map[netip.AddrPort]transport
}

// startUTP opens the uTP socket: on the TCP listener's port number when
// there is one (peers learn one port), else on any port.
func (c *Client) startUTP() error {
	addr := ":0"
	if c.ln != nil {
		addr = c.ln.Addr().String()
	}
	s, err := utp.Listen("udp", addr, utp.Config{})
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
	tr := &c.tr
	if tr.utp == nil {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
	tr.mu.Lock()
	first := tr.works[ap]
	tr.mu.Unlock()
	if first == transportUnknown {
		first = transportTCP
	}
	nc, used, err := tr.race(ctx, ap, first)
	if err != nil {
		return nil, err
	}
	tr.remember(ap, used)
	if used == transportTCP {
		nc = &tcpWatch{Conn: nc, tr: tr, ap: ap}
	}
	return nc, nil
}

func (tr *transports) remember(ap netip.AddrPort, t transport) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.works == nil || len(tr.works) >= maxTransportMemory {
		tr.works = make(map[netip.AddrPort]transport)
	}
	tr.works[ap] = t
}

// tcpWatch notices a peer that accepts TCP connections only to close them
// before saying anything (libtorrent with incoming TCP off does): the next
// dial there (peerconn's retry, or a later one) tries uTP first.
type tcpWatch struct {
	net.Conn
	tr  *transports
	ap  netip.AddrPort
	got bool // a byte came; only the reading goroutine touches it
}

func (w *tcpWatch) Read(p []byte) (int, error) {
	n, err := w.Conn.Read(p)
	if !w.got {
		var ne net.Error
		switch {
		case n > 0:
			w.got = true
		case err != nil && !(errors.As(err, &ne) && ne.Timeout()):
			w.got = true
			w.tr.remember(w.ap, transportUTP)
		}
	}
	return n, err
}

type dialed struct {
	nc  net.Conn
	tr  transport
	err error
}

// race dials first, then the other transport when first fails or has not
// connected within utpHeadStart; it returns the first connection made and
// closes a later one.
func (tr *transports) race(ctx context.Context, ap netip.AddrPort, first transport) (net.Conn, transport, error) {
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
		results <- dialed{nc, t, err}
	}
	second := transportUTP
	if first == transportUTP {
		second = transportTCP
	}
	go dial(first)
	started := 1
	head := time.NewTimer(utpHeadStart)
	defer head.Stop()
	var errs []error
	for got := 0; got < started; {
		select {
		case <-head.C:
			if started == 1 {
				started++
				go dial(second)
			}
			continue
		case d := <-results:
			got++
			if d.err == nil {
				cancel()
				// The slower one, if it was started, is closed when it returns.
				if got < started {
					go func() {
						if l := <-results; l.err == nil {
							l.nc.Close()
						}
					}()
				}
				return d.nc, d.tr, nil
			}
			errs = append(errs, d.err)
			if started == 1 && ctx.Err() == nil {
				started++
				go dial(second)
			}
		}
	}
	cancel()
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
