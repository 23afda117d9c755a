package utp

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Config tunes a Socket. Zero fields take the defaults in parentheses.
type Config struct {
	// Unhandled receives every datagram that is not uTP (the DHT shares the
	// port in real clients). b is valid only during the call. nil drops them.
	Unhandled func(b []byte, from netip.AddrPort)

	SendBuffer int // bytes written but not yet acknowledged, per connection (1 MiB)
	RecvBuffer int // bytes received but not yet read, per connection (4 MiB, as Linux lets a TCP socket grow to)

	MaxConns    int // connections of the socket, all states (1024)
	MaxHalfOpen int // accepted connections whose initiator has not yet answered (64)
	AcceptQueue int // connections ready but not yet taken by Accept (64)

	MinRTO         time.Duration // floor of the retransmission timeout (500 ms)
	MaxRetransmits int           // consecutive timeouts before a connection fails (6; a SYN: 2)
	IdleTimeout    time.Duration // a connection that hears nothing for this long fails (90 s)
	KeepAlive      time.Duration // send an ack after this long without sending (29 s)
	// HalfOpenTimeout drops an accepted connection whose initiator sends
	// nothing after our SYN-ACK (10 s).
	HalfOpenTimeout time.Duration

	// initialSeq, when set, is the first sequence number of every connection
	// (tests: wraparound).
	initialSeq func() uint16
	// noBatch reads one datagram per system call (tests: readRaw).
	noBatch bool
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.SendBuffer, 1<<20)
	def(&c.RecvBuffer, 4<<20)
	def(&c.MaxConns, 1024)
	def(&c.MaxHalfOpen, 64)
	def(&c.AcceptQueue, 64)
	def(&c.MaxRetransmits, 6)
	defd(&c.MinRTO, 500*time.Millisecond)
	defd(&c.IdleTimeout, 90*time.Second)
	defd(&c.KeepAlive, 29*time.Second)
	defd(&c.HalfOpenTimeout, 10*time.Second)
	if c.initialSeq == nil {
		c.initialSeq = randUint16
	}
	return c
}

// Errors of a connection.
var (
	ErrReset   = errors.New("utp: connection reset by peer")
	ErrTimeout = timeoutError{}
	ErrRefused = errors.New("utp: too many connections")
)

type timeoutError struct{}

