//go:build linux

package mountns

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { Main(m) }

// TestPrivateMount: as root, the tests run in their own mount namespace: a
// tmpfs mounted here does not show in the mount table of the process that
// started the test binary (its parent, which waits for it).
func TestPrivateMount(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (no namespace is made otherwise)")
	}
	if !Inside() {
		t.Fatal("the tests run as root outside a private mount namespace")
	}
	dir := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("hyperblow-mountns-test", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	defer unix.Unmount(dir, unix.MNT_DETACH)
	own, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(own), dir) {
		t.Fatalf("the tmpfs at %s is not in this process's mount table", dir)
	}
	parent, err := os.ReadFile(filepath.Join("/proc", itoa(os.Getppid()), "mountinfo"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(parent), dir) {
		t.Errorf("the tmpfs at %s shows in the parent's mount table: the namespace is not private", dir)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
