package engine

import (
	"context"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine/utp"
)

// servePeer answers every connection of ln with size bytes, at most chunk
// bytes every pause (0: all at once), then closes it; size 0 closes at once.
func servePeer(t *testing.T, ln net.Listener, size, chunk int, pause time.Duration) {
	t.Helper()
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				buf := make([]byte, size)
				for len(buf) > 0 {
					k := len(buf)
					if pause > 0 {
						k = min(k, chunk)
					}
					if _, err := nc.Write(buf[:k]); err != nil {
						return
					}
					buf = buf[k:]
					if pause > 0 {
						time.Sleep(pause) // the slow transport's pace, not a wait for an event
					}
				}
			}()
		}
	}()
}

// twoTransportPeer listens on one port number over TCP and uTP and returns
// its address and the two listeners.
func twoTransportPeer(t *testing.T) (netip.AddrPort, net.Listener, *utp.Socket) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ap := netip.MustParseAddrPort(ln.Addr().String())
	us, err := utp.Listen("udp", ap.String(), utp.Config{})
	if err != nil {
		t.Skipf("UDP port %d taken: %v", ap.Port(), err)
	}
	t.Cleanup(func() { us.Close() })
	return ap, ln, us
}

func testTransports(t *testing.T) *transports {
	t.Helper()
	s, err := utp.Listen("udp", "127.0.0.1:0", utp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &transports{utp: s}
}

// fetchOnce dials ap, reads until the peer closes, and returns the
// transport the connection ran over.
func fetchOnce(t *testing.T, tr *transports, ap netip.AddrPort) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nc, err := tr.dial(ctx, ap.String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.Copy(io.Discard, nc); err != nil {
		t.Fatalf("read: %v", err)
	}
	return connTransport(nc)
}

// TestTransportPrefersWhatDelivers: a peer that takes both transports, one
// of them slow. The first dial goes over TCP, the redial tries uTP once, and
// later ones take the faster.
func TestTransportPrefersWhatDelivers(t *testing.T) {
	const size = 512 << 10
	for _, slow := range []string{"tcp", "utp"} {
		t.Run("slow "+slow, func(t *testing.T) {
			ap, ln, us := twoTransportPeer(t)
			var slowLn, fastLn net.Listener = ln, us
			fast := "utp"
			if slow == "utp" {
				slowLn, fastLn, fast = us, ln, "tcp"
			}
			// The exploring dial (the second) takes uTP whenever it
			// connects, however slowly, so that the sequence is certain.
			setExploreGrace(t, time.Minute)
			servePeer(t, slowLn, size, 16<<10, 20*time.Millisecond) // ~800 KB/s
			servePeer(t, fastLn, size, 0, 0)
			tr := testTransports(t)
			want := []string{"tcp", "utp", fast, fast}
			for i, w := range want {
				if got := fetchOnce(t, tr, ap); got != w {
					tr.mu.Lock()
					p := *tr.peers[ap]
					tr.mu.Unlock()
					t.Fatalf("dial %d went over %s, want %s (record %+v)", i+1, got, w, p)
				}
			}
		})
	}
}

// TestTransportClosedBeforeAByte: a peer that accepts TCP only to close it
// (libtorrent with incoming TCP off) is redialled over uTP first, and stays
// there.
func TestTransportClosedBeforeAByte(t *testing.T) {
	ap, ln, us := twoTransportPeer(t)
	servePeer(t, ln, 0, 0, 0)
	servePeer(t, us, 64<<10, 0, 0)
	tr := testTransports(t)
	ctx := context.Background()
	nc, err := tr.dial(ctx, ap.String())
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := io.Copy(io.Discard, nc); n != 0 || connTransport(nc) != "tcp" {
		t.Fatalf("first dial: %s, %d bytes; want tcp, closed at once", connTransport(nc), n)
	}
	nc.Close()
	for i := range 2 {
		if got := fetchOnce(t, tr, ap); got != "utp" {
			t.Fatalf("redial %d went over %s, want utp", i+1, got)
		}
	}
}

// TestTransportFirst pins the choice for each record.
func TestTransportFirst(t *testing.T) {
	for _, c := range []struct {
		name string
		p    *peerTransports
		want transport
	}{
		{"unknown", nil, transportTCP},
		{"nothing yet", &peerTransports{}, transportTCP},
		{"utp faster", &peerTransports{tcp: trRecord{tried: true, works: true, rate: 1e6}, utp: trRecord{tried: true, works: true, rate: 2e6}}, transportUTP},
		{"tcp faster", &peerTransports{tcp: trRecord{tried: true, works: true, rate: 3e6}, utp: trRecord{tried: true, works: true, rate: 2e6}}, transportTCP},
		{"explore utp", &peerTransports{tcp: trRecord{tried: true, works: true, rate: 3e6}}, transportUTP},
		{"explored", &peerTransports{tcp: trRecord{tried: true, works: true, rate: 3e6}, explored: true}, transportTCP},
		{"utp failed", &peerTransports{tcp: trRecord{tried: true, works: true}, utp: trRecord{tried: true, fails: 2}}, transportTCP},
		{"tcp failed", &peerTransports{tcp: trRecord{tried: true, fails: 1}, utp: trRecord{tried: true, works: true}}, transportUTP},
		{"both failed, tcp more", &peerTransports{tcp: trRecord{tried: true, fails: 2}, utp: trRecord{tried: true, fails: 1}}, transportUTP},
	} {
		if got := c.p.first(); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	p := &peerTransports{tcp: trRecord{tried: true, works: true}}
	if got, explore := p.choose(); got != transportUTP || !explore {
		t.Errorf("uTP never tried, TCP delivered: %v explore %v, want utp explore true", got, explore)
	}
	if got, explore := p.choose(); got != transportTCP || explore {
		t.Errorf("once explored: %v explore %v, want tcp explore false", got, explore)
	}
}

func setExploreGrace(t *testing.T, d time.Duration) {
	old := exploreGraceFloor
	exploreGraceFloor = d
	t.Cleanup(func() { exploreGraceFloor = old })
}

// TestTransportExploreDoesNotWait: a peer that delivered over TCP and never
// answers uTP (a TCP-only client; UDP dropped on the way). The dial that
// explores uTP dials TCP at the same moment and takes it: it does not wait
// for uTP's head start (an hour here) as a dial to an unknown peer would.
func TestTransportExploreDoesNotWait(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ap := netip.MustParseAddrPort(ln.Addr().String())
	silent, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap)) // takes uTP's SYN, never answers
	if err != nil {
		t.Skipf("UDP port %d taken: %v", ap.Port(), err)
	}
	t.Cleanup(func() { silent.Close() })
	servePeer(t, ln, 64<<10, 0, 0)
	oldHead := utpHeadStart
	utpHeadStart = time.Hour
	t.Cleanup(func() { utpHeadStart = oldHead })
	setExploreGrace(t, 0)
	tr := testTransports(t)
	tr.delivered(ap, transportTCP, 1e6)
	if got := fetchOnce(t, tr, ap); got != "tcp" {
		t.Fatalf("exploring dial went over %s, want tcp", got)
	}
	// The explored transport was not counted as failed: it was cancelled.
	tr.mu.Lock()
	p := *tr.peers[ap]
	tr.mu.Unlock()
	if p.utp.fails != 0 || !p.explored {
		t.Fatalf("record after the exploring dial: %+v", p)
	}
}

