package tracker

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
)

const fakeConnID = 0x0123456789abcdef

// udpPacket is one request received by a fakeUDP tracker.
type udpPacket struct {
	action, tx uint32
	data       []byte
	from       netip.AddrPort
}

// fakeUDP is a BEP 15 tracker on 127.0.0.1:0 run by a test goroutine. Its handler sees
// every request after connects have been answered (unless handleConnect is set).
type fakeUDP struct {
	t    *testing.T
	conn *net.UDPConn

	mu       sync.Mutex
	connects int
	requests []udpPacket // announces and scrapes, in arrival order
}

// startFakeUDP starts a fake tracker; handle is called for every announce or scrape
// request (connects are answered with fakeConnID) and may reply with f.send.
func startFakeUDP(t *testing.T, handle func(f *fakeUDP, p udpPacket)) *fakeUDP {
	t.Helper()
	return startFakeUDPOn(t, "udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, handle)
}

// startFakeUDPOn is startFakeUDP on a given network and address.
func startFakeUDPOn(t *testing.T, network string, laddr *net.UDPAddr, handle func(f *fakeUDP, p udpPacket)) *fakeUDP {
	t.Helper()
	conn, err := net.ListenUDP(network, laddr)
	if err != nil {
		if network == "udp6" {
			t.Skipf("no IPv6 loopback: %v", err)
		}
		t.Fatal(err)
	}
	f := &fakeUDP{t: t, conn: conn}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			f.serve(append([]byte(nil), buf[:n]...), from, handle)
		}
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return f
}

func (f *fakeUDP) serve(b []byte, from netip.AddrPort, handle func(f *fakeUDP, p udpPacket)) {
	if len(b) < 16 {
		f.t.Errorf("fake tracker: request of %d bytes", len(b))
		return
	}
	p := udpPacket{action: binary.BigEndian.Uint32(b[8:]), tx: binary.BigEndian.Uint32(b[12:]), data: b, from: from}
	if p.action == actionConnect {
		if binary.BigEndian.Uint64(b) != udpProtocolID {
			f.t.Errorf("fake tracker: connect without protocol id")
		}
		f.mu.Lock()
		f.connects++
		f.mu.Unlock()
		r := binary.BigEndian.AppendUint32(nil, actionConnect)
		r = binary.BigEndian.AppendUint32(r, p.tx)
		f.send(binary.BigEndian.AppendUint64(r, fakeConnID), from)
		return
	}
	if id := binary.BigEndian.Uint64(b); id != fakeConnID {
		f.t.Errorf("fake tracker: connection id %#x", id)
	}
	if p.action == actionAnnounce && len(b) != udpAnnounceLen {
		f.t.Errorf("fake tracker: announce of %d bytes, want %d", len(b), udpAnnounceLen)
	}
	f.mu.Lock()
	f.requests = append(f.requests, p)
	f.mu.Unlock()
	handle(f, p)
}

func (f *fakeUDP) send(b []byte, to netip.AddrPort) {
	if _, err := f.conn.WriteToUDPAddrPort(b, to); err != nil {
		f.t.Errorf("fake tracker: send: %v", err)
	}
}

// packets returns a copy of the announce and scrape requests received so far.
func (f *fakeUDP) packets() []udpPacket {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]udpPacket(nil), f.requests...)
}

func (f *fakeUDP) url() string { return "udp://" + f.conn.LocalAddr().String() + "/announce" }

func (f *fakeUDP) counts() (connects, requests int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.connects, len(f.requests)
}

// peerFor is the one peer the fake tracker returns for an info-hash, so a test can tell
// which request a reply answered.
func peerFor(ih []byte) []byte {
	return []byte{10, 0, 0, ih[0], 0x1a, 0xe1}
}

// answer replies to an announce or scrape the normal way.
func answer(f *fakeUDP, p udpPacket) {
	f.send(normalReply(p), p.from)
}

