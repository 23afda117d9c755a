package integration

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// netnsPrefix names the network namespaces of TestLSDTwoNamespaces; the
// PID of the test process that made them follows, so a later run can
// delete the ones a killed run left behind.
const netnsPrefix = "hblsd-"

// vethPair is two network namespaces joined by a veth pair: A holds
// 10.77.0.1/24 and fd77::1/64, B 10.77.0.2/24 and fd77::2/64. Nothing else
// is in them, so nothing said there leaves this machine.
type vethPair struct {
	a, b       string // namespace names
	ipA, ipB   string
	ip6A, ip6B string
}

// vethPairs numbers the pairs of this process.
var vethPairs atomic.Int32

// newVethPair makes the namespaces and deletes them when the test ends.
func newVethPair(t *testing.T) *vethPair {
	t.Helper()
	requireRoot(t)
	requireTool(t, "ip", "nsenter")
	removeStaleNetns(t)
	pid := strconv.Itoa(os.Getpid())
	n := strconv.Itoa(int(vethPairs.Add(1)))
	v := &vethPair{a: netnsPrefix + pid + "-" + n + "a", b: netnsPrefix + pid + "-" + n + "b",
		ipA: "10.77.0.1", ipB: "10.77.0.2", ip6A: "fd77::1", ip6B: "fd77::2"}
	ifA, ifB := "hb"+pid+"-"+n+"a", "hb"+pid+"-"+n+"b"
	if len(ifA) > 15 {
		ifA, ifB = ifA[len(ifA)-15:], ifB[len(ifB)-15:]
	}
	t.Cleanup(func() {
		for _, ns := range []string{v.a, v.b} {
			run(t, 30*time.Second, procOpts{}, "ip", "netns", "del", ns) // takes the veth with it
		}
	})
	for _, argv := range [][]string{
		{"ip", "netns", "add", v.a},
		{"ip", "netns", "add", v.b},
		{"ip", "link", "add", ifA, "netns", v.a, "type", "veth", "peer", "name", ifB, "netns", v.b},
		{"ip", "-n", v.a, "addr", "add", v.ipA + "/24", "dev", ifA},
		{"ip", "-n", v.b, "addr", "add", v.ipB + "/24", "dev", ifB},
		{"ip", "-n", v.a, "addr", "add", v.ip6A + "/64", "dev", ifA, "nodad"},
		{"ip", "-n", v.b, "addr", "add", v.ip6B + "/64", "dev", ifB, "nodad"},
		{"ip", "-n", v.a, "link", "set", "lo", "up"},
		{"ip", "-n", v.b, "link", "set", "lo", "up"},
		{"ip", "-n", v.a, "link", "set", ifA, "up"},
		{"ip", "-n", v.b, "link", "set", ifB, "up"},
	} {
		if r := run(t, 30*time.Second, procOpts{}, argv...); r.code != 0 {
			t.Fatalf("%s: %v", strings.Join(argv, " "), r)
		}
	}
	return v
}

// in returns the command prefix that runs a program in namespace ns's
// network only (the mount table stays the test's, so a FUSE mount made
// there is seen here). nsenter execs: the PID is the program's.
func in(ns string) []string {
	return []string{"nsenter", "--net=/var/run/netns/" + ns}
}

// removeStaleNetns deletes namespaces of earlier runs whose process is gone.
func removeStaleNetns(t *testing.T) {
	entries, _ := os.ReadDir("/var/run/netns")
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), netnsPrefix)
		if !ok {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || syscall.Kill(pid, 0) == nil {
			continue
		}
		run(t, 30*time.Second, procOpts{}, "ip", "netns", "del", e.Name())
	}
}

