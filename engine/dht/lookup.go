package dht

import (
	"context"
	"net/netip"
	"slices"
	"time"
)

// Lookup parameters (BEP 5 and Kademlia).
const (
	// alpha is the number of queries a lookup keeps in flight.
	alpha = 3
	// maxCandidates bounds the nodes a lookup remembers; the farthest unqueried ones
	// are forgotten first.
	maxCandidates = 8 * K
	// maxLookupQueries bounds the queries of one lookup, so that nodes that keep
	// inventing closer nodes cannot make it run forever.
	maxLookupQueries = 200
	// maxLookupPeers bounds the peers one get_peers lookup collects.
	maxLookupPeers = 2000
)

// candidate states during a lookup.
const (
	candNew = iota
	candAsked
	candReplied
	candFailed
)

// candidate is a node a lookup knows of.
type candidate struct {
	NodeInfo
	idKnown bool // false for bootstrap addresses, until they answer
	state   int
	token   []byte // get_peers token, for announce_peer
}

// lookupResult is the outcome of one query of a lookup.
type lookupResult struct {
	c   *candidate
	m   message
	err error
}

// lookup runs an iterative BEP 5 lookup of target with find_node or get_peers queries:
// it keeps alpha queries in flight to the closest nodes not yet asked, adds the nodes
// each reply names, and stops when the K closest nodes that did not fail have all
// answered. get_peers values are passed to onPeers as they arrive (each peer once). It
// returns the K closest nodes that answered, closest first, with their tokens.
func (n *Node) lookup(ctx context.Context, target ID, meth method, seeds []candidate, onPeers func([]netip.AddrPort)) ([]candidate, error) {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil, ErrClosed
	}
	known := n.table.closest(target, maxCandidates, time.Now(), false)
	n.mu.Unlock()

	l := &lookupState{target: target, self: n.self, selfAddr: n.addr, v6: n.v6, seen: make(map[netip.AddrPort]bool)}
	for _, s := range seeds {
		l.add(s)
	}
	for _, k := range known {
		l.add(candidate{NodeInfo: k, idKnown: true})
	}
	if len(l.cands) == 0 {
		return nil, ErrNoNodes
	}
	peers := make(map[netip.AddrPort]bool)
	results := make(chan lookupResult, alpha)
	inflight, asked := 0, 0
	for {
		for inflight < alpha && asked < maxLookupQueries && ctx.Err() == nil && n.ctx.Err() == nil {
			c := l.next()
			if c == nil {
				break
			}
			c.state = candAsked
			inflight++
			asked++
			go func() {
				m, err := n.query(ctx, c.Addr, meth, queryArgs{Target: target, Want: n.want()})
				results <- lookupResult{c, m, err}
			}()
		}
		if inflight == 0 {
			break
		}
		r := <-results
		inflight--
		if r.err != nil {
			r.c.state = candFailed
			continue
		}
		if r.c.idKnown && r.m.Reply.ID != r.c.ID {
			// It answered under another id: it is not the node we were told of.
			r.c.state = candFailed
			continue
		}
		if !r.c.idKnown {
			r.c.ID, r.c.idKnown = r.m.Reply.ID, true
			l.sort()
		}
		r.c.state = candReplied
		r.c.token = r.m.Reply.Token
		for _, nd := range r.m.Reply.Nodes {
			if nd.Addr.Addr().Is6() == n.v6 {
				l.add(candidate{NodeInfo: nd, idKnown: true})
			} else if o := n.pair.Load(); o != nil {
				o.pingAsync(nd.Addr) // BEP 32: the other family's node may use it
			}
		}
		if onPeers != nil && len(r.m.Reply.Values) > 0 {
			var fresh []netip.AddrPort
			for _, p := range r.m.Reply.Values {
				if !peers[p] && len(peers) < maxLookupPeers {
					peers[p] = true
					fresh = append(fresh, p)
				}
			}
			if len(fresh) > 0 {
				onPeers(fresh)
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if n.ctx.Err() != nil {
		return nil, ErrClosed
	}
	var out []candidate
	for _, c := range l.cands {
		if c.state == candReplied {
			out = append(out, *c)
			if len(out) == K {
				break
			}
		}
	}
	if len(out) == 0 {
		return nil, ErrNoNodes
	}
	return out, nil
}

// lookupState is the candidate list of one lookup, sorted by distance to target.
type lookupState struct {
	target   ID
	self     ID
	selfAddr netip.AddrPort
	v6       bool // the node's family: candidates of the other one are skipped
	cands    []*candidate
	seen     map[netip.AddrPort]bool // every address ever added, to ask each once
}

// add inserts c unless its address was seen before, it is us, or the list is full of
// closer nodes.
func (l *lookupState) add(c candidate) {
	if l.seen[c.Addr] || c.Addr == l.selfAddr || c.idKnown && c.ID == l.self || !usableAddr(c.Addr) ||
		c.Addr.Addr().Is6() != l.v6 {
		return
	}
	l.seen[c.Addr] = true
	l.cands = append(l.cands, &c)
	l.sort()
	if len(l.cands) > maxCandidates {
		// Forget the farthest node that is not in flight (an in-flight one's result
		// still arrives, through its own pointer).
		for i := len(l.cands) - 1; i >= 0; i-- {
			if l.cands[i].state != candAsked {
				l.cands = slices.Delete(l.cands, i, i+1)
				break
			}
		}
	}
}

// sort orders candidates by distance; those of unknown id (bootstrap addresses) come
// first, as they must be asked before anything is known.
func (l *lookupState) sort() {
	slices.SortStableFunc(l.cands, func(a, b *candidate) int {
		switch {
		case !a.idKnown && !b.idKnown:
			return 0
		case !a.idKnown:
			return -1
		case !b.idKnown:
			return 1
		}
		return cmpDistance(l.target, a.ID, b.ID)
	})
}

// next returns the closest candidate not yet asked among the K closest that have not
// failed, or nil when those K are all asked: BEP 5's end of a lookup, "when the
// queried nodes cannot return any nodes closer than the best ones already found".
func (l *lookupState) next() *candidate {
	live := 0
	for _, c := range l.cands {
		if c.state == candFailed {
			continue
		}
		if c.state == candNew {
			return c
		}
		live++
		if live == K {
			return nil
		}
	}
	return nil
}
