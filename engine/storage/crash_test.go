package storage

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The crash tests re-run this test binary as a child that writes pieces
// without pause and reports each stored one on stdout; the parent kills it
// with SIGKILL mid-write, reopens the store and checks that every piece
// reported stored survived and that no wrong byte is served.

const (
	crashEnv    = "HYPERBLOW_STORAGE_CRASH_CHILD"
	crashDirEnv = "HYPERBLOW_STORAGE_CRASH_DIR"
	crashPieces = 256
)

// crashTorrent has four files of 64 pieces each.
func crashTorrent(t testing.TB) *testTorrent {
	const f = crashPieces / 4 * 16 << 10
	return makeTorrent(t, 99, 16<<10, f, f, f, f)
}

// TestCrashChild is the child; it does nothing in a normal run.
func TestCrashChild(t *testing.T) {
	kind := os.Getenv(crashEnv)
	if kind == "" {
		t.Skip("the child of the crash tests")
	}
	dir := os.Getenv(crashDirEnv)
	tt := crashTorrent(t)
	ev := Events{Stored: func(i int) { fmt.Fprintf(os.Stdout, "stored %d\n", i) }}
	// The disk cache writes in random order; the layout in order, as a
	// download mostly does, so that its first files are complete, recorded and
	// untouched when it is killed.
	order := rand.New(rand.NewPCG(7, 7)).Perm(crashPieces)
	if kind == "layout" {
		for i := range order {
			order[i] = i
		}
	}
	var tier Tier
	switch kind {
	case "diskcache":
		c, err := OpenDiskCache(DiskCacheConfig{Dir: dir, MaxBytes: 1 << 30, QueueBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		if tier, err = c.Torrent(tt.spec(ev)); err != nil {
			t.Fatal(err)
		}
	case "layout":
		l, _, err := OpenLayout(context.Background(), tt.mt.InfoHash, tt.mt.Info, dir,
			LayoutConfig{Events: ev, ResumeEvery: 8 * 16 << 10, QueueBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		tier = l
	}
	fmt.Println("ready")
	for {
		for _, i := range order {
			tier.Put(i, tt.piece(i)) // dropped when the queue is full: retried next round
		}
		time.Sleep(time.Millisecond) // the child yields to its writer; no test waits on this
	}
}

// crashChild starts the child, waits until it has reported n pieces stored,
// kills it with SIGKILL and returns the pieces it reported.
func crashChild(t *testing.T, kind, dir string, n int) map[int]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+kind, crashDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stored := map[int]bool{}
	sc := bufio.NewScanner(out)
	for len(stored) < n && sc.Scan() {
		if s, ok := strings.CutPrefix(sc.Text(), "stored "); ok {
			i, _ := strconv.Atoi(s)
			stored[i] = true
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	// Lines already written before the kill were stored too.
	for sc.Scan() {
		if s, ok := strings.CutPrefix(sc.Text(), "stored "); ok {
			i, _ := strconv.Atoi(s)
			stored[i] = true
		}
	}
	cmd.Wait()
	if len(stored) < n {
		t.Fatalf("the child reported %d pieces stored before it ended, want %d", len(stored), n)
	}
	if len(stored) == crashPieces {
		t.Fatalf("the child stored everything before the kill: not a mid-write crash")
	}
	return stored
}

func TestDiskCacheSurvivesKill9(t *testing.T) {
	dir := t.TempDir()
	stored := crashChild(t, "diskcache", dir, 40)
	tt := crashTorrent(t)
	c := openCache(t, dir, 1<<30)
	ct := openTorrent(t, c, tt, Events{})
	for i := range stored {
		if !ct.Has(i) {
			t.Errorf("piece %d was reported stored but is gone after kill -9", i)
		}
	}
	held := checkServed(t, ct, tt)
	if held < len(stored) {
		t.Fatalf("serves %d pieces, %d were reported stored", held, len(stored))
	}
	ents, _ := os.ReadDir(filepath.Join(dir, tt.mt.InfoHash.String()))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			t.Errorf("the crashed writer's temporary file %s was not cleaned up", e.Name())
		}
	}
	// The child wrote without fsync; its sync marker (this boot, its process
	// gone) was taken over: made durable and removed, with no hashing.
	if m := markers(t, dir); len(m) != 0 || c.Stats().Corrupt != 0 {
		t.Errorf("after reopening: markers %v, corrupt %d", m, c.Stats().Corrupt)
	}
	t.Logf("%d pieces reported stored, %d held after the kill", len(stored), held)
}

func TestLayoutSurvivesKill9(t *testing.T) {
	dir := t.TempDir()
	stored := crashChild(t, "layout", dir, 100)
	tt := crashTorrent(t)
	// The kill nearly always lands between a write and the next resume
	// record, but now and then just after a record that covers every write:
	// then no file changed since, and nothing is hashed. Make the file being
	// written "changed after the last record" in every run (its mtime moves
	// on, as the kernel moves it on the next write), so that the hashing of
	// such a file is checked every time, not by chance.
	last := 0
	for i := range stored {
		last = max(last, i)
	}
	touchCrashFile(t, dir, last/(crashPieces/4))
	l, chk := openLayout(t, tt, dir, LayoutConfig{})
	for i := range stored {
		if !l.Has(i) {
			t.Errorf("piece %d was reported stored but is not found after kill -9", i)
		}
	}
	held := checkServed(t, l, tt)
	if held < len(stored) {
		t.Fatalf("serves %d pieces, %d were reported stored", held, len(stored))
	}
	// The first file was complete before the kill and unchanged since a resume
	// record: trusted without hashing. The file being written changed after the
	// last record: hashed (its holes skipped).
	if chk.Trusted < crashPieces/4 || chk.Hashed == 0 || chk.Trusted+chk.Valid != held {
		t.Fatalf("check %+v, held %d", chk, held)
	}
	t.Logf("%d pieces reported stored, check %+v", len(stored), chk)
}

// touchCrashFile moves file k's mtime a second past its current one.
func touchCrashFile(t *testing.T, dir string, k int) {
	t.Helper()
	name := string(rune('a'+k)) + ".bin"
	var found string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == name {
			found = p
		}
		return nil
	})
	if found == "" {
		t.Fatalf("the crashed child's file %s is not under %s", name, dir)
	}
	st, err := os.Stat(found)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(found, st.ModTime(), st.ModTime().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
}
