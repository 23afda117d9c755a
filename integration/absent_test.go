package integration

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAbsentSeeder mounts a torrent nobody seeds (its trackers are closed loopback
// ports, no DHT, no --peer). Listing works at once; a read blocks; the blocked
// reader can be killed promptly; and the mount still ends cleanly, by SIGTERM or
// by `fusermount3 -u`.
func TestAbsentSeeder(t *testing.T) {
	buildBinary(t)
	src := filepath.Join(t.TempDir(), "lonely.bin")
	const size = 1<<20 + 123
	writeRandomFile(t, src, size, 7)
	closed := freePort(t) // nothing listens here
	tor := makeTorrent(t, src, []string{
		fmt.Sprintf("http://127.0.0.1:%d/announce", closed),
		fmt.Sprintf("udp://127.0.0.1:%d/announce", closed),
	}, 64<<10)

	for _, tc := range []struct {
		name    string
		kill    syscall.Signal // sent to the blocked reader
		unmount string
	}{
		{"SIGINT reader, SIGTERM hyperblow", syscall.SIGINT, "sigterm"},
		{"SIGKILL reader, fusermount3 -u", syscall.SIGKILL, "fusermount3"},
		{"reader still blocked, SIGTERM hyperblow", 0, "sigterm"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := mount(t, tor.Path)
			file := filepath.Join(m.Dir, "lonely.bin")

			// A bound on a hang (ls must not wait for a seeder), not a speed.
			ls := run(t, 30*time.Second, procOpts{}, "ls", "-l", m.Dir)
			if ls.code != 0 || !strings.Contains(ls.stdout, "lonely.bin") || !strings.Contains(ls.stdout, strconv.Itoa(size)) {
				t.Fatalf("ls -l %s with no seeder (want lonely.bin, %d bytes, within 30 s): %v", m.Dir, size, ls)
			}
			t.Logf("ls -l took %v", ls.elapsed.Round(time.Millisecond))

			cat := startProc(t, "cat", procOpts{}, "cat", file)
			time.Sleep(time.Second)
			if cat.exited() {
				t.Fatalf("cat %s ended with no seeder; it should block: %s", file, cat.describe())
			}
			if tc.kill == 0 {
				// Stopping the mount must release the blocked reader (EIO) and
				// still unmount cleanly with exit status 0.
				m.Unmount(t)
				if !cat.waitFor(exitTimeout) {
					t.Fatalf("cat still blocked %v after the mount stopped: %s", exitTimeout, cat.describe())
				}
				if cat.exitCode() == 0 {
					t.Fatalf("cat of a file nobody seeds succeeded: %s", cat.describe())
				}
				return
			}
			start := time.Now()
			if err := cat.signal(tc.kill); err != nil {
				t.Fatal(err)
			}
			if !cat.waitFor(exitTimeout) {
				t.Fatalf("cat blocked on a read still running %v after %v (an interrupted read must return): %s", exitTimeout, tc.kill, m.p.hung())
			}
			t.Logf("cat ended %v after %v", time.Since(start).Round(time.Millisecond), tc.kill)

			switch tc.unmount {
			case "sigterm":
				m.Unmount(t)
			case "fusermount3":
				if r := run(t, exitTimeout, procOpts{}, "fusermount3", "-u", m.Dir); r.code != 0 {
					t.Fatalf("fusermount3 -u %s: %v", m.Dir, r)
				}
				m.WaitExit(t, exitTimeout)
			}
		})
	}
}

// TestReadTimeout: with --read-timeout a read whose data cannot come fails with
// EIO instead of waiting, and the mount still stops cleanly.
func TestReadTimeout(t *testing.T) {
	buildBinary(t)
	src := filepath.Join(t.TempDir(), "lonely.bin")
	writeRandomFile(t, src, 1<<20, 8)
	tor := makeTorrent(t, src, nil, 64<<10)
	m := mount(t, "--read-timeout", "1s", tor.Path)
	r := run(t, 30*time.Second, procOpts{}, "cat", filepath.Join(m.Dir, "lonely.bin"))
	if r.timeout || r.code == 0 || !strings.Contains(r.stderr, "Input/output error") {
		t.Fatalf("cat with --read-timeout 1s and no seeder: want an Input/output error, got %v", r)
	}
	t.Logf("cat failed after %v", r.elapsed.Round(time.Millisecond))
	m.Unmount(t)
}