// TestLSDTwoNamespaces: two Hyperblows in two network namespaces, with no
// tracker, no DHT and no --peer, find each other by BEP 14 Local Service
// Discovery: the mount in B reads the whole file from the seeder in A.
func TestLSDTwoNamespaces(t *testing.T) {
	v := newVethPair(t)
	bin := buildBinary(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "lsd.bin")
	writeRandomFile(t, data, 6<<20, 14)
	tor := makeTorrent(t, data, nil, 64<<10)

	seed := startProc(t, "hyperblow seed (netns A)", procOpts{pdeathsig: syscall.SIGTERM},
		append(in(v.a), bin, "seed", "--no-dht", "--no-upnp", "-v", "--listen", v.ipA+":6881", tor.Path, tor.SaveDir)...)
	t.Cleanup(func() {
		if !seed.exited() {
			seed.signal(syscall.SIGTERM)
			if !seed.waitFor(exitTimeout) {
				t.Errorf("hyperblow seed did not exit within %v of SIGTERM: %s", exitTimeout, seed.hung())
			}
		}
	})
	seed.waitStdout(t, "seeding ", 2*time.Minute)

	m := startMount(t, mountOpts{bin: bin, wrap: in(v.b), localNet: true},
		"--no-upnp", "-v", "--listen", v.ipB+":6881", "--status", "127.0.0.1:9100", tor.Path)
	file := filepath.Join(m.Dir, filepath.Base(data))
	if r := run(t, 2*time.Minute, procOpts{}, "cmp", data, file); r.code != 0 {
		t.Fatalf("cmp %s with the mount in %s: %v\nmount: %s\nseed: %s", data, v.b, r, tail(m.Stderr(), 3000), tail(seed.Stderr.String(), 3000))
	}
	// Whoever starts second is heard by the first, which dials it (the
	// answer to a newcomer waits for the per-torrent minute).
	if heard := `msg="local peer" info_hash=` + tor.InfoHash + " addr=" + v.ipB + ":6881"; !strings.Contains(seed.Stderr.String(), heard) {
		t.Errorf("the seeder did not log %s; its log: %s", heard, tail(seed.Stderr.String(), 3000))
	}
	// hyperblow status (run in B, where the status server listens) says LSD is on.
	if r := run(t, 30*time.Second, procOpts{}, append(in(v.b), bin, "status", "127.0.0.1:9100")...); r.code != 0 ||
		!strings.Contains(r.stdout, "network: local service discovery on; port mapping off") {
		t.Errorf("hyperblow status: %v; want a line saying LSD is on and port mapping off", r)
	}
	m.Unmount(t)

	// With --no-lsd nobody hears of the mount: its read fails after
	// --read-timeout instead of finding the seeder.
	m = startMount(t, mountOpts{bin: bin, wrap: in(v.b), localNet: true},
		"--no-lsd", "--no-upnp", "--read-timeout", "3s", "--listen", v.ipB+":6882", tor.Path)
	if r := run(t, time.Minute, procOpts{}, "head", "-c", "1", filepath.Join(m.Dir, filepath.Base(data))); r.code == 0 {
		t.Errorf("a --no-lsd mount read the file, want EIO after --read-timeout: %v", r)
	}
	if strings.Contains(seed.Stderr.String(), v.ipB+":6882") {
		t.Errorf("the seeder heard of the --no-lsd mount: %s", tail(seed.Stderr.String(), 3000))
	}
	m.Unmount(t)
}

// TestLSDTwoNamespacesIPv6: the same over IPv6, through the site-local
// group [ff15::efc0:988f]:6771, each side listening on its ULA address.
func TestLSDTwoNamespacesIPv6(t *testing.T) {
	v := newVethPair(t)
	bin := buildBinary(t)
	data := filepath.Join(t.TempDir(), "lsd6.bin")
	writeRandomFile(t, data, 3<<20, 15)
	tor := makeTorrent(t, data, nil, 64<<10)
	seedA := "[" + v.ip6A + "]:6881"
	seed := startProc(t, "hyperblow seed (netns A)", procOpts{pdeathsig: syscall.SIGTERM},
		append(in(v.a), bin, "seed", "--no-dht", "--no-upnp", "-v", "--listen", seedA, tor.Path, tor.SaveDir)...)
	t.Cleanup(func() {
		if !seed.exited() {
			seed.signal(syscall.SIGTERM)
			if !seed.waitFor(exitTimeout) {
				t.Errorf("hyperblow seed did not exit within %v of SIGTERM: %s", exitTimeout, seed.hung())
			}
		}
	})
	seed.waitStdout(t, "seeding ", 2*time.Minute)
	m := startMount(t, mountOpts{bin: bin, wrap: in(v.b), localNet: true},
		"--no-upnp", "-v", "--listen", "["+v.ip6B+"]:6881", tor.Path)
	if r := run(t, 2*time.Minute, procOpts{}, "cmp", data, filepath.Join(m.Dir, filepath.Base(data))); r.code != 0 {
		t.Fatalf("cmp %s with the mount in %s: %v\nmount: %s\nseed: %s", data, v.b, r, tail(m.Stderr(), 3000), tail(seed.Stderr.String(), 3000))
	}
	if heard := `msg="local peer" info_hash=` + tor.InfoHash + " addr=[" + v.ip6B + "]:6881"; !strings.Contains(seed.Stderr.String(), heard) {
		t.Errorf("the seeder did not log %s; its log: %s", heard, tail(seed.Stderr.String(), 3000))
	}
	m.Unmount(t)
}
