package dht

import (
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
)

// sentPacket is a datagram a socketless node sent.
type sentPacket struct {
	b  []byte
	to netip.AddrPort
}

// captureWriter records what a socketless node sends.
type captureWriter struct {
	mu   sync.Mutex
	sent []sentPacket
}

func (w *captureWriter) WriteToUDPAddrPort(b []byte, to netip.AddrPort) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sent = append(w.sent, sentPacket{append([]byte(nil), b...), to})
	return len(b), nil
}

// take returns and forgets what was sent.
func (w *captureWriter) take() []sentPacket {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.sent
	w.sent = nil
	return s
}

// handlerNode is a Node without a socket: tests feed handlePacket directly.
func handlerNode(t testing.TB, cfg Config) (*Node, *captureWriter) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	n, err := newNode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w := &captureWriter{}
	n.out = w
	n.addr = netip.MustParseAddrPort("127.0.0.1:1")
	t.Cleanup(func() { n.Close() })
	return n, w
}

// exchange feeds one query to n and returns the replies to from (ignoring the
// verification pings n sends of its own accord).
func exchange(t testing.TB, n *Node, w *captureWriter, q []byte, from netip.AddrPort, now time.Time) []message {
	t.Helper()
	n.handlePacket(q, from, now)
	var out []message
	for _, p := range w.take() {
		m, err := parseMessage(p.b)
		if err != nil {
			t.Fatalf("node sent unparsable %q: %v", p.b, err)
		}
		if m.Type == typeQuery {
			continue
		}
		if p.to != from {
			t.Fatalf("reply went to %v, want %v", p.to, from)
		}
		if len(p.b) > maxReply {
			t.Fatalf("reply of %d bytes", len(p.b))
		}
		out = append(out, m)
	}
	return out
}

