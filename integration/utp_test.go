package integration

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// seedLibtorrentUTP seeds tor with python3-libtorrent with TCP off both ways
// (uTP only) and returns its peer address: a UDP port, on which nothing but
// uTP reaches it.
func seedLibtorrentUTP(t testing.TB, tor *Torrent) string {
	t.Helper()
	requireLibtorrent(t)
	p := startProc(t, "libtorrent-seed-utp", procOpts{},
		python(), ltHelper(t), "seed", "--port", "0", "--utp-only", tor.Path, tor.SaveDir)
	line := p.waitStdout(t, "READY ", 150*time.Second)
	port, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "READY ")))
	if err != nil {
		t.Fatalf("libtorrent seeder: bad READY line %q", line)
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// TestUTPMountFromLibtorrent: a mount reads a 64 MiB file byte for byte (cmp)
// from a libtorrent seeder that speaks only uTP. The control, --no-utp, reads
// nothing from it and fails within its --read-timeout.
func TestUTPMountFromLibtorrent(t *testing.T) {
	buildBinary(t)
	requireTool(t, "cmp")
	data := sharedData(t)
	tor := makeTorrent(t, data.Big, nil, 256<<10)
	addr := seedLibtorrentUTP(t, tor)
	t.Run("no-utp fails", func(t *testing.T) {
		m := mount(t, "--no-utp", "--read-timeout", "3s", "--peer", addr, tor.Path)
		r := run(t, time.Minute, procOpts{}, "head", "-c", "1", filepath.Join(m.Dir, filepath.Base(data.Big)))
		if r.code == 0 {
			t.Errorf("read %q from a uTP-only seeder with --no-utp", r.stdout)
		}
		m.Unmount(t)
	})
	t.Run("utp", func(t *testing.T) {
		m := mount(t, "-v", "--read-timeout", "60s", "--peer", addr, tor.Path)
		start := time.Now()
		r := run(t, 3*time.Minute, procOpts{}, "cmp", data.Big, filepath.Join(m.Dir, filepath.Base(data.Big)))
		if r.code != 0 {
			t.Fatalf("cmp of the mounted file with its source: %v\nhyperblow stderr:\n%s", r, tail(m.Stderr(), 4000))
		}
		t.Logf("read %d bytes over uTP in %v", tor.Info.TotalLength, time.Since(start).Round(time.Millisecond))
		m.Unmount(t)
	})
}

// TestUTPSeedToLibtorrent: a libtorrent leecher that speaks only uTP
// downloads a torrent completely from `hyperblow seed`. The control, a seeder
// with --no-utp, gets nothing to it.
func TestUTPSeedToLibtorrent(t *testing.T) {
	buildBinary(t)
	data := sharedData(t)
	tor := makeTorrent(t, data.Tree, nil, 32<<10)
	t.Run("no-utp fails", func(t *testing.T) {
		requireLibtorrent(t)
		s := startSeed(t, "--no-utp", tor.Path, tor.Data)
		r := run(t, time.Minute, procOpts{}, python(), ltHelper(t), "get", "--timeout", "5",
			"--utp-only", "--peer", s.Addr, tor.Path, t.TempDir())
		if r.code == 0 {
			t.Errorf("a uTP-only libtorrent downloaded from a seeder with --no-utp: %v", r)
		}
		s.Stop(t)
	})
	t.Run("utp", func(t *testing.T) {
		requireLibtorrent(t)
		s := startSeed(t, tor.Path, tor.Data)
		out := t.TempDir()
		start := time.Now()
		r := run(t, 3*time.Minute, procOpts{}, python(), ltHelper(t), "get", "--timeout", "90",
			"--utp-only", "--peer", s.Addr, tor.Path, out)
		if r.code != 0 || !strings.Contains(r.stdout, "DONE ") {
			t.Fatalf("uTP-only libtorrent download of %s: %v\n--- seeder stderr:\n%s", tor.Path, r, tail(s.p.Stderr.String(), 4000))
		}
		t.Logf("libtorrent downloaded %d bytes over uTP in %v", tor.Info.TotalLength, time.Since(start).Round(time.Millisecond))
		_, want := sourceTree(t, tor)
		compareHashes(t, "libtorrent download", want, downloaded(t, tor, out))
		s.Stop(t)
	})
}

// udpRelay forwards the datagrams of one client to target and the replies
// back, counting the bytes toward target: a peer reached through it is
// reached over UDP (uTP) only, since nothing listens for TCP on its port.
type udpRelay struct {
	Addr string
	up   atomic.Int64 // bytes forwarded to target
}

func startUDPRelay(t testing.TB, target string) *udpRelay {
	t.Helper()
	front, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	back, err := net.Dial("udp", target)
	if err != nil {
		t.Fatal(err)
	}
	r := &udpRelay{Addr: front.LocalAddr().String()}
	var client atomic.Pointer[net.Addr]
	done := make(chan struct{}, 2)
	go func() {
		defer func() { done <- struct{}{} }()
		buf := make([]byte, 64<<10)
		for {
			n, from, err := front.ReadFrom(buf)
			if err != nil {
				return
			}
			client.Store(&from)
			if m, err := back.Write(buf[:n]); err == nil {
				r.up.Add(int64(m))
			}
		}
	}()
	go func() {
		defer func() { done <- struct{}{} }()
		buf := make([]byte, 64<<10)
		for {
			n, err := back.Read(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue // ICMP port unreachable from target: not fatal
			}
			if c := client.Load(); c != nil {
				front.WriteTo(buf[:n], *c)
			}
		}
	}()
	t.Cleanup(func() { front.Close(); back.Close(); <-done; <-done })
	return r
}

// TestUTPSeedToTransmission: transmission-cli (libutp, the reference uTP)
// downloads a torrent (one 100 kB file) completely from `hyperblow seed`, which reaches it
// through a UDP-only relay: over uTP. The relay counts the bytes that went
// through it.
func TestUTPSeedToTransmission(t *testing.T) {
	t.Parallel() // transmission-cli takes ~15 s to ask for its first piece, over TCP too
	buildBinary(t)
	requireTool(t, "transmission-cli")
	data := sharedData(t)
	tor := makeTorrent(t, filepath.Join(data.Tree, "a", "b", "odd.bin"), nil, 16<<10)
	out := t.TempDir()
	tm := startTransmissionWith(t, tor.Path, out, true)
	relay := startUDPRelay(t, tm.Addr)
	s := startSeed(t, "--peer", relay.Addr, tor.Path, tor.Data)
	start := time.Now()
	tm.WaitFinished(t, 2*time.Minute)
	t.Logf("transmission-cli downloaded %d bytes over uTP in %v", tor.Info.TotalLength, time.Since(start).Round(time.Millisecond))
	tm.Stop(t)
	_, want := sourceTree(t, tor)
	compareHashes(t, "transmission-cli download", withoutEmpty(want), withoutEmpty(downloaded(t, tor, out)))
	s.Stop(t)
	if up := relay.up.Load(); up < tor.Info.TotalLength {
		t.Errorf("%d bytes went through the UDP relay, fewer than the torrent's %d: not over uTP", up, tor.Info.TotalLength)
	}
}