func normalReply(p udpPacket) []byte {
	if p.action == actionScrape {
		r := binary.BigEndian.AppendUint32(nil, actionScrape)
		r = binary.BigEndian.AppendUint32(r, p.tx)
		for i := 16; i+20 <= len(p.data); i += 20 {
			r = binary.BigEndian.AppendUint32(r, uint32(p.data[i])) // seeders = first byte of hash
			r = binary.BigEndian.AppendUint32(r, 7)
			r = binary.BigEndian.AppendUint32(r, 8)
		}
		return r
	}
	return udpAnnounceReply(p.tx, 60, 2, 3, peerFor(p.data[16:36]))
}

// testClient returns a Client with a tiny retry base, closed at cleanup.
func testClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	if cfg.UDPRetryBase == 0 {
		cfg.UDPRetryBase = 20 * time.Millisecond
	}
	c := NewClient(cfg)
	t.Cleanup(func() { c.Close() })
	return c
}

func hashN(n byte) bt.InfoHash {
	var h bt.InfoHash
	h[0] = n
	return h
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestUDPAnnounce(t *testing.T) {
	f := startFakeUDP(t, answer)
	c := testClient(t, Config{})
	req := AnnounceRequest{InfoHash: hashN(42), PeerID: bt.NewPeerID(), Port: 6881, Left: 100, Event: EventStarted, NumWant: 10, Key: 5}
	resp, err := c.Announce(testCtx(t), f.url(), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Interval != time.Minute || resp.Leechers != 2 || resp.Seeders != 3 ||
		len(resp.Peers) != 1 || resp.Peers[0] != netip.MustParseAddrPort("10.0.0.42:6881") {
		t.Fatalf("got %+v", resp)
	}
	p := f.packets()[0]
	if want := appendAnnounceRequest(nil, fakeConnID, p.tx, &req); string(p.data) != string(want) {
		t.Fatalf("announce packet\n got %x\nwant %x", p.data, want)
	}
}

// BEP 15 over IPv6: a tracker reached on [::1] answers with 18-byte peers.
func TestUDPAnnounceIPv6(t *testing.T) {
	peers := bt.AppendCompactPeer(nil, netip.MustParseAddrPort("[2001:db8::5]:6881"))
	peers = bt.AppendCompactPeer(peers, netip.MustParseAddrPort("[::1]:7000"))
	f := startFakeUDPOn(t, "udp6", &net.UDPAddr{IP: net.IPv6loopback}, func(f *fakeUDP, p udpPacket) {
		if !p.from.Addr().Is6() || p.from.Addr().Is4In6() {
			f.t.Errorf("request from %v, want IPv6", p.from)
		}
		f.send(udpAnnounceReply(p.tx, 60, 1, 1, peers), p.from)
	})
	if !strings.HasPrefix(f.url(), "udp://[::1]:") {
		t.Fatalf("tracker URL %s", f.url())
	}
	c := testClient(t, Config{})
	resp, err := c.Announce(testCtx(t), f.url(), AnnounceRequest{InfoHash: hashN(1), PeerID: bt.NewPeerID(), Port: 6881})
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.AddrPort{netip.MustParseAddrPort("[2001:db8::5]:6881"), netip.MustParseAddrPort("[::1]:7000")}
	if !slices.Equal(resp.Peers, want) {
		t.Fatalf("peers %v, want %v", resp.Peers, want)
	}
}

func TestUDPScrape(t *testing.T) {
	f := startFakeUDP(t, answer)
	c := testClient(t, Config{})
	hashes := make([]bt.InfoHash, 80) // more than one request holds (74)
	for i := range hashes {
		hashes[i] = hashN(byte(i))
	}
	res, err := c.Scrape(testCtx(t), f.url(), hashes)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r != (ScrapeResult{Seeders: i, Completed: 7, Leechers: 8}) {
			t.Fatalf("result %d: %+v", i, r)
		}
	}
	if _, n := f.counts(); n != 2 {
		t.Fatalf("%d scrape requests, want 2", n)
	}
}

// TestUDPOutOfOrder: replies that arrive in the reverse order of the requests reach the
// right callers, by transaction id.
func TestUDPOutOfOrder(t *testing.T) {
	var held []udpPacket
	f := startFakeUDP(t, func(f *fakeUDP, p udpPacket) {
		held = append(held, p) // only the fake's goroutine touches held
		if len(held) == 2 {
			answer(f, held[1])
			answer(f, held[0])
		}
	})
	c := testClient(t, Config{UDPRetryBase: time.Second})
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			ih := hashN(byte(i + 1))
			resp, err := c.Announce(testCtx(t), f.url(), AnnounceRequest{InfoHash: ih})
			if err != nil {
				t.Error(err)
				return
			}
			if want := fmt.Sprintf("10.0.0.%d:6881", i+1); len(resp.Peers) != 1 || resp.Peers[0].String() != want {
				t.Errorf("announce %d got peers %v, want %s", i+1, resp.Peers, want)
			}
		})
	}
	wg.Wait()
}

