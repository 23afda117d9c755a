package fs

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestCheckMountpoint: an empty folder is fine; a missing path, a file, a
// folder that holds files and a mount point are refused with a message that
// says what is there and how to fix it; nonempty lets the last two through.
func TestCheckMountpoint(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	full := filepath.Join(dir, "full")
	file := filepath.Join(dir, "file")
	for _, d := range []string{empty, full} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{file, filepath.Join(full, "a.txt"), filepath.Join(full, "my notes,v2")} {
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		dir         string
		nonempty    bool
		say         []string // "" = no error
		overridable bool
	}{
		{empty, false, nil, false},
		{empty + "/", false, nil, false},
		{full, true, nil, false},
		{full, false, []string{full, "is not empty", "a.txt", `"my notes,v2"`, "choose an empty folder"}, true},
		{filepath.Join(dir, "missing"), false, []string{"does not exist", "mkdir -p " + filepath.Join(dir, "missing")}, false},
		{filepath.Join(dir, "missing"), true, []string{"does not exist"}, false},
		{file, true, []string{"is not a folder"}, false},
	} {
		err := CheckMountpoint(c.dir, c.nonempty, nil)
		if c.say == nil {
			if err != nil {
				t.Errorf("CheckMountpoint(%s, nonempty=%v): %v", c.dir, c.nonempty, err)
			}
			continue
		}
		var mpe *MountpointError
		if !errors.As(err, &mpe) || mpe.Overridable != c.overridable {
			t.Errorf("CheckMountpoint(%s, nonempty=%v) = %v; want a *MountpointError, overridable %v", c.dir, c.nonempty, err, c.overridable)
			continue
		}
		for _, s := range c.say {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("CheckMountpoint(%s): %q does not say %q", c.dir, err, s)
			}
		}
	}
}

// TestCheckMountpointMounted: a folder that is a mount point (here a bind
// mount, as root) is refused, saying what is mounted and how to unmount it;
// nonempty mounts over it anyway.
func TestCheckMountpointMounted(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("bind mounts need root")
	}
	src, mnt := t.TempDir(), filepath.Join(t.TempDir(), "my mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(src, mnt, "", unix.MS_BIND, ""); err != nil {
		t.Skipf("bind mount: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(mnt, unix.MNT_DETACH); err != nil {
			t.Errorf("unmounting the bind mount: %v", err)
		}
	})
	err := CheckMountpoint(mnt, false, nil)
	var mpe *MountpointError
	if !errors.As(err, &mpe) || !mpe.Overridable || !strings.Contains(err.Error(), "is already a mount point") ||
		!strings.Contains(err.Error(), "umount '"+mnt+"'") {
		t.Errorf("a mount point: %v; want it refused, naming umount '%s'", err, mnt)
	}
	if err := CheckMountpoint(mnt, true, nil); err != nil {
		t.Errorf("a mount point with nonempty: %v", err)
	}
	// Through a symbolic link to its parent: the mount table shows the real path.
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(filepath.Dir(mnt), link); err != nil {
		t.Fatal(err)
	}
	if err := CheckMountpoint(filepath.Join(link, "my mnt"), false, nil); err == nil || !strings.Contains(err.Error(), "is already a mount point") {
		t.Errorf("a mount point through a link: %v", err)
	}
}

// TestMountTableParsing: escapes in /proc/self/mountinfo are undone; dead
// mounts are ours only when they are Hyperblow's and this user's.
func TestMountTableParsing(t *testing.T) {
	for in, want := range map[string]string{
		`/mnt/my\040movie\134x`: `/mnt/my movie\x`,
		`/plain`:                `/plain`,
		`/bad\09`:               `/bad\09`,
		`/end\04`:               `/end\04`,
	} {
		if got := unescapeMountinfo(in); got != want {
			t.Errorf("unescapeMountinfo(%q) = %q, want %q", in, got, want)
		}
	}
	uid := "user_id=" + strconv.Itoa(os.Geteuid())
	for _, c := range []struct {
		m    MountEntry
		ours bool
	}{
		{MountEntry{Type: "fuse.hyperblow", SuperOpts: "ro," + uid + ",group_id=0"}, true},
		{MountEntry{Type: "fuse.sshfs", SuperOpts: "ro," + uid}, false},
		{MountEntry{Type: "fuse.hyperblow", SuperOpts: "ro,user_id=4294967294"}, os.Geteuid() == 0},
	} {
		if got := c.m.ours(); got != c.ours {
			t.Errorf("%+v: ours() = %v, want %v", c.m, got, c.ours)
		}
	}
	// The root of the mount table is found for any path, and mountAbove never
	// returns the path itself.
	if m, ok := mountAbove("/proc/self"); !ok || m.Point != "/proc" {
		t.Errorf("mountAbove(/proc/self) = %+v, %v", m, ok)
	}
	if m, ok := mountAt("/proc"); !ok || m.Type != "proc" {
		t.Errorf("mountAt(/proc) = %+v, %v", m, ok)
	}
}
