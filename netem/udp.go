package netem

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// udpPeer is one client of a UDP relay and its own socket to the target,
// so the target tells the relay's clients apart as it would tell apart
// hosts.
type udpPeer struct {
	addr netip.AddrPort // the client
	conn *net.UDPConn   // connected to the target
}

// ListenUDP starts a UDP relay on listen that forwards the datagrams of
// each client to target from a socket of its own, and the replies back,
// with Shape s in both directions. A datagram is lost with probability
// s.Loss, and dropped when the link holds its Window already; the others
// arrive in order. It stops when ctx is done or Close is called.
func ListenUDP(ctx context.Context, listen, target string, s Shape) (*Relay, error) {
	return Config{Up: s, Down: s}.ListenUDP(ctx, listen, target)
}

// ListenUDP starts a UDP relay with the Config's Shapes; see ListenUDP.
func (c Config) ListenUDP(ctx context.Context, listen, target string) (*Relay, error) {
	r, err := c.newRelay(ctx, "udp", target)
	if err != nil {
		return nil, fmt.Errorf("udp relay %s -> %s: %w", listen, target, err)
	}
	taddr, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		r.cancel()
		return nil, fmt.Errorf("udp relay %s -> %s: %w", listen, target, err)
	}
	var lc net.ListenConfig
	pc, err := lc.ListenPacket(ctx, "udp", listen)
	if err != nil {
		r.cancel()
		return nil, fmt.Errorf("udp relay %s -> %s: %w", listen, target, err)
	}
	r.pc = pc.(*net.UDPConn)
	setUDPBuffers(r.pc)
	r.addr = pc.LocalAddr()
	r.peers = make(map[netip.AddrPort]*udpPeer)
	up := newPipe(r.links[Up], r.done, 4096, &r.count[Up], func(c chunk) bool {
		if n, err := c.peer.conn.Write(c.b); err == nil {
			r.count[Up].delivered(n)
		}
		return true
	})
	down := newPipe(r.links[Down], r.done, 4096, &r.count[Down], func(c chunk) bool {
		if n, err := r.pc.WriteToUDPAddrPort(c.b, c.peer.addr); err == nil {
			r.count[Down].delivered(n)
		}
		return true
	})
	up.start(&r.wg)
	down.start(&r.wg)
	r.watch(ctx)
	r.wg.Add(1)
	go r.readClients(taddr, up, down)
	return r, nil
}

// udpBuffer is the kernel buffer asked for each of the relay's UDP sockets
// (Linux caps it at net.core.rmem_max/wmem_max). With the default (~208 KiB)
// a sender's burst, or a reader goroutine late on a loaded machine, loses
// datagrams in the kernel: loss the Shape did not ask for, which the
// counters do not see, and which a loss-driven sender (uTP's LEDBAT behind
// a short queue) pays for with a halved window per loss.
const udpBuffer = 4 << 20

func setUDPBuffers(c *net.UDPConn) {
	_ = c.SetReadBuffer(udpBuffer)
	_ = c.SetWriteBuffer(udpBuffer)
}

// readClients takes the clients' datagrams into the Up link.
func (r *Relay) readClients(target *net.UDPAddr, up, down *pipe) {
	defer r.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, from, err := r.pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if r.closed() || errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		p := r.peer(from, target, down)
		if p == nil {
			r.count[Up].drop(n)
			continue
		}
		up.offer(chunk{b: bytes.Clone(buf[:n]), peer: p})
	}
}

// peer returns the client's peer, making it on its first datagram; nil
// when the relay is closed, has maxUDPPeers already, or cannot open a
// socket.
func (r *Relay) peer(from netip.AddrPort, target *net.UDPAddr, down *pipe) *udpPeer {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.peers[from]; ok {
		return p
	}
	if r.closed() || len(r.peers) >= maxUDPPeers {
		return nil
	}
	var src *net.UDPAddr
	if r.cfg.Source.IsValid() {
		src = net.UDPAddrFromAddrPort(netip.AddrPortFrom(r.cfg.Source, 0))
	}
	conn, err := net.DialUDP("udp", src, target)
	if err != nil {
		r.dialEr.Add(1)
		return nil
	}
	setUDPBuffers(conn)
	p := &udpPeer{addr: from, conn: conn}
	r.peers[from] = p
	r.conns.Add(1)
	r.active.Add(1)
	r.wg.Add(1)
	go r.readPeer(p, down)
	return p
}

// readPeer takes the target's datagrams to one client into the Down link.
func (r *Relay) readPeer(p *udpPeer, down *pipe) {
	defer r.wg.Done()
	defer r.active.Add(-1)
	buf := make([]byte, 64<<10)
	for {
		n, err := p.conn.Read(buf)
		if err != nil {
			if r.closed() || errors.Is(err, net.ErrClosed) {
				return
			}
			continue // ECONNREFUSED: the target is not listening (yet)
		}
		down.offer(chunk{b: bytes.Clone(buf[:n]), peer: p})
	}
}
