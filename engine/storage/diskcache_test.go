package storage

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func openCache(t *testing.T, dir string, max int64) *DiskCache {
	t.Helper()
	c, err := OpenDiskCache(DiskCacheConfig{Dir: dir, MaxBytes: max})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func openTorrent(t *testing.T, c *DiskCache, tt *testTorrent, ev Events) *CacheTorrent {
	t.Helper()
	ct, err := c.Torrent(tt.spec(ev))
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

func TestDiskCachePutGetSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	tt := makeTorrent(t, 1, 16<<10, 100<<10) // 7 pieces, the last short
	n := tt.mt.Info.NumPieces
	c := openCache(t, dir, 1<<20)
	el := newEventLog()
	ct := openTorrent(t, c, tt, el.events())
	for i := 0; i < n; i++ {
		if !ct.Put(i, tt.piece(i)) {
			t.Fatalf("Put(%d) refused", i)
		}
	}
	c.Flush()
	if ct.Put(0, tt.piece(0)) {
		t.Fatal("Put of a stored piece was accepted")
	}
	if got := ct.Bitfield().Count(); got != n {
		t.Fatalf("bitfield holds %d pieces, want %d", got, n)
	}
	if s, _ := el.counts(); s != n {
		t.Fatalf("Stored fired for %d pieces, want %d", s, n)
	}
	if checkServed(t, ct, tt) != n {
		t.Fatal("not every piece served")
	}
	buf := make([]byte, 100)
	if _, err := ct.ReadAt(3, buf, 50); err != nil || !bytes.Equal(buf, tt.piece(3)[50:150]) {
		t.Fatalf("ReadAt: %v", err)
	}
	st := c.Stats()
	if st.Writes != int64(n) || st.HeldBytes != int64(len(tt.data)+n*headerSize) || st.WriteErrors != 0 {
		t.Fatalf("stats %+v", st)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	c2 := openCache(t, dir, 1<<20)
	ct2 := openTorrent(t, c2, tt, Events{})
	if got := ct2.Bitfield().Count(); got != n {
		t.Fatalf("after restart: %d pieces, want %d", got, n)
	}
	if checkServed(t, ct2, tt) != n {
		t.Fatal("after restart: not every piece served")
	}
	if st := c2.Stats(); st.HeldBytes != int64(len(tt.data)+n*headerSize) {
		t.Fatalf("after restart: held %d", st.HeldBytes)
	}
	if st := ct2.Stats(); st.HeldBytes != int64(len(tt.data)) || st.Hits != int64(n) {
		t.Fatalf("after restart, the torrent's stats: %+v", st)
	}
}

func TestDiskCacheRefusesUnverifiedAndWrongLength(t *testing.T) {
	tt := makeTorrent(t, 2, 16<<10, 64<<10)
	c := openCache(t, t.TempDir(), 1<<20)
	ct := openTorrent(t, c, tt, Events{})
	if ct.Put(0, tt.piece(0)[:100]) {
		t.Fatal("short piece accepted")
	}
	bad := bytes.Clone(tt.piece(1))
	bad[7] ^= 1
	ct.Put(1, bad) // queued: the writer checks the hash
	c.Flush()
	if ct.Has(1) {
		t.Fatal("a piece that does not match its hash reached disk")
	}
	if c.Stats().WriteErrors != 1 {
		t.Fatalf("want one write error, stats %+v", c.Stats())
	}
	if ct.Put(-1, nil) || ct.Put(99, tt.piece(0)) {
		t.Fatal("out-of-range piece accepted")
	}
	if _, err := ct.Get(99); err == nil {
		t.Fatal("Get out of range: no error")
	}
}

func TestDiskCacheEvictsLeastRecentlyUsed(t *testing.T) {
	const pl = 16 << 10
	tt := makeTorrent(t, 3, pl, 8*pl)
	size := int64(pl + headerSize)
	c := openCache(t, t.TempDir(), 4*size) // room for 4 pieces
	el := newEventLog()
	ct := openTorrent(t, c, tt, el.events())
	for i := 0; i < 4; i++ {
		ct.Put(i, tt.piece(i))
		c.Flush()
	}
	if _, err := ct.Get(0); err != nil { // 0 is now the most recent; 1 the least
		t.Fatal(err)
	}
	ct.Put(4, tt.piece(4))
	c.Flush()
	if ct.Has(1) || !ct.Has(0) || !ct.Has(4) {
		t.Fatalf("after eviction: have %08b, want 0, 2, 3, 4", ct.Bitfield().Bytes())
	}
	if el.evicted[1] != 1 {
		t.Fatalf("Evicted events %v, want piece 1", el.evicted)
	}
	for i := 5; i < 8; i++ {
		ct.Put(i, tt.piece(i))
		c.Flush()
	}
	st := c.Stats()
	if st.HeldBytes > 4*size || st.Evictions != 4 {
		t.Fatalf("stats %+v: want at most %d bytes and 4 evictions", st, 4*size)
	}
	if got := ct.Bitfield().Count(); got != 4 {
		t.Fatalf("holds %d pieces, want 4", got)
	}
	checkServed(t, ct, tt)
}

func TestDiskCacheCorruptAndTruncatedFiles(t *testing.T) {
	dir := t.TempDir()
	tt := makeTorrent(t, 4, 16<<10, 64<<10)
	c := openCache(t, dir, 1<<20)
	ct := openTorrent(t, c, tt, Events{})
	for i := 0; i < 4; i++ {
		ct.Put(i, tt.piece(i))
	}
	c.Flush()
	c.Close()
	tdir := filepath.Join(dir, tt.mt.InfoHash.String())
	// Piece 1 changed behind our back (same size); piece 2 truncated; piece 3's
	// header is damaged.
	p1 := filepath.Join(tdir, "1")
	b, _ := os.ReadFile(p1)
	b[headerSize+100] ^= 0xff
	os.WriteFile(p1, b, 0o644)
	os.Truncate(filepath.Join(tdir, "2"), headerSize+1000)
	p3 := filepath.Join(tdir, "3")
	b, _ = os.ReadFile(p3)
	b[10] ^= 1
	os.WriteFile(p3, b, 0o644)
	// A leftover temporary file and a foreign file are never served.
	os.WriteFile(filepath.Join(tdir, tmpPrefix+"1-x"), []byte("junk"), 0o644)
	os.WriteFile(filepath.Join(tdir, "0x"), []byte("junk"), 0o644)

	c2 := openCache(t, dir, 1<<20)
	el := newEventLog()
	ct2 := openTorrent(t, c2, tt, el.events())
	if ct2.Has(2) {
		t.Fatal("a truncated piece file is held")
	}
	if _, err := ct2.Get(1); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("changed piece: got %v, want ErrCorrupt", err)
	}
	if _, err := ct2.Get(3); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damaged header: got %v, want ErrCorrupt", err)
	}
	if ct2.Has(1) || ct2.Has(3) || el.evicted[1] != 1 || el.evicted[3] != 1 {
		t.Fatalf("corrupt pieces still held or no event: %v", el.evicted)
	}
	if _, err := os.Stat(p1); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("corrupt piece file not removed")
	}
	if got, err := ct2.Get(0); err != nil || !bytes.Equal(got, tt.piece(0)) {
		t.Fatalf("intact piece 0: %v", err)
	}
	if st := c2.Stats(); st.Corrupt != 2 {
		t.Fatalf("stats %+v: want 2 corrupt", st)
	}
	// The broken piece can be stored again.
	ct2.Put(1, tt.piece(1))
	c2.Flush()
	if got, err := ct2.Get(1); err != nil || !bytes.Equal(got, tt.piece(1)) {
		t.Fatalf("re-stored piece 1: %v", err)
	}
}

