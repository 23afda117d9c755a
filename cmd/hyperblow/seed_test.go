package main

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/datadir"
	"github.com/hyperblow/hyperblow/engine/metainfo"
)

// lockedBuffer is written by runSeed and read by the test meanwhile.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// seedFixture writes a multi-file torrent "album" under dir/data/album and its
// .torrent, and returns the torrent's path and the data folder.
func seedFixture(t *testing.T) (torrent, data string) {
	t.Helper()
	dir := t.TempDir()
	data = filepath.Join(dir, "data", "album")
	writeTree(t, data, map[string]string{
		"one.txt":     strings.Repeat("one ", 10000),
		"sub/two.txt": strings.Repeat("two ", 30000),
	})
	raw, err := metainfo.Create(data, metainfo.CreateOptions{PieceLength: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	torrent = filepath.Join(dir, "album.torrent")
	if err := os.WriteFile(torrent, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return torrent, data
}

func TestSeedUsage(t *testing.T) {
	torrent, data := seedFixture(t)
	missing := filepath.Join(t.TempDir(), "nothing-here")
	for _, c := range []struct {
		args []string
		code int
		say  string
	}{
		{[]string{"seed"}, 2, "want TORRENT and DATA"},
		{[]string{"seed", torrent}, 2, "want TORRENT and DATA, got 1"},
		{[]string{"seed", torrent, data, "extra"}, 2, "got 3"},
		{[]string{"seed", "--peer", "nowhere", torrent, data}, 2, "invalid peer"},
		{[]string{"seed", "--listen"}, 2, "--listen needs a value"},
		{[]string{"seed", "--max-upload-rate", "fast", torrent, data}, 2, "invalid size"},
		{[]string{"seed", "--help"}, 0, "Examples"},
		{[]string{"help", "seed"}, 0, "seeding NAME (INFOHASH) on HOST:PORT"},
		{[]string{"seed", "/nonexistent.torrent", data}, 1, "/nonexistent.torrent"},
		{[]string{"seed", "--no-dht", "--listen", "127.0.0.1:0", torrent, missing}, 1, missing},
		{[]string{"seed", "--no-dht", "--listen", "127.0.0.1:0", torrent, filepath.Join(data, "one.txt")}, 1, "not a folder"},
	} {
		code, out, errOut := runArgs(c.args...)
		if code != c.code || !strings.Contains(out+errOut, c.say) {
			t.Errorf("run(%q) = %d, output %q; want %d and %q", c.args, code, out+errOut, c.code, c.say)
		}
	}
}

// Data that holds no piece of the torrent is refused, naming the first piece
// and the data; data holding some pieces is seeded (integration tests).
func TestSeedWrongData(t *testing.T) {
	torrent, data := seedFixture(t)
	for _, name := range []string{"one.txt", filepath.Join("sub", "two.txt")} {
		p := filepath.Join(data, name)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for i := range b {
			b[i] ^= 1
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errOut := runArgs("seed", "--no-dht", "--no-trackers", "--listen", "127.0.0.1:0", torrent, data)
	if code != 1 || !strings.Contains(errOut, "piece 0 ") || !strings.Contains(errOut, "holds no piece") || !strings.Contains(errOut, data) || strings.Contains(out, "seeding") {
		t.Errorf("seed of changed data: exit %d, %q %q; want 1 and a message naming piece 0 and %s", code, out, errOut, data)
	}
}

func TestSeedRoot(t *testing.T) {
	torrent, data := seedFixture(t)
	mt, err := metainfo.Load(torrent)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ arg, want string }{
		{data, data},                     // the torrent's folder
		{filepath.Dir(data), data},       // the folder holding it
		{data + "/", data + "/"},         // the same, spelled with a slash
		{filepath.Join(data, "sub"), ""}, // neither: it holds nothing of the torrent (TestSeedWrongData)
	} {
		used, err := datadir.Root(mt.Info, c.arg)
		if err != nil {
			t.Errorf("datadir.Root(%s): %v", c.arg, err)
			continue
		}
		if c.want != "" && used != c.want {
			t.Errorf("datadir.Root(%s) used %s, want %s", c.arg, used, c.want)
		}
	}

	// A single-file torrent: the file, or the folder holding it.
	file := filepath.Join(data, "one.txt")
	raw, err := metainfo.Create(file, metainfo.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	single, err := metainfo.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, arg := range []string{file, data} {
		used, err := datadir.Root(single.Info, arg)
		if err != nil || used != file {
			t.Errorf("single-file datadir.Root(%s) = %s, %v; want %s", arg, used, err, file)
		}
	}
	if _, err := datadir.Root(single.Info, filepath.Dir(data)); err == nil || !strings.Contains(err.Error(), "give the file itself") {
		t.Errorf("single-file seedRoot of a folder without the file: %v", err)
	}
}

// TestSeedRunsUntilSignalled seeds on loopback, then SIGTERM ends it cleanly.
func TestSeedRunsUntilSignalled(t *testing.T) {
	torrent, data := seedFixture(t)
	var out, errOut lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- runSeed([]string{"--no-dht", "--no-trackers", "--listen", "127.0.0.1:0", torrent, filepath.Dir(data)}, &out, &errOut)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "seeding ") {
		select {
		case err := <-done:
			t.Fatalf("runSeed returned early: %v\n%s%s", err, out.String(), errOut.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no seeding line after 30s: %s%s", out.String(), errOut.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	line := out.String()
	if !strings.HasPrefix(line, "seeding album (") || !strings.Contains(line, ") on 127.0.0.1:") {
		t.Errorf("seeding line %q, want \"seeding album (INFOHASH) on 127.0.0.1:PORT\"", line)
	}
	// runSeed has been listening for signals since before it printed the line.
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("runSeed after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("runSeed did not return within 30s of SIGTERM")
	}
	if !strings.Contains(out.String(), "stopped album") {
		t.Errorf("no stopped line: %q", out.String())
	}
}
