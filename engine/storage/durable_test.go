package storage

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// markers lists the sync markers in a cache folder.
func markers(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var m []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), markPrefix) {
			m = append(m, e.Name())
		}
	}
	return m
}

// noTimedSync keeps the syncer's timer from running a round during a test.
func noTimedSync(t *testing.T) {
	old := syncEvery
	syncEvery = time.Hour
	t.Cleanup(func() { syncEvery = old })
}

// Pieces are stored (Stored, Has, served) before any fsync; a sync round, or
// Close, makes them durable and removes the marker that covered them.
func TestDiskCacheSyncsInRoundsAndAtClose(t *testing.T) {
	noTimedSync(t)
	dir := t.TempDir()
	tt := makeTorrent(t, 21, 16<<10, 64<<10)
	c := openCache(t, dir, 1<<20)
	el := newEventLog()
	ct := openTorrent(t, c, tt, el.events())
	ct.Put(0, tt.piece(0))
	ct.Put(1, tt.piece(1))
	c.Flush()
	if n, _ := el.counts(); n != 2 || !ct.Has(0) || !ct.Has(1) {
		t.Fatalf("stored events %d, want 2 before any sync", n)
	}
	if m := markers(t, dir); len(m) != 1 {
		t.Fatalf("markers %v: want one covering the unsynced pieces", m)
	}
	c.sync.sync()
	if m := markers(t, dir); len(m) != 0 {
		t.Fatalf("markers %v after a sync round: want none", m)
	}
	ct.Put(2, tt.piece(2))
	c.Flush()
	if m := markers(t, dir); len(m) != 1 {
		t.Fatalf("markers %v: want one again after a new write", m)
	}
	if err := ct.Close(); err != nil {
		t.Fatal(err)
	}
	if m := markers(t, dir); len(m) != 0 {
		t.Fatalf("markers %v after the torrent closed: want none (close syncs)", m)
	}
	ct = openTorrent(t, c, tt, Events{})
	ct.Put(3, tt.piece(3))
	c.Flush()
	c.Close()
	if m := markers(t, dir); len(m) != 0 {
		t.Fatalf("markers %v after the cache closed: want none", m)
	}
	c2 := openCache(t, dir, 1<<20)
	if got := checkServed(t, openTorrent(t, c2, tt, Events{}), tt); got != 4 {
		t.Fatalf("serves %d pieces after a restart, want 4", got)
	}
}

// A power cut: pieces written without fsync, the machine down before the
// syncer's round. The next boot finds the marker of another boot, verifies
// every piece written since it, and holds (advertises) none that is torn; a
// piece torn later (after its sync, so not in doubt) is still caught by the
// read's verification.
func TestDiskCachePowerCutVerifiesUnsyncedPieces(t *testing.T) {
	noTimedSync(t)
	dir := t.TempDir()
	tt := makeTorrent(t, 22, 16<<10, 128<<10) // 8 pieces
	c1 := openCache(t, dir, 1<<20)
	ct1 := openTorrent(t, c1, tt, Events{})
	for i := 0; i < 8; i++ {
		ct1.Put(i, tt.piece(i))
	}
	c1.Flush()
	if m := markers(t, dir); len(m) != 1 {
		t.Fatalf("markers %v: want one", m)
	}
	// c1 is left as it is: the "machine" goes down. What the disk holds
	// then: piece 2 torn (its last block never written), piece 5 torn but
	// with an mtime from before the marker (as if synced long ago, rotted since).
	tdir := filepath.Join(dir, tt.mt.InfoHash.String())
	tear := func(i int) {
		p := filepath.Join(tdir, strconv.Itoa(i))
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		clear(b[len(b)-4096:])
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tear(2)
	tear(5)
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(tdir, "5"), old, old); err != nil {
		t.Fatal(err)
	}
	realBoot := bootID
	bootID = func() string { return "another-boot" }
	t.Cleanup(func() { bootID = realBoot })

	c2 := openCache(t, dir, 1<<20)
	ct2 := openTorrent(t, c2, tt, Events{})
	if ct2.Has(2) {
		t.Fatal("a piece torn by the power cut is held (and would be advertised) after the restart")
	}
	if !ct2.Has(5) {
		t.Fatal("piece 5 (not in doubt) was verified at open: the marker's time was not used")
	}
	if st := c2.Stats(); st.Corrupt != 1 {
		t.Fatalf("corrupt %d at open, want 1", st.Corrupt)
	}
	if m := markers(t, dir); len(m) != 0 {
		t.Fatalf("markers %v after recovery: want none", m)
	}
	if _, err := ct2.Get(5); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("piece 5: %v, want ErrCorrupt from the read's verification", err)
	}
	if got := checkServed(t, ct2, tt); got != 6 {
		t.Fatalf("serves %d pieces, want the 6 intact ones", got)
	}
	// The torn piece is stored again when it comes back.
	ct2.Put(2, tt.piece(2))
	c2.Flush()
	if got, err := ct2.Get(2); err != nil || !bytes.Equal(got, tt.piece(2)) {
		t.Fatalf("piece 2 stored again: %v", err)
	}
}

