package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/metainfo"
)

// LayoutConfig configures a Layout.
type LayoutConfig struct {
	Log        *slog.Logger
	QueueBytes int64 // write-behind bound (0: DefaultQueueBytes)
	Events     Events
	// ResumeDir holds the resume record, one file per info-hash
	// (default DIR/.hyperblow).
	ResumeDir string
	// ResumeEvery is how many bytes are written between resume records
	// (default 64 MiB); one is also written by Sync and Close.
	ResumeEvery int64
	// Verify checks a piece's bytes (default: SHA-1 against the info's hash;
	// BitTorrent v2 passes its own).
	Verify func(piece int, data []byte) bool
	// CheckProgress, if set, is called while OpenLayout hashes, with the pieces
	// hashed so far and how many it will hash (a progress line for get). It
	// runs on the hashing goroutines: keep it cheap.
	CheckProgress func(hashed, total int)
	// NoResume: no resume record is read or written, and nothing but the
	// torrent's files is made under DIR; OpenLayout hashes every piece whose
	// bytes may be there: a check that trusts nothing (a change within the
	// file system's mtime granularity would slip past a record; every Get
	// verifies anyway). Sync and Close still fsync.
	NoResume bool
	// ReadOnly opens the files read-only (hyperblow seed): nothing is
	// created, extended or written, no resume record is written (one there is
	// read), and Put and Write refuse. Missing files hold no pieces.
	ReadOnly bool
	// Root, if set, is where the torrent's data is instead of DIR/NAME: the
	// file of a single-file torrent, the torrent's folder of a multi-file one
	// (seed DATA named otherwise than the torrent).
	Root string
}

// Layout stores a torrent in its own file layout under a folder, the files
// complete and usable outside Hyperblow (--data, and what get writes): a
// single-file torrent is DIR/NAME, a multi-file torrent the folder DIR/NAME.
// BEP 47 padding files are not written; they read as zeros. Nothing is ever
// evicted. It implements Tier.
type Layout struct {
	info  *metainfo.Info
	ih    bt.InfoHash
	root  string
	cfg   LayoutConfig
	log   *slog.Logger
	files []layoutFile // non-empty files in torrent order, padding included
	rpath string       // the resume record
	q     *writeBehind[int]
	cnt   counters
	lock  *os.File // the flock on the root while writable (layoutlock.go)

	mu   sync.Mutex // guards have
	have bt.Bitfield

	wmu   sync.Mutex // guards file writes, dirty, dirtyFiles, stamps, sinceRec, recWarned, closed: the writer, Sync and Close
	dirty bool
	// dirtyFiles are the files written since the last record (nil: all of
	// them): only they are fsynced and stat'ed again, so a torrent of 100,000
	// files does not fsync every one of them every ResumeEvery bytes.
	dirtyFiles map[int]bool
	stamps     []fileStamp // per l.files entry, as of the last record
	sinceRec   int64
	recWarned  bool
	closed     bool
}

type layoutFile struct {
	path        string
	off, length int64
	f           *os.File // nil for padding, or a file that is absent in a read-only folder
	padding     bool
	before      fileStamp // as found when opened
	existed     bool
}

// LayoutCheck says how a Layout found what it holds when it opened.
type LayoutCheck struct {
	Trusted   int // pieces taken from the resume record (files unchanged)
	Hashed    int // pieces hashed because the record did not cover them
	Valid     int // of those, pieces that matched
	HeldBytes int64
}

