package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// workDir holds what the tests of one run share: the built binary and the
// generated data, which seeders and mounts only read.
var workDir string

func TestMain(m *testing.M) {
	if os.Getenv(fakeGatewayEnv) != "" {
		// This binary again, as TestPortMapNATPMP's fake gateway: it needs no
		// work folder, and it is killed, so it could not remove one.
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "hyperblow-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		os.Exit(1)
	}
	workDir = dir
	// The mounts' default disk cache (and the DHT's node file) go to the
	// run's folder, never the user's; startMount gives each mount its own.
	os.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "xdg-cache"))
	code := m.Run()
	if os.Getenv("HYPERBLOW_KEEP") == "1" {
		fmt.Fprintln(os.Stderr, "integration: kept", dir)
	} else {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// requireTools are strict: a missing tool fails instead of skipping.
func requireTools() bool { return os.Getenv("HYPERBLOW_REQUIRE_TOOLS") == "1" }

// missing skips the test, or fails it when HYPERBLOW_REQUIRE_TOOLS=1.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if requireTools() {
		t.Fatalf("%s (HYPERBLOW_REQUIRE_TOOLS=1; run bash scripts/test to install)", msg)
	}
	t.Skipf("%s (run bash scripts/test to install)", msg)
}

// requireTool checks that each program is on PATH.
func requireTool(t testing.TB, names ...string) {
	t.Helper()
	for _, name := range names {
		if _, err := exec.LookPath(name); err != nil {
			missing(t, "%s not found", name)
		}
	}
}

// requireRoot skips tests that switch users or mount as root.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

// python is the interpreter that has python3-libtorrent (Debian's, not a pyenv shim).
func python() string {
	if p := os.Getenv("HYPERBLOW_PYTHON"); p != "" {
		return p
	}
	return "/usr/bin/python3"
}

var pyCheck struct {
	once sync.Once
	err  error
	out  []byte
}

// requireLibtorrent checks that python() can import libtorrent.
func requireLibtorrent(t testing.TB) {
	t.Helper()
	pyCheck.once.Do(func() {
		pyCheck.out, pyCheck.err = exec.Command(python(), "-c", "import libtorrent").CombinedOutput()
	})
	if pyCheck.err != nil {
		missing(t, "%s cannot import libtorrent (Debian package python3-libtorrent): %v %s", python(), pyCheck.err, pyCheck.out)
	}
}

// ltHelper is the path of the python3-libtorrent helper script.
func ltHelper(t testing.TB) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", "lthelper.py"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}