// TestUDPTwoTrackers: one socket serves two trackers at once.
func TestUDPTwoTrackers(t *testing.T) {
	var gate sync.WaitGroup
	gate.Add(2)
	slow := func(f *fakeUDP, p udpPacket) { gate.Done(); gate.Wait(); answer(f, p) }
	f1, f2 := startFakeUDP(t, slow), startFakeUDP(t, slow)
	c := testClient(t, Config{UDPRetryBase: time.Second})
	var wg sync.WaitGroup
	for i, f := range []*fakeUDP{f1, f2} {
		wg.Go(func() {
			resp, err := c.Announce(testCtx(t), f.url(), AnnounceRequest{InfoHash: hashN(byte(i + 7))})
			if err != nil || resp.Peers[0].Addr().As4()[3] != byte(i+7) {
				t.Errorf("tracker %d: %+v %v", i, resp, err)
			}
		})
	}
	wg.Wait()
}

// TestUDPRetransmit: the first announce is lost; the retransmission, with the same
// transaction id, is answered.
func TestUDPRetransmit(t *testing.T) {
	seen := 0
	f := startFakeUDP(t, func(f *fakeUDP, p udpPacket) {
		seen++
		if seen > 1 {
			answer(f, p)
		}
	})
	c := testClient(t, Config{UDPRetryBase: 20 * time.Millisecond})
	if _, err := c.Announce(testCtx(t), f.url(), AnnounceRequest{InfoHash: hashN(1)}); err != nil {
		t.Fatal(err)
	}
	if _, n := f.counts(); n != 2 {
		t.Fatalf("%d announces, want 2", n)
	}
	if p := f.packets(); p[0].tx != p[1].tx {
		t.Fatal("retransmission changed the transaction id")
	}
}

// TestUDPTimeout: an announce is sent 1+UDPMaxRetries times, then fails.
func TestUDPTimeout(t *testing.T) {
	f := startFakeUDP(t, func(*fakeUDP, udpPacket) {})
	c := testClient(t, Config{UDPRetryBase: 5 * time.Millisecond, UDPMaxRetries: 2})
	start := time.Now()
	_, err := c.Announce(testCtx(t), f.url(), AnnounceRequest{})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d < 35*time.Millisecond {
		t.Fatalf("gave up after %v, want 5+10+20 ms", d)
	}
	if _, n := f.counts(); n != 3 {
		t.Fatalf("%d transmissions, want 3", n)
	}
}

