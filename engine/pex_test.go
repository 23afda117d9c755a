package engine_test

import (
	"bytes"
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
