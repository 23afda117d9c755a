package engine_test

import (
	"bytes"
	"context"
	"net/netip"
	"testing"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/enginetest"
)

// BenchmarkHashPipeline verifies 64 MiB of seeding data: SHA-1 over every
// piece on all hashing slots (GOMAXPROCS), the path every downloaded piece takes
// too. Compare its MB/s with one core's SHA-1 speed times the cores.
func BenchmarkHashPipeline(b *testing.B) {
	data := enginetest.RandomBytes(30, 64<<20)
	mt, all := enginetest.Torrent(b, "h.bin", 256<<10, []enginetest.File{{Data: data}})
	b.SetBytes(int64(len(all)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, err := engine.NewClient(engine.Config{CacheSize: 4 << 20})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.AddTorrent(mt, engine.TorrentOptions{OpenTier: engine.ReaderTier(bytes.NewReader(all)), UploadOnly: true, NoTrackers: true}); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

// BenchmarkDownloadLoopback reads a 32 MiB file through the engine from an
// in-process seeder on 127.0.0.1: wire, picker, assembly, hashing and the
// read path together, without FUSE.
func BenchmarkDownloadLoopback(b *testing.B) {
	data := enginetest.RandomBytes(31, 32<<20)
	mt, all := enginetest.Torrent(b, "d.bin", 256<<10, []enginetest.File{{Data: data}})
	seeder := enginetest.Seed(b, mt, all)
	b.SetBytes(int64(len(data)))
	buf := make([]byte, 1<<20)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, err := engine.NewClient(engine.Config{CacheSize: 64 << 20})
		if err != nil {
			b.Fatal(err)
		}
		tor, err := c.AddTorrent(mt, engine.TorrentOptions{Peers: enginetestPeers(seeder), NoTrackers: true})
		if err != nil {
			b.Fatal(err)
		}
		r := tor.NewReader(mt.Info.Files[0])
		for off := int64(0); off < int64(len(data)); off += int64(len(buf)) {
			if _, err := r.ReadAt(context.Background(), buf, off); err != nil {
				b.Fatal(err)
			}
		}
		r.Close()
		c.Close()
	}
}

func enginetestPeers(a netip.AddrPort) []netip.AddrPort { return []netip.AddrPort{a} }
