package dht

import (
	"net/netip"
	"slices"
	"time"
)

// K is the BEP 5 bucket size: each bucket holds at most K nodes, and lookups aim for
// the K closest nodes to a target.
const K = 8

// Routing table timings and limits (BEP 5).
const (
	// goodFor is how long a node stays good after it answered us (or, having answered
	// once, after it queried us): "within the last 15 minutes".
	goodFor = 15 * time.Minute
	// maxFailures consecutive unanswered queries make a node bad ("fail to respond to
	// multiple queries in a row"). A node that never answered is bad after one.
	maxFailures = 2
	// maxBuckets: the table splits down to one bucket per bit of the id space.
	maxBuckets = IDLen * 8
)

// nodeState is the BEP 5 classification of a routing table entry.
type nodeState uint8

const (
	stateGood nodeState = iota
	stateQuestionable
	stateBad
)

func (s nodeState) String() string {
	return [...]string{"good", "questionable", "bad"}[s]
}

// tableNode is one routing table entry.
type tableNode struct {
	NodeInfo
	lastSeen  time.Time // last message from it, query or reply
	lastReply time.Time // last reply to one of our queries; zero if it never replied
	failures  int       // consecutive queries it did not answer
}

// verified reports whether the node ever answered one of our queries, which proves
// it receives at its address (UDP source addresses are spoofable; replies are not,
// short of an on-path attacker guessing transaction ids).
func (n *tableNode) verified() bool { return !n.lastReply.IsZero() }

// state classifies n at time now (BEP 5).
func (n *tableNode) state(now time.Time) nodeState {
	if n.failures >= maxFailures || n.failures > 0 && !n.verified() {
		return stateBad
	}
	if n.verified() && (now.Sub(n.lastReply) < goodFor || now.Sub(n.lastSeen) < goodFor) {
		return stateGood
	}
	return stateQuestionable
}

// bucket holds the nodes of one range of the id space, plus a cache of replacement
// candidates for when one of them goes bad.
type bucket struct {
	nodes        []*tableNode // at most K
	replacements []NodeInfo   // at most K, most recently seen last
	lastChanged  time.Time    // BEP 5 "last changed": node added, replaced or answered
}

// table is a BEP 5 routing table. Bucket i holds the nodes whose id shares exactly i
// leading bits with ours, except the last bucket, which holds every node sharing at
// least len(buckets)-1 bits: it is the one whose range contains our own id, the only
// one that splits when full. It is a plain struct with time passed in; the Node
// guards it with its mutex.
type table struct {
	self    ID
	buckets []*bucket
	byAddr  map[netip.AddrPort]*tableNode
}

// newTable returns an empty table (one bucket covering the whole space).
func newTable(self ID, now time.Time) *table {
	return &table{self: self, buckets: []*bucket{{lastChanged: now}}, byAddr: make(map[netip.AddrPort]*tableNode)}
}

// bucketIndex is the index of the bucket whose range contains id.
func (t *table) bucketIndex(id ID) int {
	return min(commonPrefixLen(t.self, id), len(t.buckets)-1)
}

// find returns the entry for id, or nil.
func (t *table) find(id ID) *tableNode {
	for _, n := range t.buckets[t.bucketIndex(id)].nodes {
		if n.ID == id {
			return n
		}
	}
	return nil
}

// seen records a message from node n at time now; replied is true when it was a reply
// to one of our queries (so n.Addr is proven). It returns whether n is in the table
// afterwards, and possibly a node to ping: when n's bucket is full of nodes not known
// to be bad, the least recently seen questionable one, which the caller should ping and
// report with failed if it does not answer (BEP 5). A node whose id is known under
// another address is not moved, and an address taken by another id is only given to
// a new id that replied from it: a spoofed packet must not move or shadow a node.
func (t *table) seen(n NodeInfo, now time.Time, replied bool) (inTable bool, ping *NodeInfo) {
	if n.ID == t.self || !usableAddr(n.Addr) {
		return false, nil
	}
	if e := t.find(n.ID); e != nil {
		if e.Addr != n.Addr {
			return true, nil
		}
		e.lastSeen = now
		if replied {
			e.lastReply, e.failures = now, 0
			t.buckets[t.bucketIndex(n.ID)].lastChanged = now
		}
		return true, nil
	}
	if other := t.byAddr[n.Addr]; other != nil {
		// A reply proves the address: the node there has a new id (it restarted).
		if other.state(now) != stateBad && !replied {
			return false, nil
		}
		t.remove(other.ID)
	}
	e := &tableNode{NodeInfo: n, lastSeen: now}
	if replied {
		e.lastReply = now
	}
	for {
		i := t.bucketIndex(n.ID)
		b := t.buckets[i]
		if len(b.nodes) < K {
			b.nodes = append(b.nodes, e)
			t.byAddr[n.Addr] = e
			b.lastChanged = now
			b.dropReplacement(n.ID)
			return true, nil
		}
		if j := b.worst(now); j >= 0 && b.nodes[j].state(now) == stateBad {
			delete(t.byAddr, b.nodes[j].Addr)
			b.nodes[j] = e
			t.byAddr[n.Addr] = e
			b.lastChanged = now
			b.dropReplacement(n.ID)
			return true, nil
		}
		if i == len(t.buckets)-1 && len(t.buckets) < maxBuckets {
			t.split(now)
			continue
		}
		b.addReplacement(n)
		if j := b.worst(now); j >= 0 && b.nodes[j].state(now) == stateQuestionable {
			p := b.nodes[j].NodeInfo
			return false, &p
		}
		return false, nil
	}
}

