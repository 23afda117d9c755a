package storage

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

func openLayout(t *testing.T, tt *testTorrent, dir string, cfg LayoutConfig) (*Layout, LayoutCheck) {
	t.Helper()
	l, chk, err := OpenLayout(context.Background(), tt.mt.InfoHash, tt.mt.Info, dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, chk
}

// multi is a torrent of three files whose pieces straddle file boundaries.
func multi(t *testing.T, seed uint64) *testTorrent {
	return makeTorrent(t, seed, 16<<10, 40<<10, 5, 70<<10)
}

func filePath(dir string, tt *testTorrent, k int) string {
	if len(tt.files) == 1 {
		return filepath.Join(dir, "t")
	}
	return filepath.Join(dir, "t", "dir", string(rune('a'+k))+".bin")
}

func putAll(t *testing.T, l *Layout, tt *testTorrent) {
	t.Helper()
	for i := 0; i < tt.mt.Info.NumPieces; i++ {
		if !l.Put(i, tt.piece(i)) {
			t.Fatalf("Put(%d) refused", i)
		}
	}
}

func TestLayoutWritesUsableFilesAndResumesWithoutHashing(t *testing.T) {
	dir := t.TempDir()
	tt := multi(t, 10)
	n := tt.mt.Info.NumPieces
	l, chk := openLayout(t, tt, dir, LayoutConfig{})
	if chk.Trusted+chk.Valid != 0 {
		t.Fatalf("empty folder: check %+v", chk)
	}
	putAll(t, l, tt)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for k, want := range tt.files {
		got, err := os.ReadFile(filePath(dir, tt, k))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("file %d is not the torrent's (%v)", k, err)
		}
	}
	l2, chk := openLayout(t, tt, dir, LayoutConfig{})
	if chk.Trusted != n || chk.Hashed != 0 || !l2.Complete() {
		t.Fatalf("reopen: check %+v, want all %d pieces trusted, none hashed", chk, n)
	}
	if checkServed(t, l2, tt) != n {
		t.Fatal("not every piece served")
	}
	buf := make([]byte, 10)
	if _, err := l2.ReadAt(2, buf, 5); err != nil || !bytes.Equal(buf, tt.piece(2)[5:15]) {
		t.Fatalf("ReadAt: %v", err)
	}
	if s := l2.Stats(); s.HeldBytes != int64(len(tt.data)) {
		t.Fatalf("held %d, want %d", s.HeldBytes, len(tt.data))
	}
}

func TestLayoutFindsDataWrittenElsewhere(t *testing.T) {
	// Files put there by another client (or get before resume records): no
	// record, so every piece is hashed; a missing file costs only its pieces.
	dir := t.TempDir()
	tt := multi(t, 11)
	for k, b := range tt.files {
		if k == 2 {
			continue
		}
		p := filePath(dir, tt, k)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, b, 0o644)
	}
	var last atomic.Int64
	l, chk := openLayout(t, tt, dir, LayoutConfig{CheckProgress: func(done, total int) {
		if total != 2 {
			t.Errorf("progress: total %d, want 2 pieces to hash", total)
		}
		for {
			old := last.Load()
			if int64(done) <= old || last.CompareAndSwap(old, int64(done)) {
				return
			}
		}
	}})
	if last.Load() != 2 {
		t.Fatalf("progress reached %d of 2", last.Load())
	}
	// 40 KiB + 5 B then 70 KiB, 16 KiB pieces: pieces 0, 1 lie in file a; piece 2
	// straddles a, b and c.
	if chk.Valid != 2 || !l.Has(0) || !l.Has(1) || l.Has(2) {
		t.Fatalf("check %+v, have %08b: want pieces 0 and 1", chk, l.Bitfield().Bytes())
	}
	checkServed(t, l, tt)
}

