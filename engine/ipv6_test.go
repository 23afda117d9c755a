package engine_test

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/dht"
	"github.com/hyperblow/hyperblow/engine/enginetest"
)

// needIPv6 skips when the loopback has no ::1 (a kernel without IPv6).
func needIPv6(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	ln.Close()
}

// A leecher on [::1] finds a seeder on [::1] through the DHT over IPv6 (BEP 32:
// IPv6 nodes, peers stored and returned as 18-byte values) and reads from it.
func TestIPv6PeersThroughDHT(t *testing.T) {
	needIPv6(t)
	data := enginetest.RandomBytes(3, 1<<20+777)
	mt, all := enginetest.Torrent(t, "v6.bin", 64<<10, []enginetest.File{{Data: data}})
	// A bootstrap node on ::1 that both clients join through.
	router, err := dht.New(dht.Config{Addr: "[::1]:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer router.Close()
	boot := []string{router.Addr().String()}
	seeder, err := engine.NewClient(engine.Config{Listen: "[::1]:0", DHT: true, CacheSize: 8 << 20,
		DHTBootstrap: boot, Logger: enginetest.Logger(t).With("role", "seeder")})
	if err != nil {
		t.Fatal(err)
	}
	defer seeder.Close()
	if !seeder.ListenAddr().Addr().Is6() || !seeder.DHTAddr().Addr().Is6() {
		t.Fatalf("seeder listens on %v, DHT on %v: want IPv6", seeder.ListenAddr(), seeder.DHTAddr())
	}
	if _, err := seeder.AddTorrent(mt, engine.TorrentOptions{OpenTier: engine.ReaderTier(bytes.NewReader(all)), UploadOnly: true, NoTrackers: true}); err != nil {
		t.Fatal(err)
	}
	// The leecher starts once the seeder's announce is stored at the router.
	deadline := time.Now().Add(20 * time.Second)
	for router.Stats().Peers == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the seeder never announced to the router: %+v", router.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	leecher, err := engine.NewClient(engine.Config{Listen: "[::1]:0", DHT: true, CacheSize: 8 << 20,
		DHTBootstrap: boot, Logger: enginetest.Logger(t).With("role", "leecher")})
	if err != nil {
		t.Fatal(err)
	}
	defer leecher.Close()
	tor, err := leecher.AddTorrent(mt, engine.TorrentOptions{NoTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	got := readAll(t, tor, mt.Info.Files[0], 64<<10)
	if !bytes.Equal(got, data) {
		t.Fatal("read differs from the source")
	}
	s, err := tor.Inspect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range s.Peers {
		if !p.Addr.Addr().Is6() {
			t.Fatalf("peer %v is not IPv6", p.Addr)
		}
	}
}

// A client listening on [::] (both stacks) accepts a peer over IPv4 and over
// IPv6, and sees the IPv4 one as a plain IPv4 address (unmapped).
func TestDualStackListen(t *testing.T) {
	needIPv6(t)
	data := enginetest.RandomBytes(4, 300<<10)
	mt, all := enginetest.Torrent(t, "dual.bin", 64<<10, []enginetest.File{{Data: data}})
	seeder, err := engine.NewClient(engine.Config{Listen: "[::]:0", CacheSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer seeder.Close()
	st, err := seeder.AddTorrent(mt, engine.TorrentOptions{OpenTier: engine.ReaderTier(bytes.NewReader(all)), UploadOnly: true, NoTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	port := seeder.ListenAddr().Port()
	for _, ip := range []string{"127.0.0.1", "::1"} {
		addr := netip.AddrPortFrom(netip.MustParseAddr(ip), port)
		_, tor := enginetest.Leecher(t, mt, engine.Config{}, addr)
		if got := readAll(t, tor, mt.Info.Files[0], 64<<10); !bytes.Equal(got, data) {
			t.Fatalf("over %s: read differs from the source", ip)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		s, err := st.Inspect(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var v4, v6 bool
		for _, p := range s.Peers {
			v4 = v4 || p.Addr.Addr() == netip.MustParseAddr("127.0.0.1")
			v6 = v6 || p.Addr.Addr() == netip.MustParseAddr("::1")
		}
		if v4 && v6 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("seeder's peers %v: want 127.0.0.1 (unmapped) and ::1", s.Peers)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
