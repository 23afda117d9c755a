package session

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/enginetest"
	"github.com/hyperblow/hyperblow/engine/storage"
)

// TestSnapshotTiers: a torrent read whole through a session with a disk cache
// shows each tier in its status: its bytes in RAM and on disk, hits per tier,
// the disk writes, and the folder's own figures; /metrics carries them. A
// session with RAM only has no disk object and a tier with disk false.
func TestSnapshotTiers(t *testing.T) {
	data := enginetest.RandomBytes(11, 1<<20+5)
	mt, all := enginetest.Torrent(t, "tiers.bin", 64<<10, []enginetest.File{{Data: data}})
	seeder := enginetest.Seed(t, mt, all)
	for _, disk := range []bool{true, false} {
		name := "ram"
		if disk {
			name = "disk"
		}
		t.Run(name, func(t *testing.T) {
			var dc *storage.DiskCache
			if disk {
				var err error
				dc, err = storage.OpenDiskCache(storage.DiskCacheConfig{Dir: t.TempDir(), MaxBytes: 64 << 20})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { dc.Close() }) // after the session's Close
			}
			s, err := New(Config{Engine: engine.Config{Listen: "127.0.0.1:0", DiskCache: dc}, CacheSize: 8 << 20, Readahead: 1 << 20,
				Peers: []netip.AddrPort{seeder}, NoTrackers: true, Folders: newFakeFolders(), Logger: enginetest.Logger(t)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			if err := s.Add("tiers.torrent", Source{Torrent: mt}); err != nil {
				t.Fatal(err)
			}
			tor := s.Entry(mt.InfoHash).Torrent()
			r := tor.NewReader(mt.Info.Files[0])
			defer r.Close()
			buf := make([]byte, len(data))
			for range 2 { // the second read hits RAM
				if n, err := r.ReadAt(t.Context(), buf, 0); n != len(data) || err != nil {
					t.Fatalf("ReadAt: %d, %v", n, err)
				}
			}
			if dc != nil {
				dc.Flush()
			}
			st := s.Snapshot(t.Context(), SnapshotOptions{})
			ts := st.Torrents[0].Tier
			total := mt.Info.TotalLength
			if ts.RAMBytes != total || ts.RAMHits < int64(mt.Info.NumPieces) || ts.Disk != disk {
				t.Errorf("tier %+v: want ram_bytes %d, ram_hits >= %d, disk %v", ts, total, mt.Info.NumPieces, disk)
			}
			var b strings.Builder
			if err := WriteMetrics(&b, st); err != nil || !strings.Contains(b.String(), "\nhyperblow_ram_hits_total{") {
				t.Errorf("metrics: %v\n%s", err, b.String())
			}
			if !disk {
				if st.Disk != nil || ts.DiskBytes != 0 || ts.DiskWrites != 0 {
					t.Errorf("RAM only: disk %+v, tier %+v", st.Disk, ts)
				}
				return
			}
			if ts.DiskBytes != total || ts.DiskWrites != int64(mt.Info.NumPieces) || ts.DiskDegraded || ts.Advertised != mt.Info.NumPieces {
				t.Errorf("tier %+v: want disk_bytes %d, disk_writes %d, advertised %d, not degraded", ts, total, mt.Info.NumPieces, mt.Info.NumPieces)
			}
			if d := st.Disk; d == nil || d.MaxBytes != 64<<20 || d.Writes != int64(mt.Info.NumPieces) || d.HeldBytes < total {
				t.Errorf("disk: %+v; want max %d, %d writes, at least %d bytes held", d, 64<<20, mt.Info.NumPieces, total)
			}
			want := "hyperblow_disk_writes_total{torrent=\"tiers.bin\",info_hash=\"" + mt.InfoHash.String() + "\"} 17\n"
			if !strings.Contains(b.String(), want) {
				t.Errorf("metrics lack %q:\n%s", want, b.String())
			}
		})
	}
}