// TestTransportOurCloseIsNoFailure: a connection we close before its first
// byte does not count against its transport.
func TestTransportOurCloseIsNoFailure(t *testing.T) {
	ap, ln, _ := twoTransportPeer(t)
	held := make(chan net.Conn, 4) // accepted and kept open, silent
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			held <- nc
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for len(held) > 0 {
			(<-held).Close()
		}
	})
	tr := testTransports(t)
	nc, err := tr.dial(context.Background(), ap.String())
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
	if _, err := nc.Read(make([]byte, 1)); err == nil {
		t.Fatal("read after close succeeded")
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if p := tr.peers[ap]; p == nil || p.tcp.fails != 0 || p.last != transportTCP {
		t.Fatalf("record %+v, want tcp connected and no failure", p)
	}
}

// TestSharedDHTAddr: which DHT nodes may share the uTP socket.
func TestSharedDHTAddr(t *testing.T) {
	open := func(addr string) (*transports, int) {
		s, err := utp.Listen("udp", addr, utp.Config{})
		if err != nil {
			t.Skipf("listen %s: %v", addr, err)
		}
		t.Cleanup(func() { s.Close() })
		return &transports{utp: s, accept: true}, int(netip.MustParseAddrPort(s.Addr().String()).Port())
	}
	dual, dp := open("[::]:0")
	v4, p4 := open("127.0.0.1:0")
	for _, c := range []struct {
		tr   *transports
		host string
		port int
		want string // "": not shared
	}{
		{dual, "0.0.0.0", dp, "0.0.0.0"},
		{dual, "::", dp, "::"},
		{dual, "127.0.0.1", dp, ""},
		{dual, "0.0.0.0", dp + 1, ""},
		{v4, "127.0.0.1", p4, "127.0.0.1"},
		{v4, "0.0.0.0", p4, ""},
		{v4, "::", p4, ""},
		{&transports{utp: v4.utp}, "127.0.0.1", p4, ""}, // not on the listen port
	} {
		ap, ok := c.tr.sharedDHTAddr(c.host, c.port)
		got := ""
		if ok {
			got = ap.Addr().String()
			if int(ap.Port()) != c.port {
				t.Errorf("%s:%d: port %d", c.host, c.port, ap.Port())
			}
		}
		if got != c.want {
			t.Errorf("uTP on %v, DHT on %s:%d: shared as %q, want %q", c.tr.utp.Addr(), c.host, c.port, got, c.want)
		}
	}
}
