package dht

import (
	"errors"
	"net/netip"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
)

// Reply limits. See the package documentation, "Answering queries", for why these
// bound amplification.
const (
	// maxValuesVerified is the most peers a get_peers reply carries to a querier whose
	// address is proven (it answered one of our queries); maxValuesUnverified to any
	// other source, whose address may be spoofed.
	maxValuesVerified = 50
	// maxValuesVerified6 is maxValuesVerified for an IPv6 node, whose values
	// take 18 bytes: with 8 nodes and 8 nodes6 (BEP 32 want) they stay under
	// maxReply.
	maxValuesVerified6  = 24
	maxValuesUnverified = 8
	// maxReply is a hard ceiling on any reply we send; nothing we build comes near it
	// (8 nodes + 50 values + a 32-byte transaction id is about 750 bytes; with
	// BEP 32's nodes6 as well, about 1,150). 1232 fits a 1280-byte IPv6 packet.
	maxReply = 1232
)

// handlePacket processes one datagram from the socket: responses and errors go to the
// queries waiting for them; queries are answered within the rate limits; malformed
// queries get a BEP 5 protocol error when they carry a transaction id. It never
// panics on any input.
func (n *Node) handlePacket(b []byte, from netip.AddrPort, now time.Time) {
	from = unmap(from)
	if len(b) > maxPacket || !usableAddr(from) {
		n.stats.droppedMalformed.Add(1)
		return
	}
	m, err := parseMessage(b)
	if err != nil {
		n.stats.droppedMalformed.Add(1)
		var pe *parseError
		if errors.As(err, &pe) && pe.replyable() && n.allow(from, now) {
			n.replyError(pe.TID, pe.Code, pe.Msg, from, now)
		}
		return
	}
	switch m.Type {
	case typeResponse, typeError:
		p := n.waiter(m, from)
		if p == nil {
			n.stats.droppedUnsolicited.Add(1)
			return
		}
		// The table learns of the reply before the query does, so that a lookup that
		// has just finished finds its nodes in the table.
		if m.Type == typeResponse {
			n.mu.Lock()
			n.table.seen(NodeInfo{ID: m.Reply.ID, Addr: from}, now, true)
			n.mu.Unlock()
		}
		p.deliver(m)
	case typeQuery:
		if !n.allow(from, now) {
			n.stats.droppedRate.Add(1)
			return
		}
		n.stats.queriesReceived.Add(1)
		n.answer(m, from, now)
	}
}

// allow applies the per-IP rate limit.
func (n *Node) allow(from netip.AddrPort, now time.Time) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.limiter == nil || n.limiter.allow(from.Addr(), now)
}

// answer replies to a well-formed query (BEP 5).
func (n *Node) answer(m message, from netip.AddrPort, now time.Time) {
	r := replyArgs{ID: n.self}
	var toPing *NodeInfo
	var verifyFrom bool
	n.mu.Lock()
	if !m.ReadOnly {
		_, toPing = n.table.seen(NodeInfo{ID: m.Args.ID, Addr: from}, now, false)
	}
	querier := n.table.byAddr[from]
	verified := querier != nil && querier.ID == m.Args.ID && querier.verified()
	verifyFrom = querier != nil && querier.ID == m.Args.ID && !querier.verified()
	switch m.Method {
	case methodFindNode:
		r.Nodes = n.table.closest(m.Args.Target, K, now, true)
	case methodGetPeers:
		r.Token = n.tokens.make(from.Addr(), now)
		limit := maxValuesUnverified
		if verified {
			limit = maxValuesVerified
			if n.v6 {
				limit = maxValuesVerified6
			}
		}
		r.Values = n.store.get(bt.InfoHash(m.Args.Target), limit, now)
		r.Nodes = n.table.closest(m.Args.Target, K, now, true)
	case methodAnnouncePeer:
		if !n.tokens.valid(m.Args.Token, from.Addr(), now) {
			n.mu.Unlock()
			n.replyError(m.TID, CodeProtocol, "invalid token", from, now)
			return
		}
		port := m.Args.Port
		if m.Args.ImpliedPort {
			port = from.Port() // BEP 5: the port the query came from (uTP, NAT)
		}
		if !n.store.add(bt.InfoHash(m.Args.Target), netip.AddrPortFrom(from.Addr(), port), now) {
			n.mu.Unlock()
			n.replyError(m.TID, CodeServer, "peer store full", from, now)
			return
		}
	}
	n.mu.Unlock()
	if m.Method == methodFindNode || m.Method == methodGetPeers {
		n.applyWant(&r, m.Args, now)
	}
	b, err := encodeResponse(m.TID, r, from)
	if err != nil {
		n.log.Warn("dht: encode reply", "method", m.Method, "err", err)
		return
	}
	if n.sendReply(b, from, now) {
		n.stats.repliesSent.Add(1)
	}
	// A querier new to the table is verified with a ping before we hand it out; a
	// questionable node that keeps a full bucket from taking the querier is pinged
	// to see whether it is still there (BEP 5).
	if verifyFrom {
		n.pingAsync(from)
	}
	if toPing != nil {
		n.pingAsync(toPing.Addr)
	}
}

// applyWant follows BEP 32's "want": without it a reply names nodes of our own
// family; with it, of each family asked for that this node or its pair has.
func (n *Node) applyWant(r *replyArgs, a queryArgs, now time.Time) {
	own, other := wantN4, wantN6
	if n.v6 {
		own, other = wantN6, wantN4
	}
	if a.Want != 0 && a.Want&own == 0 {
		r.Nodes = nil
	}
	if a.Want&other != 0 {
		if o := n.pair.Load(); o != nil {
			r.Nodes = append(r.Nodes, o.closestFor(a.Target, now)...)
		}
	}
}

// replyError sends a BEP 5 error.
func (n *Node) replyError(tid []byte, code int, text string, to netip.AddrPort, now time.Time) {
	b, err := encodeError(tid, code, text)
	if err != nil {
		n.log.Warn("dht: encode error reply", "err", err)
		return
	}
	if n.sendReply(b, to, now) {
		n.stats.errorsSent.Add(1)
	}
}

// sendReply sends a reply within the upload budget; over budget, or over maxReply,
// it is dropped.
func (n *Node) sendReply(b []byte, to netip.AddrPort, now time.Time) bool {
	if len(b) > maxReply {
		n.log.Warn("dht: reply too large, dropped", "bytes", len(b))
		return false
	}
	if n.cfg.UploadRate > 0 {
		rate := float64(n.cfg.UploadRate)
		n.mu.Lock()
		ok := n.budget.take(float64(len(b)), rate, max(rate, 2*maxReply), now)
		n.mu.Unlock()
		if !ok {
			n.stats.droppedBudget.Add(1)
			return false
		}
	}
	if err := n.send(b, to); err != nil {
		n.log.Debug("dht: send reply", "to", to, "err", err)
		return false
	}
	return true
}