func (timeoutError) Error() string   { return "utp: timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }
func (timeoutError) Is(err error) bool {
	return err == context.DeadlineExceeded
}

// tick is how often timers (retransmission, keepalive, idle) are checked.
const tick = 10 * time.Millisecond

type connKey struct {
	addr netip.AddrPort
	id   uint16 // our receive id
}

// Socket runs uTP (BEP 29) over one PacketConn: it dials and accepts
// connections and hands datagrams that are not uTP to Config.Unhandled. It is
// a net.Listener.
//
// One goroutine reads the PacketConn and one runs the timers. Each Conn has a
// mutex guarding its state; the socket's mutex guards the connection table and
// is taken before a Conn's, never after.
type Socket struct {
	pc    net.PacketConn
	udp   *net.UDPConn // pc, when it is one (no allocation per datagram)
	raw   *rawWriter   // sends uTP's datagrams on udp, where it can (Linux)
	cfg   Config
	epoch time.Time

	mu       sync.Mutex
	conns    map[connKey]*Conn
	halfOpen int
	closed   bool

	accept chan *Conn
	done   chan struct{}
	ackMu  sync.Mutex // guards ackq: the connections owing an ack
	ackq   []*Conn
	wg     sync.WaitGroup

	unhandled atomic.Pointer[func(b []byte, from netip.AddrPort)] // Config.Unhandled, or SetUnhandled's

	// wake restarts the timers, stopped while there is no connection (an
	// idle process is not woken 100 times a second).
	wake chan struct{}
}

// Listen opens a UDP socket on addr ("127.0.0.1:6881") and runs uTP on it.
func Listen(network, addr string, cfg Config) (*Socket, error) {
	pc, err := net.ListenPacket(network, addr)
	if err != nil {
		return nil, fmt.Errorf("utp: listen %s: %w", addr, err)
	}
	return New(pc, cfg), nil
}

// New runs uTP on pc, which the Socket then owns: Close closes it.
func New(pc net.PacketConn, cfg Config) *Socket {
	cfg = cfg.withDefaults()
	s := &Socket{
		pc:     pc,
		cfg:    cfg,
		epoch:  time.Now(),
		conns:  make(map[connKey]*Conn),
		accept: make(chan *Conn, cfg.AcceptQueue),
		done:   make(chan struct{}),
		wake:   make(chan struct{}, 1),
	}
	if cfg.Unhandled != nil {
		s.unhandled.Store(&cfg.Unhandled)
	}
	s.udp, _ = pc.(*net.UDPConn)
	if s.udp != nil {
		// Room for bursts of a few windows: the kernel's default (~200 KiB)
		// drops datagrams on a busy loopback. Capped by net.core.rmem_max.
		s.udp.SetReadBuffer(4 << 20)
		s.udp.SetWriteBuffer(4 << 20)
		if rc, err := s.udp.SyscallConn(); err == nil {
			s.raw = newRawWriter(rc)
		}
	}
	s.wg.Add(2)
	go s.readLoop()
	go s.timerLoop()
	return s
}

// SetUnhandled replaces Config.Unhandled: where datagrams that are not uTP
// go (the DHT, started after the socket). nil drops them.
func (s *Socket) SetUnhandled(f func(b []byte, from netip.AddrPort)) {
	if f == nil {
		s.unhandled.Store(nil)
		return
	}
	s.unhandled.Store(&f)
}

// WriteToUDPAddrPort sends one datagram from the socket, for the protocol
// that shares it (the DHT).
func (s *Socket) WriteToUDPAddrPort(b []byte, to netip.AddrPort) (int, error) {
	if s.udp != nil {
		return s.udp.WriteToUDPAddrPort(b, to)
	}
	return s.pc.WriteTo(b, net.UDPAddrFromAddrPort(to))
}

// Addr returns the local address.
func (s *Socket) Addr() net.Addr { return s.pc.LocalAddr() }

// NumConns returns the number of connections the socket tracks, in any state.
func (s *Socket) NumConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Close fails every connection and closes the PacketConn.
func (s *Socket) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	conns := make([]*Conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.mu.Lock()
		if c.state != stateDead {
			c.sendReset() // tell the peer at once rather than let it time out
		}
		c.fail(net.ErrClosed)
		c.mu.Unlock()
	}
	close(s.done)
	err := s.pc.Close()
	s.wg.Wait()
	return err
}

// Accept returns the next incoming connection.
func (s *Socket) Accept() (net.Conn, error) {
	select {
	case c := <-s.accept:
		return c, nil
	case <-s.done:
		return nil, net.ErrClosed
	}
}

// Dial connects to addr ("host:port") and returns once the peer answered the
// SYN. ctx bounds the connection attempt only.
func (s *Socket) Dial(ctx context.Context, addr string) (*Conn, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		ua, rerr := net.ResolveUDPAddr("udp", addr)
		if rerr != nil {
			return nil, fmt.Errorf("utp: dial %s: %w", addr, rerr)
		}
		ap = ua.AddrPort()
	}
	return s.DialAddrPort(ctx, ap)
}

// DialAddrPort is Dial for an address already parsed.
func (s *Socket) DialAddrPort(ctx context.Context, ap netip.AddrPort) (*Conn, error) {
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, net.ErrClosed
	}
	if len(s.conns) >= s.cfg.MaxConns {
		s.mu.Unlock()
		return nil, fmt.Errorf("utp: dial %s: %w", ap, ErrRefused)
	}
	var id uint16
	for {
		id = randUint16()
		if s.conns[connKey{ap, id}] == nil && s.conns[connKey{ap, id + 1}] == nil {
			break
		}
	}
	c := newConn(s, ap, id, id+1)
	s.conns[connKey{ap, id}] = c
	s.wakeTimers()
	c.mu.Lock()
	s.mu.Unlock()
	c.state = stateSynSent
	c.sendSyn(time.Now())
	c.mu.Unlock()

	select {
	case <-c.connected:
		return c, nil
	case <-c.dead:
		c.mu.Lock()
		err := c.err
		c.mu.Unlock()
		return nil, fmt.Errorf("utp: dial %s: %w", ap, err)
	case <-ctx.Done():
		c.mu.Lock()
		c.fail(ctx.Err())
		c.mu.Unlock()
		return nil, fmt.Errorf("utp: dial %s: %w", ap, ctx.Err())
	}
}

