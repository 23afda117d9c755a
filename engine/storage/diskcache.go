package storage

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/metainfo"
)

// DiskCacheConfig configures a DiskCache.
type DiskCacheConfig struct {
	Dir        string // created if missing
	MaxBytes   int64  // bound on piece bytes on disk, every torrent and process together
	QueueBytes int64  // write-behind bound (0: DefaultQueueBytes)
	Log        *slog.Logger
}

// DiskCache is the bounded piece store of --cache-dir/--disk-cache: verified
// pieces of any number of torrents, one file per piece, least recently used
// evicted first. It is safe for concurrent use, and several processes may share
// one folder (see the package doc for the locks).
type DiskCache struct {
	dir  string
	max  int64
	log  *slog.Logger
	lock *os.File // DIR/lock: LOCK_EX while opening a torrent or scanning and evicting
	// lockMu makes DIR/lock exclusive within the process too: a flock belongs
	// to the open file, which every goroutine here shares.
	lockMu sync.Mutex
	q      *writeBehind[pieceKey]
	sync   *syncer // makes written pieces durable in rounds (durable.go)
	cnt    counters

	beforeWrite func() // test hook: runs on the writer goroutine before each batch

	mu        sync.Mutex // guards torrents, held, sinceScan
	torrents  map[bt.InfoHash]*CacheTorrent
	sinceScan int64 // bytes written since the last scan
}

type pieceKey struct {
	t     *CacheTorrent
	piece int
}

// CacheTorrent is one torrent's view of a DiskCache; it implements Tier.
type CacheTorrent struct {
	c    *DiskCache
	spec Spec
	dir  string
	lock *os.File // DIR/<info-hash>/lock, LOCK_SH while open: no other process evicts it
	cnt  counters

	mu   sync.Mutex // guards have, trusted, used, closed
	have bt.Bitfield
	// trusted marks queued pieces handed by PutVerified: the writer takes
	// the torrent's own SHA-1 for their header instead of hashing them again.
	trusted bt.Bitfield
	used    []int64 // last use per piece, Unix nanoseconds: the LRU order
	closed  bool
}

// Spec is what a store must know of a torrent.
type Spec struct {
	InfoHash  bt.InfoHash
	NumPieces int
	PieceLen  func(piece int) int64
	// PieceHash, if set, is the torrent's SHA-1 of a piece (BitTorrent v1):
	// a stored piece must carry it. Without it (v2-only torrents) a piece is
	// checked against the SHA-1 recorded when it was written.
	PieceHash func(piece int) [20]byte
	Events    Events
}

// SpecOf describes a v1 torrent.
func SpecOf(ih bt.InfoHash, info *metainfo.Info, ev Events) Spec {
	return Spec{InfoHash: ih, NumPieces: info.NumPieces, PieceLen: info.PieceLen, PieceHash: info.PieceHash, Events: ev}
}

const (
	lockName  = "lock"
	tmpPrefix = ".tmp-"
	// staleTmp is how old a temporary file of a torrent that is open (here or
	// in another process) must be before a scan removes it.
	staleTmp = time.Hour
)

