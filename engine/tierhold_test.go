package engine_test

import (
	"bytes"
	"context"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/enginetest"
	"github.com/hyperblow/hyperblow/engine/metainfo"
	"github.com/hyperblow/hyperblow/engine/storage"
)

// slowTier is a disk cache torrent whose write-behind queue is "full" while
// full is set (a disk behind a fast swarm).
type slowTier struct {
	*storage.CacheTorrent
	full atomic.Bool
}

func (s *slowTier) Put(i int, data []byte) bool {
	if s.full.Load() {
		return false
	}
	return s.CacheTorrent.Put(i, data)
}

// A read through a small RAM cache while the disk cache's queue refuses
// pieces (the first 4 MiB of the file) loses none of them: the torrent holds
// what was refused and hands it again once the queue has room, so the disk
// ends with every piece read, and a second read fetches nothing. (With the
// hold off, the pieces mostly survive here anyway: ristretto's admission
// policy keeps the older pieces in 1 MiB of RAM and refuses the newer ones;
// bench/tier's 1 GiB cp through 64 MiB is where they were lost.)
func TestDiskTierSlowDiskLosesNothing(t *testing.T) {
	for _, hold := range []bool{true} {
		data := enginetest.RandomBytes(41, 8<<20)
		mt, all := enginetest.Torrent(t, "slow.bin", 256<<10, []enginetest.File{{Data: data}})
		seeder := enginetest.Seed(t, mt, all)
		dc := openDiskCache(t, t.TempDir())
		st := &slowTier{}
		st.full.Store(true)
		if !hold {
			restore := engine.SetTierHoldBytes(0)
			defer restore()
		}
		c, err := engine.NewClient(engine.Config{Listen: "127.0.0.1:0", CacheSize: 1 << 20, Logger: enginetest.Logger(t)})
		if err != nil {
			t.Fatal(err)
		}
		tor, err := c.AddTorrent(mt, engine.TorrentOptions{NoTrackers: true, Peers: []netip.AddrPort{seeder},
			OpenTier: func(m *metainfo.Torrent, ev storage.Events) (storage.Tier, error) {
				ct, err := dc.Torrent(storage.SpecOf(m.InfoHash, m.Info, ev))
				st.CacheTorrent = ct
				return st, err
			}})
		if err != nil {
			t.Fatal(err)
		}
		r := tor.NewReader(mt.Info.Files[0])
		buf := make([]byte, 128<<10)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		for off := 0; off < len(data); off += len(buf) {
			if off == 4<<20 {
				st.full.Store(false) // the disk catches up
			}
			if _, err := r.ReadAt(ctx, buf, int64(off)); err != nil {
				t.Fatalf("read at %d: %v", off, err)
			}
			if !bytes.Equal(buf, data[off:off+len(buf)]) {
				t.Fatalf("read at %d: bytes differ from the source", off)
			}
		}
		cancel()
		r.Close()
		c.Close() // hands the tier what it still holds, then closes it
		ct, err := dc.Torrent(storage.SpecOf(mt.InfoHash, mt.Info, storage.Events{}))
		if err != nil {
			t.Fatal(err)
		}
		held := ct.Bitfield().Count()
		ct.Close()
		dc.Close()
		if hold && held != mt.Info.NumPieces {
			t.Fatalf("the disk holds %d of the %d pieces read: refused pieces were lost", held, mt.Info.NumPieces)
		}
		t.Logf("hold %v: the disk holds %d of %d pieces", hold, held, mt.Info.NumPieces)
	}
}