func TestDiskCacheSharedByTwoProcesses(t *testing.T) {
	// Two DiskCaches on one folder hold separate open file descriptions, so their
	// flocks conflict exactly as two processes' do.
	const pl = 16 << 10
	dir := t.TempDir()
	size := int64(pl + headerSize)
	a := makeTorrent(t, 5, pl, 4*pl)
	b := makeTorrent(t, 6, pl, 4*pl)
	c1 := openCache(t, dir, 6*size)
	c2 := openCache(t, dir, 6*size)
	ta := openTorrent(t, c1, a, Events{})
	tb := openTorrent(t, c2, b, Events{})
	for i := 0; i < 4; i++ {
		tb.Put(i, b.piece(i))
	}
	c2.Flush()
	for i := 0; i < 4; i++ {
		ta.Put(i, a.piece(i))
		c1.Flush()
	}
	// The folder can hold 6: c1 may not evict b's pieces (c2 has b open and may
	// have advertised them), so it keeps its own 2 most recent.
	if got := tb.Bitfield().Count(); got != 4 {
		t.Fatalf("process 2's open torrent lost pieces: holds %d", got)
	}
	if !ta.Has(2) || !ta.Has(3) || ta.Bitfield().Count() != 2 {
		t.Fatalf("process 1 holds %08b, want pieces 2 and 3", ta.Bitfield().Bytes())
	}
	if st := c1.Stats(); st.Evictions != 2 {
		t.Fatalf("process 1 stats %+v: want 2 evictions", st)
	}
	// Once process 2 closes b, its pieces (least recently used) go first.
	tb.Close()
	for i := 0; i < 2; i++ {
		ta.Put(i, a.piece(i))
		c1.Flush()
	}
	if got := ta.Bitfield().Count(); got != 4 {
		t.Fatalf("after b closed: process 1 holds %d pieces, want 4", got)
	}
	if st := c1.Stats(); st.HeldBytes > 6*size {
		t.Fatalf("held %d > bound %d", st.HeldBytes, 6*size)
	}
	// A third process opening b sees what is left of it, all valid.
	c3 := openCache(t, dir, 6*size)
	tb3 := openTorrent(t, c3, b, Events{})
	if n := checkServed(t, tb3, b); n != 2 {
		t.Fatalf("b holds %d pieces after eviction, want 2", n)
	}
	// Process 1 learns at its next scan of pieces process 3 wrote for a
	// torrent both have open: another instance of a, sharing the folder.
	if _, err := c3.Torrent(a.spec(Events{})); err != nil {
		t.Fatal(err)
	}
}

