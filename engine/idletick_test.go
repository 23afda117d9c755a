package engine

import (
	"bytes"
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine/metainfo"
	"github.com/hyperblow/hyperblow/engine/wire"
)

// An awake torrent with nothing under way (connected to a seeder, nothing
// read) allocates nothing per owner tick, periodic work included: the
// rechoke (10 s), the optimistic rotation (30 s), PEX (1 min), the redial and
// replacement checks. The ticks are forced on each owner goroutine with a
// clock stepped by quietTickEvery, so the count is per tick, not per second,
// and covers ten simulated minutes.
func TestIdleTickAllocs(t *testing.T) {
	const (
		n     = 20
		warm  = 30  // ticks before counting: the first PEX, rechoke and rotation
		ticks = 120 // counted, per torrent: 10 simulated minutes
	)
	// Two seeders, so that each torrent has peers to tell each other about
	// (PEX) and a choice to make at each rechoke.
	var seeders [2]*Client
	var addrs []netip.AddrPort
	for k := range seeders {
		s, err := NewClient(Config{Listen: "127.0.0.1:0", CacheSize: 8 << 20, NoUTP: true})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		seeders[k] = s
		addrs = append(addrs, s.ListenAddr())
	}
	c, err := NewClient(Config{Listen: "127.0.0.1:0", CacheSize: 8 << 20, NoUTP: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tors := make([]*Torrent, n)
	for i := range tors {
		data := bytes.Repeat([]byte{byte(i), byte(i >> 8), 7}, (40<<10+i)/3)
		raw, err := metainfo.CreateFromFiles("idle.bin", []metainfo.InputFile{metainfo.FileBytes(data)}, metainfo.CreateOptions{PieceLength: 16 << 10})
		if err != nil {
			t.Fatal(err)
		}
		mt, err := metainfo.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range seeders {
			if _, err := s.AddTorrent(mt, TorrentOptions{OpenTier: ReaderTier(bytes.NewReader(data)), UploadOnly: true, NoTrackers: true}); err != nil {
				t.Fatal(err)
			}
		}
		if tors[i], err = c.AddTorrent(mt, TorrentOptions{Peers: addrs, NoTrackers: true}); err != nil {
			t.Fatal(err)
		}
	}
	// Each torrent settles: its seeders connected, bitfield and extension
	// handshake in, interested and unchoked, nothing requested (nothing reads).
	settled := func(tor *Torrent) (ok bool) {
		tor.onOwner(func() {
			if !tor.quiet() || len(tor.peers) != len(seeders) {
				return
			}
			ok = true
			for _, p := range tor.peers {
				ok = ok && p.gotBitfield && p.amInterested && !p.peerChoking && p.ext.M[wire.ExtPex] != 0
			}
		})
		return ok
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, tor := range tors {
		for !settled(tor) {
			if time.Now().After(deadline) {
				t.Fatal("the torrents did not settle (connected, unchoked, nothing under way)")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// One P while counting, as testing.AllocsPerRun does: the owner runs its
	// ticks without yielding, so what the process's other goroutines allocate
	// (connections, the seeders' owners and their dials to each other after
	// PEX) does not fall in the count.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var before, after runtime.MemStats
	counts := make([]uint64, 0, n) // allocations over the counted ticks, per torrent
	var total uint64
	// Each torrent is counted up to three times and its least count kept: an
	// allocation in the tick shows in every attempt, while what another
	// goroutine allocates when it slips in (a seeder dialling back after PEX,
	// the race detector's slow code getting preempted) shows in some only.
	for _, tor := range tors {
		tor.onOwner(func() {
			now := time.Now()
			step := func() {
				now = now.Add(quietTickEvery)
				tor.tick(now)
				if !tor.quiet() {
					t.Errorf("a forced tick put work under way")
				}
			}
			for range warm {
				step()
			}
			least, bytes := uint64(0), uint64(0)
			for attempt := range 3 {
				runtime.ReadMemStats(&before)
				for range ticks {
					step()
				}
				runtime.ReadMemStats(&after)
				if n := after.Mallocs - before.Mallocs; attempt == 0 || n < least {
					least, bytes = n, after.TotalAlloc-before.TotalAlloc
				}
				if least == 0 {
					break
				}
			}
			counts = append(counts, least)
			total += bytes
		})
	}
	slices.Sort(counts)
	median := counts[len(counts)/2]
	t.Logf("%d idle torrents, %d ticks each: allocations per torrent %v (%d bytes in all); median %.3f per tick",
		n, ticks, counts, total, float64(median)/ticks)
	// An allocation in the tick shows in every torrent's count (at least
	// ticks); a goroutine woken by the network that slips into all three
	// attempts of a torrent shows in a few: the median is about 0.
	if float64(median)/ticks > 0.1 {
		t.Fatalf("%.3f allocations per idle tick (median over the torrents), want about 0", float64(median)/ticks)
	}
}
