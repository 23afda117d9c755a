package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The disk tier when its folder fails: full (a small tmpfs) or read-only.
// These tests mount file systems, so they need root.

// smallTmpfs mounts a tmpfs of size bytes on a fresh folder and unmounts it
// when the test ends (lazily if a process still holds it), on every path.
func smallTmpfs(t *testing.T, size string) string {
	t.Helper()
	requireRoot(t)
	dir := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("hyperblow-test", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size="+size+",mode=0755"); err != nil {
		t.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			unix.Unmount(dir, unix.MNT_DETACH)
		}
	})
	return dir
}

// tierJSON is the part of /status these tests read.
type tierJSON struct {
	Torrents []struct {
		DownloadedBytes int64 `json:"downloaded_bytes"`
		Tier            struct {
			RAMBytes        int64  `json:"ram_bytes"`
			Disk            bool   `json:"disk"`
			DiskBytes       int64  `json:"disk_bytes"`
			DiskHits        int64  `json:"disk_hits"`
			DiskWrites      int64  `json:"disk_writes"`
			DiskWriteErrors int64  `json:"disk_write_errors"`
			DiskCorrupt     int64  `json:"disk_corrupt"`
			DiskDegraded    bool   `json:"disk_degraded"`
			DiskError       string `json:"disk_error"`
		} `json:"tier"`
	} `json:"torrents"`
	Disk *struct {
		Degraded bool   `json:"degraded"`
		Error    string `json:"error"`
	} `json:"disk"`
}

func tierStatus(t *testing.T, addr string) tierJSON {
	t.Helper()
	var st tierJSON
	body := statusGet(t, "http://"+addr+"/status")
	if err := json.Unmarshal([]byte(body), &st); err != nil || len(st.Torrents) != 1 {
		t.Fatalf("/status: %v\n%s", err, body)
	}
	return st
}

// TestDiskTierFull: the disk cache's folder is a 4 MiB tmpfs under a
// --disk-cache of 256 MiB, and a 64 MiB file is read through it. The tmpfs
// fills: writes stop (ENOSPC), the status says so (disk_degraded, the error,
// /metrics, hyperblow status), and every byte read is right, from RAM and the
// swarm. A remount on the full folder serves what it holds from disk (no wrong
// byte, nothing corrupt) and fetches only the rest; before any read, du and
// the pieces xattr show what is on disk.
func TestDiskTierFull(t *testing.T) {
	buildBinary(t)
	dir := smallTmpfs(t, "4m")
	data := sharedData(t)
	const plen = 256 << 10
	tor := makeTorrent(t, data.Big, nil, plen)
	seeder := seedLibtorrent(t, tor)
	want := fileSum(t, tor.Data)
	args := []string{"--status", "127.0.0.1:0", "--cache-dir", dir, "--disk-cache", "256MiB", "--cache-size", "8MiB", "--peer", seeder, tor.Path}

	m := mount(t, args...)
	addr := statusAddr(t, m)
	file := filepath.Join(m.Dir, filepath.Base(tor.Data))
	if fileSum(t, file) != want {
		t.Fatal("bytes read with a full disk cache differ from the source")
	}
	deadline := time.Now().Add(30 * time.Second)
	st := tierStatus(t, addr)
	for !st.Torrents[0].Tier.DiskDegraded {
		if time.Now().After(deadline) {
			t.Fatalf("the disk tier did not report the full disk in 30 s: %+v\n%s", st.Torrents[0].Tier, tail(m.Stderr(), 3000))
		}
		time.Sleep(50 * time.Millisecond)
		st = tierStatus(t, addr)
	}
	tt := st.Torrents[0].Tier
	if !strings.Contains(tt.DiskError, "no space left on device") || tt.DiskWriteErrors == 0 || tt.DiskWrites == 0 ||
		st.Disk == nil || !st.Disk.Degraded {
		t.Errorf("status after the disk filled: tier %+v, disk %+v; want degraded with ENOSPC, some writes and a write error", tt, st.Disk)
	}
	if metrics := statusGet(t, "http://"+addr+"/metrics"); !strings.Contains(metrics, "\nhyperblow_disk_degraded{") ||
		!strings.Contains(metrics, `"} 1`+"\n") {
		t.Errorf("/metrics lacks hyperblow_disk_degraded 1:\n%s", metrics)
	}
	if r := run(t, 30*time.Second, procOpts{}, buildBinary(t), "status", addr); r.code != 0 || !strings.Contains(r.stdout, "not writing (memory only for new pieces)") {
		t.Errorf("hyperblow status: %v", r)
	}
	if !strings.Contains(m.Stderr(), "disk cache: writes stopped") {
		t.Errorf("no warning in the log:\n%s", tail(m.Stderr(), 3000))
	}
	m.Unmount(t)
	stored := storedPieces(t, filepath.Join(dir, tor.InfoHash))
	if len(stored) == 0 || len(stored) > 16 {
		t.Fatalf("%d pieces on a 4 MiB tmpfs, want 1..16", len(stored))
	}

	m2 := mount(t, args...)
	addr = statusAddr(t, m2)
	file = filepath.Join(m2.Dir, filepath.Base(tor.Data))
	// Before any read: du and the xattrs count what is on disk, and only that.
	var sb syscall.Stat_t
	if err := syscall.Stat(file, &sb); err != nil {
		t.Fatal(err)
	}
	if got := sb.Blocks * 512; got != int64(len(stored))*plen {
		t.Errorf("st_blocks*512 = %d before any read, want %d (the %d pieces on disk)", got, int64(len(stored))*plen, len(stored))
	}
	buf := make([]byte, 8192)
	n, err := unix.Getxattr(file, "user.hyperblow.pieces", buf)
	if err != nil {
		t.Fatalf("getxattr: %v", err)
	}
	if got := strings.Count(string(buf[:n]), "#"); got != len(stored) {
		t.Errorf("user.hyperblow.pieces shows %d pieces held, want the %d on disk", got, len(stored))
	}
	if tt := tierStatus(t, addr).Torrents[0].Tier; tt.DiskBytes != int64(len(stored))*plen || tt.RAMBytes != 0 {
		t.Errorf("status before any read: tier %+v, want disk_bytes %d, ram_bytes 0", tt, int64(len(stored))*plen)
	}
	if fileSum(t, file) != want {
		t.Fatal("remount on a full disk cache: bytes differ from the source")
	}
	st = tierStatus(t, addr)
	tt = st.Torrents[0].Tier
	// (Not a bound on downloaded_bytes: through 8 MiB of RAM the engine fetches
	// some pieces more than once, more than the whole file at times.)
	if tt.DiskHits < int64(len(stored)) || tt.DiskCorrupt != 0 {
		t.Errorf("remount: tier %+v, downloaded %d; want at least %d disk hits, none corrupt",
			tt, st.Torrents[0].DownloadedBytes, len(stored))
	}
	m2.Unmount(t)
}

