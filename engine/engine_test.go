package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/enginetest"
	"github.com/hyperblow/hyperblow/engine/metainfo"
)

func readAll(t *testing.T, tor *engine.Torrent, f metainfo.File, chunk int) []byte {
	t.Helper()
	r := tor.NewReader(f)
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := make([]byte, 0, f.Length)
	buf := make([]byte, chunk)
	for off := int64(0); ; {
		n, err := r.ReadAt(ctx, buf, off)
		out = append(out, buf[:n]...)
		off += int64(n)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("%v: ReadAt(%d): %v", f.Path, off, err)
		}
	}
}

func TestReadSingleFileFromSeeder(t *testing.T) {
	data := enginetest.RandomBytes(1, 5<<20+12345)
	mt, all := enginetest.Torrent(t, "single.bin", 256<<10, []enginetest.File{{Data: data}})
	seeder := enginetest.Seed(t, mt, all)
	_, tor := enginetest.Leecher(t, mt, engine.Config{}, seeder)
	got := readAll(t, tor, mt.Info.Files[0], 128<<10)
	if !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, differing from the source", len(got))
	}
	st := tor.Stats()
	if st.ServedToReaders != int64(len(data)) {
		t.Fatalf("served %d, want %d", st.ServedToReaders, len(data))
	}
	if st.Downloaded < int64(len(data)) {
		t.Fatalf("downloaded %d < file size %d", st.Downloaded, len(data))
	}
}

func TestReadMultiFileRandomOffsets(t *testing.T) {
	files := []enginetest.File{
		{Path: []string{"a", "one.bin"}, Data: enginetest.RandomBytes(2, 1)},
		{Path: []string{"a", "empty"}, Data: []byte{}},
		{Path: []string{"b", "c", "odd.bin"}, Data: enginetest.RandomBytes(3, 16385)},
		{Path: []string{"big.bin"}, Data: enginetest.RandomBytes(4, 3<<20+7)},
	}
	mt, all := enginetest.Torrent(t, "multi", 32<<10, files)
	seeder := enginetest.Seed(t, mt, all)
	_, tor := enginetest.Leecher(t, mt, engine.Config{}, seeder)
	byPath := map[string][]byte{}
	for _, f := range files {
		byPath[join(f.Path)] = f.Data
	}
	rng := rand.New(rand.NewPCG(1, 2))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, f := range mt.Info.VisibleFiles() {
		want := byPath[join(f.Path)]
		if got := readAll(t, tor, f, 1000); !bytes.Equal(got, want) {
			t.Fatalf("%v: content differs (%d vs %d bytes)", f.Path, len(got), len(want))
		}
		if f.Length == 0 {
			continue
		}
		r := tor.NewReader(f)
		for k := 0; k < 20; k++ {
			off := rng.Int64N(f.Length)
			buf := make([]byte, 1+rng.IntN(70000))
			n, err := r.ReadAt(ctx, buf, off)
			wantN := min(int64(len(buf)), f.Length-off)
			if int64(n) != wantN || (err != nil && err != io.EOF) {
				t.Fatalf("%v: ReadAt(%d, %d) = %d, %v; want %d bytes", f.Path, off, len(buf), n, err, wantN)
			}
			if !bytes.Equal(buf[:n], want[off:off+int64(n)]) {
				t.Fatalf("%v: bytes at %d differ", f.Path, off)
			}
		}
		r.Close()
	}
}

func join(p []string) string {
	s := ""
	for i, c := range p {
		if i > 0 {
			s += "/"
		}
		s += c
	}
	return s
}

// A read whose data cannot come blocks, and returns promptly when its context
// is cancelled (the FUSE interrupt).
func TestInterruptedReadReturnsPromptly(t *testing.T) {
	data := enginetest.RandomBytes(5, 1<<20)
	mt, all := enginetest.Torrent(t, "x.bin", 64<<10, []enginetest.File{{Data: data}})
	silent := enginetest.StartBadPeer(t, mt, all, true)
	_, tor := enginetest.Leecher(t, mt, engine.Config{}, silent.Addr)
	r := tor.NewReader(mt.Info.Files[0])
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := r.ReadAt(ctx, make([]byte, 4096), 0)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("read returned %v without data", err)
	case <-time.After(300 * time.Millisecond):
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("interrupted read: %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second): // a bound on a hang
		t.Fatal("interrupted read did not return")
	}
}

// Closing the client releases blocked readers with ErrClosed.
func TestCloseReleasesReaders(t *testing.T) {
	data := enginetest.RandomBytes(6, 1<<20)
	mt, _ := enginetest.Torrent(t, "x.bin", 64<<10, []enginetest.File{{Data: data}})
	c, tor := enginetest.Leecher(t, mt, engine.Config{})
	r := tor.NewReader(mt.Info.Files[0])
	done := make(chan error, 1)
	go func() {
		_, err := r.ReadAt(context.Background(), make([]byte, 10), 0)
		done <- err
	}()
	// Close once the read waits for its piece (no peer can bring it).
	for deadline := time.Now().Add(10 * time.Second); tor.Stats().PiecesWanted == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the read never waited for its piece")
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, engine.ErrClosed) {
			t.Fatalf("read after Close: %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not release the reader")
	}
}

