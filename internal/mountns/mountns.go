// Package mountns runs a test binary in a private mount namespace, so that
// what its tests mount (a small tmpfs) goes away with the process, even when
// the process is killed and its cleanups never run. Without it, a test binary
// killed by a timeout left tmpfs mounts under /tmp on the machine until the
// next reboot.
package mountns

import (
	"os"
	"testing"
)

// envInside marks the copy of the test binary that runs in the namespace (and
// the processes it starts, which share the namespace).
const envInside = "HYPERBLOW_TEST_MOUNTNS"

// Main is for TestMain: as root on Linux it runs this test binary again, with
// the same arguments, in a new mount namespace whose mounts are private, and
// exits with that run's exit code. Elsewhere, when that is not possible, and
// in the copy itself, it runs the tests here.
func Main(m *testing.M) {
	if os.Getenv(envInside) == "" && os.Geteuid() == 0 {
		if code, ok := rerun(); ok {
			os.Exit(code)
		}
	}
	os.Exit(m.Run())
}

// Inside reports whether this process runs in the private namespace Main made.
func Inside() bool { return os.Getenv(envInside) != "" }
