package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// waitLog waits until hyperblow's stderr holds at least n lines containing
// what (a log message the engine prints when the event happens).
func waitLog(t *testing.T, m *Mount, what string, n int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for strings.Count(m.Stderr(), what) < n {
		if m.p.exited() {
			t.Fatalf("hyperblow exited while waiting for %q: %s", what, m.p.describe())
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d %q lines after %v:\n%s", strings.Count(m.Stderr(), what), n, what, d, tail(m.Stderr(), 4000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A mounted torrent that nothing reads for --idle falls asleep (its
// connection to the seeder closes); reading a part of the file it never
// fetched wakes it and returns the right bytes; it falls asleep again, and
// unmounting it asleep is clean (exit 0, nothing left mounted).
func TestIdleSleepWakeThroughMount(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "sleepy.bin")
	writeRandomFile(t, file, 4<<20, 91)
	tor := makeTorrent(t, file, nil, 64<<10)
	s := startSeed(t, tor.Path, file)
	m := mount(t, "-v", "--idle", "300ms", "--peer", s.Addr, tor.Path)
	path := filepath.Join(m.Dir, "sleepy.bin")

	// Read the head, then let it fall asleep.
	if r := run(t, time.Minute, procOpts{}, "head", "-c", "262144", path); r.code != 0 || len(r.stdout) != 262144 {
		t.Fatalf("head -c 262144: %v", r)
	}
	waitLog(t, m, "msg=asleep", 1, time.Minute)

	// The whole file: the rest was never fetched, so the read must wake it.
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	r := run(t, 2*time.Minute, procOpts{}, "sha256sum", path)
	if got, _, _ := strings.Cut(r.stdout, " "); r.code != 0 || got != hex.EncodeToString(sum[:]) {
		t.Fatalf("sha256sum after the sleep: %v", r)
	}
	waitLog(t, m, "msg=awake", 1, time.Minute)
	waitLog(t, m, "msg=asleep", 2, time.Minute)
	m.Unmount(t)
}