func TestDiskCacheReadOnlyFolder(t *testing.T) {
	dir, freeze := readOnlyDir(t)
	tt := makeTorrent(t, 7, 16<<10, 64<<10)
	c := openCache(t, dir, 1<<20)
	ct := openTorrent(t, c, tt, Events{})
	ct.Put(0, tt.piece(0))
	ct.Put(1, tt.piece(1))
	c.Flush()
	c.Close()
	freeze()

	c2, err := OpenDiskCache(DiskCacheConfig{Dir: dir, MaxBytes: 1 << 20})
	if err != nil {
		t.Fatalf("a read-only folder must open (degraded): %v", err)
	}
	defer c2.Close()
	if !c2.Stats().Degraded {
		t.Fatal("not degraded on a read-only folder")
	}
	ct2 := openTorrent(t, c2, tt, Events{})
	if n := checkServed(t, ct2, tt); n != 2 {
		t.Fatalf("served %d stored pieces, want 2", n)
	}
	if ct2.Put(2, tt.piece(2)) {
		t.Fatal("Put accepted on a read-only folder")
	}
	if st := c2.Stats(); st.Dropped != 1 || st.LastError == "" {
		t.Fatalf("stats %+v", st)
	}
}

func TestDiskCacheFullDisk(t *testing.T) {
	dir := smallTmpfs(t, "1m")
	tt := makeTorrent(t, 8, 64<<10, 2<<20) // 32 pieces, 2 MiB: twice the disk
	logs := &logCapture{}
	c, err := OpenDiskCache(DiskCacheConfig{Dir: dir, MaxBytes: 16 << 20, Log: slog.New(logs)}) // the bound is far above what fits
	if err != nil {
		t.Fatal(err)
	}
	ct := openTorrent(t, c, tt, Events{})
	for i := 0; i < tt.mt.Info.NumPieces; i++ {
		ct.Put(i, tt.piece(i))
		c.Flush()
	}
	st := c.Stats()
	if !st.Degraded || st.WriteErrors == 0 || !strings.Contains(st.LastError, "no space") {
		t.Fatalf("stats %+v: want degraded by ENOSPC", st)
	}
	held := checkServed(t, ct, tt)
	if held == 0 || held >= tt.mt.Info.NumPieces {
		t.Fatalf("held %d pieces", held)
	}
	if ct.Put(tt.mt.Info.NumPieces-1, tt.piece(tt.mt.Info.NumPieces-1)) {
		t.Fatal("Put accepted after the disk filled")
	}
	if n := logs.count("RAM cache only"); n != 1 {
		t.Fatalf("%d warnings about going on with RAM only, want 1: %q", n, logs.msgs)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, tt.mt.InfoHash.String()))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			t.Fatalf("temporary file %s left after ENOSPC", e.Name())
		}
	}
	// Reopened, what was written is served.
	c.Close()
	c2 := openCache(t, dir, 16<<20)
	if n := checkServed(t, openTorrent(t, c2, tt, Events{}), tt); n != held {
		t.Fatalf("after reopen: %d pieces, want %d", n, held)
	}
}

