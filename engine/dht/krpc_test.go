package dht

import (
	"bytes"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func testID(s string) ID {
	var id ID
	copy(id[:], s)
	return id
}

// TestKRPCRoundTrip encodes each kind of message and decodes it back.
func TestKRPCRoundTrip(t *testing.T) {
	self, target := testID("self-id-aaaaaaaaaaaa"), testID("target-id-bbbbbbbbbb")
	for _, tc := range []struct {
		meth method
		args queryArgs
	}{
		{methodPing, queryArgs{ID: self}},
		{methodFindNode, queryArgs{ID: self, Target: target}},
		{methodGetPeers, queryArgs{ID: self, Target: target}},
		{methodAnnouncePeer, queryArgs{ID: self, Target: target, Port: 6881, Token: []byte("tok")}},
		{methodAnnouncePeer, queryArgs{ID: self, Target: target, Port: 1, ImpliedPort: true, Token: []byte("tok")}},
	} {
		b, err := encodeQuery([]byte("tx"), tc.meth, tc.args)
		if err != nil {
			t.Fatalf("%s: %v", tc.meth, err)
		}
		m, err := parseMessage(b)
		if err != nil {
			t.Fatalf("%s: parse %q: %v", tc.meth, b, err)
		}
		if m.Type != typeQuery || m.Method != tc.meth || string(m.TID) != "tx" {
			t.Fatalf("%s: got type %c method %s tid %q", tc.meth, m.Type, m.Method, m.TID)
		}
		if m.Args.ID != tc.args.ID || m.Args.Target != tc.args.Target && tc.meth != methodPing ||
			m.Args.Port != tc.args.Port || m.Args.ImpliedPort != tc.args.ImpliedPort || !bytes.Equal(m.Args.Token, tc.args.Token) {
			t.Fatalf("%s: got args %+v, want %+v", tc.meth, m.Args, tc.args)
		}
	}

	nodes := []NodeInfo{
		{testID("node-1"), netip.MustParseAddrPort("10.0.0.1:6881")},
		{testID("node-2"), netip.MustParseAddrPort("192.168.1.2:1")},
	}
	values := []netip.AddrPort{netip.MustParseAddrPort("1.2.3.4:5"), netip.MustParseAddrPort("5.6.7.8:65535")}
	requester := netip.MustParseAddrPort("9.9.9.9:99")
	b, err := encodeResponse([]byte("t1"), replyArgs{ID: self, Nodes: nodes, Values: values, Token: []byte("token")}, requester)
	if err != nil {
		t.Fatal(err)
	}
	m, err := parseMessage(b)
	if err != nil {
		t.Fatalf("parse %q: %v", b, err)
	}
	if m.Type != typeResponse || m.Reply.ID != self || !slices.Equal(m.Reply.Nodes, nodes) ||
		!slices.Equal(m.Reply.Values, values) || string(m.Reply.Token) != "token" || m.Requester != requester {
		t.Fatalf("response round trip: got %+v", m)
	}

	b, err = encodeError([]byte("t2"), CodeMethodUnknown, "no such method")
	if err != nil {
		t.Fatal(err)
	}
	m, err = parseMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != typeError || m.Code != 204 || m.Text != "no such method" || string(m.TID) != "t2" {
		t.Fatalf("error round trip: got %+v from %q", m, b)
	}
}

// TestKRPCWireForm checks the exact bytes of a ping against BEP 5's example (plus our
// "v").
func TestKRPCWireForm(t *testing.T) {
	b, err := encodeQuery([]byte("aa"), methodPing, queryArgs{ID: testID("abcdefghij0123456789")})
	if err != nil {
		t.Fatal(err)
	}
	want := "d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:v4:HB\x00\x011:y1:qe"
	if string(b) != want {
		t.Fatalf("got %q, want %q", b, want)
	}
	// BEP 5's own examples decode.
	for _, s := range []string{
		"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe",
		"d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re",
		"d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee",
		"d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q9:find_node1:t2:aa1:y1:qe",
		"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e1:q9:get_peers1:t2:aa1:y1:qe",
		"d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:axje.u6:idhtnmee1:t2:aa1:y1:re",
		"d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe",
	} {
		if _, err := parseMessage([]byte(s)); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
}

// TestKRPCMalformed: malformed packets are errors, never panics; those with a
// transaction id that claim to be queries are answered with the right code, the rest
// dropped.
func TestKRPCMalformed(t *testing.T) {
	id := "abcdefghij0123456789"
	const drop = 0
	for _, tc := range []struct {
		name string
		in   string
		code int // 0: drop without reply
	}{
		{"empty", "", drop},
		{"not bencode", "hello", drop},
		{"integer", "i42e", drop},
		{"list", "l1:t1:ae", drop},
		{"truncated", "d1:t2:aa1:y1:q", drop},
		{"huge string length", "d1:t2000000000:x", drop},
		{"trailing bytes", "d1:t2:aa1:y1:qexx", drop},
		{"deep nesting", "d1:t2:aa1:a" + strings.Repeat("l", 100) + strings.Repeat("e", 100) + "e", drop},
		{"missing t", "d1:ad2:id20:" + id + "e1:q4:ping1:y1:qe", drop},
		{"t not a string", "d1:ad2:id20:" + id + "e1:q4:ping1:ti1e1:y1:qe", drop},
		{"t too long", "d1:ad2:id20:" + id + "e1:q4:ping1:t33:" + strings.Repeat("x", 33) + "1:y1:qe", drop},
		{"missing y", "d1:ad2:id20:" + id + "e1:q4:ping1:t2:aae", CodeProtocol},
		{"y not a string", "d1:ad2:id20:" + id + "e1:q4:ping1:t2:aa1:yi1ee", CodeProtocol},
		{"unknown y", "d1:t2:aa1:y1:xe", drop},
		{"unknown y with q", "d1:q4:ping1:t2:aa1:y1:xe", drop},
		{"missing q", "d1:ad2:id20:" + id + "e1:t2:aa1:y1:qe", CodeProtocol},
		{"q not a string", "d1:ad2:id20:" + id + "e1:qle1:t2:aa1:y1:qe", CodeProtocol},
		{"unknown method", "d1:ad2:id20:" + id + "e1:q4:vote1:t2:aa1:y1:qe", CodeMethodUnknown},
		{"missing a", "d1:q4:ping1:t2:aa1:y1:qe", CodeProtocol},
		{"a not a dict", "d1:ali1ee1:q4:ping1:t2:aa1:y1:qe", CodeProtocol},
		{"missing id", "d1:ade1:q4:ping1:t2:aa1:y1:qe", CodeProtocol},
		{"short id", "d1:ad2:id3:abce1:q4:ping1:t2:aa1:y1:qe", CodeProtocol},
		{"id an integer", "d1:ad2:idi5ee1:q4:ping1:t2:aa1:y1:qe", CodeProtocol},
		{"find_node without target", "d1:ad2:id20:" + id + "e1:q9:find_node1:t2:aa1:y1:qe", CodeProtocol},
		{"get_peers short info_hash", "d1:ad2:id20:" + id + "9:info_hash2:xxe1:q9:get_peers1:t2:aa1:y1:qe", CodeProtocol},
		{"announce without token", "d1:ad2:id20:" + id + "9:info_hash20:" + id + "4:porti1ee1:q13:announce_peer1:t2:aa1:y1:qe", CodeProtocol},
		{"announce without port", "d1:ad2:id20:" + id + "9:info_hash20:" + id + "5:token1:xe1:q13:announce_peer1:t2:aa1:y1:qe", CodeProtocol},
		{"announce port 0", "d1:ad2:id20:" + id + "9:info_hash20:" + id + "4:porti0e5:token1:xe1:q13:announce_peer1:t2:aa1:y1:qe", CodeProtocol},
		{"announce port too big", "d1:ad2:id20:" + id + "9:info_hash20:" + id + "4:porti65536e5:token1:xe1:q13:announce_peer1:t2:aa1:y1:qe", CodeProtocol},
		{"announce negative port", "d1:ad2:id20:" + id + "9:info_hash20:" + id + "4:porti-1e5:token1:xe1:q13:announce_peer1:t2:aa1:y1:qe", CodeProtocol},
		{"announce port a string", "d1:ad2:id20:" + id + "9:info_hash20:" + id + "4:port4:68815:token1:xe1:q13:announce_peer1:t2:aa1:y1:qe", CodeProtocol},
		{"announce huge token", "d1:ad2:id20:" + id + "9:info_hash20:" + id + "4:porti1e5:token65:" + strings.Repeat("x", 65) + "e1:q13:announce_peer1:t2:aa1:y1:qe", CodeProtocol},
		{"response without r", "d1:t2:aa1:y1:re", drop},
		{"response without id", "d1:rd5:nodes0:e1:t2:aa1:y1:re", drop},
		{"response nodes not multiple of 26", "d1:rd2:id20:" + id + "5:nodes3:abce1:t2:aa1:y1:re", drop},
		{"response values not a list", "d1:rd2:id20:" + id + "6:values3:abce1:t2:aa1:y1:re", drop},
		{"response nodes a list", "d1:rd2:id20:" + id + "5:nodesleee1:t2:aa1:y1:re", drop},
		{"non-canonical integer", "d1:ad2:id20:" + id + "e1:q4:ping1:t2:aa1:y1:q1:zi01ee", drop},
		{"duplicate key", "d1:t2:aa1:t2:bb1:y1:qe", drop},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseMessage([]byte(tc.in))
			if err == nil {
				t.Fatalf("%q parsed without error", tc.in)
			}
			var pe *parseError
			code := drop
			if errors.As(err, &pe) && pe.replyable() {
				code = pe.Code
			}
			if code != tc.code {
				t.Fatalf("%q: reply code %d (err %v), want %d", tc.in, code, err, tc.code)
			}
		})
	}
}

