package integration

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Where a mount may go: mounting over a folder that holds files or over
// another mount is refused unless -o nonempty; a dead mount left by kill -9 is
// cleaned up when it is Hyperblow's own, and named with its fix otherwise. And
// what df shows of a mount: its size and its source.

// hyperblowTorrent makes a .torrent of a new file of size bytes with
// `hyperblow create` (no trackers) and returns its path.
func hyperblowTorrent(t *testing.T, bin, name string, size int64) string {
	t.Helper()
	dir := t.TempDir()
	data := filepath.Join(dir, name)
	writeRandomFile(t, data, size, uint64(size))
	out := filepath.Join(dir, name+".torrent")
	mustRun(t, 30*time.Second, bin, "create", "--no-date", "-o", out, data)
	return out
}

// checkRefused runs `hyperblow mount SOURCE DIR` and checks that it fails at
// once (exit 1, nothing mounted) with one line saying each of say.
func checkRefused(t *testing.T, bin, source, dir string, say ...string) {
	t.Helper()
	before := mountCount(dir)
	r := run(t, 30*time.Second, procOpts{}, bin, "mount", "--no-dht", "--no-lsd", "--no-upnp", "--listen", "127.0.0.1:0", source, dir)
	if r.code != 1 || r.timeout {
		if mountCount(dir) != before {
			lazyUnmount(t, dir)
		}
		t.Fatalf("mount over %s: %v; want exit 1", dir, r)
	}
	if mountCount(dir) != before {
		lazyUnmount(t, dir) // killed by run's timeout, say: leave nothing behind
		t.Fatalf("mount over %s: %v; it left a mount there", dir, r)
	}
	msg := strings.TrimSpace(r.stderr)
	if strings.Count(msg, "\n") != 0 || !strings.HasPrefix(msg, "hyperblow: ") {
		t.Errorf("mount over %s: want one line on stderr, got %q", dir, r.stderr)
	}
	for _, s := range say {
		if !strings.Contains(msg, s) {
			t.Errorf("mount over %s: %q does not say %q", dir, msg, s)
		}
	}
}

// mountCount is how many mounts of any type sit at dir.
func mountCount(dir string) int {
	data, _ := os.ReadFile("/proc/self/mountinfo")
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && unescapeMountinfo(f[4]) == dir {
			n++
		}
	}
	return n
}

// names lists a folder.
func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("ls %s: %v", dir, err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// TestMountRefusesNonEmptyFolder: a mount over a folder that holds files is
// refused with a message naming them and -o nonempty; with -o nonempty (or
// --nonempty) it mounts, hiding them until it is unmounted.
func TestMountRefusesNonEmptyFolder(t *testing.T) {
	bin := buildBinary(t)
	requireTool(t, "fusermount3")
	tor := hyperblowTorrent(t, bin, "film.bin", 100_003)
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "keep.txt"), []byte("mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	checkRefused(t, bin, tor, dir, dir, "is not empty", "keep.txt", "-o nonempty")

	for _, flag := range [][]string{{"-o", "ro,nonempty"}, {"--nonempty"}} {
		m := startMount(t, mountOpts{dir: dir}, append(flag, tor)...)
		if got := strings.Join(names(t, dir), ","); got != "film.bin" {
			t.Errorf("mounted with %q over a folder holding keep.txt: it shows %s, want film.bin", flag, got)
		}
		m.Unmount(t)
		if got := strings.Join(names(t, dir), ","); got != "keep.txt" {
			t.Errorf("after unmounting: the folder holds %s, want keep.txt", got)
		}
	}
}

// TestMountRefusesMountPoint: a mount over a live Hyperblow mount, or over a
// mount of another filesystem, is refused with a message saying what is
// mounted there and how to unmount it; --nonempty mounts over it anyway.
func TestMountRefusesMountPoint(t *testing.T) {
	bin := buildBinary(t)
	requireTool(t, "fusermount3")
	first := hyperblowTorrent(t, bin, "first.bin", 50_000)
	second := hyperblowTorrent(t, bin, "second.bin", 60_000)
	m := mount(t, first)
	checkRefused(t, bin, second, m.Dir, m.Dir, "is already a mount point", "fuse.hyperblow", first, "fusermount3 -u "+m.Dir, "-o nonempty")
	if got := strings.Join(names(t, m.Dir), ","); got != "first.bin" {
		t.Errorf("the first mount shows %s after the refused second one, want first.bin", got)
	}
	m.Unmount(t)

	requireRoot(t) // to mount a tmpfs
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmounting the tmpfs at %s: %v", dir, err)
		}
	})
	checkRefused(t, bin, second, dir, "is already a mount point (tmpfs", "umount "+dir)
	m2 := startMount(t, mountOpts{dir: dir}, "--nonempty", second)
	if got := strings.Join(names(t, dir), ","); got != "second.bin" {
		t.Errorf("--nonempty over a tmpfs: shows %s, want second.bin", got)
	}
	m2.Unmount(t)
	if mountCount(dir) != 1 {
		t.Errorf("after unmounting: %d mounts at %s, want the tmpfs alone", mountCount(dir), dir)
	}
}

