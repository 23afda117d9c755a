package dht

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"
)

// pendingQuery is one of our queries waiting for its reply: the address it went to
// and where the reply goes.
type pendingQuery struct {
	to    netip.AddrPort
	reply chan message // capacity 1; a cloned message
}

// tidLen is the length of our transaction ids: 4 random bytes, so that an off-path
// sender cannot easily forge a reply (BEP 5 suggests 2; any length is legal).
const tidLen = 4

// readLoop reads datagrams until the socket closes. The buffer is one byte longer than
// maxPacket so that an oversized datagram (which the kernel truncates silently) is
// recognised and dropped.
func (n *Node) readLoop() {
	defer n.wg.Done()
	buf := make([]byte, maxPacket+1)
	for {
		sz, from, err := n.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			n.log.Debug("dht: read", "err", err)
			continue
		}
		n.handlePacket(buf[:sz], from, time.Now())
	}
}

// send writes one datagram.
func (n *Node) send(b []byte, to netip.AddrPort) error {
	if n.out == nil {
		return ErrClosed
	}
	_, err := n.out.WriteToUDPAddrPort(b, to)
	return err
}

// waiter returns the query waiting for m's transaction id, if m came from the address
// that query went to.
func (n *Node) waiter(m message, from netip.AddrPort) *pendingQuery {
	n.txMu.Lock()
	p := n.pending[string(m.TID)]
	n.txMu.Unlock()
	if p == nil || p.to != from {
		return nil
	}
	return p
}

// deliver hands a response or error to its waiting query.
func (p *pendingQuery) deliver(m message) {
	select {
	case p.reply <- m.clone():
	default: // a duplicate; the first reply is still waiting to be read
	}
}

// query sends one query to addr and waits for its reply, at most QueryTimeout. A KRPC
// error reply is returned as *Error. A timeout counts against the node in the routing
// table (BEP 5: nodes that fail to answer become bad); a reply refreshes it (done by
// the reader, in handlePacket).
func (n *Node) query(ctx context.Context, to netip.AddrPort, meth method, args queryArgs) (message, error) {
	select {
	case n.inflight <- struct{}{}:
	case <-ctx.Done():
		return message{}, ctx.Err()
	case <-n.ctx.Done():
		return message{}, ErrClosed
	}
	defer func() { <-n.inflight }()

	args.ID = n.self
	p := &pendingQuery{to: to, reply: make(chan message, 1)}
	var tid [tidLen]byte
	n.txMu.Lock()
	for {
		binary.BigEndian.PutUint32(tid[:], rand.Uint32())
		if n.pending[string(tid[:])] == nil {
			n.pending[string(tid[:])] = p
			break
		}
	}
	n.txMu.Unlock()
	defer func() {
		n.txMu.Lock()
		delete(n.pending, string(tid[:]))
		n.txMu.Unlock()
	}()

	b, err := encodeQuery(tid[:], meth, args)
	if err != nil {
		return message{}, err
	}
	n.stats.queriesSent.Add(1)
	if err := n.send(b, to); err != nil {
		return message{}, fmt.Errorf("send %s to %s: %w", meth, to, err)
	}
	timer := time.NewTimer(n.cfg.QueryTimeout)
	defer timer.Stop()
	select {
	case m := <-p.reply:
		if m.Type == typeError {
			return m, &Error{Code: m.Code, Msg: m.Text}
		}
		return m, nil
	case <-timer.C:
		n.stats.timeouts.Add(1)
		n.mu.Lock()
		if e := n.table.byAddr[to]; e != nil {
			n.table.failed(e.ID, time.Now())
		}
		n.mu.Unlock()
		return message{}, fmt.Errorf("%s to %s: %w", meth, to, ErrTimeout)
	case <-ctx.Done():
		return message{}, ctx.Err()
	case <-n.ctx.Done():
		return message{}, ErrClosed
	}
}

// ping asks the node at addr for its id (BEP 5 ping).
func (n *Node) ping(ctx context.Context, addr netip.AddrPort) (ID, error) {
	m, err := n.query(ctx, addr, methodPing, queryArgs{})
	return m.Reply.ID, err
}

// maxVerifying bounds background pings (of unverified and questionable nodes).
const maxVerifying = 16

// pingAsync pings addr in the background, unless a ping to it is already under way or
// maxVerifying are. The reply itself updates the routing table (handlePacket); a
// timeout counts as a failure (query).
func (n *Node) pingAsync(addr netip.AddrPort) {
	if !usableAddr(addr) || addr == n.addr || !n.ownFamily(addr) {
		return
	}
	n.mu.Lock()
	if n.closed || n.pinging[addr] || len(n.pinging) >= maxVerifying {
		n.mu.Unlock()
		return
	}
	n.pinging[addr] = true
	n.mu.Unlock()
	started := n.goBackground(func() {
		n.ping(n.ctx, addr)
		n.mu.Lock()
		delete(n.pinging, addr)
		n.mu.Unlock()
	})
	if !started {
		n.mu.Lock()
		delete(n.pinging, addr)
		n.mu.Unlock()
	}
}