// OpenLayout opens or creates the torrent's files under dir and finds which
// pieces are present and valid: pieces the resume record lists, in files whose
// size, mtime and inode are unchanged, are trusted; every other piece whose
// bytes may be there is hashed (in parallel; ctx cancels). A folder that cannot
// be written opens degraded: what is there is served and seeded.
func OpenLayout(ctx context.Context, ih bt.InfoHash, info *metainfo.Info, dir string, cfg LayoutConfig) (*Layout, LayoutCheck, error) {
	l := &Layout{info: info, ih: ih, root: filepath.Join(dir, info.Name), cfg: cfg, log: cfg.Log, have: bt.NewBitfield(info.NumPieces)}
	if cfg.Root != "" {
		l.root = filepath.Clean(cfg.Root)
		dir = filepath.Dir(l.root)
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if cfg.ReadOnly {
		l.cnt.degraded.Store(true) // writes stopped from the start, and nothing made
		l.cnt.setErr(errors.New("opened read-only"))
	}
	if cfg.ResumeEvery <= 0 {
		l.cfg.ResumeEvery = 64 << 20
	}
	if cfg.ResumeDir == "" {
		l.cfg.ResumeDir = filepath.Join(dir, ".hyperblow")
	}
	l.rpath = filepath.Join(l.cfg.ResumeDir, ih.String()+".resume")
	err := l.openFiles(dir)
	if err == nil && !l.cnt.degraded.Load() {
		l.lock, err = lockRoot(l.root) // before anything is hashed or written
	}
	if err != nil {
		l.closeFiles()
		return nil, LayoutCheck{}, fmt.Errorf("data %s: %w", l.root, err)
	}
	chk, err := l.check(ctx)
	if err != nil {
		l.closeFiles()
		return nil, LayoutCheck{}, fmt.Errorf("data %s: %w", l.root, err)
	}
	if !l.cnt.degraded.Load() {
		for _, f := range l.files {
			if f.f != nil && f.before.Size != f.length {
				if err := f.f.Truncate(f.length); err != nil {
					l.degrade(fmt.Errorf("%s: set size: %w", f.path, err))
				}
			}
		}
	}
	if !cfg.NoResume { // a record of what was found, so that the next open need not hash it
		l.wmu.Lock()
		l.dirty = true
		l.dirtyFiles = nil // all: fsync what open found (a crashed run may have left it in the page cache only)
		l.saveResumeLocked()
		l.wmu.Unlock()
	} else {
		l.dirtyFiles = map[int]bool{} // Sync fsyncs only the files written since
	}
	l.q = newWriteBehind(cfg.QueueBytes, func(b []item[int]) {
		for _, it := range b {
			l.writePiece(it.k, it.data)
		}
	})
	return l, chk, nil
}

// layoutPath is where file f of the torrent is: under the root.
func (l *Layout) layoutPath(f metainfo.File) string {
	if !l.info.MultiFile {
		return l.root
	}
	return filepath.Join(append([]string{l.root}, f.Path...)...)
}

func (l *Layout) openFiles(dir string) error {
	made := map[string]bool{}
	for _, mf := range l.info.Files {
		if mf.Length == 0 && mf.Padding {
			continue
		}
		lf := layoutFile{off: mf.Offset, length: mf.Length, padding: mf.Padding}
		if mf.Padding {
			l.files = append(l.files, lf)
			continue
		}
		lf.path = l.layoutPath(mf)
		st, err := os.Lstat(lf.path)
		switch {
		case err == nil && !st.Mode().IsRegular():
			return fmt.Errorf("%s: the torrent needs a file here, but it is a %s (move it away)", lf.path, kindOf(st))
		case err == nil:
			lf.existed = true
			lf.before = stampOf(st)
		case !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR):
			return err // ENOTDIR: a file where a folder should be, which makeParents names
		}
		if !l.cnt.degraded.Load() {
			if err := makeParents(dir, lf.path, made); err != nil {
				if !isReadOnly(err) {
					return err
				}
				l.degrade(err)
			}
		}
		flag := os.O_RDWR | os.O_CREATE
		if l.cnt.degraded.Load() {
			flag = os.O_RDONLY
		}
		f, err := os.OpenFile(lf.path, flag|syscall.O_NOFOLLOW, 0o644)
		if err != nil && flag != os.O_RDONLY && isReadOnly(err) {
			l.degrade(fmt.Errorf("%s: %w", lf.path, err))
			f, err = os.OpenFile(lf.path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
		}
		if err != nil && !(l.cnt.degraded.Load() && errors.Is(err, fs.ErrNotExist)) {
			return err
		}
		lf.f = f
		if mf.Length > 0 {
			l.files = append(l.files, lf)
		} else if f != nil {
			f.Close()
		}
	}
	return nil
}

// makeParents creates the folders between dir and the file p, refusing to go
// through a symbolic link or a file: nothing is written outside DIR/NAME.
func makeParents(dir, p string, made map[string]bool) error {
	parent := filepath.Dir(p)
	if made[parent] || parent == filepath.Clean(dir) || parent == filepath.Dir(parent) {
		return nil
	}
	if err := makeParents(dir, parent, made); err != nil {
		return err
	}
	st, err := os.Lstat(parent)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.Mkdir(parent, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("folder %s: %w", parent, err)
		}
	case err != nil:
		return fmt.Errorf("folder %s: %w", parent, err)
	case !st.IsDir():
		return fmt.Errorf("%s: the torrent needs a folder here, but it is a %s (move it away)", parent, kindOf(st))
	}
	made[parent] = true
	return nil
}

// kindOf names what st is, for an error a person reads.
func kindOf(st fs.FileInfo) string {
	switch {
	case st.Mode()&fs.ModeSymlink != 0:
		return "symbolic link"
	case st.IsDir():
		return "folder"
	case st.Mode().IsRegular():
		return "file"
	}
	return "special file"
}

