package engine_test

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/enginetest"
	"github.com/hyperblow/hyperblow/engine/metainfo"
	"github.com/hyperblow/hyperblow/engine/wire"
)

// testIdle is the idle time of the sleep tests: short, so that a torrent falls
// asleep as soon as a test stops reading; the tests wait for the state change.
const testIdle = 50 * time.Millisecond

// waitState waits for tor to reach state s (on StateChanged, not on a clock).
func waitState(t *testing.T, tor *engine.Torrent, s engine.TorrentState) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		ch := tor.StateChanged()
		if tor.State() == s {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("state %v, want %v", tor.State(), s)
		}
	}
}

// waitGoroutines waits until the process has at most n goroutines
// (connections end a moment after they report closed).
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := runtime.NumGoroutine(); got > n {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines, want at most %d:\n%s", got, n, buf[:runtime.Stack(buf, true)])
	}
}

// sleepy starts a seeder and a client with testIdle (listening on loopback)
// and returns them with the goroutine count before the torrent is added.
func sleepy(t *testing.T, seed byte, size int) (mt *metainfo.Torrent, data []byte, seeder netip.AddrPort, c *engine.Client, base int) {
	t.Helper()
	data = enginetest.RandomBytes(seed, size)
	mt, all := enginetest.Torrent(t, "idle.bin", 64<<10, []enginetest.File{{Data: data}})
	seeder = enginetest.Seed(t, mt, all)
	c, err := engine.NewClient(engine.Config{Listen: "127.0.0.1:0", CacheSize: 16 << 20, Idle: testIdle, Logger: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return mt, data, seeder, c, runtime.NumGoroutine()
}

// A torrent nothing reads falls asleep: its connections close and its
// goroutines end (the process is back to what it had before the torrent was
// added). A read wakes it and returns the right bytes; once it sleeps again, a
// read of pieces still in the RAM cache is served from there.
func TestIdleSleepClosesAndReadWakes(t *testing.T) {
	mt, data, seeder, c, base := sleepy(t, 40, 1<<20)
	tor, err := c.AddTorrent(mt, engine.TorrentOptions{Peers: []netip.AddrPort{seeder}, NoTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	f := mt.Info.Files[0]
	if got := readAll(t, tor, f, 64<<10); !bytes.Equal(got, data) {
		t.Fatal("content differs before the sleep")
	}
	if c.Conns() == 0 || runtime.NumGoroutine() < base+3 {
		t.Fatalf("awake: %d connections, %d goroutines (base %d): want the seeder's connection and the torrent's goroutines", c.Conns(), runtime.NumGoroutine(), base)
	}
	waitState(t, tor, engine.StateSleeping)
	if n := c.Conns(); n != 0 {
		t.Fatalf("asleep with %d connections open", n)
	}
	if n := tor.Stats().Peers; n != 0 {
		t.Fatalf("asleep with %d peers", n)
	}
	if c.Sleeping() != 1 {
		t.Fatalf("Sleeping() = %d, want 1", c.Sleeping())
	}
	waitGoroutines(t, base)

	// The pieces are in the cache: served without a byte from the swarm.
	down := tor.Stats().Downloaded
	if got := readAll(t, tor, f, 64<<10); !bytes.Equal(got, data) {
		t.Fatal("content differs after the sleep")
	}
	if d := tor.Stats().Downloaded; d != down {
		t.Fatalf("downloaded %d more bytes for pieces in the cache", d-down)
	}
}

// A read of a piece the torrent does not hold wakes it: the swarm is dialled
// again and the read returns the right bytes.
func TestIdleReadWakesAndFetches(t *testing.T) {
	mt, data, seeder, c, _ := sleepy(t, 41, 1<<20)
	tor, err := c.AddTorrent(mt, engine.TorrentOptions{Peers: []netip.AddrPort{seeder}, NoTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, tor, engine.StateSleeping) // nothing read since it started
	if n := tor.Stats().PiecesHave; n != 0 {
		t.Fatalf("asleep with %d pieces", n)
	}
	r := tor.NewReader(mt.Info.Files[0])
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	buf := make([]byte, 100<<10)
	off := int64(len(data) / 2)
	n, err := r.ReadAt(ctx, buf, off)
	if err != nil || n != len(buf) {
		t.Fatalf("ReadAt: %d, %v", n, err)
	}
	if !bytes.Equal(buf, data[off:off+int64(n)]) {
		t.Fatal("bytes differ after waking")
	}
	if tor.Stats().Dials < 2 {
		t.Fatalf("%d dials: the wake did not dial the peer again", tor.Stats().Dials)
	}
}

// Removing a sleeping torrent, and closing a client with one asleep, end
// cleanly: no hang, no goroutine left, and a read after it fails with
// ErrClosed.
func TestIdleRemoveAndCloseWhileAsleep(t *testing.T) {
	mt, _, seeder, c, base := sleepy(t, 42, 256<<10)
	tor, err := c.AddTorrent(mt, engine.TorrentOptions{Peers: []netip.AddrPort{seeder}, NoTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, tor, engine.StateSleeping)
	r := tor.NewReader(mt.Info.Files[0]) // wakes it; a reader open across the sleep
	waitState(t, tor, engine.StateSleeping)
	done := make(chan struct{})
	go func() {
		c.RemoveTorrent(tor)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("RemoveTorrent of a sleeping torrent hangs")
	}
	if _, err := r.ReadAt(context.Background(), make([]byte, 10), 0); !errors.Is(err, engine.ErrClosed) {
		t.Fatalf("read after removal: %v, want ErrClosed", err)
	}
	r.Close()

	waitGoroutines(t, base)

	mt2, _ := enginetest.Torrent(t, "two.bin", 64<<10, []enginetest.File{{Data: enginetest.RandomBytes(43, 100<<10)}})
	tor2, err := c.AddTorrent(mt2, engine.TorrentOptions{NoTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, tor2, engine.StateSleeping)
	done2 := make(chan struct{})
	go func() {
		c.Close()
		close(done2)
	}()
	select {
	case <-done2:
	case <-time.After(30 * time.Second):
		t.Fatal("Close with a sleeping torrent hangs")
	}
	// The client's own goroutines are gone too; the seeder's remain.
	waitGoroutines(t, base-1)
}

// A NoSleep torrent, and every torrent of a client with Idle 0, stay awake:
// checked once a sleepy torrent started at the same time has fallen asleep
// twice (the idle loop has looked at them all since their idle time ended).
func TestIdleNoSleepAndZeroStayAwake(t *testing.T) {
	mt, _, seeder, c, _ := sleepy(t, 44, 256<<10)
	mtKeep, _ := enginetest.Torrent(t, "keep.bin", 64<<10, []enginetest.File{{Data: enginetest.RandomBytes(45, 100<<10)}})
	keep, err := c.AddTorrent(mtKeep, engine.TorrentOptions{NoTrackers: true, NoSleep: true})
	if err != nil {
		t.Fatal(err)
	}
	c0, tor0 := enginetest.Leecher(t, mt, engine.Config{Idle: 0}, seeder)
	_ = c0
	keepChanged, zeroChanged := keep.StateChanged(), tor0.StateChanged()
	clock, err := c.AddTorrent(mt, engine.TorrentOptions{Peers: []netip.AddrPort{seeder}, NoTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, clock, engine.StateSleeping)
	r := clock.NewReader(mt.Info.Files[0]) // wakes it
	r.Close()
	waitState(t, clock, engine.StateSleeping)
	select {
	case <-keepChanged:
		t.Fatalf("the NoSleep torrent changed state to %v", keep.State())
	case <-zeroChanged:
		t.Fatalf("a torrent of a client with Idle 0 changed state to %v", tor0.State())
	default:
	}
	if s := keep.State(); s == engine.StateSleeping {
		t.Fatal("the NoSleep torrent sleeps")
	}
	if s := tor0.State(); s == engine.StateSleeping {
		t.Fatal("the Idle 0 torrent sleeps")
	}
}

// An incoming connection for a sleeping torrent is refused (closed after the
// handshake) and does not wake it: a sleeping torrent told its trackers
// "stopped", and no remote may keep a torrent awake by connecting.
func TestIdleIncomingRefusedWhileAsleep(t *testing.T) {
	mt, _, _, c, _ := sleepy(t, 46, 256<<10)
	tor, err := c.AddTorrent(mt, engine.TorrentOptions{NoTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, tor, engine.StateSleeping)
	changed := tor.StateChanged()
	fp := enginetest.DialFake(t, c.ListenAddr(), mt, wire.Reserved{}.WithFast().WithExtended())
	if !fp.WaitClosed(20 * time.Second) {
		t.Fatal("the connection to a sleeping torrent was not closed")
	}
	select {
	case <-changed:
		t.Fatalf("an incoming connection changed the state to %v", tor.State())
	default:
	}
	if n := tor.Stats().Peers; n != 0 {
		t.Fatalf("%d peers", n)
	}
}

// 200 torrents that nothing reads, each connected to a seeder, all fall
// asleep, and the process is left with no goroutine per torrent: goroutines
// grow with the awake torrents only (issue 12 counted 616 for 200 idle
// torrents, 3 per torrent).
func TestIdleManyTorrentsGoroutines(t *testing.T) {
	const n = 200
	seeder, err := engine.NewClient(engine.Config{Listen: "127.0.0.1:0", CacheSize: 8 << 20, NoUTP: true, Logger: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seeder.Close() })
	mts := make([]*metainfo.Torrent, n)
	for i := range mts {
		data := enginetest.RandomBytes(byte(i), 20<<10+i)
		mt, all := enginetest.Torrent(t, "many.bin", 16<<10, []enginetest.File{{Data: data}})
		if _, err := seeder.AddTorrent(mt, engine.TorrentOptions{OpenTier: engine.ReaderTier(bytes.NewReader(all)), UploadOnly: true, NoTrackers: true}); err != nil {
			t.Fatal(err)
		}
		mts[i] = mt
	}
	// The seeder's torrents never sleep (its Idle is 0): base counts them.
	c, err := engine.NewClient(engine.Config{CacheSize: 8 << 20, NoUTP: true, Idle: testIdle, Logger: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	base := runtime.NumGoroutine()
	tors := make([]*engine.Torrent, n)
	for i, mt := range mts {
		if tors[i], err = c.AddTorrent(mt, engine.TorrentOptions{Peers: []netip.AddrPort{seeder.ListenAddr()}, NoTrackers: true}); err != nil {
			t.Fatal(err)
		}
	}
	awake := runtime.NumGoroutine()
	for _, tor := range tors {
		waitState(t, tor, engine.StateSleeping)
	}
	if n := c.Conns(); n != 0 {
		t.Fatalf("%d connections with every torrent asleep", n)
	}
	waitGoroutines(t, base)
	t.Logf("%d torrents: %d goroutines before they were added, %d just after, %d with all asleep", n, base, awake, runtime.NumGoroutine())

	// One read wakes one torrent: a few goroutines more, not n.
	tor := tors[7]
	if got := readAll(t, tor, mts[7].Info.Files[0], 4096); len(got) != int(mts[7].Info.TotalLength) {
		t.Fatalf("read %d bytes", len(got))
	}
	waitState(t, tor, engine.StateSleeping)
	waitGoroutines(t, base)
}
