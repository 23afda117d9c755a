package engine_test

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/enginetest"
)

// BEP 11: B knows only A; A tells B about the seeder S, and B connects to it.
func TestPexSharesPeers(t *testing.T) {
	data := enginetest.RandomBytes(20, 1<<20)
	mt, all := enginetest.Torrent(t, "pex", 64<<10, []enginetest.File{{Data: data}})
	s := enginetest.Seed(t, mt, all)
	ca, _ := enginetest.Leecher(t, mt, engine.Config{Listen: "127.0.0.1:0", CacheSize: 4 << 20}, s)
	_, b := enginetest.Leecher(t, mt, engine.Config{Listen: "127.0.0.1:0", CacheSize: 4 << 20}, ca.ListenAddr())
	deadline := time.Now().Add(10 * time.Second)
	for b.Stats().Peers < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("B has %d peers: it did not learn the seeder from A's PEX", b.Stats().Peers)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := readAll(t, b, mt.Info.Files[0], 64<<10); !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
}

// BEP 11 over IPv6: A reaches the seeder on [::1] and tells B of it in added6;
// B, which knows only A (over IPv4), connects to the seeder over IPv6.
func TestPexSharesIPv6Peers(t *testing.T) {
	needIPv6(t)
	data := enginetest.RandomBytes(21, 1<<20)
	mt, all := enginetest.Torrent(t, "pex6", 64<<10, []enginetest.File{{Data: data}})
	seeder, err := engine.NewClient(engine.Config{Listen: "[::1]:0", CacheSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer seeder.Close()
	if _, err := seeder.AddTorrent(mt, engine.TorrentOptions{OpenTier: engine.ReaderTier(bytes.NewReader(all)), UploadOnly: true, NoTrackers: true}); err != nil {
		t.Fatal(err)
	}
	ca, a := enginetest.Leecher(t, mt, engine.Config{Listen: "127.0.0.1:0", CacheSize: 4 << 20}, seeder.ListenAddr())
	deadline := time.Now().Add(10 * time.Second)
	for a.Stats().Peers < 1 {
		if time.Now().After(deadline) {
			t.Fatal("A did not connect to the seeder over IPv6")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// B does not listen: the seeder, told of B by A, cannot reach it first.
	_, b := enginetest.Leecher(t, mt, engine.Config{CacheSize: 4 << 20}, ca.ListenAddr())
	deadline = time.Now().Add(10 * time.Second)
	for {
		s, err := b.Inspect(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(s.Peers, func(p engine.PeerInfo) bool { return p.Addr == seeder.ListenAddr() }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("B's peers %v: it did not learn the seeder at %v from A's added6", s.Peers, seeder.ListenAddr())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := readAll(t, b, mt.Info.Files[0], 64<<10); !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
}
