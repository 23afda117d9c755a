package dht

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
)

// BEP 32: "nodes6" entries of 38 bytes, "want" in queries, nodes split by family
// when encoded.
func TestNodes6RoundTrip(t *testing.T) {
	nodes := []NodeInfo{
		{ID: ID{1}, Addr: netip.MustParseAddrPort("127.0.0.1:6881")},
		{ID: ID{2}, Addr: netip.MustParseAddrPort("[::1]:6882")},
		{ID: ID{3}, Addr: netip.MustParseAddrPort("[2001:db8::7]:1")},
	}
	b, err := encodeResponse([]byte("aa"), replyArgs{ID: ID{9}, Nodes: nodes}, netip.MustParseAddrPort("[::1]:5"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "6:nodes676:") || !strings.Contains(string(b), "5:nodes26:") {
		t.Fatalf("encoded %q: want nodes of 26 bytes and nodes6 of 76", b)
	}
	m, err := parseMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.Reply.Nodes, nodes) {
		t.Fatalf("nodes %v, want %v", m.Reply.Nodes, nodes)
	}
}

func TestParseNodes6Refuses(t *testing.T) {
	id := strings.Repeat("a", 20)
	entry := func(ip string, port uint16) string {
		a := netip.MustParseAddr(ip).As16()
		return id + string(a[:]) + string([]byte{byte(port >> 8), byte(port)})
	}
	ok := entry("2001:db8::1", 80)
	in := ok + entry("::", 80) + entry("ff02::1", 80) + entry("fe80::1", 80) + entry("::ffff:1.2.3.4", 80) + entry("2001:db8::2", 0)
	got, err := parseCompactNodes6([]byte(in), 32)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Addr != netip.MustParseAddrPort("[2001:db8::1]:80") {
		t.Fatalf("got %v, want only [2001:db8::1]:80", got)
	}
	if _, err := parseCompactNodes6([]byte(ok[:37]), 32); err == nil {
		t.Fatal("37 bytes parsed")
	}
}

func TestWantParsed(t *testing.T) {
	for in, want := range map[string]uint8{
		"l2:n4e":                         wantN4,
		"l2:n62:n4e":                     wantN4 | wantN6,
		"l2:n6i5e3:xyze":                 wantN6,
		"le":                             0,
		"l1:a1:b1:c1:d1:e1:f1:g1:h2:n4e": 0, // past the first 8 items
	} {
		b := []byte("d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz1234564:want" + in + "e1:q9:find_node1:t2:aa1:y1:qe")
		m, err := parseMessage(b)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if m.Args.Want != want {
			t.Errorf("want %s: got %b, want %b", in, m.Args.Want, want)
		}
	}
}

// Two IPv6 nodes on ::1: one bootstraps from the other, finds it, announces a
// peer and the other finds the peer (BEP 32 over the loopback). A paired IPv4
// node learns of the IPv4 node its IPv6 pair was told about through want.
func TestIPv6Nodes(t *testing.T) {
	newNode := func(addr string, boot ...string) *Node {
		n, err := New(Config{Addr: addr, Bootstrap: boot, RateLimitPerIP: -1, UploadRate: -1, QueryTimeout: 5 * time.Second})
		if err != nil {
			t.Skipf("no IPv6 loopback: %v", err)
		}
		t.Cleanup(func() { n.Close() })
		return n
	}
	a := newNode("[::1]:0")
	if !a.IPv6() || !a.Addr().Addr().Is6() {
		t.Fatalf("node on [::1] is not IPv6: %v", a.Addr())
	}
	a4 := newNode("127.0.0.1:0")
	Pair(a4, a)
	b := newNode("[::1]:0", a.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.Bootstrap(ctx); err != nil {
		t.Fatalf("bootstrap over ::1: %v", err)
	}
	ih := bt.InfoHash{7}
	if _, err := b.Announce(ctx, ih, 4321, false); err != nil {
		t.Fatalf("announce over ::1: %v", err)
	}
	c := newNode("[::1]:0", a.Addr().String())
	if err := c.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	peers, err := c.GetPeers(ctx, ih)
	if err != nil {
		t.Fatal(err)
	}
	want := netip.AddrPortFrom(netip.MustParseAddr("::1"), 4321)
	if !slices.Contains(peers, want) {
		t.Fatalf("peers %v, want %v", peers, want)
	}
	// a is asked with want n4 and n6: its reply carries its pair's IPv4 nodes.
	a4.mu.Lock()
	a4.table.seen(NodeInfo{ID: ID{0x42}, Addr: netip.MustParseAddrPort("127.0.0.9:9")}, time.Now(), true)
	a4.mu.Unlock()
	m, err := c.query(ctx, a.Addr(), methodFindNode, queryArgs{Target: ID{0x42}, Want: wantN4 | wantN6})
	if err != nil {
		t.Fatal(err)
	}
	var has4, has6 bool
	for _, nd := range m.Reply.Nodes {
		has4 = has4 || nd.Addr.Addr().Is4()
		has6 = has6 || nd.Addr.Addr().Is6()
	}
	if !has4 || !has6 {
		t.Fatalf("want n4+n6 reply: nodes %v", m.Reply.Nodes)
	}
}