func (s *Socket) readLoop() {
	defer s.wg.Done()
	buf := make([]byte, 64<<10)
	if s.udp != nil {
		if rc, err := s.udp.SyscallConn(); err == nil {
			if !s.cfg.noBatch && s.readBatch(rc) {
				return
			}
			s.readRaw(rc, buf)
			return
		}
	}
	for {
		var n int
		var from netip.AddrPort
		var err error
		if s.udp != nil {
			n, from, err = s.udp.ReadFromUDPAddrPort(buf)
		} else {
			var a net.Addr
			n, a, err = s.pc.ReadFrom(buf)
			if err == nil {
				from, err = addrPort(a)
				if err != nil {
					continue
				}
			}
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			select {
			case <-s.done:
				return
			default:
			}
			continue // ICMP errors and the like: per datagram, not fatal
		}
		s.handle(buf[:n], from)
		s.flushAcks()
	}
}

// readRaw is readLoop on the file descriptor: it reads without blocking and,
// when nothing more is queued, sends the acks the datagrams read so far
// owe before it waits (as libutp does at the end of a batch), so a burst of
// packets is acked once, yet at once.
func (s *Socket) readRaw(rc syscall.RawConn, buf []byte) {
	for {
		var n int
		var sa syscall.Sockaddr
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			n, sa, rerr = syscall.Recvfrom(int(fd), buf, syscall.MSG_DONTWAIT)
			if rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK {
				s.flushAcks()
				return false // wait until readable
			}
			return rerr != syscall.EINTR
		})
		if err != nil {
			return // closed
		}
		if rerr != nil {
			continue // an ICMP error for an earlier datagram, and the like
		}
		var from netip.AddrPort
		switch a := sa.(type) {
		case *syscall.SockaddrInet4:
			from = netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
		case *syscall.SockaddrInet6:
			from = netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port))
		default:
			continue
		}
		s.handle(buf[:n], from)
	}
}

// flushAcks sends the acks that connections deferred.
func (s *Socket) flushAcks() {
	s.ackMu.Lock()
	q := s.ackq
	s.ackq = nil
	s.ackMu.Unlock()
	if len(q) == 0 {
		return
	}
	now := time.Now()
	for i, c := range q {
		c.mu.Lock()
		c.flushDeferred(now)
		c.mu.Unlock()
		q[i] = nil
	}
	s.ackMu.Lock()
	if s.ackq == nil {
		s.ackq = q[:0] // reuse the array
	}
	s.ackMu.Unlock()
}

// deferAck queues c for flushAcks. c.mu is held.
func (s *Socket) deferAck(c *Conn) {
	s.ackMu.Lock()
	s.ackq = append(s.ackq, c)
	s.ackMu.Unlock()
}

func addrPort(a net.Addr) (netip.AddrPort, error) {
	if u, ok := a.(*net.UDPAddr); ok {
		return u.AddrPort(), nil
	}
	return netip.ParseAddrPort(a.String())
}

// handle dispatches one datagram.
func (s *Socket) handle(b []byte, from netip.AddrPort) {
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	h, payload, err := parseHeader(b)
	if err != nil {
		if f := s.unhandled.Load(); f != nil {
			(*f)(b, from)
		}
		return
	}
	now := time.Now()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if h.typ == stSyn {
		s.handleSyn(h, from, now) // unlocks
		return
	}
	c := s.conns[connKey{from, h.connID}]
	if c == nil && h.typ == stReset {
		// A reset names the id the peer receives on: our send id.
		c = s.conns[connKey{from, h.connID - 1}]
		if c != nil && c.sendID != h.connID {
			c = nil
		}
	}
	s.mu.Unlock()
	if c == nil {
		if h.typ != stReset {
			s.sendReset(from, h.connID, h.seq, now)
		}
		return
	}
	c.mu.Lock()
	c.handle(h, payload, now)
	c.mu.Unlock()
}

