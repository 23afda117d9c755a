package engine_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/enginetest"
)

func TestUTPOnlySeeder(t *testing.T) {
	data := enginetest.RandomBytes(3, 3<<20+777)
	mt, all := enginetest.Torrent(t, "utp.bin", 256<<10, []enginetest.File{{Data: data}})
	seeder, err := engine.NewClient(engine.Config{Listen: "127.0.0.1:0", CacheSize: 8 << 20, Logger: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer seeder.Close()
	if _, err := seeder.AddTorrent(mt, engine.TorrentOptions{OpenTier: engine.ReaderTier(bytes.NewReader(all)), UploadOnly: true, NoTrackers: true}); err != nil {
		t.Fatal(err)
	}
	addr := seeder.ListenAddr()
	if seeder.UTPAddr() != addr {
		t.Fatalf("uTP on %v, TCP on %v: want one port", seeder.UTPAddr(), addr)
	}
	engine.StopTCPListener(seeder)

	c, tor := enginetest.Leecher(t, mt, engine.Config{}, addr)
	got := readAll(t, tor, mt.Info.Files[0], 128<<10)
	if !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, differing from the source", len(got))
	}
	if tr := engine.TransportUsed(c, addr); tr != "utp" {
		t.Fatalf("connected over %q, want utp", tr)
	}
}

// TestUTPPreferTCP: a peer that takes both is reached over TCP; uTP costs the
// TCP path nothing.
func TestUTPPreferTCP(t *testing.T) {
	data := enginetest.RandomBytes(4, 1<<20)
	mt, all := enginetest.Torrent(t, "tcp.bin", 256<<10, []enginetest.File{{Data: data}})
	seeder := enginetest.Seed(t, mt, all)
	c, tor := enginetest.Leecher(t, mt, engine.Config{}, seeder)
	if got := readAll(t, tor, mt.Info.Files[0], 128<<10); !bytes.Equal(got, data) {
		t.Fatal("data differs")
	}
	if tr := engine.TransportUsed(c, seeder); tr != "tcp" {
		t.Fatalf("connected over %q, want tcp", tr)
	}
	if s, err := tor.Inspect(context.Background()); err != nil || len(s.Peers) != 1 || s.Peers[0].Transport != "tcp" {
		t.Fatalf("peers %+v (%v), want one over tcp", s.Peers, err)
	}
}

// TestNoUTP: with uTP off, a uTP-only seeder is not reached, and the client
// listens on no UDP port for it.
func TestNoUTP(t *testing.T) {
	data := enginetest.RandomBytes(5, 1<<20)
	mt, all := enginetest.Torrent(t, "noutp.bin", 256<<10, []enginetest.File{{Data: data}})
	seeder, err := engine.NewClient(engine.Config{Listen: "127.0.0.1:0", CacheSize: 8 << 20, Logger: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer seeder.Close()
	if _, err := seeder.AddTorrent(mt, engine.TorrentOptions{OpenTier: engine.ReaderTier(bytes.NewReader(all)), UploadOnly: true, NoTrackers: true}); err != nil {
		t.Fatal(err)
	}
	addr := seeder.ListenAddr()
	engine.StopTCPListener(seeder)
	c, tor := enginetest.Leecher(t, mt, engine.Config{NoUTP: true, Listen: "127.0.0.1:0"}, addr)
	if c.UTPAddr().IsValid() {
		t.Fatalf("uTP socket on %v with NoUTP", c.UTPAddr())
	}
	r := tor.NewReader(mt.Info.Files[0])
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if n, err := r.ReadAt(ctx, make([]byte, 1), 0); err == nil {
		t.Fatalf("read %d bytes from a uTP-only seeder with uTP off", n)
	}
	if tr := engine.TransportUsed(c, addr); tr != "" {
		t.Fatalf("connected over %q", tr)
	}
}

// TestUTPOverIPv6: a uTP-only seeder listening on ::1 alone is reached over
// uTP on IPv6, and the leecher's snapshot says so (Transport "utp", an IPv6
// address).
func TestUTPOverIPv6(t *testing.T) {
	data := enginetest.RandomBytes(5, 1<<20+333)
	mt, all := enginetest.Torrent(t, "utp6.bin", 256<<10, []enginetest.File{{Data: data}})
	seeder, err := engine.NewClient(engine.Config{Listen: "[::1]:0", CacheSize: 8 << 20, Logger: enginetest.Logger(t)})
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	defer seeder.Close()
	if _, err := seeder.AddTorrent(mt, engine.TorrentOptions{OpenTier: engine.ReaderTier(bytes.NewReader(all)), UploadOnly: true, NoTrackers: true}); err != nil {
		t.Fatal(err)
	}
	addr := seeder.ListenAddr()
	if !addr.Addr().Is6() || seeder.UTPAddr() != addr {
		t.Fatalf("TCP on %v, uTP on %v: want one port on ::1", addr, seeder.UTPAddr())
	}
	engine.StopTCPListener(seeder)

	c, tor := enginetest.Leecher(t, mt, engine.Config{}, addr)
	if got := readAll(t, tor, mt.Info.Files[0], 128<<10); !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, differing from the source", len(got))
	}
	if tr := engine.TransportUsed(c, addr); tr != "utp" {
		t.Fatalf("connected over %q, want utp", tr)
	}
	s, err := tor.Inspect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Peers) != 1 || s.Peers[0].Transport != "utp" || s.Peers[0].Addr != addr {
		t.Fatalf("peers %+v, want one over utp at %v", s.Peers, addr)
	}
}