// killMount starts a mount of source at a new folder and, once it is
// serving, kills it with SIGKILL by its PID: the mount is left dead
// (ENOTCONN). The dead mount is removed when the test ends, whatever happens.
func killMount(t *testing.T, source string) string {
	t.Helper()
	m := startMount(t, mountOpts{}, "--view", "off", source) // its cleanup lazily unmounts whatever is left at m.Dir
	// Logged once go-fuse's mount is complete: a kill -9 while it still opens
	// a file in its own mount (its epoll workaround) would leave a thread of
	// the process waiting for itself forever.
	m.waitLog(t, "msg=mounted", 30*time.Second)
	conn := fuseConnection(t, m.Dir)
	if err := syscall.Kill(m.p.pid(), syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d: %v", m.p.pid(), err)
	}
	if !m.p.waitFor(20 * time.Second) {
		abortConnection(t, conn) // frees a thread stuck in a request to its own mount
		t.Fatalf("hyperblow mount (pid %d) still ran 20 s after SIGKILL; aborted its FUSE connection %s", m.p.pid(), conn)
	}
	m.stopped = true
	// statfs reaches the (dead) server; stat may be answered from the
	// kernel's attribute cache for a second.
	var st syscall.Statfs_t
	if err := syscall.Statfs(m.Dir, &st); !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("statfs %s after kill -9 of its mount: %v, want ENOTCONN (a dead mount)", m.Dir, err)
	}
	return m.Dir
}

// fuseConnection is the number of the FUSE connection mounted at dir: the
// minor device number in /proc/self/mountinfo, its folder's name under
// /sys/fs/fuse/connections.
func fuseConnection(t *testing.T, dir string) string {
	t.Helper()
	data, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && unescapeMountinfo(f[4]) == dir {
			if _, minor, ok := strings.Cut(f[2], ":"); ok {
				return minor
			}
		}
	}
	t.Fatalf("%s is not in the mount table", dir)
	return ""
}

// abortConnection aborts FUSE connection conn (mounting the fusectl
// filesystem if it is not), so that every request waiting on it fails.
func abortConnection(t *testing.T, conn string) {
	t.Helper()
	const ctl = "/sys/fs/fuse/connections"
	if _, err := os.Stat(filepath.Join(ctl, conn)); err != nil {
		if err := syscall.Mount("fusectl", ctl, "fusectl", 0, ""); err == nil {
			defer syscall.Unmount(ctl, 0)
		}
	}
	if err := os.WriteFile(filepath.Join(ctl, conn, "abort"), []byte("1"), 0o200); err != nil {
		t.Errorf("aborting FUSE connection %s: %v", conn, err)
	}
}

