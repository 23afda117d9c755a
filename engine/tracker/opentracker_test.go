package tracker

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
)

// startOpentracker runs Debian's opentracker on 127.0.0.1 (HTTP and UDP on one port),
// with a whitelist holding ih, and returns the port. The test is skipped when the binary
// is missing.
func startOpentracker(t *testing.T, ih bt.InfoHash) int {
	t.Helper()
	bin, err := exec.LookPath("opentracker")
	if err != nil {
		t.Skip("opentracker not installed")
	}
	port := freePort(t)
	dir := t.TempDir()
	// opentracker reads the whitelist after chrooting into -d, so the path is relative.
	if err := os.WriteFile(filepath.Join(dir, "whitelist"), []byte(ih.String()+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := fmt.Sprint(port)
	cmd := exec.Command(bin, "-i", "127.0.0.1", "-p", p, "-P", p, "-d", dir, "-w", "whitelist")
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	// The whitelist is loaded after the ports open, and a "stopped" announce is
	// answered before it is (opentracker checks the list only when it adds a
	// peer: CI's first "started" once came back "not authorized"). So wait
	// until a "started" announce of a peer on the discard port is accepted,
	// then take that peer away again.
	c := NewClient(Config{})
	defer c.Close()
	u := "http://127.0.0.1:" + p + "/announce"
	probe := AnnounceRequest{InfoHash: ih, PeerID: bt.NewPeerID(), Port: 9, Left: 1, Event: EventStarted}
	for deadline := time.Now().Add(30 * time.Second); ; { // a loaded machine starts it slowly
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := c.Announce(ctx, u, probe)
		if err == nil {
			probe.Event = EventStopped
			_, err = c.Announce(ctx, u, probe)
		}
		cancel()
		if err == nil {
			return port
		}
		if probe.Event == EventStopped {
			t.Fatalf("opentracker: taking the probe peer away: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("opentracker not ready: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// freePort finds a port free for both TCP and UDP on 127.0.0.1.
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

func hasPeer(peers []netip.AddrPort, want string) bool {
	for _, p := range peers {
		if p.String() == want {
			return true
		}
	}
	return false
}

// TestOpentracker checks requests against the real tracker the integration tests use:
// two peers announce over HTTP and UDP and see each other; scrape counts them.
func TestOpentracker(t *testing.T) {
	if testing.Short() {
		t.Skip("starts opentracker")
	}
	ih := bt.InfoHash{0xde, 0xad, 0xbe, 0xef, ' ', '+', '%', '&'}
	port := startOpentracker(t, ih)
	c := NewClient(Config{UDPRetryBase: 200 * time.Millisecond, UDPMaxRetries: 3})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	httpURL := fmt.Sprintf("http://127.0.0.1:%d/announce", port)
	udpURL := fmt.Sprintf("udp://127.0.0.1:%d/announce", port)

	announce := func(u string, peerPort uint16, ev Event) *AnnounceResponse {
		t.Helper()
		resp, err := c.Announce(ctx, u, AnnounceRequest{InfoHash: ih, PeerID: bt.NewPeerID(), Port: peerPort,
			Left: 10, Event: ev, NumWant: 50, Key: uint32(peerPort)})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	announce(httpURL, 1111, EventStarted)
	resp := announce(udpURL, 2222, EventStarted)
	if !hasPeer(resp.Peers, "127.0.0.1:1111") || resp.Interval <= 0 {
		t.Fatalf("UDP announce: %+v", resp)
	}
	resp = announce(httpURL, 3333, EventStarted)
	if !hasPeer(resp.Peers, "127.0.0.1:1111") || !hasPeer(resp.Peers, "127.0.0.1:2222") || resp.MinInterval <= 0 {
		t.Fatalf("HTTP announce: %+v", resp)
	}
	for _, u := range []string{httpURL, udpURL} {
		res, err := c.Scrape(ctx, u, []bt.InfoHash{ih})
		if err != nil {
			t.Fatal(err)
		}
		if res[0].Leechers != 3 {
			t.Errorf("%s scrape: %+v, want 3 leechers", u, res[0])
		}
	}
	var other bt.InfoHash
	for _, u := range []string{httpURL, udpURL} {
		if _, err := c.Announce(ctx, u, AnnounceRequest{InfoHash: other}); err == nil {
			t.Errorf("%s: announce of a torrent off the whitelist: want an error", u)
		} else {
			t.Logf("not whitelisted: %v", err)
		}
	}
}