// OpenDiskCache opens (creating if needed) the cache folder. An error means
// no disk tier at all: the caller logs it and runs with RAM only. A folder that
// exists but cannot be written opens degraded: its pieces are served, nothing
// is added.
func OpenDiskCache(cfg DiskCacheConfig) (*DiskCache, error) {
	if cfg.MaxBytes <= 0 {
		return nil, fmt.Errorf("disk cache %s: size %d bytes must be positive", cfg.Dir, cfg.MaxBytes)
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &DiskCache{dir: cfg.Dir, max: cfg.MaxBytes, log: log, torrents: map[bt.InfoHash]*CacheTorrent{}}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("disk cache %s: %w", cfg.Dir, err)
	}
	lp := filepath.Join(cfg.Dir, lockName)
	lf, err := os.OpenFile(lp, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil && isReadOnly(err) {
		createErr := err
		if lf, err = os.Open(lp); err == nil {
			c.degrade(fmt.Errorf("disk cache %s: not writable: %w", cfg.Dir, unix.EROFS))
		} else if errors.Is(err, fs.ErrNotExist) {
			// A read-only folder that never held a cache: say why it cannot
			// be one (read-only, permission), not that the lock is missing.
			return nil, fmt.Errorf("disk cache %s: not writable, and no cache there to read: %w", cfg.Dir, createErr)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("disk cache %s: lock file: %w", cfg.Dir, err)
	}
	c.lock = lf
	if !c.cnt.degraded.Load() {
		if unix.Access(cfg.Dir, unix.W_OK) != nil {
			c.degrade(fmt.Errorf("disk cache %s: folder not writable", cfg.Dir))
		}
	}
	c.sync = newSyncer(cfg.Dir, log, c.degrade)
	c.q = newWriteBehind(cfg.QueueBytes, c.writeBatch)
	if err := c.withLock(func() {
		c.recoverMarkersLocked()
		c.scanLocked(0)
	}); err != nil {
		c.q.close()
		c.sync.close()
		lf.Close()
		return nil, err
	}
	return c, nil
}

// Stats returns the store's counters over every torrent.
func (c *DiskCache) Stats() Stats {
	s := c.cnt.snapshot()
	s.MaxBytes = c.max
	s.QueuedBytes = c.q.queuedBytes()
	return s
}

// Flush waits until every queued piece has been written (for tests, and Close).
func (c *DiskCache) Flush() { c.q.flush() }

// Close writes what is queued, makes it durable and releases the folder.
// Torrents still open are closed.
func (c *DiskCache) Close() error {
	c.q.close()
	c.sync.close()
	c.mu.Lock()
	ts := make([]*CacheTorrent, 0, len(c.torrents))
	for _, t := range c.torrents {
		ts = append(ts, t)
	}
	c.mu.Unlock()
	for _, t := range ts {
		t.release()
	}
	return c.lock.Close()
}

func (c *DiskCache) withLock(f func()) error {
	c.lockMu.Lock()
	defer c.lockMu.Unlock()
	if err := flock(c.lock, unix.LOCK_EX); err != nil {
		return fmt.Errorf("disk cache %s: lock: %w", c.dir, err)
	}
	defer flock(c.lock, unix.LOCK_UN)
	f()
	return nil
}

func flock(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			return err
		}
	}
}

// Torrent opens one torrent's part of the cache. What is already there (from an
// earlier run, or written by another process) is held at once: names and sizes
// are trusted, bytes are verified on every read.
func (c *DiskCache) Torrent(spec Spec) (*CacheTorrent, error) {
	if spec.NumPieces <= 0 || spec.PieceLen == nil {
		return nil, fmt.Errorf("disk cache: torrent %s: no pieces", spec.InfoHash)
	}
	t := &CacheTorrent{c: c, spec: spec, dir: filepath.Join(c.dir, spec.InfoHash.String()),
		have: bt.NewBitfield(spec.NumPieces), trusted: bt.NewBitfield(spec.NumPieces), used: make([]int64, spec.NumPieces)}
	var err error
	lerr := c.withLock(func() {
		c.mu.Lock()
		_, dup := c.torrents[spec.InfoHash]
		c.mu.Unlock()
		if dup {
			err = fmt.Errorf("disk cache: torrent %s is open already", spec.InfoHash)
			return
		}
		if err = t.open(); err != nil {
			return
		}
		c.mu.Lock()
		c.torrents[spec.InfoHash] = t
		c.mu.Unlock()
	})
	if lerr != nil {
		return nil, lerr
	}
	if err != nil {
		return nil, err
	}
	return t, nil
}