func mustQuery(t testing.TB, tid string, meth method, args queryArgs) []byte {
	t.Helper()
	b, err := encodeQuery([]byte(tid), meth, args)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func oneReply(t testing.TB, ms []message) message {
	t.Helper()
	if len(ms) != 1 {
		t.Fatalf("%d replies, want 1: %+v", len(ms), ms)
	}
	return ms[0]
}

func TestHandlePing(t *testing.T) {
	n, w := handlerNode(t, Config{})
	from := netip.MustParseAddrPort("10.0.0.1:5000")
	m := oneReply(t, exchange(t, n, w, mustQuery(t, "p1", methodPing, queryArgs{ID: testID("querier")}), from, time.Now()))
	if m.Type != typeResponse || string(m.TID) != "p1" || m.Reply.ID != n.ID() || m.Requester != from {
		t.Fatalf("ping reply %+v", m)
	}
	if s := n.Stats(); s.QueriesReceived != 1 || s.RepliesSent != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestHandleFindNode(t *testing.T) {
	n, w := handlerNode(t, Config{})
	now := time.Now()
	n.mu.Lock()
	for i := range 40 {
		n.table.seen(NodeInfo{idWithPrefix(n.self, i%20, byte(i/20)), addrN(i)}, now, i%2 == 0)
	}
	n.mu.Unlock()
	target := idWithPrefix(n.self, 3, 5)
	from := netip.MustParseAddrPort("10.9.0.1:5000")
	m := oneReply(t, exchange(t, n, w, mustQuery(t, "f", methodFindNode, queryArgs{ID: testID("q"), Target: target}), from, now))
	if len(m.Reply.Nodes) != K {
		t.Fatalf("%d nodes, want %d", len(m.Reply.Nodes), K)
	}
	n.mu.Lock()
	want := n.table.closest(target, K, now, true)
	n.mu.Unlock()
	for i := range want {
		if m.Reply.Nodes[i] != want[i] {
			t.Fatalf("node %d: %v, want %v", i, m.Reply.Nodes[i], want[i])
		}
	}
}

func TestHandleGetPeersAnnounce(t *testing.T) {
	n, w := handlerNode(t, Config{})
	now := time.Now()
	ih := testID("some info hash")
	from := netip.MustParseAddrPort("10.0.0.1:5000")
	m := oneReply(t, exchange(t, n, w, mustQuery(t, "g", methodGetPeers, queryArgs{ID: testID("q"), Target: ih}), from, now))
	if len(m.Reply.Token) == 0 || len(m.Reply.Values) != 0 {
		t.Fatalf("first get_peers: token %q values %v", m.Reply.Token, m.Reply.Values)
	}
	tok := m.Reply.Token

	// A token is bound to the IP it was given to.
	other := netip.MustParseAddrPort("10.0.0.2:5000")
	m = oneReply(t, exchange(t, n, w, mustQuery(t, "a0", methodAnnouncePeer, queryArgs{ID: testID("q2"), Target: ih, Port: 7000, Token: tok}), other, now))
	if m.Type != typeError || m.Code != CodeProtocol {
		t.Fatalf("announce with another IP's token: %+v", m)
	}

	m = oneReply(t, exchange(t, n, w, mustQuery(t, "a1", methodAnnouncePeer, queryArgs{ID: testID("q"), Target: ih, Port: 7000, Token: tok}), from, now))
	if m.Type != typeResponse {
		t.Fatalf("announce: %+v", m)
	}
	// implied_port: the source port counts, not "port".
	m = oneReply(t, exchange(t, n, w, mustQuery(t, "a2", methodAnnouncePeer, queryArgs{ID: testID("q"), Target: ih, Port: 9, ImpliedPort: true, Token: tok}), from, now))
	if m.Type != typeResponse {
		t.Fatalf("implied announce: %+v", m)
	}
	m = oneReply(t, exchange(t, n, w, mustQuery(t, "g2", methodGetPeers, queryArgs{ID: testID("q3"), Target: ih}), other, now))
	got := map[netip.AddrPort]bool{}
	for _, p := range m.Reply.Values {
		got[p] = true
	}
	if len(got) != 2 || !got[netip.MustParseAddrPort("10.0.0.1:7000")] || !got[from] {
		t.Fatalf("values %v, want 10.0.0.1:7000 and %v", m.Reply.Values, from)
	}
}

// TestHandleValuesLimit: an unproven source gets at most 8 peers, a proven one (it
// answered our query at that address) up to 50; replies stay under maxReply.
func TestHandleValuesLimit(t *testing.T) {
	n, w := handlerNode(t, Config{})
	now := time.Now()
	ih := testID("busy swarm")
	n.mu.Lock()
	for i := range 100 {
		n.store.add(bt.InfoHash(ih), addrN(i), now)
	}
	proven := NodeInfo{idWithPrefix(n.self, 1, 1), netip.MustParseAddrPort("10.7.0.1:6881")}
	n.table.seen(proven, now, true)
	for i := range 30 {
		n.table.seen(NodeInfo{idWithPrefix(n.self, 2+i%10, byte(i)), addrN(1000 + i)}, now, true)
	}
	n.mu.Unlock()
	tid := strings.Repeat("t", maxTIDLen)
	stranger := netip.MustParseAddrPort("10.8.0.1:6881")
	m := oneReply(t, exchange(t, n, w, mustQuery(t, tid, methodGetPeers, queryArgs{ID: testID("x"), Target: ih}), stranger, now))
	if len(m.Reply.Values) != maxValuesUnverified || len(m.Reply.Nodes) != K {
		t.Fatalf("stranger got %d values, %d nodes", len(m.Reply.Values), len(m.Reply.Nodes))
	}
	m = oneReply(t, exchange(t, n, w, mustQuery(t, tid, methodGetPeers, queryArgs{ID: proven.ID, Target: ih}), proven.Addr, now))
	if len(m.Reply.Values) != maxValuesVerified {
		t.Fatalf("proven node got %d values", len(m.Reply.Values))
	}
	// The same id from another address is not proven.
	m = oneReply(t, exchange(t, n, w, mustQuery(t, tid, methodGetPeers, queryArgs{ID: proven.ID, Target: ih}), stranger, now))
	if len(m.Reply.Values) != maxValuesUnverified {
		t.Fatalf("spoofed id got %d values", len(m.Reply.Values))
	}
}

// TestHandleMalformed: malformed queries with a transaction id get error 203 (204 for
// an unknown method); other junk, responses and unsolicited replies get nothing.
func TestHandleMalformed(t *testing.T) {
	n, w := handlerNode(t, Config{})
	now := time.Now()
	from := netip.MustParseAddrPort("10.0.0.1:5000")
	id := "abcdefghij0123456789"
	for _, tc := range []struct {
		in   string
		code int
	}{
		{"d1:ad2:id3:abce1:q4:ping1:t2:aa1:y1:qe", CodeProtocol},
		{"d1:ad2:id20:" + id + "e1:q4:vote1:t2:aa1:y1:qe", CodeMethodUnknown},
		{"d1:ad2:id20:" + id + "e1:q4:ping1:y1:qe", 0},
		{"garbage", 0},
		{"d1:rd2:id20:" + id + "e1:t2:aa1:y1:re", 0},
		{"d1:eli201e1:xe1:t2:aa1:y1:ee", 0},
		{"d1:rd2:id3:abce1:t2:aa1:y1:re", 0},
		{"d1:t2:aa1:y1:q1:x2048:" + strings.Repeat("x", 2048) + "e", 0},
	} {
		ms := exchange(t, n, w, []byte(tc.in), from, now)
		switch {
		case tc.code == 0 && len(ms) != 0:
			t.Errorf("%.60q: got %+v, want no reply", tc.in, ms)
		case tc.code != 0 && (len(ms) != 1 || ms[0].Type != typeError || ms[0].Code != tc.code || string(ms[0].TID) != "aa"):
			t.Errorf("%.60q: got %+v, want error %d", tc.in, ms, tc.code)
		}
	}
	if s := n.Stats(); s.DroppedMalformed != 6 || s.DroppedUnsolicited != 2 || s.ErrorsSent != 2 {
		t.Errorf("stats %+v", s)
	}
	// Packets from unusable addresses are dropped.
	if ms := exchange(t, n, w, mustQuery(t, "p", methodPing, queryArgs{}), netip.MustParseAddrPort("10.0.0.1:0"), now); len(ms) != 0 {
		t.Error("answered port 0")
	}
}

// TestHandleRateLimits: one IP gets RateLimitPerIP answers a second; all replies
// together stay within the UploadRate budget.
func TestHandleRateLimits(t *testing.T) {
	n, w := handlerNode(t, Config{RateLimitPerIP: 5, UploadRate: -1})
	now := time.Now()
	flooder := netip.MustParseAddrPort("10.0.0.1:5000")
	q := mustQuery(t, "p", methodPing, queryArgs{ID: testID("flood")})
	replies := 0
	for i := range 300 {
		// 300 queries over 3 s: 5 (burst) + 3 s × 5/s.
		replies += len(exchange(t, n, w, q, flooder, now.Add(time.Duration(i)*10*time.Millisecond)))
	}
	if replies < 15 || replies > 21 {
		t.Fatalf("%d replies to 300 queries in 3 s at 5/s", replies)
	}
	if s := n.Stats(); s.DroppedRateLimit != int64(300-replies) {
		t.Fatalf("dropped %d, want %d", s.DroppedRateLimit, 300-replies)
	}
	// Another IP is unaffected.
	if len(exchange(t, n, w, q, netip.MustParseAddrPort("10.0.0.2:5000"), now)) != 1 {
		t.Fatal("second IP not answered")
	}

	// Upload budget: 1000 B/s (burst 2 KiB); find_node replies of ~250 bytes from
	// many IPs over 2 s.
	n2, w2 := handlerNode(t, Config{RateLimitPerIP: -1, UploadRate: 1000})
	n2.mu.Lock()
	for i := range 20 {
		n2.table.seen(NodeInfo{idWithPrefix(n2.self, i, 0), addrN(i)}, now, true)
	}
	n2.mu.Unlock()
	fq := mustQuery(t, "f", methodFindNode, queryArgs{ID: testID("x"), Target: testID("target")})
	bytes := 0
	for i := range 200 {
		from := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 6881)
		n2.handlePacket(fq, from, now.Add(time.Duration(i)*10*time.Millisecond))
		for _, p := range w2.take() {
			if m, err := parseMessage(p.b); err == nil && m.Type == typeResponse {
				bytes += len(p.b)
			}
		}
	}
	if limit := 2*maxReply + 2*1000; bytes > limit || bytes < 1000 {
		t.Fatalf("sent %d reply bytes in 2 s, want between 1000 and %d", bytes, limit)
	}
	if n2.Stats().DroppedBudget == 0 {
		t.Fatal("no reply dropped for budget")
	}
}

// TestHandleReadOnly: a BEP 43 read-only querier is answered but not added to the
// table.
func TestHandleReadOnly(t *testing.T) {
	n, w := handlerNode(t, Config{})
	q := []byte("d1:ad2:id20:abcdefghij0123456789e1:q4:ping2:roi1e1:t2:aa1:y1:qe")
	if ms := exchange(t, n, w, q, netip.MustParseAddrPort("10.0.0.1:5000"), time.Now()); len(ms) != 1 {
		t.Fatalf("%d replies", len(ms))
	}
	if s := n.Stats(); s.Nodes+s.Questionable != 0 {
		t.Fatalf("read-only node added: %+v", s)
	}
	q = []byte("d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe")
	exchange(t, n, w, q, netip.MustParseAddrPort("10.0.0.1:5000"), time.Now())
	if s := n.Stats(); s.Questionable != 1 {
		t.Fatalf("querier not added: %+v", s)
	}
}