func TestLayoutDamagedFilesCostOnlyTheirPieces(t *testing.T) {
	dir := t.TempDir()
	tt := multi(t, 12)
	n := tt.mt.Info.NumPieces
	l, _ := openLayout(t, tt, dir, LayoutConfig{})
	putAll(t, l, tt)
	l.Close()

	// File c truncated: its stamp changes, its pieces are hashed again; the
	// pieces wholly in a stay trusted.
	if err := os.Truncate(filePath(dir, tt, 2), 20<<10); err != nil {
		t.Fatal(err)
	}
	l2, chk := openLayout(t, tt, dir, LayoutConfig{})
	// c starts at 40 KiB + 5 in piece 2, which is still whole (hashed, valid);
	// its first 20 KiB end in piece 3: pieces 3 to 6 are lost, and only they.
	if chk.Trusted != 2 || chk.Hashed != 1 || chk.Valid != 1 {
		t.Fatalf("check %+v: want 2 trusted, piece 2 hashed and valid", chk)
	}
	if got := l2.Bitfield().Count(); got != 3 {
		t.Fatalf("holds %d pieces, want 3", got)
	}
	checkServed(t, l2, tt)
	// Writing the missing pieces repairs the file.
	for i := 3; i < n; i++ {
		l2.Put(i, tt.piece(i))
	}
	l2.Close()
	if got, _ := os.ReadFile(filePath(dir, tt, 2)); !bytes.Equal(got, tt.files[2]) {
		t.Fatal("file c not repaired")
	}
}

func TestLayoutFileChangedBehindOurBack(t *testing.T) {
	dir := t.TempDir()
	tt := makeTorrent(t, 13, 16<<10, 64<<10)
	l, _ := openLayout(t, tt, dir, LayoutConfig{})
	putAll(t, l, tt)
	l.Close()
	p := filePath(dir, tt, 0)
	st, _ := os.Stat(p)
	b, _ := os.ReadFile(p)
	b[20<<10] ^= 0xff // piece 1
	os.WriteFile(p, b, 0o644)
	// Put the mtime back: the record's fast path trusts the file, so the change
	// must be caught on read.
	os.Chtimes(p, st.ModTime(), st.ModTime())

	el := newEventLog()
	l2, chk := openLayout(t, tt, dir, LayoutConfig{Events: el.events()})
	if chk.Trusted != 4 {
		t.Fatalf("check %+v: want all trusted", chk)
	}
	if _, err := l2.Get(1); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Get of a changed piece: %v, want ErrCorrupt", err)
	}
	if l2.Has(1) || el.evicted[1] != 1 || l2.Stats().Corrupt != 1 {
		t.Fatalf("changed piece still held, or no event")
	}
	if n := checkServed(t, l2, tt); n != 3 {
		t.Fatalf("served %d, want 3", n)
	}
	// Changed while open, mtime moved: also caught on read.
	b[20<<10] ^= 0xff
	b[40<<10] ^= 1 // piece 2
	os.WriteFile(p, b, 0o644)
	if _, err := l2.Get(2); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Get of a piece changed while open: %v", err)
	}
	// The next open sees the new stamp and hashes the file.
	l2.Close()
	_, chk = openLayout(t, tt, dir, LayoutConfig{})
	if chk.Hashed != 4 || chk.Valid != 3 {
		t.Fatalf("check %+v: want 4 hashed, 3 valid", chk)
	}
}

func TestLayoutReadOnlyFolderServesWhatIsThere(t *testing.T) {
	dir, freeze := readOnlyDir(t)
	tt := multi(t, 14)
	l, _ := openLayout(t, tt, dir, LayoutConfig{})
	for i := 0; i < 3; i++ {
		l.Put(i, tt.piece(i))
	}
	l.Close()
	freeze()
	l2, chk, err := OpenLayout(context.Background(), tt.mt.InfoHash, tt.mt.Info, dir, LayoutConfig{})
	if err != nil {
		t.Fatalf("read-only folder: %v", err)
	}
	defer l2.Close()
	if chk.Trusted != 3 || !l2.Stats().Degraded {
		t.Fatalf("check %+v, stats %+v", chk, l2.Stats())
	}
	if checkServed(t, l2, tt) != 3 {
		t.Fatal("stored pieces not served")
	}
	if l2.Put(3, tt.piece(3)) {
		t.Fatal("Put accepted on a read-only folder")
	}
}