// open creates the torrent's folder and lock, takes LOCK_SH and reads what is
// stored. Called under the cache's lock, so no scan removes the folder meanwhile.
func (t *CacheTorrent) open() error {
	if err := os.Mkdir(t.dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		if !isReadOnly(err) {
			return fmt.Errorf("disk cache %s: %w", t.dir, err)
		}
		t.c.degrade(fmt.Errorf("disk cache %s: %w", t.dir, err))
		return nil // nothing stored, nothing can be: an empty tier
	}
	lp := filepath.Join(t.dir, lockName)
	lf, err := os.OpenFile(lp, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil && isReadOnly(err) {
		lf, err = os.Open(lp)
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // read-only folder without this torrent
		}
		return fmt.Errorf("disk cache %s: %w", lp, err)
	}
	if err := flock(lf, unix.LOCK_SH); err != nil {
		lf.Close()
		return fmt.Errorf("disk cache %s: %w", lp, err)
	}
	ents, err := os.ReadDir(t.dir)
	if err != nil {
		lf.Close()
		return fmt.Errorf("disk cache %s: %w", t.dir, err)
	}
	t.lock = lf
	for _, e := range ents {
		i, ok := t.pieceName(e.Name())
		if !ok {
			continue
		}
		st, err := e.Info()
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		if st.Size() != headerSize+t.spec.PieceLen(i) {
			os.Remove(filepath.Join(t.dir, e.Name())) // torn or foreign: costs this piece only
			continue
		}
		t.have.Set(i)
		t.used[i] = st.ModTime().UnixNano()
		t.cnt.held.Add(t.spec.PieceLen(i))
	}
	return nil
}

func (t *CacheTorrent) pieceName(name string) (int, bool) {
	if name == "" || name[0] < '0' || name[0] > '9' || (len(name) > 1 && name[0] == '0') {
		return 0, false
	}
	i, err := strconv.Atoi(name)
	if err != nil || i < 0 || i >= t.spec.NumPieces {
		return 0, false
	}
	return i, true
}

func (t *CacheTorrent) path(i int) string { return filepath.Join(t.dir, strconv.Itoa(i)) }

func (t *CacheTorrent) checkIndex(i int) error {
	if i < 0 || i >= t.spec.NumPieces {
		return fmt.Errorf("disk cache: torrent %s: piece %d out of range [0, %d)", t.spec.InfoHash, i, t.spec.NumPieces)
	}
	return nil
}

// Put implements Tier. The writer checks the piece's SHA-1 before writing it.
func (t *CacheTorrent) Put(i int, data []byte) bool { return t.put(i, data, false) }

// PutVerified is Put for a caller that has just checked data against the
// torrent's SHA-1 of the piece (the engine's hasher): the writer does not hash
// it again (0.6 ms per MiB on the writer, which shares the CPU with the reads
// on a small machine). A v2-only torrent has no SHA-1 per piece to take, and
// is hashed as with Put. Reads verify every piece either way.
func (t *CacheTorrent) PutVerified(i int, data []byte) bool {
	return t.put(i, data, t.spec.PieceHash != nil)
}

func (t *CacheTorrent) put(i int, data []byte, verified bool) bool {
	if t.checkIndex(i) != nil || int64(len(data)) != t.spec.PieceLen(i) {
		return false
	}
	t.mu.Lock()
	skip := t.closed || t.have.Has(i)
	t.mu.Unlock()
	if skip {
		return false
	}
	if _, queued := t.c.q.get(pieceKey{t, i}); queued {
		return false
	}
	if verified {
		t.mu.Lock()
		t.trusted.Set(i) // before the queue hands it to the writer
		t.mu.Unlock()
	}
	if t.c.cnt.degraded.Load() || !t.c.q.put(pieceKey{t, i}, data) {
		if verified {
			t.mu.Lock()
			t.trusted.Clear(i)
			t.mu.Unlock()
		}
		t.cnt.dropped.Add(1)
		t.c.cnt.dropped.Add(1)
		return false
	}
	return true
}

// Has implements Tier.
func (t *CacheTorrent) Has(i int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.have.Has(i)
}

// Bitfield implements Tier.
func (t *CacheTorrent) Bitfield() bt.Bitfield {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.have.Clone()
}

// Stats implements Tier: this torrent's counters; HeldBytes is this torrent's.
func (t *CacheTorrent) Stats() Stats {
	s := t.cnt.snapshot()
	s.MaxBytes = t.c.max
	s.Degraded = t.c.cnt.degraded.Load()
	s.LastError = t.c.Stats().LastError
	return s
}