func TestUDPContextCancel(t *testing.T) {
	f := startFakeUDP(t, func(*fakeUDP, udpPacket) {})
	c := NewClient(Config{}) // 15 s base
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := c.Announce(ctx, f.url(), AnnounceRequest{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
}

// TestUDPConnectionIDReuse: one connect serves announces for a minute, then a new one.
func TestUDPConnectionIDReuse(t *testing.T) {
	f := startFakeUDP(t, answer)
	c := testClient(t, Config{})
	var mu sync.Mutex
	now := time.Unix(1000, 0)
	c.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	for range 3 {
		if _, err := c.Announce(testCtx(t), f.url(), AnnounceRequest{}); err != nil {
			t.Fatal(err)
		}
		advance(20 * time.Second)
	}
	if conns, _ := f.counts(); conns != 1 {
		t.Fatalf("%d connects for 3 announces within a minute, want 1", conns)
	}
	advance(time.Minute)
	if _, err := c.Announce(testCtx(t), f.url(), AnnounceRequest{}); err != nil {
		t.Fatal(err)
	}
	if conns, _ := f.counts(); conns != 2 {
		t.Fatalf("%d connects after the id expired, want 2", conns)
	}
}

// TestUDPForeignDatagrams: replies from the wrong address, with an unknown transaction
// id, too short or too large are dropped; the real reply still gets through.
func TestUDPForeignDatagrams(t *testing.T) {
	other, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	f := startFakeUDP(t, func(f *fakeUDP, p udpPacket) {
		bogus := udpAnnounceReply(p.tx, 60, 0, 0, []byte{6, 6, 6, 6, 0, 6})
		other.WriteToUDPAddrPort(bogus, p.from)                                      // wrong source
		f.send(udpAnnounceReply(p.tx+1, 60, 0, 0, []byte{6, 6, 6, 6, 0, 6}), p.from) // unknown id
		f.send(bogus[:6], p.from)                                                    // too short
		huge := udpAnnounceReply(p.tx, 60, 0, 0, make([]byte, 6*1500))               // over the buffer
		f.send(huge, p.from)
		time.Sleep(20 * time.Millisecond) // let the bad ones arrive first
		answer(f, p)
	})
	c := testClient(t, Config{UDPRetryBase: time.Second})
	resp, err := c.Announce(testCtx(t), f.url(), AnnounceRequest{InfoHash: hashN(3)})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Peers) != 1 || resp.Peers[0].String() != "10.0.0.3:6881" {
		t.Fatalf("got peers %v, want 10.0.0.3:6881", resp.Peers)
	}
}

func TestUDPErrorAction(t *testing.T) {
	f := startFakeUDP(t, func(f *fakeUDP, p udpPacket) {
		r := binary.BigEndian.AppendUint32(nil, actionError)
		r = binary.BigEndian.AppendUint32(r, p.tx)
		f.send(append(r, "unregistered torrent"...), p.from)
	})
	c := testClient(t, Config{})
	_, err := c.Announce(testCtx(t), f.url(), AnnounceRequest{})
	var fe *FailureError
	if !errors.As(err, &fe) || fe.Reason != "unregistered torrent" {
		t.Fatalf("got %v, want the tracker's message", err)
	}
	c.mu.Lock()
	n := len(c.conns)
	c.mu.Unlock()
	if n != 0 {
		t.Fatal("connection id kept after an error reply")
	}
}

func TestUDPWrongAction(t *testing.T) {
	f := startFakeUDP(t, func(f *fakeUDP, p udpPacket) {
		r := normalReply(p)
		r[3] = actionScrape
		f.send(r, p.from)
	})
	c := testClient(t, Config{})
	if _, err := c.Announce(testCtx(t), f.url(), AnnounceRequest{}); err == nil {
		t.Fatal("want an error for a reply with the wrong action")
	}
}

func TestUDPClose(t *testing.T) {
	f := startFakeUDP(t, func(*fakeUDP, udpPacket) {})
	c := NewClient(Config{})
	errc := make(chan error, 1)
	go func() {
		_, err := c.Announce(context.Background(), f.url(), AnnounceRequest{})
		errc <- err
	}()
	for {
		if _, n := f.counts(); n > 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	c.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("got %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end a pending announce")
	}
	if _, err := c.Announce(context.Background(), f.url(), AnnounceRequest{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: got %v", err)
	}
}

func TestUDPBadURL(t *testing.T) {
	c := testClient(t, Config{})
	for _, u := range []string{"udp://127.0.0.1/announce", "udp://127.0.0.1:0/announce", "udp://127.0.0.1:99999"} {
		if _, err := c.Announce(testCtx(t), u, AnnounceRequest{}); err == nil {
			t.Errorf("%s: want an error", u)
		}
	}
}