// failed records that node id did not answer a query. When that makes it bad, it is
// replaced by the most recently seen replacement candidate, if there is one.
func (t *table) failed(id ID, now time.Time) {
	e := t.find(id)
	if e == nil {
		return
	}
	e.failures++
	if e.state(now) != stateBad {
		return
	}
	b := t.buckets[t.bucketIndex(id)]
	for len(b.replacements) > 0 {
		r := b.replacements[len(b.replacements)-1]
		b.replacements = b.replacements[:len(b.replacements)-1]
		if t.byAddr[r.Addr] != nil || t.find(r.ID) != nil {
			continue
		}
		j := slices.Index(b.nodes, e)
		delete(t.byAddr, e.Addr)
		// A replacement was only heard of: it starts questionable, and gets pinged
		// by maintenance like any other questionable node.
		b.nodes[j] = &tableNode{NodeInfo: r, lastSeen: now}
		t.byAddr[r.Addr] = b.nodes[j]
		b.lastChanged = now
		return
	}
}

// remove deletes node id from the table.
func (t *table) remove(id ID) {
	b := t.buckets[t.bucketIndex(id)]
	for j, n := range b.nodes {
		if n.ID == id {
			delete(t.byAddr, n.Addr)
			b.nodes = slices.Delete(b.nodes, j, j+1)
			return
		}
	}
}

// split divides the last bucket (the one containing our id) in two: nodes sharing
// exactly len(buckets)-1 bits with us stay, the closer ones move to a new last bucket.
func (t *table) split(now time.Time) {
	last := len(t.buckets) - 1
	old := t.buckets[last]
	nb := &bucket{lastChanged: old.lastChanged}
	var keep []*tableNode
	for _, n := range old.nodes {
		if commonPrefixLen(t.self, n.ID) > last {
			nb.nodes = append(nb.nodes, n)
		} else {
			keep = append(keep, n)
		}
	}
	old.nodes = keep
	var keepR []NodeInfo
	for _, r := range old.replacements {
		if commonPrefixLen(t.self, r.ID) > last {
			nb.replacements = append(nb.replacements, r)
		} else {
			keepR = append(keepR, r)
		}
	}
	old.replacements = keepR
	t.buckets = append(t.buckets, nb)
}

// worst returns the index of the node to evict first: bad before questionable before
// good, the least recently seen among equals; -1 for an empty bucket.
func (b *bucket) worst(now time.Time) int {
	w := -1
	for j, n := range b.nodes {
		if w < 0 {
			w = j
			continue
		}
		sj, sw := n.state(now), b.nodes[w].state(now)
		if sj > sw || sj == sw && n.lastSeen.Before(b.nodes[w].lastSeen) {
			w = j
		}
	}
	return w
}

// addReplacement remembers n as a candidate for this bucket, most recent last,
// keeping at most K.
func (b *bucket) addReplacement(n NodeInfo) {
	b.dropReplacement(n.ID)
	if len(b.replacements) == K {
		b.replacements = slices.Delete(b.replacements, 0, 1)
	}
	b.replacements = append(b.replacements, n)
}

func (b *bucket) dropReplacement(id ID) {
	b.replacements = slices.DeleteFunc(b.replacements, func(r NodeInfo) bool { return r.ID == id })
}

// closest returns up to count nodes nearest to target, nearest first, leaving out bad
// nodes; with verifiedOnly, also those that never answered us. Replies to other nodes
// use verifiedOnly, so that we never hand out an address only a (spoofable) query
// vouched for.
func (t *table) closest(target ID, count int, now time.Time, verifiedOnly bool) []NodeInfo {
	var all []NodeInfo
	for _, b := range t.buckets {
		for _, n := range b.nodes {
			if n.state(now) == stateBad || verifiedOnly && !n.verified() {
				continue
			}
			all = append(all, n.NodeInfo)
		}
	}
	slices.SortFunc(all, func(a, b NodeInfo) int { return cmpDistance(target, a.ID, b.ID) })
	return all[:min(count, len(all))]
}

// staleBuckets returns the indices of up to max buckets not changed within interval,
// and marks them changed at now, so that each gets one refresh lookup per interval
// (BEP 5).
func (t *table) staleBuckets(now time.Time, interval time.Duration, max int) []int {
	var out []int
	for i, b := range t.buckets {
		if len(out) < max && now.Sub(b.lastChanged) >= interval {
			out = append(out, i)
			b.lastChanged = now
		}
	}
	return out
}

// refreshTarget returns a random id in the range of bucket i.
func (t *table) refreshTarget(i int) ID {
	return randomIDWithPrefix(t.self, i)
}

// questionable returns up to max questionable nodes, least recently seen first, for
// maintenance to ping.
func (t *table) questionable(now time.Time, max int) []NodeInfo {
	var qs []*tableNode
	for _, b := range t.buckets {
		for _, n := range b.nodes {
			if n.state(now) == stateQuestionable {
				qs = append(qs, n)
			}
		}
	}
	slices.SortFunc(qs, func(a, b *tableNode) int { return a.lastSeen.Compare(b.lastSeen) })
	out := make([]NodeInfo, 0, min(max, len(qs)))
	for _, n := range qs[:min(max, len(qs))] {
		out = append(out, n.NodeInfo)
	}
	return out
}

// tableCounts is a census of the table.
type tableCounts struct {
	Good, Questionable, Bad, Buckets int
}

func (t *table) counts(now time.Time) tableCounts {
	c := tableCounts{Buckets: len(t.buckets)}
	for _, b := range t.buckets {
		for _, n := range b.nodes {
			switch n.state(now) {
			case stateGood:
				c.Good++
			case stateQuestionable:
				c.Questionable++
			default:
				c.Bad++
			}
		}
	}
	return c
}

// len is the number of nodes in the table.
func (t *table) len() int { return len(t.byAddr) }
