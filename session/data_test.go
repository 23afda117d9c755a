package session

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/enginetest"
)

// With Config.DataDir each torrent of the set keeps its pieces in DIR/NAME:
// a read lands in the file, and a second torrent of the same name (other
// content) runs without a data tier rather than share the first one's file.
func TestDataDir(t *testing.T) {
	a := enginetest.RandomBytes(41, 200<<10)
	b := enginetest.RandomBytes(42, 200<<10)
	mtA, _ := enginetest.Torrent(t, "same.bin", 16<<10, []enginetest.File{{Data: a}})
	mtB, _ := enginetest.Torrent(t, "same.bin", 16<<10, []enginetest.File{{Data: b}})
	dir := t.TempDir()
	s, err := New(Config{Engine: engine.Config{Listen: "127.0.0.1:0"}, CacheSize: 8 << 20, Readahead: 1 << 20,
		NoTrackers: true, DataDir: dir, Logger: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Add("a", Source{Torrent: mtA}); err != nil {
		t.Fatal(err)
	}
	if err := s.Add("b", Source{Torrent: mtB}); err != nil {
		t.Fatal(err)
	}
	ta, tb := s.Entry(mtA.InfoHash).Torrent(), s.Entry(mtB.InfoHash).Torrent()
	if !ta.Stats().Tier.HasDisk || tb.Stats().Tier.HasDisk {
		t.Fatalf("data tiers: first %v, second %v; want the first only (same name)", ta.Stats().Tier.HasDisk, tb.Stats().Tier.HasDisk)
	}
	ta.AddPeers([]netip.AddrPort{enginetest.Seed(t, mtA, a)})
	r := ta.NewReader(mtA.Info.Files[0])
	got := make([]byte, len(a))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := r.ReadAt(ctx, got, 0); err != nil {
		t.Fatal(err)
	}
	r.Close()
	s.Close() // the Layout's queue is written
	if f, err := os.ReadFile(filepath.Join(dir, "same.bin")); err != nil || !bytes.Equal(f, a) {
		t.Fatalf("DIR/NAME after a whole read: %v; want the first torrent's bytes", err)
	}
}