func TestDiskCacheRemovesEmptiedTorrentFolders(t *testing.T) {
	const pl = 16 << 10
	dir := t.TempDir()
	size := int64(pl + headerSize)
	x := makeTorrent(t, 20, pl, 2*pl)
	y := makeTorrent(t, 21, pl, 4*pl)
	c := openCache(t, dir, 4*size)
	tx := openTorrent(t, c, x, Events{})
	tx.Put(0, x.piece(0))
	tx.Put(1, x.piece(1))
	tx.Close()
	ty := openTorrent(t, c, y, Events{})
	for i := 0; i < 4; i++ {
		ty.Put(i, y.piece(i))
		c.Flush()
	}
	if got := ty.Bitfield().Count(); got != 4 {
		t.Fatalf("y holds %d pieces, want 4", got)
	}
	if _, err := os.Stat(filepath.Join(dir, x.mt.InfoHash.String())); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the emptied folder of a closed torrent is still there (%v)", err)
	}
}

func TestDiskCacheConcurrentReadersWhileEvicting(t *testing.T) {
	const pl = 16 << 10
	tt := makeTorrent(t, 22, pl, 32*pl)
	n := tt.mt.Info.NumPieces
	c := openCache(t, t.TempDir(), 8*(pl+headerSize)) // a quarter of the torrent
	ct := openTorrent(t, c, tt, Events{})
	stop := make(chan struct{})
	errs := make(chan error, 4)
	for r := 0; r < 4; r++ {
		go func(r int) {
			for k := r; ; k += 7 {
				select {
				case <-stop:
					errs <- nil
					return
				default:
				}
				i := k % n
				got, err := ct.Get(i)
				if err == nil && !bytes.Equal(got, tt.piece(i)) {
					errs <- fmt.Errorf("piece %d: wrong bytes", i)
					return
				}
				if err != nil && !errors.Is(err, ErrNotFound) {
					errs <- fmt.Errorf("piece %d: %v", i, err)
					return
				}
			}
		}(r)
	}
	for round := 0; round < 2; round++ {
		for i := 0; i < n; i++ {
			ct.Put(i, tt.piece(i))
		}
		c.Flush()
	}
	close(stop)
	for r := 0; r < 4; r++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	st := c.Stats()
	if st.HeldBytes > 8*(pl+headerSize) || st.Evictions == 0 || st.Corrupt != 0 {
		t.Fatalf("stats %+v", st)
	}
	if got := ct.Bitfield().Count(); int64(got) != st.HeldBytes/(pl+headerSize) {
		t.Fatalf("bitfield holds %d pieces, the folder %d bytes", got, st.HeldBytes)
	}
}

func TestDiskCacheTorrentOpenTwice(t *testing.T) {
	tt := makeTorrent(t, 24, 16<<10, 32<<10)
	c := openCache(t, t.TempDir(), 1<<20)
	ct := openTorrent(t, c, tt, Events{})
	if _, err := c.Torrent(tt.spec(Events{})); err == nil {
		t.Fatal("a torrent opened twice in one cache")
	}
	ct.Close()
	if _, err := c.Torrent(tt.spec(Events{})); err != nil {
		t.Fatalf("reopen after Close: %v", err)
	}
}

func TestDiskCacheAdvertisesOnlyWhatIsOnDisk(t *testing.T) {
	tt := makeTorrent(t, 25, 16<<10, 32<<10)
	c := openCache(t, t.TempDir(), 1<<20)
	release := make(chan struct{})
	c.beforeWrite = func() { <-release } // set before any Put: the writer reads it after
	el := newEventLog()
	ct := openTorrent(t, c, tt, el.events())
	if !ct.Put(0, tt.piece(0)) {
		t.Fatal("Put refused")
	}
	// Queued, not on disk: served to readers, but not advertised.
	if got, err := ct.Get(0); err != nil || !bytes.Equal(got, tt.piece(0)) {
		t.Fatalf("a queued piece is not served: %v", err)
	}
	if ct.Has(0) || ct.Bitfield().Count() != 0 {
		t.Fatal("a piece not yet on disk is in the bitfield")
	}
	if s, _ := el.counts(); s != 0 {
		t.Fatal("Stored fired before the write")
	}
	if st := c.Stats(); st.QueuedBytes != int64(len(tt.piece(0))) {
		t.Fatalf("queued %d bytes", st.QueuedBytes)
	}
	close(release)
	c.Flush()
	if !ct.Has(0) || el.stored[0] != 1 {
		t.Fatal("stored piece not advertised")
	}
}
