package integration

import (
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fileSum is the SHA-256 of a whole file, read as a stream.
func fileSum(t testing.TB, path string) [32]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	return [32]byte(h.Sum(nil))
}

// TestDataDirRemountAndCorruption: `mount --data DIR` keeps the torrent's own
// file, DIR/NAME, complete and usable outside Hyperblow after a whole read.
// A byte changed in it behind our back costs exactly the piece it breaks on
// the next mount, and the mount serves the right bytes; a remount with no
// peer at all serves the whole file from DIR and fetches 0 bytes.
func TestDataDirRemountAndCorruption(t *testing.T) {
	buildBinary(t)
	data := sharedData(t)
	const pieceLen = 256 << 10
	tor := makeTorrent(t, data.Big, nil, pieceLen)
	seeder := seedLibtorrent(t, tor)
	dir := filepath.Join(t.TempDir(), "data")
	size := tor.Info.TotalLength
	want := sha256Range(t, tor.Data, 0, size)
	name := filepath.Base(tor.Data)
	onDisk := filepath.Join(dir, name)

	m := mount(t, "--data", dir, "--cache-size", "32MiB", "--peer", seeder, tor.Path)
	if got := sha256Range(t, filepath.Join(m.Dir, name), 0, size); got != want {
		t.Fatal("first mount: bytes differ from the source")
	}
	m.Unmount(t)
	if got := fileSum(t, onDisk); got != want {
		t.Fatalf("%s after a whole read and unmount: not the torrent's file", onDisk)
	}

	// One byte changed behind our back, in piece 100.
	const pos = 100*pieceLen + 12345
	flipByte(t, onDisk, pos)
	m2 := mount(t, "--data", dir, "--cache-size", "32MiB", "--peer", seeder, tor.Path)
	if got := sha256Range(t, filepath.Join(m2.Dir, name), 0, size); got != want {
		t.Fatal("mount over a corrupted file: bytes differ from the source")
	}
	m2.Unmount(t)
	stopped := logCounts(t, m2.Stderr(), "stopped")
	t.Logf("after a flipped byte: %v", stopped)
	if d := stopped["downloaded"]; d < pieceLen || d > 2*pieceLen {
		t.Fatalf("the mount over a file with one bad piece downloaded %d bytes; want the one piece (%d)", d, pieceLen)
	}
	if got := fileSum(t, onDisk); got != want {
		t.Fatalf("%s: the bad piece was not written back", onDisk)
	}

	m3 := mount(t, "--data", dir, "--cache-size", "32MiB", "--read-timeout", "20s", tor.Path) // no peer: a piece not in DIR fails the read
	if got := sha256Range(t, filepath.Join(m3.Dir, name), 0, size); got != want {
		t.Fatal("remount: bytes differ from the source")
	}
	m3.Unmount(t)
	if d := logCounts(t, m3.Stderr(), "stopped")["downloaded"]; d != 0 {
		t.Fatalf("remount with --data downloaded %d bytes; want 0", d)
	}
}