func stampOf(st fs.FileInfo) fileStamp {
	s := fileStamp{Size: st.Size(), MTime: st.ModTime().UnixNano()}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		s.Ino = sys.Ino
	}
	return s
}

// span is the part of one file that a range of the torrent covers.
type span struct {
	k        int   // index in l.files
	at       int64 // offset in the file
	from, to int   // range in the caller's buffer
}

func (l *Layout) spans(off int64, n int) []span {
	k := sort.Search(len(l.files), func(i int) bool { return l.files[i].off+l.files[i].length > off })
	var out []span
	for done := 0; done < n && k < len(l.files); k++ {
		f := l.files[k]
		at := off + int64(done) - f.off
		m := int(min(int64(n-done), f.length-at))
		out = append(out, span{k: k, at: at, from: done, to: done + m})
		done += m
	}
	return out
}

// check finds the valid pieces (see OpenLayout).
func (l *Layout) check(ctx context.Context) (LayoutCheck, error) {
	var rec *resumeRecord
	if l.cfg.NoResume {
		// every present piece is hashed below
	} else if b, err := readSmall(l.rpath, int64(resumeFixed)+resumeFileSize*int64(len(l.files))+int64(l.info.NumPieces)/8+8); err == nil {
		r, err := parseResume(b)
		switch {
		case err != nil:
			l.log.Warn("data: ignoring a damaged resume record; checking the files", "path", l.rpath, "err", err)
		case r.InfoHash != l.ih || r.Have.Len() != l.info.NumPieces || len(r.Files) != l.countReal():
			l.log.Warn("data: ignoring a resume record of another torrent", "path", l.rpath)
		default:
			rec = r
		}
	}
	unchanged := make([]bool, len(l.files))
	if rec != nil {
		j := 0
		for k, f := range l.files {
			if f.padding {
				unchanged[k] = true
				continue
			}
			unchanged[k] = f.existed && f.before == rec.Files[j] && f.before.Size == f.length
			j++
		}
	}
	var chk LayoutCheck
	var toHash []int
	for i := 0; i < l.info.NumPieces; i++ {
		ss := l.spans(l.info.PieceOffset(i), int(l.info.PieceLen(i)))
		trusted, present := rec != nil && rec.Have.Has(i), true
		for _, s := range ss {
			f := l.files[s.k]
			trusted = trusted && unchanged[s.k]
			if !f.padding && (f.f == nil || !f.existed || f.before.Size < s.at+int64(s.to-s.from) ||
				isHole(f.f, s.at, int64(s.to-s.from))) {
				present = false
			}
		}
		switch {
		case trusted:
			l.have.Set(i)
			chk.Trusted++
			chk.HeldBytes += l.info.PieceLen(i)
		case present:
			toHash = append(toHash, i)
		}
	}
	chk.Hashed = len(toHash)
	err := hashPieces(ctx, toHash, l.info.PieceLength, l.info.PieceLen, l.readPiece, l.verify, l.cfg.CheckProgress, func(i int) {
		l.mu.Lock()
		l.have.Set(i)
		l.mu.Unlock()
		chk.Valid++
		chk.HeldBytes += l.info.PieceLen(i)
	})
	l.cnt.held.Store(chk.HeldBytes)
	return chk, err
}

// isHole reports whether n bytes at off of f are all a hole of a sparse file:
// never written, so not worth hashing (after a crash most of a big file may
// be). Any doubt (a file system without SEEK_DATA) says no.
func isHole(f *os.File, off, n int64) bool {
	d, err := unix.Seek(int(f.Fd()), off, unix.SEEK_DATA)
	if err == unix.ENXIO {
		return true
	}
	return err == nil && d >= off+n
}

func (l *Layout) countReal() int {
	n := 0
	for _, f := range l.files {
		if !f.padding {
			n++
		}
	}
	return n
}

func readSmall(p string, limit int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit))
}

func (l *Layout) verify(i int, b []byte) bool {
	if l.cfg.Verify != nil {
		return l.cfg.Verify(i, b)
	}
	return l.info.VerifyPiece(i, b) // SHA-1, or a v2 torrent's merkle layers
}

// readPiece reads piece i's bytes from the files into b.
func (l *Layout) readPiece(i int, b []byte) error {
	for _, s := range l.spans(l.info.PieceOffset(i), len(b)) {
		f := l.files[s.k]
		dst := b[s.from:s.to]
		if f.padding {
			clear(dst)
			continue
		}
		if f.f == nil {
			return fmt.Errorf("%s: %w", f.path, fs.ErrNotExist)
		}
		if _, err := f.f.ReadAt(dst, s.at); err != nil {
			if err == io.EOF {
				err = fmt.Errorf("shorter than %d bytes (truncated)", s.at+int64(len(dst)))
			}
			return fmt.Errorf("%s: %w", f.path, err)
		}
	}
	return nil
}

