package utp

import (
	"net"
	"net/netip"
	"strings"
	"testing"
)

// TestTransferOneByOne: the read loop without recvmmsg (readRaw).
func TestTransferOneByOne(t *testing.T) {
	cfg := Config{noBatch: true}
	a, b := newSocket(t, cfg, nil), newSocket(t, cfg, nil)
	dc, ac := pair(t, a, b)
	transfer(t, dc, ac, randomBytes(2<<20))
}

// TestTransferIPv6: the batched reads take IPv6 source addresses too.
func TestTransferIPv6(t *testing.T) {
	mk := func() *Socket {
		pc, err := net.ListenPacket("udp6", "[::1]:0")
		if err != nil {
			t.Skipf("no IPv6 loopback: %v", err)
		}
		s := New(pc, Config{})
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := mk(), mk()
	dc, ac := pair(t, a, b)
	transfer(t, dc, ac, randomBytes(2<<20))
	if ra := ac.RemoteAddr().String(); ra != a.Addr().String() {
		t.Fatalf("accepted from %s, dialled from %s", ra, a.Addr())
	}
}

// TestUnhandledBatch: datagrams that are not uTP reach the hook with their
// source address, each whole, in order; one longer than a read slot is
// dropped, not cut.
func TestUnhandledBatch(t *testing.T) {
	type dg struct {
		p    string
		from netip.AddrPort
	}
	got := make(chan dg, 64)
	b := newSocket(t, Config{Unhandled: func(p []byte, from netip.AddrPort) { got <- dg{string(p), from} }}, nil)
	pc := listenUDP(t)
	defer pc.Close()
	me := netip.MustParseAddrPort(pc.LocalAddr().String())
	pc.WriteTo([]byte("d"+strings.Repeat("x", slotSize)+"e"), b.Addr()) // too long
	var want []string
	for i := range 40 {
		q := "d1:q4:ping1:t2:" + string(rune('A'+i%26)) + string(rune('a'+i/26)) + "e"
		want = append(want, q)
		pc.WriteTo([]byte(q), b.Addr())
	}
	for _, w := range want {
		d := <-got
		if d.p != w || d.from != me {
			t.Fatalf("hook got %q from %v, want %q from %v", d.p, d.from, w, me)
		}
	}
}
