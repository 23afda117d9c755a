package engine

import (
	"bytes"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/metainfo"
	"github.com/hyperblow/hyperblow/engine/wire"
)

func testTorrent(t *testing.T, size int) (*metainfo.Torrent, []byte) {
	t.Helper()
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i * 7)
	}
	raw, err := metainfo.CreateFromFiles("t.bin", []metainfo.InputFile{metainfo.FileBytes(data)}, metainfo.CreateOptions{PieceLength: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	mt, err := metainfo.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return mt, data
}

// closingPeer listens on 127.0.0.1, answers each connection's handshake for
// mt (sending after it the messages in then) and closes it: a peer that
// finished and closes on us. Each accepted connection is reported on accepts.
func closingPeer(t *testing.T, mt *metainfo.Torrent, reserved wire.Reserved, then []byte) (netip.AddrPort, <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepts := make(chan struct{}, 100)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			buf := make([]byte, 68)
			if _, err := io.ReadFull(c, buf); err == nil {
				hs := wire.AppendHandshake(nil, wire.Handshake{Reserved: reserved, InfoHash: mt.InfoHash, PeerID: bt.NewPeerID()})
				c.Write(append(hs, then...))
			}
			c.Close()
			accepts <- struct{}{}
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String()), accepts
}

// waitAddr waits (for events, polling the owner) until cond holds for a's state.
func waitAddr(t *testing.T, tor *Torrent, a netip.AddrPort, what string, cond func(*addrState) bool) addrState {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var st addrState
		var ok bool
		tor.onOwner(func() {
			if s := tor.addrs[a]; s != nil {
				st, ok = *s, cond(s)
			}
		})
		if ok {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: address state %+v", what, st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A seed whose peer accepts, handshakes and closes at once (as a finished peer
// does) backs off exponentially: 2 s, 4 s, ... ~2 min, then 30 min, and dials
// once per scheduled time. The scheduled times are checked, and each next dial
// is let through by moving the schedule to now: no test waits for a timer.
func TestSeedBacksOffFromPeerThatCloses(t *testing.T) {
	mt, data := testTorrent(t, 64<<10)
	addr, accepts := closingPeer(t, mt, wire.Reserved{}, nil)
	c, err := NewClient(Config{CacheSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tor, err := c.AddTorrent(mt, TorrentOptions{OpenTier: ReaderTier(bytes.NewReader(data)), UploadOnly: true, NoTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	tor.AddPeers([]netip.AddrPort{addr})
	want := []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second,
		32 * time.Second, 64 * time.Second, 30 * time.Minute}
	for k, d := range want {
		select {
		case <-accepts:
		case <-time.After(20 * time.Second):
			t.Fatalf("dial %d never came", k+1)
		}
		before := time.Now()
		st := waitAddr(t, tor, addr, "after dial", func(s *addrState) bool {
			return !s.dialing && !s.connected && s.failures == k+1
		})
		after := time.Now()
		// It was scheduled when its connection closed, around before.
		if st.nextTry.After(after.Add(d)) || st.nextTry.Before(before.Add(d-time.Second)) {
			t.Fatalf("dial %d: next try in %v, want %v", k+1, st.nextTry.Sub(before), d)
		}
		select {
		case <-accepts:
			t.Fatalf("dial %d: redialled before its back-off ended", k+1)
		default:
		}
		tor.onOwner(func() { tor.addrs[addr].nextTry = time.Time{} }) // the clock jumps
	}
	<-accepts
	s := tor.Stats()
	if s.Dials != int64(len(want)+1) || s.DialFailures != 0 {
		t.Fatalf("stats: %d dials, %d failed; want %d, 0", s.Dials, s.DialFailures, len(want)+1)
	}
}

// A seed does not redial a peer that was complete when it closed.
func TestSeedDoesNotRedialSeed(t *testing.T) {
	mt, data := testTorrent(t, 64<<10)
	haveAll := []byte{0, 0, 0, 1, byte(wire.HaveAll)}
	addr, accepts := closingPeer(t, mt, wire.Reserved{}.WithFast(), haveAll)
	c, err := NewClient(Config{CacheSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tor, err := c.AddTorrent(mt, TorrentOptions{OpenTier: ReaderTier(bytes.NewReader(data)), UploadOnly: true, NoTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	tor.AddPeers([]netip.AddrPort{addr})
	<-accepts
	waitAddr(t, tor, addr, "seed", func(s *addrState) bool { return s.seed && !s.connected && !s.dialing })
	var dialable bool
	tor.onOwner(func() {
		tor.addrs[addr].nextTry = time.Time{}
		dialable = tor.dialable(tor.addrs[addr], time.Now())
	})
	if dialable {
		t.Fatal("a seed would redial a complete peer")
	}
}

// The half-open limit holds dials across torrents; the per-IP limit holds a
// torrent's dials to one address.
func TestDialLimits(t *testing.T) {
	mt, _ := testTorrent(t, 64<<10)
	// A listener that never answers the handshake keeps dials half-open.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conns := make(chan net.Conn, 64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c
		}
	}()
	defer func() {
		for len(conns) > 0 {
			(<-conns).Close()
		}
	}()
	c, err := NewClient(Config{CacheSize: 4 << 20, MaxHalfOpen: 3, MaxPeersPerIP: 2, limitLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tor, err := c.AddTorrent(mt, TorrentOptions{NoTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	port := netip.MustParseAddrPort(ln.Addr().String()).Port()
	var addrs []netip.AddrPort
	for i := 1; i <= 4; i++ {
		// 127.0.0.1 twice through different ports, then other loopback IPs.
		addrs = append(addrs, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port+uint16(i)))
	}
	for _, ip := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"} {
		addrs = append(addrs, netip.AddrPortFrom(netip.MustParseAddr(ip), port))
	}
	tor.AddPeers(addrs)
	var dialing int
	var byIP map[netip.Addr]int
	tor.onOwner(func() { dialing, byIP = tor.dialing, tor.connsByIP() })
	if dialing > 3 || c.HalfOpen() > 3 {
		t.Fatalf("%d dials (client half-open %d), want at most 3", dialing, c.HalfOpen())
	}
	for ip, n := range byIP {
		if n > 2 {
			t.Fatalf("%d dials to %s, want at most 2", n, ip)
		}
	}
	if dialing == 0 {
		t.Fatal("no dial started")
	}
}

func TestSlowest(t *testing.T) {
	t0 := time.Unix(1000, 0)
	cases := []struct {
		in   []peerScore
		want int
	}{
		{nil, -1},
		{[]peerScore{{rate: 5, since: t0}}, 0},
		{[]peerScore{{rate: 5e6, since: t0}, {rate: 10, since: t0}, {rate: 1e6, since: t0}}, 1},
		{[]peerScore{{rate: 0, since: t0.Add(time.Second)}, {rate: 0, since: t0}, {rate: 3, since: t0}}, 1},
	}
	for _, c := range cases {
		if got := slowest(c.in); got != c.want {
			t.Errorf("slowest(%v) = %d, want %d", c.in, got, c.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	for f, want := range map[int]time.Duration{1: 2 * time.Second, 2: 4 * time.Second, 6: 64 * time.Second, 7: 30 * time.Minute} {
		if got := backoff(f, false); got != want {
			t.Errorf("backoff(%d) = %v, want %v", f, got, want)
		}
	}
	if got := backoff(20, true); got != 128*time.Second {
		t.Errorf("direct peer: backoff(20) = %v, want 128s", got)
	}
}

func seedClient(t *testing.T, mt *metainfo.Torrent, data []byte) netip.AddrPort {
	t.Helper()
	c, err := NewClient(Config{Listen: "127.0.0.1:0", CacheSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.AddTorrent(mt, TorrentOptions{OpenTier: ReaderTier(bytes.NewReader(data)), UploadOnly: true, NoTrackers: true}); err != nil {
		t.Fatal(err)
	}
	return c.ListenAddr()
}

// At the connection cap with an untried address (a lazy leecher: nothing is
// fetched, so it never completes and rates are what the test sets), the peer that delivered least
// is dropped for it; the fastest is kept, and the dropped one is not redialled
// at once.
func TestReplaceSlowest(t *testing.T) {
	mt, data := testTorrent(t, 64<<10)
	fast, slow, fresh := seedClient(t, mt, data), seedClient(t, mt, data), seedClient(t, mt, data)
	c, err := NewClient(Config{CacheSize: 4 << 20, MaxPeers: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tor, err := c.AddTorrent(mt, TorrentOptions{NoTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	tor.AddPeers([]netip.AddrPort{fast, slow})
	connected := func(s *addrState) bool { return s.connected }
	waitAddr(t, tor, fast, "fast connected", connected)
	waitAddr(t, tor, slow, "slow connected", connected)
	tor.AddPeers([]netip.AddrPort{fresh})
	tor.onOwner(func() {
		now := time.Now()
		for _, p := range tor.peers {
			p.connectedAt = now.Add(-2 * replaceMinAge) // measured long enough
			p.downRate = 1e6
			if p.addr == slow {
				p.downRate = 10
			}
		}
		tor.lastReplace = time.Time{}
		tor.replaceSlowest(now)
	})
	waitAddr(t, tor, fresh, "the untried peer connected", connected)
	st := waitAddr(t, tor, slow, "slow dropped", func(s *addrState) bool { return !s.connected })
	if time.Until(st.nextTry) < replacedWait/2 {
		t.Fatalf("the replaced peer may be redialled in %v", time.Until(st.nextTry))
	}
	waitAddr(t, tor, fast, "fast kept", connected)
	if n := tor.Stats().PeersReplaced; n != 1 {
		t.Fatalf("PeersReplaced = %d, want 1", n)
	}
}

// The per-IP limit holds incoming connections too: a second connection from
// the same IP is closed after its handshake and counted.
func TestPerIPLimitIncoming(t *testing.T) {
	mt, data := testTorrent(t, 64<<10)
	c, err := NewClient(Config{Listen: "127.0.0.1:0", CacheSize: 4 << 20, MaxPeersPerIP: 1, limitLoopback: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tor, err := c.AddTorrent(mt, TorrentOptions{OpenTier: ReaderTier(bytes.NewReader(data)), UploadOnly: true, NoTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	connect := func() net.Conn {
		nc, err := net.Dial("tcp", c.ListenAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		nc.SetDeadline(time.Now().Add(20 * time.Second))
		nc.Write(wire.AppendHandshake(nil, wire.Handshake{InfoHash: mt.InfoHash, PeerID: bt.NewPeerID()}))
		if _, err := io.ReadFull(nc, make([]byte, 68)); err != nil {
			t.Fatalf("handshake: %v", err)
		}
		return nc
	}
	connect()
	deadline := time.Now().Add(20 * time.Second)
	for tor.Stats().Peers != 1 { // until the owner has taken the first
		if time.Now().After(deadline) {
			t.Fatal("the first connection was not taken")
		}
		time.Sleep(5 * time.Millisecond)
	}
	second := connect()
	if _, err := io.Copy(io.Discard, second); err != nil { // ends at EOF: it was closed
		t.Fatalf("second connection: %v (want closed by the per-IP limit)", err)
	}
	if s := tor.Stats(); s.RefusedPerIP != 1 || s.Peers != 1 {
		t.Fatalf("refused %d, peers %d; want 1, 1", s.RefusedPerIP, s.Peers)
	}
}