// Corrupt data from one peer never reaches a reader: its pieces fail the hash,
// are fetched again from the honest seeder, and the bad peer is dropped.
func TestCorruptPeerNeverServes(t *testing.T) {
	data := enginetest.RandomBytes(7, 2<<20)
	mt, all := enginetest.Torrent(t, "x.bin", 64<<10, []enginetest.File{{Data: data}})
	bad := enginetest.StartBadPeer(t, mt, all, false)
	_, tor := enginetest.Leecher(t, mt, engine.Config{}, bad.Addr)
	// First only the bad peer: its pieces fail.
	r := tor.NewReader(mt.Info.Files[0])
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_, err := r.ReadAt(ctx, make([]byte, 100), 0)
	cancel()
	r.Close()
	if err == nil {
		t.Fatal("read succeeded with only a corrupting peer")
	}
	if tor.Stats().HashFailures == 0 {
		t.Fatal("no hash failures counted")
	}
	good := enginetest.Seed(t, mt, all)
	tor.AddPeers(nil)
	tor.AddPeers(append([]netip.AddrPort{}, good))
	if got := readAll(t, tor, mt.Info.Files[0], 256<<10); !bytes.Equal(got, data) {
		t.Fatal("content differs with a corrupting peer present")
	}
	if st := tor.Stats(); st.PeersBanned != 1 {
		t.Fatalf("banned %d peers, want the corrupting one", st.PeersBanned)
	}
	if n := bad.Conns.Load(); n != 1 {
		t.Fatalf("the banned peer was connected %d times, want 1", n)
	}
}

func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		data := enginetest.RandomBytes(8, 1<<20)
		mt, all := enginetest.Torrent(t, "x.bin", 64<<10, []enginetest.File{{Data: data}})
		seeder, err := engine.NewClient(engine.Config{Listen: "127.0.0.1:0", CacheSize: 4 << 20})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := seeder.AddTorrent(mt, engine.TorrentOptions{OpenTier: engine.ReaderTier(bytes.NewReader(all)), UploadOnly: true, NoTrackers: true}); err != nil {
			t.Fatal(err)
		}
		leech, err := engine.NewClient(engine.Config{CacheSize: 4 << 20})
		if err != nil {
			t.Fatal(err)
		}
		tor, err := leech.AddTorrent(mt, engine.TorrentOptions{Peers: []netip.AddrPort{seeder.ListenAddr()}, NoTrackers: true})
		if err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, tor, mt.Info.Files[0], 64<<10); !bytes.Equal(got, data) {
			t.Fatal("content differs")
		}
		leech.Close()
		seeder.Close()
	}()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

// A reader interrupted again and again (a Go program reading the mount is
// interrupted by its own runtime and retries) is not starved: each interrupt
// withdraws its wait but keeps what is in flight, so the retries finish.
func TestRepeatedInterruptsDoNotStarve(t *testing.T) {
	data := enginetest.RandomBytes(21, 8<<20)
	mt, all := enginetest.Torrent(t, "slow.bin", 256<<10, []enginetest.File{{Data: data}})
	seeder, err := engine.NewClient(engine.Config{Listen: "127.0.0.1:0", CacheSize: 16 << 20, MaxUploadRate: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer seeder.Close()
	if _, err := seeder.AddTorrent(mt, engine.TorrentOptions{OpenTier: engine.ReaderTier(bytes.NewReader(all)), UploadOnly: true, NoTrackers: true}); err != nil {
		t.Fatal(err)
	}
	_, tor := enginetest.Leecher(t, mt, engine.Config{}, seeder.ListenAddr())
	r := tor.NewReader(mt.Info.Files[0])
	defer r.Close()
	buf := make([]byte, 64<<10)
	interrupts := 0
	// Read 2 MiB from 2 MiB on, 64 KiB at a time, each attempt interrupted after
	// 20 ms: at 1 MiB/s most attempts are interrupted, and every retry must
	// find the progress of the ones before.
	for off := int64(2 << 20); off < 4<<20; {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		n, err := r.ReadAt(ctx, buf, off)
		cancel()
		if err == nil {
			if !bytes.Equal(buf[:n], data[off:off+int64(n)]) {
				t.Fatal("content differs")
			}
			off += int64(n)
			continue
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("read: %v", err)
		}
		interrupts++
		if interrupts > 3000 { // a minute of 20 ms attempts
			t.Fatalf("still reading after %d interrupted reads: the retries are starved", interrupts)
		}
	}
	if interrupts == 0 {
		t.Fatal("the read was never interrupted: the test did not test anything")
	}
	t.Logf("done after %d interrupts", interrupts)
}

// RemoveTorrent racing Close neither panics nor blocks: Close waits for the
// removal before closing the cache, and a removal after Close does nothing.
func TestRemoveTorrentDuringClose(t *testing.T) {
	for i := 0; i < 20; i++ {
		mt, _ := enginetest.Torrent(t, fmt.Sprintf("rm-%d.bin", i), 16<<10, []enginetest.File{{Data: enginetest.RandomBytes(byte(i), 64<<10)}})
		c, err := engine.NewClient(engine.Config{Listen: "127.0.0.1:0", CacheSize: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		tor, err := c.AddTorrent(mt, engine.TorrentOptions{NoTrackers: true})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { c.RemoveTorrent(tor); close(done) }()
		c.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("RemoveTorrent did not return")
		}
		c.RemoveTorrent(tor) // after Close: nothing
	}
}