func TestLayoutFullDisk(t *testing.T) {
	dir := smallTmpfs(t, "1m")
	tt := makeTorrent(t, 15, 64<<10, 2<<20)
	logs := &logCapture{}
	l, _ := openLayout(t, tt, dir, LayoutConfig{ResumeDir: t.TempDir(), Log: slog.New(logs)})
	for i := 0; i < tt.mt.Info.NumPieces; i++ {
		l.Put(i, tt.piece(i))
		l.q.flush()
	}
	st := l.Stats()
	if !st.Degraded || st.WriteErrors == 0 || !strings.Contains(st.LastError, "no space") {
		t.Fatalf("stats %+v: want degraded by ENOSPC", st)
	}
	held := checkServed(t, l, tt)
	if held == 0 || held == tt.mt.Info.NumPieces {
		t.Fatalf("held %d", held)
	}
	if n := logs.count("writes stopped"); n != 1 {
		t.Fatalf("%d warnings, want 1: %q", n, logs.msgs)
	}
}

func TestLayoutRefusesSymlinks(t *testing.T) {
	dir := t.TempDir()
	tt := multi(t, 16)
	outside := t.TempDir()
	os.Mkdir(filepath.Join(dir, "t"), 0o755)
	os.Symlink(outside, filepath.Join(dir, "t", "dir"))
	if _, _, err := OpenLayout(context.Background(), tt.mt.InfoHash, tt.mt.Info, dir, LayoutConfig{}); err == nil {
		t.Fatal("opened through a symbolic link")
	}
	os.Remove(filepath.Join(dir, "t", "dir"))
	os.MkdirAll(filepath.Join(dir, "t", "dir"), 0o755)
	os.Symlink(filepath.Join(outside, "x"), filepath.Join(dir, "t", "dir", "a.bin"))
	if _, _, err := OpenLayout(context.Background(), tt.mt.InfoHash, tt.mt.Info, dir, LayoutConfig{}); err == nil {
		t.Fatal("opened a symbolic link as a file")
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Fatal("wrote outside the folder")
	}
}

func TestLayoutCheckHonoursContext(t *testing.T) {
	dir := t.TempDir()
	tt := makeTorrent(t, 17, 16<<10, 256<<10)
	os.WriteFile(filepath.Join(dir, "t"), tt.data, 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := OpenLayout(ctx, tt.mt.InfoHash, tt.mt.Info, dir, LayoutConfig{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

func TestLayoutResumeRecordOfAnotherTorrentIgnored(t *testing.T) {
	dir := t.TempDir()
	a := makeTorrent(t, 18, 16<<10, 64<<10)
	l, _ := openLayout(t, a, dir, LayoutConfig{})
	putAll(t, l, a)
	l.Close()
	// Another torrent's record under a's name, and a damaged one: both are
	// ignored and the data hashed.
	b := makeTorrent(t, 19, 16<<10, 32<<10)
	rp := filepath.Join(dir, ".hyperblow", a.mt.InfoHash.String()+".resume")
	rec := resumeRecord{InfoHash: b.mt.InfoHash, Files: []fileStamp{{}}, Have: b.spec(Events{}).bitfieldAll()}
	os.WriteFile(rp, rec.marshal(), 0o644)
	l2, chk := openLayout(t, a, dir, LayoutConfig{})
	if chk.Trusted != 0 || chk.Valid != 4 {
		t.Fatalf("check %+v", chk)
	}
	l2.Close() // one writer at a time (layoutlock.go)
	os.WriteFile(rp, []byte("HBRESUM1garbage"), 0o644)
	_, chk = openLayout(t, a, dir, LayoutConfig{})
	if chk.Valid+chk.Trusted != 4 {
		t.Fatalf("check %+v", chk)
	}
}

func TestLayoutWritesOnWithoutResumeRecord(t *testing.T) {
	// The resume folder cannot be made (a file is in the way): the data is
	// still written, and the next open hashes it.
	dir := t.TempDir()
	block := filepath.Join(t.TempDir(), "file")
	os.WriteFile(block, nil, 0o644)
	tt := makeTorrent(t, 23, 16<<10, 64<<10)
	l, _ := openLayout(t, tt, dir, LayoutConfig{ResumeDir: filepath.Join(block, "sub")})
	putAll(t, l, tt)
	l.Sync()
	if st := l.Stats(); st.Degraded || st.Writes != 4 || st.WriteErrors == 0 {
		t.Fatalf("stats %+v: want 4 writes, record errors, not degraded", st)
	}
	l.Close()
	_, chk := openLayout(t, tt, dir, LayoutConfig{})
	if chk.Valid != 4 {
		t.Fatalf("check %+v", chk)
	}
}