// tmpfs mounts a tmpfs of the given size (mount(8) syntax: "8m") on a new
// temporary folder, unmounted when the test ends (after anything registered
// later, such as a mount writing into it, has stopped).
func tmpfs(t *testing.T, size string) string {
	t.Helper()
	requireRoot(t)
	dir := t.TempDir()
	mustRun(t, 30*time.Second, "mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir)
	t.Cleanup(func() {
		if r := run(t, 30*time.Second, procOpts{}, "umount", dir); r.code != 0 {
			run(t, 30*time.Second, procOpts{}, "umount", "-l", dir)
			t.Errorf("umount %s: %v", dir, r)
		}
	})
	return dir
}

// TestDataDirFullDisk: --data on a tmpfs of 8 MiB for a 64 MiB torrent. The
// mount says the writes stopped (no space left) and still serves every byte
// right, from memory and peers; get into the same kind of folder fails with
// exit 1, saying so.
func TestDataDirFullDisk(t *testing.T) {
	buildBinary(t)
	data := sharedData(t)
	tor := makeTorrent(t, data.Big, nil, 256<<10)
	seeder := seedLibtorrent(t, tor)
	size := tor.Info.TotalLength
	want := sha256Range(t, tor.Data, 0, size)
	name := filepath.Base(tor.Data)

	full := tmpfs(t, "8m")
	m := mount(t, "--data", full, "--peer", seeder, tor.Path)
	if got := sha256Range(t, filepath.Join(m.Dir, name), 0, size); got != want {
		t.Fatal("a mount whose --data is full served wrong bytes")
	}
	m.Unmount(t)
	if !strings.Contains(m.Stderr(), "no space left on device") || !strings.Contains(m.Stderr(), "writes stopped") {
		t.Fatalf("the mount did not say that its --data folder is full:\n%s", tail(m.Stderr(), 4000))
	}

	full2 := tmpfs(t, "8m")
	bin := buildBinary(t)
	r := run(t, 3*time.Minute, procOpts{}, bin, "get", "--no-dht", "--no-lsd", "--no-upnp", "--listen", "127.0.0.1:0", "--peer", seeder, tor.Path, full2)
	if r.code != 1 || !strings.Contains(r.stderr, "no space left on device") || strings.Contains(r.stdout, "complete: ") {
		t.Fatalf("get into a full folder: want exit 1 saying there is no space left: %v", r)
	}
	t.Logf("get into a full folder: %s", strings.TrimSpace(r.stderr[strings.LastIndex(strings.TrimSpace(r.stderr), "\n")+1:]))
}

// TestGetKilledAndResumed: get killed with SIGKILL mid-download (from a slow
// aria2c seeder) leaves a folder that the next get completes, fetching less
// than the whole torrent; a piece torn by the kill is fetched again.
func TestGetKilledAndResumed(t *testing.T) {
	bin := buildBinary(t)
	src := resumeTree(t)
	tor := makeTorrent(t, src, nil, 256<<10)
	total := tor.Info.TotalLength
	slow, _ := startSlowAria2Seeder(t, tor, "4M")
	out := t.TempDir()
	p := startProc(t, "hyperblow get", procOpts{}, bin, "get", "--no-dht", "--no-lsd", "--no-upnp", "--listen", "127.0.0.1:0", "--peer", slow, tor.Path, out)
	dst := filepath.Join(out, tor.Info.Name)
	deadline := time.Now().Add(time.Minute)
	for allocated(dst) < 4<<20 {
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("get wrote %d bytes in a minute from a seeder capped at 4 MiB/s: %s", allocated(dst), p.describe())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := p.signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.waitFor(exitTimeout)
	seeder := seedAria2(t, tor)
	received, already, _ := hyperblowGet(t, "--peer", seeder, tor.Path, out)
	checkGetTree(t, tor, out)
	t.Logf("after kill -9: the second get received %d, found %d already", received, already)
	if already == 0 || received >= total {
		t.Errorf("after a killed get: received %d, %d already there; want part of the %d bytes kept", received, already, total)
	}
}

// TestGetSeedWhileDownloading: `get --seed` serves a real leecher
// (python3-libtorrent, whose only peer it is) while it downloads from a slow
// aria2c seeder, and after: the leecher has bytes before get is complete, and
// completes. The seeder is stopped (SIGSTOP) while the leecher takes its first
// MiB, so get cannot finish first however fast the machine is.
func TestGetSeedWhileDownloading(t *testing.T) {
	bin := buildBinary(t)
	requireLibtorrent(t)
	src := resumeTree(t)
	tor := makeTorrent(t, src, nil, 256<<10)
	slow, seeder := startSlowAria2Seeder(t, tor, "2M")
	out := t.TempDir()
	listen := "127.0.0.1:" + strconv.Itoa(freePort(t))
	p := startProc(t, "hyperblow get --seed", procOpts{}, bin, "get", "--seed", "--no-dht", "--no-lsd", "--no-upnp", "--listen", listen, "--peer", slow, tor.Path, out)
	dst := filepath.Join(out, tor.Info.Name)
	deadline := time.Now().Add(time.Minute)
	for allocated(dst) < 2<<20 {
		if p.exited() || time.Now().After(deadline) {
			t.Fatalf("get wrote %d bytes in a minute: %s", allocated(dst), p.describe())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := seeder.signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			if err := seeder.signal(syscall.SIGCONT); err != nil {
				t.Error(err)
			}
		}
	}
	defer resume()
	if strings.Contains(p.Stdout.String(), "complete: ") {
		t.Fatalf("get was complete before the seeder was stopped (slow seeder too fast?): %s", p.describe())
	}
	ltOut := t.TempDir()
	lt := startProc(t, "libtorrent-get", procOpts{}, python(), ltHelper(t), "get", "--timeout", "150", "--peer", listen, tor.Path, ltOut)
	ltDst := filepath.Join(ltOut, tor.Info.Name)
	for allocated(ltDst) < 1<<20 {
		if lt.exited() || time.Now().After(deadline) {
			t.Fatalf("the libtorrent leecher got %d bytes: %s\n%s", allocated(ltDst), lt.describe(), p.describe())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if strings.Contains(p.Stdout.String(), "complete: ") {
		t.Fatalf("get was complete while its only seeder was stopped: %s", p.describe())
	}
	resume()
	lt.waitStdout(t, "DONE ", 150*time.Second)
	checkGetTree(t, tor, ltOut)
	// The leecher can take the last piece before get has printed that it
	// completed: wait for the line rather than look once.
	p.waitStdout(t, "seeding ", time.Minute)
	if err := p.signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if !p.waitFor(exitTimeout) || p.exitCode() != 0 {
		t.Fatalf("get --seed after SIGINT: %s", p.describe())
	}
	checkGetTree(t, tor, out)
}