func (l *Layout) checkIndex(i int) error {
	if i < 0 || i >= l.info.NumPieces {
		return fmt.Errorf("data %s: piece %d out of range [0, %d)", l.root, i, l.info.NumPieces)
	}
	return nil
}

// Root is DIR/NAME: the torrent's file, or its folder.
func (l *Layout) Root() string { return l.root }

// Put implements Tier.
func (l *Layout) Put(i int, data []byte) bool {
	if l.checkIndex(i) != nil || int64(len(data)) != l.info.PieceLen(i) || l.Has(i) {
		return false
	}
	if _, queued := l.q.get(i); queued {
		return false
	}
	if l.cnt.degraded.Load() || !l.q.put(i, data) {
		l.cnt.dropped.Add(1)
		return false
	}
	return true
}

// Has implements Tier.
func (l *Layout) Has(i int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.have.Has(i)
}

// Bitfield implements Tier.
func (l *Layout) Bitfield() bt.Bitfield {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.have.Clone()
}

// Complete reports whether every piece is stored.
func (l *Layout) Complete() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.have.Full()
}

// Stats implements Tier.
func (l *Layout) Stats() Stats {
	s := l.cnt.snapshot()
	s.QueuedBytes = l.q.queuedBytes()
	return s
}

// Get implements Tier. The bytes are verified on every read: the files are the
// user's, and may change behind our back.
func (l *Layout) Get(i int) ([]byte, error) {
	if err := l.checkIndex(i); err != nil {
		return nil, err
	}
	if d, ok := l.q.get(i); ok {
		l.cnt.hits.Add(1)
		return d, nil
	}
	if !l.Has(i) {
		l.cnt.misses.Add(1)
		return nil, ErrNotFound
	}
	b := make([]byte, l.info.PieceLen(i))
	err := l.readPiece(i, b)
	if err == nil && !l.verify(i, b) {
		err = errors.New("the bytes do not match the piece's hash (changed behind our back?)")
	}
	if err != nil {
		l.log.Warn("data: a stored piece is no longer valid; it will be fetched again", "piece", i, "err", err)
		l.drop(i)
		l.cnt.misses.Add(1)
		return nil, fmt.Errorf("%w: piece %d of %s: %v", ErrCorrupt, i, l.root, err)
	}
	l.cnt.hits.Add(1)
	return b, nil
}

func (l *Layout) drop(i int) {
	l.mu.Lock()
	had := l.have.Has(i)
	l.have.Clear(i)
	l.mu.Unlock()
	if had {
		l.cnt.corrupt.Add(1)
		l.cnt.held.Add(-l.info.PieceLen(i))
		l.cfg.Events.evicted(i)
	}
}

// ReadAt implements Tier.
func (l *Layout) ReadAt(i int, p []byte, off int64) (int, error) {
	d, err := l.Get(i)
	if err != nil {
		return 0, err
	}
	return copyAt(d, p, off)
}

// writePiece runs on the writer goroutine: Put's pieces, written behind.
func (l *Layout) writePiece(i int, data []byte) {
	l.Write(i, data) // an error is counted, logged and degrades the layout
}