// TestMountOverDeadMount: after kill -9 of a mount, a new mount at the same
// folder unmounts the dead Hyperblow mount (it is ours, and its process is
// gone), says so, and mounts; a folder inside a dead mount, and the dead
// mount of another program, get a message naming fusermount3 -u.
func TestMountOverDeadMount(t *testing.T) {
	bin := buildBinary(t)
	requireTool(t, "fusermount3")
	tor := hyperblowTorrent(t, bin, "film.bin", 70_000)
	dir := killMount(t, tor)

	checkRefused(t, bin, tor, filepath.Join(dir, "sub"), "is inside a dead mount at "+dir, "fusermount3 -u "+dir)

	// Again at dir: it cleans up and mounts. startMount refuses a folder that
	// is still in the mount table, so the process is started here.
	p := startProc(t, "hyperblow mount", procOpts{pdeathsig: syscall.SIGTERM},
		bin, "mount", "--no-dht", "--no-lsd", "--no-upnp", "--listen", "127.0.0.1:0", "--view", "off", tor, dir)
	m := &Mount{Dir: dir, p: p, t: t}
	t.Cleanup(m.cleanup)
	m.waitLog(t, "msg=mounted", 30*time.Second)
	if !strings.Contains(m.Stderr(), "a dead Hyperblow mount was left here") {
		t.Errorf("the log does not say the dead mount was unmounted:\n%s", m.Stderr())
	}
	if n := mountCount(dir); n != 1 {
		t.Errorf("%d mounts at %s, want 1 (the dead one gone)", n, dir)
	}
	if got := strings.Join(names(t, dir), ","); got != "film.bin" {
		t.Errorf("the new mount shows %s, want film.bin", got)
	}
	m.Unmount(t)

	// The dead mount of another program (btfs) is not ours to remove.
	requireTool(t, "btfs")
	other, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	bt := startProc(t, "btfs", procOpts{}, "btfs", "-f", tor, other)
	t.Cleanup(func() {
		bt.kill()
		bt.waitFor(10 * time.Second)
		lazyUnmount(t, other)
	})
	for start := time.Now(); !isMounted(other); time.Sleep(20 * time.Millisecond) {
		if bt.exited() || time.Since(start) > 30*time.Second {
			t.Fatalf("btfs did not mount %s: %s", other, bt.describe())
		}
	}
	conn := fuseConnection(t, other)
	if err := syscall.Kill(bt.pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !bt.waitFor(20 * time.Second) {
		abortConnection(t, conn)
		t.Fatalf("btfs still ran 20 s after SIGKILL; aborted its FUSE connection %s", conn)
	}
	checkRefused(t, bin, tor, other, "is a dead mount", "transport endpoint is not connected", "fusermount3 -u "+other)
}

// waitLog waits until the mount process has logged want.
func (m *Mount) waitLog(t *testing.T, want string, timeout time.Duration) {
	t.Helper()
	for start := time.Now(); !strings.Contains(m.Stderr(), want); time.Sleep(20 * time.Millisecond) {
		if m.p.exited() {
			t.Fatalf("hyperblow mount exited before logging %q: %s", want, m.p.describe())
		}
		if time.Since(start) > timeout {
			t.Fatalf("hyperblow mount did not log %q within %v: %s", want, timeout, m.p.describe())
		}
	}
}

// TestDfShowsSizeAndSource: statfs on a mount (df) gives the torrent's size,
// rounded up to the block size, and the source column is the .torrent's
// absolute path even when the mount was given a relative one; a mount of
// several torrents shows their sum; a magnet shows its info-hash.
func TestDfShowsSizeAndSource(t *testing.T) {
	bin := buildBinary(t)
	requireTool(t, "fusermount3", "df", "findmnt")
	const size, size2 = 1_000_003, 20_000
	tor := hyperblowTorrent(t, bin, "film.bin", size)
	tor2 := hyperblowTorrent(t, bin, "short.bin", size2)
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(cwd, tor)
	if err != nil || filepath.IsAbs(rel) {
		t.Fatalf("no relative path to %s from %s: %v", tor, cwd, err)
	}
	roundUp := func(n int64) int64 { return (n + 4095) / 4096 * 4096 }

	m := mount(t, rel)
	checkDf(t, m.Dir, roundUp(size), tor)
	m.Unmount(t)

	m = mount(t, tor, tor2)
	checkDf(t, m.Dir, roundUp(size+size2), tor)
	m.Unmount(t)

	hash := strings.Repeat("ab", 20)
	m = mount(t, "--metadata-timeout", "10m", "magnet:?xt=urn:btih:"+hash+"&dn=nobody&tr=http%3A%2F%2F127.0.0.1%3A9%2Fannounce")
	checkDf(t, m.Dir, 0, "magnet:?xt=urn:btih:"+hash)
	m.Unmount(t)
}

// checkDf checks statfs(2) and df on a mount: its size in bytes and source.
func checkDf(t *testing.T, dir string, size int64, source string) {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatalf("statfs %s: %v", dir, err)
	}
	if got := int64(st.Blocks) * st.Frsize; got != size {
		t.Errorf("statfs %s: %d blocks of %d = %d bytes, want %d", dir, st.Blocks, st.Frsize, got, size)
	}
	df := run(t, 10*time.Second, procOpts{}, "df", "-B1", "--output=source,size", dir)
	lines := strings.Split(strings.TrimSpace(df.stdout), "\n")
	if df.code != 0 || len(lines) != 2 || !regexp.MustCompile(`^`+regexp.QuoteMeta(source)+`\s+\d+$`).MatchString(lines[1]) ||
		!strings.HasSuffix(lines[1], " "+strconv.FormatInt(size, 10)) {
		t.Errorf("df %s: %q, want source %s and size %d: %v", dir, df.stdout, source, size, df)
	}
}