// Get implements Tier.
func (t *CacheTorrent) Get(i int) ([]byte, error) {
	if err := t.checkIndex(i); err != nil {
		return nil, err
	}
	if d, ok := t.c.q.get(pieceKey{t, i}); ok {
		t.hit()
		return d, nil
	}
	if !t.Has(i) {
		t.miss()
		return nil, ErrNotFound
	}
	p := t.path(i)
	length := t.spec.PieceLen(i)
	b, err := readBounded(p, headerSize+length)
	if errors.Is(err, fs.ErrNotExist) {
		t.drop(i, false, false) // evicted by another process sharing the folder
		t.miss()
		return nil, ErrNotFound
	}
	if err != nil {
		t.drop(i, false, false)
		t.miss()
		return nil, fmt.Errorf("disk cache: piece %d of %s: %w", i, t.spec.InfoHash, err)
	}
	var want *[20]byte
	if t.spec.PieceHash != nil {
		h := t.spec.PieceHash(i)
		want = &h
	}
	data, err := checkPieceFile(b, t.spec.InfoHash, i, length, want)
	if err != nil {
		t.c.log.Warn("disk cache: dropping a stored piece that fails verification", "path", p, "err", err)
		t.drop(i, true, true)
		t.miss()
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, p, err)
	}
	now := time.Now()
	t.mu.Lock()
	t.used[i] = now.UnixNano()
	t.mu.Unlock()
	_ = os.Chtimes(p, now, now) // the LRU order other processes see; best effort
	t.hit()
	return data, nil
}

// ReadAt implements Tier.
func (t *CacheTorrent) ReadAt(i int, p []byte, off int64) (int, error) {
	d, err := t.Get(i)
	if err != nil {
		return 0, err
	}
	return copyAt(d, p, off)
}