// Write writes verified piece i now, on the caller's goroutine, and returns
// once its bytes are in the files (fsynced by the next Sync or Close). It is
// Put for a caller that must not lose a piece (get): nothing is queued or
// dropped. The piece is hashed again first, as every write is: bytes that do
// not match never reach the files. A piece already held is not rewritten.
func (l *Layout) Write(i int, data []byte) error {
	if err := l.checkIndex(i); err != nil {
		return err
	}
	if int64(len(data)) != l.info.PieceLen(i) {
		return fmt.Errorf("data %s: piece %d: %d bytes, want %d", l.root, i, len(data), l.info.PieceLen(i))
	}
	if l.cnt.degraded.Load() {
		return fmt.Errorf("data %s: writes stopped: %s", l.root, l.Stats().LastError)
	}
	if l.Has(i) {
		return nil
	}
	if !l.verify(i, data) {
		l.cnt.writeErrors.Add(1)
		l.log.Error("data: refusing to write a piece that does not match its hash", "piece", i)
		return fmt.Errorf("data %s: piece %d does not match its hash: not written", l.root, i)
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closed {
		return fmt.Errorf("data %s: closed", l.root)
	}
	for _, s := range l.spans(l.info.PieceOffset(i), len(data)) {
		f := l.files[s.k]
		if f.padding {
			continue
		}
		if l.dirtyFiles != nil {
			l.dirtyFiles[s.k] = true
		}
		if _, err := f.f.WriteAt(data[s.from:s.to], s.at); err != nil {
			err = fmt.Errorf("data: writing piece %d: %w", i, err)
			l.cnt.writeErrors.Add(1)
			l.degrade(err)
			return err
		}
	}
	l.mu.Lock()
	l.have.Set(i)
	l.mu.Unlock()
	l.dirty = true
	l.sinceRec += int64(len(data))
	l.cnt.writes.Add(1)
	l.cnt.held.Add(int64(len(data)))
	l.cfg.Events.stored(i)
	if l.sinceRec >= l.cfg.ResumeEvery && !l.cfg.NoResume {
		l.saveResumeLocked()
	}
	return nil
}

// Sync writes what is queued, fsyncs the files and writes the resume record:
// every piece stored before Sync survives a power cut and is trusted on the
// next open without hashing.
func (l *Layout) Sync() error {
	l.q.flush()
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closed {
		return nil
	}
	return l.saveResumeLocked()
}

// saveResumeLocked fsyncs the files, then records what they hold. The order is
// what makes the record true after a power cut: it never lists a piece whose
// bytes were not on disk first.
func (l *Layout) saveResumeLocked() error {
	if !l.dirty || l.cnt.degraded.Load() {
		return nil
	}
	rec := resumeRecord{InfoHash: l.ih}
	if l.stamps == nil {
		l.stamps = make([]fileStamp, len(l.files))
	}
	for k, f := range l.files {
		if f.padding {
			continue
		}
		if l.dirtyFiles != nil && !l.dirtyFiles[k] {
			rec.Files = append(rec.Files, l.stamps[k])
			continue
		}
		if err := f.f.Sync(); err != nil {
			// The data itself may not be on disk: stop writing.
			err = fmt.Errorf("data: %s: fsync: %w", f.path, err)
			l.cnt.writeErrors.Add(1)
			l.degrade(err)
			return err
		}
		st, err := f.f.Stat()
		if err != nil {
			return l.resumeFailed(err)
		}
		l.stamps[k] = stampOf(st)
		rec.Files = append(rec.Files, l.stamps[k])
	}
	if l.cfg.NoResume {
		l.dirty = false
		l.dirtyFiles = map[int]bool{}
		l.sinceRec = 0
		return nil
	}
	rec.Have = l.Bitfield()
	if err := os.MkdirAll(l.cfg.ResumeDir, 0o755); err != nil {
		return l.resumeFailed(err)
	}
	if err := writeFileAtomic(l.cfg.ResumeDir, l.rpath, rec.marshal()); err != nil {
		return l.resumeFailed(err)
	}
	l.dirty = false
	l.dirtyFiles = map[int]bool{}
	l.sinceRec = 0
	return nil
}

// resumeFailed notes a resume record that could not be written. The data
// writes go on: without a record the next open hashes more, nothing worse.
func (l *Layout) resumeFailed(err error) error {
	err = fmt.Errorf("data: resume record %s: %w", l.rpath, err)
	l.cnt.writeErrors.Add(1)
	l.cnt.setErr(err)
	if !l.recWarned {
		l.recWarned = true
		l.log.Warn("data: cannot write the resume record; the next start will hash the files again", "err", err)
	}
	return err
}

func writeFileAtomic(dir, final string, b []byte) (err error) {
	f, err := os.CreateTemp(dir, tmpPrefix+"*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(b); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), final); err != nil {
		return err
	}
	return syncDir(dir)
}

func (l *Layout) degrade(err error) {
	l.cnt.setErr(err)
	if l.cnt.degraded.CompareAndSwap(false, true) {
		l.log.Warn("data: writes stopped; what is stored is still served", "path", l.root, "err", err)
	}
}

// Close writes what is queued, fsyncs, records what is held and closes the
// files.
func (l *Layout) Close() error {
	l.q.close()
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	err := l.saveResumeLocked()
	return errors.Join(err, l.closeFiles())
}

func (l *Layout) closeFiles() error {
	var errs []error
	for _, f := range l.files {
		if f.f != nil {
			errs = append(errs, f.f.Close())
		}
	}
	if l.lock != nil {
		errs = append(errs, l.lock.Close()) // another writer may start: the files are fsynced and closed
	}
	return errors.Join(errs...)
}

var _ Tier = (*Layout)(nil)
var _ Tier = (*CacheTorrent)(nil)
