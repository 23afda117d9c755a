package integration

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Mounting like any other filesystem: /etc/fstab lines of type fuse.hyperblow
// through mount(8) and umount(8), -o options, and what df and findmnt show.

// fstabData is a two-file torrent, not piece-aligned, seeded by
// python3-libtorrent on 127.0.0.1: movie.bin (read whole by the tests) and
// sub/extra.bin (never read).
type fstabData struct {
	tor   *Torrent
	peer  string
	movie string // source file of movie.bin
}

const fstabPiece = 64 << 10

func seedFstabData(t *testing.T) fstabData {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "film")
	movie := filepath.Join(dir, "movie.bin")
	writeRandomFile(t, movie, 3_000_001, 61)
	writeRandomFile(t, filepath.Join(dir, "sub", "extra.bin"), 1_500_007, 62)
	tor := makeTorrent(t, dir, nil, fstabPiece)
	return fstabData{tor: tor, peer: seedLibtorrent(t, tor), movie: movie}
}

// installLink makes link point to target for the test, unless link exists
// (then the test is skipped: it is someone's installation); it is removed in
// Cleanup only if it still points to target.
func installLink(t *testing.T, target, link string) {
	t.Helper()
	if _, err := os.Lstat(link); err == nil {
		t.Skipf("%s exists; not replacing it for a test", link)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Skipf("cannot install %s: %v", link, err)
	}
	t.Cleanup(func() {
		if got, err := os.Readlink(link); err == nil && got == target {
			os.Remove(link)
		}
	})
}

