package utp

import (
	"net"
	"testing"

	"golang.org/x/sys/unix"
)

// TestTransferDualStack: a socket on [::] (an IPv6 socket that takes IPv4
// too) sends to an IPv4 peer through the raw sendto as ::ffff:a.b.c.d, and
// an IPv4 socket's raw writer declines an IPv6 address instead of sending
// garbage.
func TestTransferDualStack(t *testing.T) {
	pc, err := net.ListenPacket("udp", "[::]:0")
	if err != nil {
		t.Skipf("no dual-stack socket: %v", err)
	}
	b := New(pc, Config{})
	t.Cleanup(func() { b.Close() })
	if b.raw == nil || b.raw.family != unix.AF_INET6 {
		t.Fatalf("raw writer %+v, want one for an IPv6 socket", b.raw)
	}
	a := newSocket(t, Config{}, nil) // 127.0.0.1
	if a.raw == nil || a.raw.family != unix.AF_INET {
		t.Fatalf("raw writer %+v, want one for an IPv4 socket", a.raw)
	}
	_, port, _ := net.SplitHostPort(b.Addr().String())
	ctx := t.Context()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := b.Accept()
		accepted <- c
	}()
	dc, err := a.Dial(ctx, net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		t.Fatal(err)
	}
	ac := <-accepted
	if ac == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { dc.Close(); ac.Close() })
	transfer(t, ac, dc, randomBytes(1<<20)) // b's sends: IPv4 through an IPv6 socket
	six, _ := addrPort(&net.UDPAddr{IP: net.ParseIP("::1"), Port: 9})
	if a.raw.write([]byte("x"), six) {
		t.Fatal("an IPv4 socket's raw writer took an IPv6 address")
	}
}