func copyAt(d, p []byte, off int64) (int, error) {
	if off < 0 || off > int64(len(d)) {
		return 0, fmt.Errorf("storage: offset %d outside a piece of %d bytes", off, len(d))
	}
	n := copy(p, d[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// readBounded reads a file that must be exactly size bytes.
func readBounded(p string, size int64) ([]byte, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, size+1)
	n, err := io.ReadFull(f, b)
	switch {
	case err == io.ErrUnexpectedEOF && int64(n) == size:
		return b[:n], nil
	case err == nil:
		return nil, fmt.Errorf("%s is longer than %d bytes", p, size)
	case err == io.ErrUnexpectedEOF || err == io.EOF:
		return nil, fmt.Errorf("%s is %d bytes, want %d (truncated)", p, n, size)
	}
	return nil, err
}

func (t *CacheTorrent) hit() {
	t.cnt.hits.Add(1)
	t.c.cnt.hits.Add(1)
}

func (t *CacheTorrent) miss() {
	t.cnt.misses.Add(1)
	t.c.cnt.misses.Add(1)
}

// drop forgets piece i (and removes its file if remove), firing Evicted once.
func (t *CacheTorrent) drop(i int, remove, corrupt bool) {
	t.mu.Lock()
	had := t.have.Has(i)
	t.have.Clear(i)
	t.mu.Unlock()
	if remove {
		os.Remove(t.path(i))
	}
	if corrupt {
		t.cnt.corrupt.Add(1)
		t.c.cnt.corrupt.Add(1)
	}
	if had {
		size := headerSize + t.spec.PieceLen(i)
		t.cnt.held.Add(-t.spec.PieceLen(i))
		t.c.cnt.held.Add(-size)
		t.spec.Events.evicted(i)
	}
}

// Close implements Tier: it writes what is queued and makes it durable (with
// what other torrents wrote meanwhile), then releases the torrent.
func (t *CacheTorrent) Close() error {
	t.c.q.flush()
	t.c.sync.sync()
	t.release()
	return nil
}

func (t *CacheTorrent) release() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	t.mu.Unlock()
	t.c.mu.Lock()
	delete(t.c.torrents, t.spec.InfoHash)
	t.c.mu.Unlock()
	if t.lock != nil {
		t.lock.Close() // releases LOCK_SH
	}
}

// writeBatch runs on the writer goroutine. Each piece: make room, write it to
// a temporary file, rename it into place; Stored fires after that. No fsync
// here: the syncer makes the batch durable later, off the write path
// (durable.go says why that is safe: every read verifies, and the sync marker,
// written before the batch, makes the next boot verify what a power cut may
// have torn).
func (c *DiskCache) writeBatch(batch []item[pieceKey]) {
	if c.beforeWrite != nil {
		c.beforeWrite()
	}
	if len(batch) == 0 || c.cnt.degraded.Load() {
		return
	}
	since, err := c.sync.begin()
	if err != nil {
		c.degrade(err)
		return
	}
	var paths []string
	dirs := map[string]bool{}
	var written int64
	defer func() { c.sync.add(since, paths, dirs, written) }()
	for _, it := range batch {
		t, data := it.k.t, it.data
		t.mu.Lock()
		skip := t.closed || t.have.Has(it.k.piece)
		trusted := t.trusted.Has(it.k.piece)
		t.trusted.Clear(it.k.piece)
		t.mu.Unlock()
		if skip || c.cnt.degraded.Load() || t.lock == nil {
			continue
		}
		// A piece from Put is checked here (~0.6 ms per MiB on the writer):
		// "only verified pieces reach disk" is then a property of the store,
		// not of its callers. One from PutVerified was checked by the caller
		// a moment ago and takes the torrent's hash; a read verifies it anyway.
		h := header{InfoHash: t.spec.InfoHash, Piece: uint32(it.k.piece), Length: uint32(len(data))}
		if trusted {
			h.Sum = t.spec.PieceHash(it.k.piece)
		} else {
			h.Sum = sha1Sum(data)
		}
		if !trusted && t.spec.PieceHash != nil && h.Sum != t.spec.PieceHash(it.k.piece) {
			t.cnt.writeErrors.Add(1)
			c.cnt.writeErrors.Add(1)
			c.log.Error("disk cache: refusing to store a piece that does not match its hash", "torrent", t.spec.InfoHash.String(), "piece", it.k.piece)
			continue
		}
		size := headerSize + int64(len(data))
		if !c.makeRoom(size) {
			t.cnt.dropped.Add(1)
			c.cnt.dropped.Add(1)
			continue
		}
		c.cnt.held.Add(size) // reserved: the next makeRoom counts it
		p := t.path(it.k.piece)
		if err := writePiece(t.dir, p, h.marshal(), data); err != nil {
			c.cnt.held.Add(-size)
			c.writeFailed(t, it.k.piece, err)
			continue
		}
		paths = append(paths, p)
		dirs[t.dir] = true
		written += size
		t.mu.Lock()
		t.have.Set(it.k.piece)
		t.used[it.k.piece] = time.Now().UnixNano()
		t.mu.Unlock()
		t.cnt.writes.Add(1)
		c.cnt.writes.Add(1)
		t.cnt.held.Add(size - headerSize)
		c.mu.Lock()
		c.sinceScan += size
		c.mu.Unlock()
		t.spec.Events.stored(it.k.piece)
	}
}

func (c *DiskCache) writeFailed(t *CacheTorrent, piece int, err error) {
	t.cnt.writeErrors.Add(1)
	c.cnt.writeErrors.Add(1)
	c.degrade(fmt.Errorf("disk cache: writing piece %d of %s: %w", piece, t.spec.InfoHash, err))
}

// writePiece writes hdr+data to a new temporary file in dir and renames it to
// p: another process, or this one after a kill -9, sees the whole piece or
// none of it.
func writePiece(dir, p string, hdr [headerSize]byte, data []byte) (err error) {
	f, err := os.CreateTemp(dir, tmpPrefix+strconv.Itoa(os.Getpid())+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(hdr[:]); err == nil {
		_, err = f.Write(data)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// degrade stops writes after an error: the engine goes on with RAM only.
func (c *DiskCache) degrade(err error) {
	c.cnt.setErr(err)
	if c.cnt.degraded.CompareAndSwap(false, true) {
		c.log.Warn("disk cache: writes stopped, going on with the RAM cache only (stored pieces are still served)", "err", err)
	}
}

func isReadOnly(err error) bool {
	return errors.Is(err, unix.EROFS) || errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM)
}

// makeRoom makes sure need more bytes fit. It rescans the folder (under the
// cache lock, so one process scans at a time) when the estimate says they do
// not, or after MaxBytes/16 were written since the last scan (other processes
// write too). False: the bound cannot be met, as what fills it belongs to
// torrents that other processes have open.
func (c *DiskCache) makeRoom(need int64) bool {
	c.mu.Lock()
	fits := c.cnt.held.Load()+need <= c.max && c.sinceScan < c.max/16
	c.mu.Unlock()
	if fits {
		return true
	}
	ok := false
	if err := c.withLock(func() { ok = c.scanLocked(need) }); err != nil {
		c.log.Warn("disk cache: scan", "err", err)
	}
	return ok
}

// candidate is a piece file a scan may evict.
type candidate struct {
	used  int64
	size  int64
	path  string
	t     *CacheTorrent // nil: a torrent no process has open
	piece int
}

// scanLocked measures the folder, evicts the least recently used pieces until
// need more bytes fit, and reports whether they do. Pieces of torrents that
// another process has open (their lock is held shared) are counted but never
// evicted: that process may have advertised them.
func (c *DiskCache) scanLocked(need int64) bool {
	ents, err := os.ReadDir(c.dir)
	if err != nil {
		c.log.Warn("disk cache: scan", "dir", c.dir, "err", err)
		return false
	}
	c.mu.Lock()
	mine := make(map[string]*CacheTorrent, len(c.torrents))
	for ih, t := range c.torrents {
		mine[ih.String()] = t
	}
	c.mu.Unlock()
	var cands []candidate
	var total int64
	var locks []*os.File
	var unopened []string // folders of torrents no process has open: removed once empty
	defer func() {
		for _, d := range unopened {
			if ents, err := os.ReadDir(d); err == nil && len(ents) == 1 && ents[0].Name() == lockName {
				// No process can be opening it: openers take DIR/lock, held here.
				os.Remove(filepath.Join(d, lockName))
				os.Remove(d)
			}
		}
		for _, l := range locks {
			l.Close()
		}
	}()
	for _, e := range ents {
		if !e.IsDir() || !isHexHash(e.Name()) {
			continue
		}
		dir := filepath.Join(c.dir, e.Name())
		t := mine[e.Name()]
		evictable := t != nil
		if t == nil {
			if l, err := os.Open(filepath.Join(dir, lockName)); err == nil {
				if unix.Flock(int(l.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
					locks = append(locks, l)
					evictable = true
				} else {
					l.Close()
				}
			} else if errors.Is(err, fs.ErrNotExist) {
				evictable = true
			}
		}
		files, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		if t == nil && evictable {
			unopened = append(unopened, dir)
		}
		var spec Spec
		if t != nil {
			spec = t.spec
		}
		for _, f := range files {
			st, err := f.Info()
			if err != nil || !st.Mode().IsRegular() {
				continue
			}
			name := f.Name()
			p := filepath.Join(dir, name)
			if strings.HasPrefix(name, tmpPrefix) {
				if (t == nil && evictable) || time.Since(st.ModTime()) > staleTmp {
					os.Remove(p) // left by a crash
				} else {
					total += st.Size()
				}
				continue
			}
			if name == lockName {
				continue
			}
			cd := candidate{used: st.ModTime().UnixNano(), size: st.Size(), path: p}
			if t != nil {
				i, ok := t.pieceName(name)
				if !ok || st.Size() != headerSize+spec.PieceLen(i) {
					continue
				}
				cd.t, cd.piece = t, i
				t.mu.Lock()
				if !t.have.Has(i) && !t.closed {
					// Written by another process that has this torrent open too.
					t.have.Set(i)
					t.cnt.held.Add(spec.PieceLen(i))
					t.used[i] = cd.used
					t.mu.Unlock()
					spec.Events.stored(i)
				} else {
					cd.used = max(cd.used, t.used[i])
					t.mu.Unlock()
				}
			}
			total += cd.size
			if evictable {
				cands = append(cands, cd)
			}
		}
	}
	sort.Slice(cands, func(a, b int) bool { return cands[a].used < cands[b].used })
	for _, cd := range cands {
		if total+need <= c.max {
			break
		}
		if cd.t != nil {
			cd.t.drop(cd.piece, true, false)
			cd.t.cnt.evictions.Add(1)
			c.cnt.held.Add(cd.size) // drop subtracted it; the total below is the truth
		} else if err := os.Remove(cd.path); err != nil {
			continue
		}
		c.cnt.evictions.Add(1)
		total -= cd.size
	}
	c.cnt.held.Store(total)
	c.mu.Lock()
	c.sinceScan = 0
	c.mu.Unlock()
	return total+need <= c.max
}

func isHexHash(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}