// TestKRPCLenient: unknown keys and odd values are skipped, not errors; IPv6
// values (BEP 32) are kept.
func TestKRPCLenient(t *testing.T) {
	id := "abcdefghij0123456789"
	m, err := parseMessage([]byte("d1:rd2:id20:" + id + "6:valuesl6:\x01\x02\x03\x04\x00\x0518:" + strings.Repeat("\x01", 18) +
		"i5e6:\x01\x02\x03\x04\x00\x00e4:wantl2:n4ee1:t2:aa1:v4:LT\x02\x081:y1:r2:zzd1:ai1eee"))
	if err != nil {
		t.Fatal(err)
	}
	want6 := netip.AddrPortFrom(netip.AddrFrom16([16]byte(bytes.Repeat([]byte{1}, 16))), 0x0101)
	if want := []netip.AddrPort{netip.MustParseAddrPort("1.2.3.4:5"), want6}; !slices.Equal(m.Reply.Values, want) {
		t.Fatalf("values %v, want %v", m.Reply.Values, want)
	}
	// Nodes with port 0 or unusable addresses are skipped.
	nodes := id + "\x00\x00\x00\x00\x1a\xe1" + id + "\x01\x02\x03\x04\x00\x00" + id + "\x01\x02\x03\x04\x1a\xe1"
	m, err = parseMessage([]byte("d1:rd2:id20:" + id + "5:nodes78:" + nodes + "e1:t2:aa1:y1:re"))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Reply.Nodes) != 1 || m.Reply.Nodes[0].Addr != netip.MustParseAddrPort("1.2.3.4:6881") {
		t.Fatalf("nodes %v", m.Reply.Nodes)
	}
	// An error with control characters and an odd code.
	m, err = parseMessage([]byte("d1:eli99999e5:a\x00b\nce1:t2:aa1:y1:ee"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Code != 0 || m.Text != "a?b?c" {
		t.Fatalf("error %d %q", m.Code, m.Text)
	}
}

// TestKRPCOversized: a packet over maxPacket is refused before parsing.
func TestKRPCOversized(t *testing.T) {
	b := []byte("d1:t2:aa1:y1:q1:x" + "2040:" + strings.Repeat("x", 2040) + "e")
	if _, err := parseMessage(b); err == nil {
		t.Fatal("oversized packet parsed")
	}
}
