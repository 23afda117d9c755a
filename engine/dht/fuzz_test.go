package dht

import (
	"bytes"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// allocBound is the most parsing a packet of n bytes may allocate: a small multiple
// of its size (a 26-byte node becomes a 56-byte NodeInfo, an 8-byte value a 32-byte
// AddrPort) plus a constant for error values.
func allocBound(n int) uint64 { return 8*uint64(n) + 2048 }

// allocated returns the fewest bytes f allocated in up to three measured runs.
func allocated(limit uint64, f func()) uint64 {
	best := uint64(math.MaxUint64)
	for range 3 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		if best = min(best, after.TotalAlloc-before.TotalAlloc); best <= limit {
			break
		}
	}
	return best
}

// krpcSeeds are the fuzz seeds: BEP 5's examples and the packets captured from
// libtorrent in testdata/captures (see testdata/README.md).
func krpcSeeds(tb testing.TB) [][]byte {
	seeds := [][]byte{
		[]byte("d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe"),
		[]byte("d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re"),
		[]byte("d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee"),
		[]byte("d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q9:find_node1:t2:aa1:y1:qe"),
		[]byte("d1:rd2:id20:0123456789abcdefghij5:nodes26:abcdefghij0123456789\x7f\x00\x00\x01\x1a\xe1e1:t2:aa1:y1:re"),
		[]byte("d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e1:q9:get_peers1:t2:aa1:y1:qe"),
		[]byte("d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:axje.u6:idhtnmee1:t2:aa1:y1:re"),
		[]byte("d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe"),
		[]byte("d1:ad2:id20:abcdefghij0123456789e1:q4:vote1:t2:aa1:y1:qe"),
		// BEP 32: want, nodes6 and 18-byte values.
		[]byte("d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz1234564:wantl2:n42:n6ee1:q9:find_node1:t2:aa1:y1:qe"),
		[]byte("d1:rd2:id20:0123456789abcdefghij6:nodes638:abcdefghij0123456789\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1a\xe1e1:t2:aa1:y1:re"),
		[]byte("d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl18:\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1a\xe1ee1:t2:aa1:y1:re"),
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "captures", "*.bin"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	return seeds
}

// FuzzKRPC decodes arbitrary bytes as a KRPC message: no panic, allocation bounded by
// a small multiple of the input, and whatever decodes re-encodes to something that
// decodes to the same thing.
func FuzzKRPC(f *testing.F) {
	for _, s := range krpcSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m message
		var err error
		parse := func() { m, err = parseMessage(b) }
		limit := allocBound(len(b))
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		parse()
		runtime.ReadMemStats(&after)
		if got := after.TotalAlloc - before.TotalAlloc; got > limit {
			if got = allocated(limit, parse); got > limit {
				t.Fatalf("parsing %d bytes allocated %d, want <= %d", len(b), got, limit)
			}
		}
		if err != nil {
			return
		}
		if len(m.TID) > maxTIDLen || len(m.Reply.Nodes) > maxParsedNodes || len(m.Reply.Values) > maxParsedValues {
			t.Fatalf("limits exceeded: %+v", m)
		}
		var again []byte
		switch m.Type {
		case typeQuery:
			if m.Method == methodAnnouncePeer && m.Args.Port == 0 {
				return // implied_port without "port": we always send one
			}
			again, err = encodeQuery(m.TID, m.Method, m.Args)
		case typeResponse:
			again, err = encodeResponse(m.TID, m.Reply, m.Requester)
		case typeError:
			again, err = encodeError(m.TID, m.Code, m.Text)
		}
		if err != nil {
			t.Fatalf("re-encode %+v: %v", m, err)
		}
		m2, err := parseMessage(again)
		if err != nil {
			t.Fatalf("re-encoded %q does not parse: %v", again, err)
		}
		if m2.Type != m.Type || m2.Method != m.Method || !bytes.Equal(m2.TID, m.TID) || m2.Args.ID != m.Args.ID ||
			m2.Args.Target != m.Args.Target && m.Method != methodPing || m2.Reply.ID != m.Reply.ID ||
			len(m2.Reply.Nodes) != len(m.Reply.Nodes) || len(m2.Reply.Values) != len(m.Reply.Values) ||
			m2.Code != m.Code || m2.Text != m.Text {
			t.Fatalf("round trip changed %+v into %+v", m, m2)
		}
	})
}

// FuzzHandlePacket feeds arbitrary packets to a socketless node's handler, as a
// stranger and as a node in its table: no panic, every reply under maxReply, at most
// one reply to a packet, and nothing but replies sent to the packet's source.
func FuzzHandlePacket(f *testing.F) {
	for _, s := range krpcSeeds(f) {
		f.Add(s)
	}
	n, w := handlerNode(f, Config{RateLimitPerIP: -1, UploadRate: -1, QueryTimeout: time.Millisecond})
	now := time.Now()
	known := netip.MustParseAddrPort("10.0.0.2:6881")
	n.mu.Lock()
	n.table.seen(NodeInfo{testID("abcdefghij0123456789"), known}, now, true)
	for i := range 20 {
		n.table.seen(NodeInfo{idWithPrefix(n.self, i, 0), addrN(i)}, now, true)
		n.store.add([20]byte(testID("mnopqrstuvwxyz123456")), addrN(100+i), now)
	}
	n.mu.Unlock()
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, from := range []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:5000"), known} {
			n.handlePacket(b, from, now)
			replies := 0
			for _, p := range w.take() {
				if len(p.b) > maxReply {
					t.Fatalf("reply of %d bytes to %q", len(p.b), b)
				}
				m, err := parseMessage(p.b)
				if err != nil {
					t.Fatalf("sent unparsable %q: %v", p.b, err)
				}
				if m.Type == typeQuery {
					continue // a verification ping
				}
				if p.to != from {
					t.Fatalf("reply to %v, not the source %v", p.to, from)
				}
				replies++
			}
			if replies > 1 {
				t.Fatalf("%d replies to one packet", replies)
			}
		}
	})
}

// TestKRPCAllocations holds hostile packets of the largest size to the allocation
// bound: lists of the most nodes and values, many ignored keys, deep nesting.
func TestKRPCAllocations(t *testing.T) {
	id := "abcdefghij0123456789"
	node := id + "\x0a\x00\x00\x01\x1a\xe1"
	for name, b := range map[string][]byte{
		"nodes":  []byte("d1:rd2:id20:" + id + "5:nodes" + "1976:" + strings.Repeat(node, 76) + "e1:t2:aa1:y1:re"),
		"values": []byte("d1:rd2:id20:" + id + "6:valuesl" + strings.Repeat("6:\x0a\x00\x00\x01\x1a\xe1", 240) + "ee1:t2:aa1:y1:re"),
		"keys":   []byte("d1:ad2:id20:" + id + strings.Repeat("1:xi0e", 1) + "e" + "1:q4:ping1:t2:aa1:y1:q" + "1:zl" + strings.Repeat("i0e", 600) + "ee"),
		"deep":   []byte("d1:t2:aa1:y1:q1:a" + strings.Repeat("l", 1000) + strings.Repeat("e", 1000) + "e"),
	} {
		if len(b) > maxPacket {
			t.Fatalf("%s: %d bytes", name, len(b))
		}
		limit := allocBound(len(b))
		if got := allocated(limit, func() { parseMessage(b) }); got > limit {
			t.Errorf("%s: %d bytes allocated %d, want <= %d", name, len(b), got, limit)
		}
	}
}
