package lsd

import (
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
)

func loopbackConn(t *testing.T) net.PacketConn {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func addrOf(c net.PacketConn) netip.AddrPort {
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

type heard struct {
	ih   bt.InfoHash
	peer netip.AddrPort
}

// recorder collects OnPeer calls and reports whether we have the torrent.
type recorder struct {
	mu   sync.Mutex
	have map[bt.InfoHash]bool
	got  []heard
	ch   chan heard
}

func newRecorder(have ...bt.InfoHash) *recorder {
	r := &recorder{have: make(map[bt.InfoHash]bool), ch: make(chan heard, 1000)}
	for _, h := range have {
		r.have[h] = true
	}
	return r
}

func (r *recorder) onPeer(ih bt.InfoHash, p netip.AddrPort) bool {
	r.mu.Lock()
	r.got = append(r.got, heard{ih, p})
	r.mu.Unlock()
	r.ch <- heard{ih, p}
	return r.have[ih]
}

func (r *recorder) wait(t *testing.T, what string) heard {
	t.Helper()
	select {
	case h := <-r.ch:
		return h
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: nothing heard", what)
	}
	return heard{}
}

// TestTwoNodesFindEachOther: A announces its torrent at start; B, which has
// it too, hears A and answers, so A hears B. Neither hears itself.
func TestTwoNodesFindEachOther(t *testing.T) {
	ca, cb := loopbackConn(t), loopbackConn(t)
	x := ih(7)
	ra, rb := newRecorder(x), newRecorder(x)
	b, err := New(Config{Port: 2000, Conn: cb, Group: addrOf(ca), OnPeer: rb.onPeer})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	a, err := New(Config{Port: 1000, Conn: ca, Group: addrOf(cb), OnPeer: ra.onPeer,
		Torrents: func() []bt.InfoHash { return []bt.InfoHash{x} }})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if h := rb.wait(t, "B"); h.ih != x || h.peer != netip.MustParseAddrPort("127.0.0.1:1000") {
		t.Fatalf("B heard %v, want %s from 127.0.0.1:1000", h, x)
	}
	if h := ra.wait(t, "A"); h.ih != x || h.peer != netip.MustParseAddrPort("127.0.0.1:2000") {
		t.Fatalf("A heard %v, want %s from 127.0.0.1:2000", h, x)
	}
	// Closed first: its send loop counts a datagram after WriteTo returns,
	// which may be after B has heard it.
	a.Close()
	if s := a.Stats(); s.Sent != 1 {
		t.Errorf("A sent %d announces, want 1 (B's answer must not be answered)", s.Sent)
	}
}

// TestOwnAnnounceIgnored: a node whose announces come back to it (multicast
// loop) does not take itself for a peer.
func TestOwnAnnounceIgnored(t *testing.T) {
	c := loopbackConn(t)
	r := newRecorder()
	n, err := New(Config{Port: 1000, Conn: c, Group: addrOf(c), OnPeer: r.onPeer})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	n.Announce(ih(1))
	// A stranger's announce after ours: once it is heard, ours has been read.
	s := loopbackConn(t)
	defer s.Close()
	waitSent(t, n, 1)
	for _, m := range Encode("h", 3000, []bt.InfoHash{ih(2)}, "other") {
		s.WriteTo(m, c.LocalAddr())
	}
	if h := r.wait(t, "stranger"); h.ih != ih(2) {
		t.Fatalf("heard %v first, want the stranger's %s", h, ih(2))
	}
	if st := n.Stats(); st.Received != 1 {
		t.Fatalf("received %d, want 1 (our own must be ignored)", st.Received)
	}
}

func waitSent(t *testing.T, n *Node, want int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for n.Stats().Sent < want {
		if time.Now().After(deadline) {
			t.Fatalf("sent %d, want %d", n.Stats().Sent, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestAcceptRateLimited: a flood of announces is read at AcceptPerSecond;
// the rest is dropped before parsing.
func TestAcceptRateLimited(t *testing.T) {
	c := loopbackConn(t)
	r := newRecorder()
	const rate = 5
	n, err := New(Config{Port: 1000, Conn: c, Group: netip.MustParseAddrPort("127.0.0.1:9"), OnPeer: r.onPeer, AcceptPerSecond: rate})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	s := loopbackConn(t)
	defer s.Close()
	start := time.Now()
	const flood = 200
	msg := Encode("h", 3000, []bt.InfoHash{ih(2)}, "other")[0]
	for range flood {
		s.WriteTo(msg, c.LocalAddr())
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := n.Stats()
		if st.Received+st.Dropped >= flood {
			break
		}
		if time.Now().After(deadline) {
			t.Skipf("only %d of %d datagrams arrived (socket buffer)", st.Received+st.Dropped, flood)
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start).Seconds()
	st := n.Stats()
	if limit := rate + int64(elapsed*rate) + 1; st.Received > limit {
		t.Fatalf("accepted %d announces in %.1f s, want at most %d", st.Received, elapsed, limit)
	}
	if st.Dropped == 0 {
		t.Fatal("nothing dropped")
	}
}

// TestPerTorrentLimit: asking again within MinInterval sends nothing more.
func TestPerTorrentLimit(t *testing.T) {
	c := loopbackConn(t)
	sink := loopbackConn(t)
	defer sink.Close()
	n, err := New(Config{Port: 1000, Conn: c, Group: addrOf(sink), MinInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	n.Announce(ih(1))
	waitSent(t, n, 1)
	n.Announce(ih(1))
	n.Announce(ih(2)) // another torrent still goes
	waitSent(t, n, 2)
	buf := make([]byte, 2000)
	var got []bt.InfoHash
	for range 2 {
		m, _, err := sink.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		a, err := Parse(buf[:m])
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, a.InfoHashes...)
	}
	if len(got) != 2 || got[0] != ih(1) || got[1] != ih(2) {
		t.Fatalf("announced %v, want %s then %s", got, ih(1), ih(2))
	}
	if s := n.Stats(); s.Sent != 2 {
		t.Fatalf("sent %d, want 2", s.Sent)
	}
}

// failingConn fails the first writes, as a socket does while its interface
// has no route to the group yet.
type failingConn struct {
	net.PacketConn
	mu    sync.Mutex
	fails int
}

func (f *failingConn) WriteTo(b []byte, a net.Addr) (int, error) {
	f.mu.Lock()
	if f.fails > 0 {
		f.fails--
		f.mu.Unlock()
		return 0, &net.OpError{Op: "sendto", Err: syscall.ENETUNREACH}
	}
	f.mu.Unlock()
	return f.PacketConn.WriteTo(b, a)
}

// TestAnnounceRetriedAfterSendError: an announce that could not be sent
// (network unreachable) is sent again soon, not after the next Interval.
func TestAnnounceRetriedAfterSendError(t *testing.T) {
	sink := loopbackConn(t)
	defer sink.Close()
	c := &failingConn{PacketConn: loopbackConn(t), fails: 2}
	n, err := New(Config{Port: 1000, Conn: c, Group: addrOf(sink)})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	n.Announce(ih(3))
	buf := make([]byte, 2000)
	sink.SetReadDeadline(time.Now().Add(20 * time.Second))
	m, _, err := sink.ReadFrom(buf)
	if err != nil {
		t.Fatalf("no announce after two failed sends: %v", err)
	}
	if a, err := Parse(buf[:m]); err != nil || a.InfoHashes[0] != ih(3) {
		t.Fatalf("got %+v, %v; want an announce of %s", a, err, ih(3))
	}
}
