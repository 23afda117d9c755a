package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// nobody is the unprivileged user the non-root test runs as.
const nobody = 65534

// TestNonRootMount mounts as an ordinary user, which goes through the setuid
// fusermount3, reads the mount as that user (without allow_other only the
// mounting user may), and unmounts with `fusermount3 -u` as that user.
func TestNonRootMount(t *testing.T) {
	requireRoot(t) // to switch to the unprivileged user
	bin := buildBinary(t)
	requireTool(t, "fusermount3")
	openDevFuse(t)

	// The unprivileged user must reach everything it runs and reads, so it gets a
	// world-readable folder of its own outside the test's 0700 temp folders.
	base, err := os.MkdirTemp("", "hyperblow-nonroot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) }) // registered first: runs after the unmount
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	userBin := filepath.Join(base, "hyperblow")
	copyFile(t, bin, userBin, 0o755)
	home, mnt := filepath.Join(base, "home"), filepath.Join(base, "mnt")
	for _, d := range []string{home, mnt} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, nobody, nobody); err != nil {
			t.Fatal(err)
		}
	}
	src := filepath.Join(base, "data", "small.bin")
	writeRandomFile(t, src, 300_001, 9)
	os.Chmod(filepath.Dir(src), 0o755)
	os.Chmod(src, 0o644)
	tor := makeTorrent(t, src, nil, 32<<10)
	userTorrent := filepath.Join(base, "small.torrent")
	copyFile(t, tor.Path, userTorrent, 0o644)
	seeder := seedLibtorrent(t, tor)

	cred := &syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{}}
	env := []string{"HOME=" + home, "XDG_CACHE_HOME=" + filepath.Join(home, ".cache"), "USER=nobody", "LOGNAME=nobody"}
	m := startMount(t, mountOpts{dir: mnt, bin: userBin, cred: cred, env: env}, "--peer", seeder, userTorrent)

	asUser := procOpts{cred: cred, env: env}
	if r := run(t, 10*time.Second, asUser, "ls", "-l", m.Dir); r.code != 0 || !strings.Contains(r.stdout, "small.bin") {
		t.Fatalf("ls -l %s as nobody: %v", m.Dir, r)
	}
	r := run(t, time.Minute, asUser, "cat", filepath.Join(m.Dir, "small.bin"))
	if r.code != 0 {
		t.Fatalf("cat as nobody: %v", r)
	}
	sum := sha256.Sum256([]byte(r.stdout))
	if got, want := hex.EncodeToString(sum[:]), hashFile(t, src); got != want {
		t.Fatalf("cat as nobody: %d bytes, sha256 %s, want %s", len(r.stdout), got, want)
	}
	if r := run(t, 10*time.Second, asUser, "fusermount3", "-u", m.Dir); r.code != 0 {
		t.Fatalf("fusermount3 -u as nobody: %v", r)
	}
	m.WaitExit(t, exitTimeout)
}

// openDevFuse makes /dev/fuse usable by every user, as Debian's udev rule does
// (crw-rw-rw-), for the length of the test: fusermount3 opens it as the calling
// user. Some containers create it 0600.
func openDevFuse(t testing.TB) {
	t.Helper()
	st, err := os.Stat("/dev/fuse")
	if err != nil {
		missing(t, "/dev/fuse: %v", err)
	}
	mode := st.Mode().Perm()
	if mode&0o006 == 0o006 {
		return
	}
	if err := os.Chmod("/dev/fuse", mode|0o666); err != nil {
		t.Fatalf("make /dev/fuse usable by %d: %v", nobody, err)
	}
	t.Logf("/dev/fuse was %v; made it rw for all users for this test (Debian's default)", mode)
	t.Cleanup(func() { os.Chmod("/dev/fuse", mode) })
}

func copyFile(t testing.TB, from, to string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(to, mode); err != nil {
		t.Fatal(err)
	}
}