// TestDiskTierReadOnly: a --cache-dir on a read-only file system.
//   - empty: the disk cache cannot start; the mount says why in a warning and
//     runs from RAM (no disk object in its status), and reads are right;
//   - holding pieces of an earlier mount: they are served from disk, verified,
//     nothing is written (degraded, "not writable"), and the rest comes from
//     the swarm.
func TestDiskTierReadOnly(t *testing.T) {
	buildBinary(t)
	data := sharedData(t)
	const plen = 256 << 10
	tor := makeTorrent(t, data.Big, nil, plen)
	seeder := seedLibtorrent(t, tor)
	want := fileSum(t, tor.Data)
	remountRO := func(t *testing.T, dir string) {
		t.Helper()
		if err := unix.Mount("hyperblow-test", dir, "tmpfs", unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			t.Fatalf("remount %s read-only: %v", dir, err)
		}
	}

	t.Run("empty", func(t *testing.T) {
		dir := smallTmpfs(t, "16m")
		remountRO(t, dir)
		m := mount(t, "--status", "127.0.0.1:0", "--cache-dir", dir, "--disk-cache", "256MiB", "--cache-size", "8MiB", "--peer", seeder, tor.Path)
		addr := statusAddr(t, m)
		if fileSum(t, filepath.Join(m.Dir, filepath.Base(tor.Data))) != want {
			t.Fatal("bytes differ from the source")
		}
		st := tierStatus(t, addr)
		if st.Disk != nil || st.Torrents[0].Tier.Disk {
			t.Errorf("a disk tier on a read-only empty folder: %+v, %+v", st.Disk, st.Torrents[0].Tier)
		}
		m.Unmount(t)
		if log := m.Stderr(); !strings.Contains(log, "no disk cache: memory only") || !strings.Contains(log, "not writable") ||
			!strings.Contains(log, "read-only file system") {
			t.Errorf("no clear warning:\n%s", tail(log, 3000))
		}
	})

	t.Run("holding pieces", func(t *testing.T) {
		dir := smallTmpfs(t, "64m")
		args := []string{"--status", "127.0.0.1:0", "--cache-dir", dir, "--disk-cache", "256MiB", "--cache-size", "8MiB", "--peer", seeder, tor.Path}
		m := mount(t, args...)
		const n = 8 << 20
		file := filepath.Join(m.Dir, filepath.Base(tor.Data))
		if sha256Range(t, file, 0, n) != sha256Range(t, tor.Data, 0, n) {
			t.Fatal("first mount: bytes differ from the source")
		}
		m.Unmount(t)
		stored := storedPieces(t, filepath.Join(dir, tor.InfoHash))
		if len(stored) < n/plen {
			t.Fatalf("%d pieces stored, want at least %d", len(stored), n/plen)
		}
		remountRO(t, dir)

		m2 := mount(t, args...)
		addr := statusAddr(t, m2)
		if fileSum(t, filepath.Join(m2.Dir, filepath.Base(tor.Data))) != want {
			t.Fatal("read-only disk cache: bytes differ from the source")
		}
		st := tierStatus(t, addr)
		tt := st.Torrents[0].Tier
		if !tt.Disk || !tt.DiskDegraded || !strings.Contains(tt.DiskError, "not writable") || tt.DiskWrites != 0 ||
			tt.DiskHits < int64(len(stored)) || tt.DiskCorrupt != 0 {
			t.Errorf("tier %+v: want a degraded disk tier (not writable) with no writes and at least %d disk hits", tt, len(stored))
		}
		if got := len(storedPieces(t, filepath.Join(dir, tor.InfoHash))); got != len(stored) {
			t.Errorf("%d pieces in the read-only folder after the remount, want %d", got, len(stored))
		}
		m2.Unmount(t)
		if !strings.Contains(m2.Stderr(), "disk cache: writes stopped") {
			t.Errorf("no warning in the log:\n%s", tail(m2.Stderr(), 3000))
		}
	})
}