// A marker of this boot whose process is gone (kill -9) costs no hashing at
// open: the page cache kept what it wrote. The opener makes that durable and
// removes the marker.
func TestDiskCacheKilledProcessMarkerNeedsNoCheck(t *testing.T) {
	noTimedSync(t)
	dir := t.TempDir()
	tt := makeTorrent(t, 23, 16<<10, 64<<10)
	c1 := openCache(t, dir, 1<<20)
	ct1 := openTorrent(t, c1, tt, Events{})
	for i := 0; i < 4; i++ {
		ct1.Put(i, tt.piece(i))
	}
	c1.Flush()
	c1.Close()
	// A dead process's marker, from now.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skipf("no process to borrow a dead pid from: %v", err)
	}
	mark := filepath.Join(dir, markPrefix+strconv.Itoa(dead.Process.Pid)+"-1")
	if err := writeMarker(mark, time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	// Piece 1 is damaged (mtime now, after the marker): with a marker of this
	// boot it is not checked at open, and the read still refuses it.
	p := filepath.Join(dir, tt.mt.InfoHash.String(), "1")
	b, _ := os.ReadFile(p)
	b[headerSize+7] ^= 1
	os.WriteFile(p, b, 0o644)

	c2 := openCache(t, dir, 1<<20)
	ct2 := openTorrent(t, c2, tt, Events{})
	if !ct2.Has(1) || c2.Stats().Corrupt != 0 {
		t.Fatalf("held %v corrupt %d: a kill -9 marker made the open verify", ct2.Has(1), c2.Stats().Corrupt)
	}
	if m := markers(t, dir); len(m) != 0 {
		t.Fatalf("markers %v: the dead process's marker was kept", m)
	}
	if _, err := ct2.Get(1); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damaged piece 1: %v, want ErrCorrupt", err)
	}
}

func TestParseMarker(t *testing.T) {
	for _, tc := range []struct {
		in   string
		boot string
		ok   bool
	}{
		{"abc 123\n", "abc", true},
		{"123\n", "", true},
		{"abc -1\n", "", false},
		{"abc x\n", "", false},
		{"", "", false},
		{"a b c\n", "", false},
	} {
		boot, _, ok := parseMarker([]byte(tc.in))
		if ok != tc.ok || (ok && boot != tc.boot) {
			t.Errorf("parseMarker(%q) = %q, %v; want %q, %v", tc.in, boot, ok, tc.boot, tc.ok)
		}
	}
}

// A sync round that finds nothing pending while a batch is being written
// (between begin and add) keeps the marker: the batch's pieces are covered.
func TestSyncRoundKeepsMarkerDuringBatch(t *testing.T) {
	dir := t.TempDir()
	s := newSyncer(dir, slog.New(slog.DiscardHandler), func(error) {})
	defer s.close()
	since, err := s.begin()
	if err != nil {
		t.Fatal(err)
	}
	s.sync()
	if m := markers(t, dir); len(m) != 1 {
		t.Fatalf("markers %v during a batch: want the one covering it", m)
	}
	p := filepath.Join(dir, "piece")
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.add(since, []string{p}, map[string]bool{dir: true}, 1)
	s.sync()
	if m := markers(t, dir); len(m) != 0 {
		t.Fatalf("markers %v after the batch was synced: want none", m)
	}
}

// FuzzParseMarker: a marker file is read back from a folder anyone may have
// written into; parsing it never panics, and what it accepts has a time.
func FuzzParseMarker(f *testing.F) {
	f.Add([]byte("be6e61e4-1286-4f10-8508-45b1fa58cf5e 1765000000000000000\n"))
	f.Add([]byte("123\n"))
	f.Add([]byte(""))
	f.Add([]byte("a -5"))
	f.Fuzz(func(t *testing.T, b []byte) {
		boot, since, ok := parseMarker(b)
		if ok && (since.UnixNano() < 0 || strings.ContainsAny(boot, " \t\n")) {
			t.Fatalf("parseMarker(%q) = %q, %v, true", b, boot, since)
		}
	})
}

// The syncer's ticker runs only while a marker is on disk: it starts when a
// piece is written, stops once a round has synced everything, and starts again
// at the next write, so an idle process is not woken every syncEvery.
func TestSyncerTicksOnlyWhileUnsynced(t *testing.T) {
	old := syncEvery
	syncEvery = time.Millisecond
	ticking := make(chan bool, 16)
	syncerTicking = func(on bool) { ticking <- on }
	t.Cleanup(func() { syncEvery, syncerTicking = old, nil })
	dir := t.TempDir()
	tt := makeTorrent(t, 22, 16<<10, 64<<10)
	c := openCache(t, dir, 1<<20)
	ct := openTorrent(t, c, tt, Events{})
	want := func(on bool) {
		t.Helper()
		select {
		case got := <-ticking:
			if got != on {
				t.Fatalf("syncer ticking %v, want %v", got, on)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("the syncer's ticker did not turn %v", map[bool]string{true: "on", false: "off"}[on])
		}
	}
	for i := range 2 {
		ct.Put(i, tt.piece(i))
		c.Flush()
		want(true)  // the write's marker starts the ticker
		want(false) // a round synced it and removed the marker
		if m := markers(t, dir); len(m) != 0 {
			t.Fatalf("markers %v with the ticker stopped", m)
		}
	}
}
