package integration

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestGetTwoProcessesOneFolder: two `hyperblow get` processes given one
// DIR for one torrent never both write DIR/NAME: while the first holds it
// (waiting for a peer that never answers), the second exits 1 saying the
// files are in use by another process; once the first is stopped, the
// folder is free again.
func TestGetTwoProcessesOneFolder(t *testing.T) {
	bin := buildBinary(t)
	src := filepath.Join(t.TempDir(), "locked.bin")
	writeRandomFile(t, src, 1<<20, 7)
	tor := makeTorrent(t, src, nil, 64<<10)
	out := t.TempDir()
	args := []string{"get", "--no-dht", "--no-lsd", "--no-upnp", "--listen", "127.0.0.1:0", "--peer", "127.0.0.1:1", tor.Path, out}
	first := startProc(t, "first get", procOpts{}, append([]string{bin}, args...)...)
	// The first get has checked the folder, holding it, once its resume
	// record is there (written at the end of the check, under the lock).
	record := filepath.Join(out, ".hyperblow", tor.InfoHash+".resume")
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := os.Stat(record); err == nil {
			break
		}
		if first.exited() || time.Now().After(deadline) {
			t.Fatalf("the first get did not check %s within a minute: %s", out, first.describe())
		}
		time.Sleep(20 * time.Millisecond)
	}
	second := run(t, time.Minute, procOpts{}, append([]string{bin}, args...)...)
	if second.code != 1 || !strings.Contains(second.stderr+second.stdout, "in use: another process writes these files") {
		t.Fatalf("a second get of the same folder: %v; want exit 1 saying the files are in use", second)
	}
	if first.exited() {
		t.Fatalf("the first get ended: %s", first.describe())
	}
	if err := first.signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if !first.waitFor(exitTimeout) {
		t.Fatalf("the first get did not stop within %v of SIGINT: %s", exitTimeout, first.hung())
	}
	// Free again: a third get holds it (and is then stopped the same way).
	if err := os.Remove(record); err != nil {
		t.Fatal(err)
	}
	third := startProc(t, "third get", procOpts{}, append([]string{bin}, args...)...)
	deadline = time.Now().Add(time.Minute)
	for {
		if _, err := os.Stat(record); err == nil {
			break
		}
		if third.exited() || time.Now().After(deadline) {
			t.Fatalf("a get after the first one stopped did not open the folder: %s", third.describe())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
