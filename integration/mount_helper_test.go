package integration

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Mount is a running `hyperblow mount` child process and its mountpoint.
type Mount struct {
	Dir     string // the mountpoint
	p       *proc
	t       testing.TB
	stopped bool // the test ended the mount itself (Unmount or WaitExit)
}

// mountOpts are the less common choices for startMount.
type mountOpts struct {
	dir    string              // mountpoint; default a fresh folder in t.TempDir()
	bin    string              // binary; default buildBinary(t)
	cred   *syscall.Credential // run as this user instead of the test's
	env    []string
	wrap   []string // a command that execs the rest, as prlimit does
	noWait bool     // return at once, without waiting for the mount to appear
	dht    bool     // leave the DHT on (give --dht-bootstrap with a loopback node)
	// localNet leaves LSD and port mapping on (tests in their own network
	// namespace); otherwise --no-lsd --no-upnp, so nothing reaches the LAN.
	localNet bool
}

// mount runs `hyperblow mount --no-dht --no-lsd --no-upnp --listen 127.0.0.1:0 ARGS... MNT` in its
// own process group and waits until MNT is a live FUSE mount. ARGS are further
// flags and the SOURCE(s). The mount is ended when the test ends, whatever happens.
func mount(t testing.TB, args ...string) *Mount {
	t.Helper()
	return startMount(t, mountOpts{}, args...)
}

func startMount(t testing.TB, o mountOpts, args ...string) *Mount {
	t.Helper()
	requireTool(t, "fusermount3")
	bin := o.bin
	if bin == "" {
		bin = buildBinary(t)
	}
	dir := o.dir
	if dir == "" {
		dir = filepath.Join(t.TempDir(), "mnt")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	if isMounted(dir) {
		t.Fatalf("%s is already a mountpoint", dir)
	}
	dhtFlag := []string{"--no-dht"}
	if o.dht {
		dhtFlag = nil
	}
	if !o.localNet {
		dhtFlag = append(dhtFlag, localNetOff...)
	}
	argv := slices.Concat(o.wrap, []string{bin, "mount"}, dhtFlag, []string{"--listen", "127.0.0.1:0"}, args, []string{dir})
	// SIGTERM, not SIGKILL, if the test process dies: Hyperblow then unmounts itself.
	// Each mount has its own default disk cache, unless the test says otherwise:
	// a torrent another test read is not on disk here.
	env := append([]string{"XDG_CACHE_HOME=" + filepath.Join(t.TempDir(), "xdg-cache")}, o.env...)
	p := startProc(t, "hyperblow mount", procOpts{pdeathsig: syscall.SIGTERM, cred: o.cred, env: env}, argv...)
	m := &Mount{Dir: dir, p: p, t: t}
	t.Cleanup(m.cleanup) // runs before startProc's SIGKILL cleanup
	if !o.noWait {
		m.waitMounted(t, time.Minute)
	}
	return m
}

// Stderr is what hyperblow has printed on stderr so far.
func (m *Mount) Stderr() string { return m.p.Stderr.String() }

// waitMounted waits until the mountpoint shows up as a FUSE mount.
func (m *Mount) waitMounted(t testing.TB, timeout time.Duration) {
	t.Helper()
	start := time.Now()
	for !isMounted(m.Dir) {
		if m.p.exited() {
			t.Fatalf("hyperblow mount exited before %s was mounted: %s", m.Dir, m.p.describe())
		}
		if time.Since(start) > timeout {
			t.Fatalf("%s not mounted %v after starting hyperblow mount: %s", m.Dir, timeout, m.p.describe())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("mounted %s after %v", m.Dir, time.Since(start).Round(time.Millisecond))
}

// Unmount ends the mount as a user would with Ctrl-C or kill: SIGTERM, then it
// checks that hyperblow exits 0 (within exitTimeout, which bounds a hang) and that
// nothing is left mounted.
func (m *Mount) Unmount(t testing.TB) {
	t.Helper()
	if !isMounted(m.Dir) {
		t.Errorf("%s is not mounted before Unmount", m.Dir)
	}
	if err := m.p.signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM to hyperblow: %v", err)
	}
	m.stopped = true
	m.checkExit(t, exitTimeout)
}

// WaitExit waits for hyperblow to end by itself (after `fusermount3 -u`, say) and
// checks that it exits 0 and that nothing is left mounted. A hang fails the test
// with hyperblow's goroutine dump.
func (m *Mount) WaitExit(t testing.TB, timeout time.Duration) {
	t.Helper()
	m.stopped = true
	m.checkExit(t, timeout)
}

func (m *Mount) checkExit(t testing.TB, timeout time.Duration) {
	t.Helper()
	start := time.Now()
	if !m.p.waitFor(timeout) {
		t.Fatalf("hyperblow did not exit within %v: %s", timeout, m.p.hung())
	}
	t.Logf("hyperblow exited %d after %v", m.p.exitCode(), time.Since(start).Round(time.Millisecond))
	if code := m.p.exitCode(); code != 0 {
		t.Errorf("hyperblow mount exited with %d (%v), want 0: %s", code, m.p.err, m.p.describe())
	}
	if isMounted(m.Dir) {
		t.Errorf("%s is still mounted after hyperblow exited", m.Dir)
	}
}

// cleanup ends the mount whatever state the test left it in: SIGTERM first, then
// lazy unmounts, then SIGKILL to the process group. A mount the test did not end
// itself and that SIGTERM does not end cleanly is an error.
func (m *Mount) cleanup() {
	t := m.t
	if !m.p.exited() {
		m.p.signal(syscall.SIGTERM)
		m.p.signal(syscall.SIGCONT) // in case a test stopped it
		if !m.p.waitFor(exitTimeout) {
			t.Errorf("hyperblow mount did not exit within %v of SIGTERM; forcing: %s", exitTimeout, m.p.hung())
		}
	}
	if isMounted(m.Dir) {
		if !m.stopped && !t.Failed() {
			t.Errorf("%s was still mounted after hyperblow ended; lazy-unmounting", m.Dir)
		}
		lazyUnmount(t, m.Dir)
	}
	if !m.p.exited() {
		m.p.kill()
		m.p.waitFor(10 * time.Second)
	}
	if isMounted(m.Dir) {
		lazyUnmount(t, m.Dir)
	}
}

// lazyUnmount detaches a mount whatever state its server is in.
func lazyUnmount(t testing.TB, dir string) {
	for _, argv := range [][]string{{"fusermount3", "-u", "-z", dir}, {"umount", "-l", dir}} {
		if !isMounted(dir) {
			return
		}
		r := run(t, 10*time.Second, procOpts{}, argv...)
		t.Logf("%s: %v", strings.Join(argv, " "), r)
	}
	if isMounted(dir) {
		t.Errorf("could not unmount %s: a stale mount is left behind", dir)
	}
}

// isMounted reports whether dir is the mountpoint of a FUSE filesystem, by
// /proc/self/mountinfo (fields: ... mountpoint ... " - " fstype source options).
func isMounted(dir string) bool {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		fields := strings.Fields(pre)
		if len(fields) < 5 || unescapeMountinfo(fields[4]) != dir {
			continue
		}
		if fstype := strings.Fields(post); len(fstype) > 0 && strings.HasPrefix(fstype[0], "fuse") {
			return true
		}
	}
	return false
}

// unescapeMountinfo undoes the kernel's octal escapes (\040 for a space, ...).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// localNetOff keeps a Hyperblow under test off the local network: no LSD
// multicast, no gateway port mapping.
var localNetOff = []string{"--no-lsd", "--no-upnp"}