// handleSyn accepts a connection, or answers a retransmitted SYN. s.mu is held
// and released here.
func (s *Socket) handleSyn(h header, from netip.AddrPort, now time.Time) {
	key := connKey{from, h.connID + 1}
	if c := s.conns[key]; c != nil {
		s.mu.Unlock()
		c.mu.Lock()
		if c.state == stateSynRecv && c.sendID == h.connID {
			c.sendState(now) // our SYN-ACK was lost
		}
		c.mu.Unlock()
		return
	}
	if len(s.conns) >= s.cfg.MaxConns || s.halfOpen >= s.cfg.MaxHalfOpen {
		s.mu.Unlock()
		s.sendReset(from, h.connID, h.seq, now)
		return
	}
	c := newConn(s, from, h.connID+1, h.connID)
	c.state = stateSynRecv
	c.ack = h.seq
	c.peerWnd = h.wnd
	c.replyMicro = s.micros(now) - h.ts
	s.conns[key] = c
	s.wakeTimers()
	s.halfOpen++
	c.mu.Lock()
	s.mu.Unlock()
	c.lastRecv = now
	c.sendState(now)
	c.mu.Unlock()
}

// promote moves an accepted connection from half-open to the accept queue.
// c.mu is held.
func (s *Socket) promote(c *Conn) {
	s.mu.Lock()
	s.halfOpen--
	s.mu.Unlock()
	select {
	case s.accept <- c:
	default:
		c.sendReset()
		c.fail(ErrRefused)
	}
}

// remove forgets c. c.mu is held; s.mu is taken after it here, which is safe
// because nothing holding s.mu waits for a Conn's lock (handle releases s.mu
// before locking a Conn).
func (s *Socket) remove(c *Conn) {
	s.mu.Lock()
	if s.conns[c.key] == c {
		delete(s.conns, c.key)
		if c.state == stateSynRecv {
			s.halfOpen--
		}
	}
	s.mu.Unlock()
}

// wakeTimers restarts timerLoop's ticker if it stopped.
func (s *Socket) wakeTimers() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// timerLoop ticks while there are connections; with none, it stops its
// ticker until wakeTimers.
func (s *Socket) timerLoop() {
	defer s.wg.Done()
	t := time.NewTicker(tick)
	defer t.Stop()
	ticking := true
	var conns []*Conn
	for {
		select {
		case <-s.done:
			return
		case <-s.wake:
			if !ticking {
				t.Reset(tick)
				ticking = true
			}
		case now := <-t.C:
			s.mu.Lock()
			conns = conns[:0]
			for _, c := range s.conns {
				conns = append(conns, c)
			}
			s.mu.Unlock()
			if len(conns) == 0 {
				t.Stop() // a connection added since sent on s.wake
				ticking = false
				continue
			}
			for _, c := range conns {
				c.mu.Lock()
				c.tick(now)
				c.mu.Unlock()
			}
			clear(conns)
		}
	}
}

func (s *Socket) micros(now time.Time) uint32 {
	return uint32(now.Sub(s.epoch) / time.Microsecond)
}

// write sends one datagram; errors are the network's loss.
func (s *Socket) write(b []byte, to netip.AddrPort) {
	if s.raw != nil && s.raw.write(b, to) {
		return
	}
	if s.udp != nil {
		s.udp.WriteToUDPAddrPort(b, to)
		return
	}
	s.pc.WriteTo(b, net.UDPAddrFromAddrPort(to))
}

// sendReset answers a packet for a connection we do not know.
func (s *Socket) sendReset(to netip.AddrPort, id, seq uint16, now time.Time) {
	h := header{typ: stReset, connID: id, ts: s.micros(now), seq: randUint16(), ack: seq}
	var b [headerSize]byte
	h.marshal(b[:])
	s.write(b[:], to)
}

func randUint16() uint16 {
	var b [2]byte
	rand.Read(b[:])
	return binary.BigEndian.Uint16(b[:])
}