// daemonPIDs are the hyperblow processes running bin whose command line names
// mnt: the background processes of a mount.
func daemonPIDs(bin, mnt string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil || exe != bin {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if bytes.Contains(cmdline, []byte("\x00"+mnt+"\x00")) || bytes.HasSuffix(cmdline, []byte("\x00"+mnt)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// alive reports whether pid runs (a zombie has ended).
func alive(pid int) bool {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) STATE ...: comm may hold spaces; the state follows the last ')'.
	s := string(st)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// waitGone waits for pid to end.
func waitGone(pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for alive(pid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// endDaemons ends what a test's mount left behind, whatever happened: a lazy
// unmount, then SIGTERM and SIGKILL to the background processes, by PID.
func endDaemons(t *testing.T, bin, mnt string) {
	if isMounted(mnt) {
		t.Errorf("%s still mounted at the end of the test; lazy-unmounting", mnt)
		lazyUnmount(t, mnt)
	}
	for _, pid := range daemonPIDs(bin, mnt) {
		t.Errorf("hyperblow background process %d still running for %s; stopping it", pid, mnt)
		syscall.Kill(pid, syscall.SIGTERM)
		if !waitGone(pid, 10*time.Second) {
			syscall.Kill(pid, syscall.SIGKILL)
			waitGone(pid, 5*time.Second)
		}
	}
}

// statLine runs stat -c FORMAT path.
func statLine(t *testing.T, format, path string) string {
	t.Helper()
	r := run(t, 10*time.Second, procOpts{}, "stat", "-c", format, path)
	if r.code != 0 {
		t.Fatalf("stat %s: %v", path, r)
	}
	return strings.TrimSpace(r.stdout)
}

// waitBlocks waits until stat shows want 512-byte blocks for path (attributes
// are cached by the kernel for a second).
func waitBlocks(t *testing.T, path string, ok func(blocks int64) bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := strconv.ParseInt(statLine(t, "%b", path), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		if ok(b) {
			return
		}
		if time.Now().After(deadline) {
			du := run(t, 10*time.Second, procOpts{}, "du", "-B1", path)
			t.Fatalf("%s: %d blocks of 512 bytes, want %s; du: %s", path, b, what, du.stdout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestFstab mounts a torrent from an fstab line with `mount --fstab FILE MNT`
// and ends it with `umount MNT`, as a system would at boot: once through
// /sbin/mount.fuse.hyperblow (a symlink to the binary), once through
// mount.fuse3, which runs `hyperblow SOURCE MNT -o OPTIONS`.
func TestFstab(t *testing.T) {
	requireRoot(t)
	requireTool(t, "mount", "umount", "findmnt", "df", "du", "stat", "fusermount3")
	bin, err := filepath.EvalSymlinks(buildBinary(t)) // as /proc/PID/exe shows it
	if err != nil {
		t.Fatal(err)
	}
	d := seedFstabData(t)

	t.Run("mount.fuse.hyperblow", func(t *testing.T) {
		installLink(t, bin, "/sbin/mount.fuse.hyperblow")
		fstabMount(t, bin, d, true, false)
	})
	t.Run("mount.fuse3", func(t *testing.T) {
		requireTool(t, "mount.fuse3")
		if _, err := os.Lstat("/sbin/mount.fuse.hyperblow"); err == nil {
			t.Skip("/sbin/mount.fuse.hyperblow exists: mount(8) would run it, not mount.fuse3")
		}
		// mount(8) runs helpers with PATH=/usr/local/sbin:/usr/local/bin:...
		installLink(t, bin, "/usr/local/sbin/hyperblow")
		fstabMount(t, bin, d, false, false)
	})
	// A systemd mount unit (docs/mounting.md) makes systemd run
	// `mount WHAT WHERE -t TYPE -o OPTIONS` to start and `umount WHERE -c` to
	// stop: the same helper, called as systemd calls it (systemd itself does
	// not run in this test's container).
	t.Run("systemd unit", func(t *testing.T) {
		installLink(t, bin, "/sbin/mount.fuse.hyperblow")
		fstabMount(t, bin, d, false, true)
	})
}

// fstabMount mounts d through a temporary fstab, checks what a user and an
// administrator see, and unmounts with umount(8). full: all the checks.
// systemdMount: mount and unmount as a systemd mount unit does.
func fstabMount(t *testing.T, bin string, d fstabData, full, systemdMount bool) {
	base := t.TempDir()
	mnt := filepath.Join(base, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(base, "hyperblow.log")
	t.Cleanup(func() {
		endDaemons(t, bin, mnt)
		if t.Failed() {
			log, _ := os.ReadFile(logFile)
			t.Logf("background process log %s:\n%s", logFile, tail(string(log), 8000))
		}
	})
	opts := "ro,allow_other,uid=4321,gid=4322,umask=027,cache-size=64MiB,no-dht,no-lsd,no-upnp,peer=" + d.peer +
		",listen=127.0.0.1:0,log-file=" + logFile + ",nofail,_netdev,x-systemd.automount,noatime"
	if full {
		// A mount point that holds a file: refused without nonempty, which
		// mount(8) passes to the helper like any option.
		if err := os.WriteFile(filepath.Join(mnt, "hidden.txt"), []byte("under the mount\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		opts += ",nonempty"
	}
	fstab := filepath.Join(base, "fstab")
	line := fmt.Sprintf("# a test line\n%s %s fuse.hyperblow %s 0 0\n", d.tor.Path, mnt, opts)
	if err := os.WriteFile(fstab, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	argv := []string{"mount", "-v", "--fstab", fstab, mnt}
	if systemdMount {
		argv = []string{"mount", d.tor.Path, mnt, "-t", "fuse.hyperblow", "-o", opts}
	}
	r := run(t, time.Minute, procOpts{}, argv...)
	if r.code != 0 {
		t.Fatalf("%v: %v", argv, r)
	}
	t.Logf("mount returned after %v: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(r.stdout+r.stderr))
	if !isMounted(mnt) {
		t.Fatalf("mount exited 0 but %s is not mounted: %v", mnt, r)
	}
	pids := daemonPIDs(bin, mnt)
	if len(pids) != 1 {
		t.Fatalf("want one hyperblow background process for %s, found %v", mnt, pids)
	}
	pid := pids[0]
	if full {
		// mount -v passes -v to the helper, which then tells where its process is.
		if m := regexp.MustCompile(`background process (\d+)`).FindStringSubmatch(r.stdout); m == nil || m[1] != strconv.Itoa(pid) {
			t.Errorf("mount -v output %q does not name background process %d", r.stdout, pid)
		}
	}

	fm := run(t, 10*time.Second, procOpts{}, "findmnt", "-n", "-o", "FSTYPE,SOURCE,OPTIONS", mnt)
	f := strings.Fields(fm.stdout)
	if fm.code != 0 || len(f) != 3 || f[0] != "fuse.hyperblow" || f[1] != d.tor.Path ||
		!strings.Contains(","+f[2]+",", ",ro,") || !strings.Contains(f[2], "allow_other") {
		t.Errorf("findmnt %s: %q, want fuse.hyperblow, source %s, options with ro and allow_other: %v", mnt, fm.stdout, d.tor.Path, fm)
	}
	df := run(t, 10*time.Second, procOpts{}, "df", "-T", mnt)
	if df.code != 0 || !strings.Contains(df.stdout, "fuse.hyperblow") || !strings.Contains(df.stdout, d.tor.Path) {
		t.Errorf("df -T %s does not show fuse.hyperblow and the source: %v", mnt, df)
	}

	movie, extra := filepath.Join(mnt, "movie.bin"), filepath.Join(mnt, "sub", "extra.bin")
	for path, want := range map[string]string{mnt: "4321 4322 550", filepath.Join(mnt, "sub"): "4321 4322 550", movie: "4321 4322 440", extra: "4321 4322 440"} {
		if got := statLine(t, "%u %g %a", path); got != want {
			t.Errorf("stat %s: uid gid mode %q, want %q", path, got, want)
		}
	}
	ls := run(t, 10*time.Second, procOpts{}, "ls", "-ln", mnt)
	if !strings.Contains(ls.stdout, "-r--r----- 1 4321 4322 3000001 ") {
		t.Errorf("ls -ln %s: %q, want movie.bin as -r--r----- 1 4321 4322 3000001", mnt, ls.stdout)
	}
	if full {
		waitBlocks(t, extra, func(b int64) bool { return b == 0 }, "0 before anything is read")
	}

	if got, want := hashFile(t, movie), hashFile(t, d.movie); got != want {
		t.Fatalf("movie.bin read through the mount: sha256 %s, want %s", got, want)
	}
	if full {
		// Read whole: du shows all of it. sub/extra.bin was never read: at most
		// the piece it shares with movie.bin.
		const size = 3_000_001
		waitBlocks(t, movie, func(b int64) bool { return b == (size+511)/512 }, fmt.Sprintf("%d (the whole file)", (size+511)/512))
		waitBlocks(t, extra, func(b int64) bool { return b*512 <= fstabPiece }, fmt.Sprintf("at most %d (one shared piece)", fstabPiece/512))
		noexec := run(t, 10*time.Second, procOpts{}, "findmnt", "-n", "-o", "OPTIONS", mnt)
		if strings.Contains(noexec.stdout, "noexec") {
			t.Errorf("noexec without -o noexec: %s", noexec.stdout)
		}
	}

	umount := []string{"umount", mnt}
	if systemdMount {
		umount = append(umount, "-c")
	}
	if r := run(t, 30*time.Second, procOpts{}, umount...); r.code != 0 {
		t.Fatalf("%v: %v", umount, r)
	}
	if !waitGone(pid, 20*time.Second) {
		t.Fatalf("hyperblow background process %d still running 20 s after umount", pid)
	}
	if isMounted(mnt) {
		t.Errorf("%s still mounted after umount", mnt)
	}
	log, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatalf("background process log: %v", err)
	}
	if !strings.Contains(string(log), "unmounted from outside") || !strings.Contains(string(log), "msg=stopped") {
		t.Errorf("the log does not show a clean stop after umount:\n%s", tail(string(log), 4000))
	}
}

// TestMountOptionsDirect: -o on the command line (uid, gid, umask, fsname,
// noexec and flags as options); df and findmnt show type fuse.hyperblow and
// the name, made safe for /proc/mounts.
func TestMountOptionsDirect(t *testing.T) {
	requireTool(t, "findmnt", "df", "stat")
	buildBinary(t)
	d := seedFstabData(t)
	m := mount(t, "-o", "uid=4321,gid=4322,umask=077,noexec,fsname=\"my movie,x\ty\",cache-size=64MiB,peer="+d.peer, d.tor.Path)
	fm := run(t, 10*time.Second, procOpts{}, "findmnt", "-n", "-o", "FSTYPE,SOURCE,OPTIONS", m.Dir)
	f := strings.Fields(fm.stdout)
	if fm.code != 0 || len(f) != 3 || f[0] != "fuse.hyperblow" || f[1] != "my_movie_x_y" || !strings.Contains(f[2], "noexec") {
		t.Errorf("findmnt: %q, want fuse.hyperblow my_movie_x_y with noexec: %v", fm.stdout, fm)
	}
	df := run(t, 10*time.Second, procOpts{}, "df", "-T", m.Dir)
	if df.code != 0 || !regexp.MustCompile(`(?m)^my_movie_x_y\s+fuse\.hyperblow\s`).MatchString(df.stdout) {
		t.Errorf("df -T: %v", df)
	}
	if got := statLine(t, "%u %g %a", filepath.Join(m.Dir, "movie.bin")); got != "4321 4322 400" {
		t.Errorf("stat movie.bin: %q, want 4321 4322 400", got)
	}
	m.Unmount(t)
}

// TestMountOptionsNonRoot: as a normal user (through fusermount3), -o options
// work and the type is fuse.hyperblow; allow_other without user_allow_other in
// /etc/fuse.conf fails at once with an error that says what to do.
func TestMountOptionsNonRoot(t *testing.T) {
	requireRoot(t) // to switch to the unprivileged user
	bin := buildBinary(t)
	requireTool(t, "fusermount3", "findmnt")
	openDevFuse(t)
	base, err := os.MkdirTemp("", "hyperblow-nonroot-opts-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	os.Chmod(base, 0o755)
	userBin := filepath.Join(base, "hyperblow")
	copyFile(t, bin, userBin, 0o755)
	home, mnt := filepath.Join(base, "home"), filepath.Join(base, "mnt")
	for _, dir := range []string{home, mnt} {
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(dir, nobody, nobody); err != nil {
			t.Fatal(err)
		}
	}
	src := filepath.Join(base, "data", "small.bin")
	writeRandomFile(t, src, 200_003, 63)
	os.Chmod(filepath.Dir(src), 0o755)
	os.Chmod(src, 0o644)
	tor := makeTorrent(t, src, nil, 32<<10)
	userTorrent := filepath.Join(base, "small.torrent")
	copyFile(t, tor.Path, userTorrent, 0o644)
	seeder := seedLibtorrent(t, tor)
	cred := &syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{}}
	env := []string{"HOME=" + home, "XDG_CACHE_HOME=" + filepath.Join(home, ".cache"), "USER=nobody", "LOGNAME=nobody"}
	asUser := procOpts{cred: cred, env: env}

	conf, _ := os.ReadFile("/etc/fuse.conf")
	if regexp.MustCompile(`(?m)^\s*user_allow_other\s*$`).Match(conf) {
		t.Log("/etc/fuse.conf has user_allow_other: the allow_other refusal is not tested")
	} else {
		r := run(t, 30*time.Second, asUser, userBin, "mount", "--no-dht", "--no-lsd", "--no-upnp", "-o", "allow_other", userTorrent, mnt)
		if r.code != 1 || !strings.Contains(r.stderr, "user_allow_other") || !strings.Contains(r.stderr, "/etc/fuse.conf") {
			t.Errorf("-o allow_other as nobody without user_allow_other: %v; want exit 1 naming user_allow_other in /etc/fuse.conf", r)
		}
		if isMounted(mnt) {
			t.Fatalf("%s mounted after a refused allow_other", mnt)
		}
	}

	m := startMount(t, mountOpts{dir: mnt, bin: userBin, cred: cred, env: env}, "-o", "umask=077,fsname=small torrent,peer="+seeder, userTorrent)
	fm := run(t, 10*time.Second, procOpts{}, "findmnt", "-n", "-o", "FSTYPE,SOURCE", m.Dir)
	if f := strings.Fields(fm.stdout); len(f) != 2 || f[0] != "fuse.hyperblow" || f[1] != "small_torrent" {
		t.Errorf("findmnt as nobody's mount: %q, want fuse.hyperblow small_torrent", fm.stdout)
	}
	if r := run(t, 10*time.Second, asUser, "stat", "-c", "%u %a", filepath.Join(m.Dir, "small.bin")); strings.TrimSpace(r.stdout) != fmt.Sprintf("%d 400", nobody) {
		t.Errorf("stat as nobody: %v; want %d 400", r, nobody)
	}
	if r := run(t, time.Minute, asUser, "cat", filepath.Join(m.Dir, "small.bin")); r.code != 0 || len(r.stdout) != 200_003 {
		t.Errorf("cat as nobody: exit %d, %d bytes", r.code, len(r.stdout))
	}
	if r := run(t, 10*time.Second, asUser, "fusermount3", "-u", m.Dir); r.code != 0 {
		t.Fatalf("fusermount3 -u as nobody: %v", r)
	}
	m.WaitExit(t, 20*time.Second)
}
