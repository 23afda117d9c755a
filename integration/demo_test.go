package integration

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDemoScript runs scripts/demo as the README says: it says that it builds
// (and that it is done) before the build's own output, mounts the demo at the
// folder given (made, as it does not exist), and a SIGTERM (the exec'd
// hyperblow's) unmounts it and removes the folder.
func TestDemoScript(t *testing.T) {
	requireTool(t, "fusermount3", "bash")
	root := repoRoot(t)
	mnt := filepath.Join(t.TempDir(), "demo")
	// The script puts /usr/local/go/bin on PATH; the go running the tests comes first.
	env := []string{"PATH=" + filepath.Dir(goTool()) + ":" + os.Getenv("PATH")}
	p := startProc(t, "scripts/demo", procOpts{dir: root, env: env, pdeathsig: syscall.SIGTERM}, "bash", "scripts/demo", mnt)
	m := &Mount{Dir: mnt, p: p, t: t}
	t.Cleanup(m.cleanup)
	p.waitStdout(t, "Hyperblow demo:", 5*time.Minute) // the first build may download modules
	stderr := p.Stderr.String()
	building, built := strings.Index(stderr, "building bin/hyperblow"), strings.Index(stderr, "built bin/hyperblow in ")
	if building != 0 || built < building {
		t.Errorf("scripts/demo does not start by saying it builds, then that it built:\n%s", tail(stderr, 2000))
	}
	if got := strings.Join(names(t, mnt), ","); !strings.Contains(got, "README.txt") || !strings.Contains(got, "SHA256SUMS") {
		t.Errorf("the demo mount holds %s", got)
	}
	m.Unmount(t)
	// The mount point did not exist: the demo made it, and removed it as it stopped.
	if _, err := os.Lstat(mnt); !os.IsNotExist(err) {
		t.Errorf("the demo's mount point %s is left behind (%v)", mnt, err)
	}
}
