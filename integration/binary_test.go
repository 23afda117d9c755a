package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var built struct {
	once sync.Once
	path string
	err  string // build failure, with the compiler's output
	miss string // why there is nothing to build yet
}

// raceBinary reports whether the binary under test is built with -race.
func raceBinary() bool { return os.Getenv("HYPERBLOW_RACE") == "1" }

// repoRoot is the module root: the parent of this package's directory.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no go.mod in %s: %v", root, err)
	}
	return root
}

// goTool is the go command that runs these tests.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if r := os.Getenv("GOROOT"); r != "" {
		return filepath.Join(r, "bin", "go")
	}
	return "/usr/local/go/bin/go"
}

// buildBinary builds ./cmd/hyperblow once per test run and returns its path
// (or returns $HYPERBLOW_BIN, a binary built elsewhere, when set).
// A missing cmd/hyperblow skips (fails under HYPERBLOW_REQUIRE_TOOLS=1); a build
// error always fails.
func buildBinary(t testing.TB) string {
	t.Helper()
	root := repoRoot(t)
	built.once.Do(func() {
		if p := os.Getenv("HYPERBLOW_BIN"); p != "" {
			built.path = p
			return
		}
		srcs, _ := filepath.Glob(filepath.Join(root, "cmd", "hyperblow", "*.go"))
		if len(srcs) == 0 {
			built.miss = "cmd/hyperblow has no Go files yet: the binary under test cannot be built"
			return
		}
		out := filepath.Join(workDir, "hyperblow")
		args := []string{"build", "-o", out}
		if raceBinary() {
			args = append(args, "-race")
		}
		args = append(args, "./cmd/hyperblow")
		start := time.Now()
		r := run(t, 10*time.Minute, procOpts{dir: root}, append([]string{goTool()}, args...)...)
		if r.code != 0 {
			built.err = "go " + strings.Join(args, " ") + ": " + r.String()
			return
		}
		t.Logf("built %s in %v", out, time.Since(start).Round(time.Millisecond))
		built.path = out
	})
	switch {
	case built.miss != "":
		missing(t, "%s", built.miss)
	case built.err != "":
		t.Fatalf("building hyperblow failed: %s", built.err)
	}
	return built.path
}
