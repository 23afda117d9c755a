package tracker

import (
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
)

// udpReadBuffer is the largest datagram accepted from a UDP tracker: 20 bytes of
// header plus 450 IPv6 or 1362 IPv4 peers, far above what trackers send (opentracker
// caps numwant at 200). A larger datagram is dropped.
const udpReadBuffer = 8192

// udpSocket is the one UDP socket shared by every UDP tracker of a Client (BEP 15). A
// single reader goroutine routes each reply to the pending request with the same
// transaction id, if it comes from the address the request went to.
type udpSocket struct {
	conn *net.UDPConn
	log  *slog.Logger
	done chan struct{} // closed when the reader goroutine exits

	mu      sync.Mutex // guards pending
	pending map[uint32]*udpWaiter
}

// udpWaiter is one pending request: the tracker it was sent to and where its reply goes.
type udpWaiter struct {
	to    netip.AddrPort // unmapped
	reply chan []byte    // capacity 1; extra replies are dropped
}

// listenUDP opens the shared socket on addr ("" = any address, any port; dual-stack
// where the system allows) and starts its reader.
func listenUDP(addr string, log *slog.Logger) (*udpSocket, error) {
	var laddr *net.UDPAddr
	if addr != "" {
		var err error
		if laddr, err = net.ResolveUDPAddr("udp", addr); err != nil {
			return nil, err
		}
	}
	conn, err := net.ListenUDP("udp", laddr)
	if err != nil {
		return nil, err
	}
	s := &udpSocket{conn: conn, log: log, done: make(chan struct{}), pending: make(map[uint32]*udpWaiter)}
	go s.readLoop()
	return s, nil
}

// register reserves a fresh random transaction id for a request to "to".
func (s *udpSocket) register(to netip.AddrPort) (uint32, *udpWaiter) {
	w := &udpWaiter{to: unmapAddrPort(to), reply: make(chan []byte, 1)}
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		tx := rand.Uint32()
		if _, taken := s.pending[tx]; !taken {
			s.pending[tx] = w
			return tx, w
		}
	}
}

// unregister forgets a transaction; later replies to it are dropped.
func (s *udpSocket) unregister(tx uint32) {
	s.mu.Lock()
	delete(s.pending, tx)
	s.mu.Unlock()
}

// send writes one datagram to "to".
func (s *udpSocket) send(b []byte, to netip.AddrPort) error {
	_, err := s.conn.WriteToUDPAddrPort(b, to)
	return err
}

// close closes the socket and waits for the reader to exit.
func (s *udpSocket) close() error {
	err := s.conn.Close()
	<-s.done
	return err
}

// readLoop reads datagrams until the socket is closed. The buffer is one byte longer
// than udpReadBuffer so that a datagram that fills it is known to be oversized (the
// kernel truncates silently).
func (s *udpSocket) readLoop() {
	defer close(s.done)
	buf := make([]byte, udpReadBuffer+1)
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Debug("tracker: UDP read", "err", err)
			continue
		}
		s.route(buf[:n], from)
	}
}

// route hands a datagram to its waiter, or drops it.
func (s *udpSocket) route(b []byte, from netip.AddrPort) {
	from = unmapAddrPort(from)
	if len(b) > udpReadBuffer {
		s.log.Debug("tracker: UDP datagram too large, dropped", "from", from)
		return
	}
	_, tx, err := udpHeader(b)
	if err != nil {
		s.log.Debug("tracker: UDP datagram dropped", "from", from, "err", err)
		return
	}
	s.mu.Lock()
	w := s.pending[tx]
	s.mu.Unlock()
	if w == nil || w.to != from {
		s.log.Debug("tracker: UDP datagram for no pending request, dropped", "from", from, "tx", tx)
		return
	}
	select {
	case w.reply <- append([]byte(nil), b...):
	default: // a duplicate reply; the first one is still waiting to be read
	}
}

// unmapAddrPort turns an IPv4-mapped IPv6 address (as seen on a dual-stack socket) into
// plain IPv4, so that addresses compare equal however they were obtained.
func unmapAddrPort(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}
