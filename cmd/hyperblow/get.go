package main

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/metainfo"
)

const getUsage = `Usage: hyperblow get [flags] SOURCE DIR

Download a torrent into the folder DIR (created if missing), without FUSE, with
a progress bar. A single-file torrent becomes DIR/NAME; a multi-file torrent
becomes the folder DIR/NAME with the torrent's files and folders in it. Names
are sanitized as for mount; BEP 47 padding files are not written.

SOURCE is a .torrent file, an http(s) URL of one, a magnet link, or a bare
info-hash (40 hex digits).

Resume: what DIR already holds is checked first. Every piece whose bytes are
all there is hashed against the torrent; only missing or damaged pieces are
downloaded. Stop with Ctrl-C (or SIGTERM) at any time; what was written stays,
and running the same command again resumes.

On a terminal a progress line shows the percentage, bytes, rate, peers and
time left; otherwise (or with --quiet) progress goes to log lines. When every
piece is written and synced, get prints a summary and exits 0 (with --seed it
then seeds until Ctrl-C). Exit 1 on failure or when interrupted.

Examples:
  hyperblow get ubuntu.torrent ~/Downloads
  hyperblow get 'magnet:?xt=urn:btih:...&tr=udp://tracker.example:6969' ~/Downloads
  hyperblow get --no-dht --peer 192.0.2.7:51413 album.torrent .
  hyperblow get --seed --max-upload-rate 1MiB https://example.org/file.torrent ~/Downloads

Flags:
`

// noPeersWarning is how long get waits without a peer before it says so.
const noPeersWarning = 30 * time.Second

// getWorkers is how many readers fetch different missing ranges at once: each
// has its own readahead window, so together they keep every peer busy.
const getWorkers = 4

func runGet(args []string, stdout, stderr io.Writer) error {
	fset := newFlagSet("get", getUsage, stdout)
	mf := mountFlags{cacheSize: 512 << 20, readahead: 64 << 20, fetch: "lazy"}
	fset.Var(&mf.cacheSize, "cache-size", "memory for verified pieces on their way to disk (e.g. 512MiB, 2GiB)")
	fset.StringVar(&mf.listen, "listen", ":6881", "HOST:PORT for incoming peers (port 0: any free port; if the default is busy, any free port)")
	fset.Var(&mf.peers, "peer", "HOST:PORT of a peer to connect to (repeatable)")
	fset.Var(&mf.webSeeds, "web-seed", "http(s) URL of a web seed (BEP 19 mirror) to fetch from, beside the torrent's own (repeatable)")
	fset.BoolVar(&mf.noDHT, "no-dht", false, "do not use the DHT (BEP 5) to find peers")
	mf.registerLocalNet(fset)
	mf.registerNoUTP(fset)
	fset.Var(&mf.dhtBootstrap, "dht-bootstrap", "HOST:PORT of a DHT node to join through (repeatable; default: the public routers)")
	fset.Var(&mf.maxUpload, "max-upload-rate", "cap upload to peers, in bytes per second (e.g. 1MiB; 0: no cap)")
	registerEncryption(fset, &mf.encryption)
	fset.DurationVar(&mf.metadataTimeout, "metadata-timeout", 5*time.Minute, "give up fetching a magnet link's metadata after this long")
	fset.BoolVar(&mf.verbose, "v", false, "verbose: debug logs")
	fset.BoolVar(&mf.quiet, "quiet", false, "no progress line; only warnings, errors and the summary")
	seed := fset.Bool("seed", false, "after the download, seed it until Ctrl-C or SIGTERM")
	pos, err := parseFlags(fset, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("get: want SOURCE and DIR, got %d arguments (see hyperblow get --help)", len(pos))
	}
	if err := mf.checkFlags(fset); err != nil {
		return err
	}
	src, dir := pos[0], pos[1]
	out := newProgressOut(stderr, isTerminalWriter(stderr) && !mf.quiet)
	log := mf.logger(out)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	g := &getter{src: src, dir: dir, mf: &mf, log: log, out: out, stdout: stdout}
	defer g.close()
	if err := g.run(ctx); err != nil {
		return err
	}
	if *seed {
		return g.seed(ctx, stop)
	}
	return nil
}

// getter is one run of hyperblow get.
type getter struct {
	src, dir string
	mf       *mountFlags
	log      *slog.Logger
	out      *progressOut
	stdout   io.Writer

	client *engine.Client // nil until needed
	mt     *metainfo.Torrent
	t      *engine.Torrent
	lay    *getLayout
}

func (g *getter) close() {
	if g.client != nil {
		g.client.Close()
	}
}

func (g *getter) newClient() error {
	if g.client != nil {
		return nil
	}
	c, err := newClient(g.log, g.mf)
	if err != nil {
		return fmt.Errorf("get: %w (choose another --listen HOST:PORT)", err)
	}
	g.client = c
	return nil
}

// run resolves the source, checks DIR and downloads what is missing.
func (g *getter) run(ctx context.Context) error {
	mt, m, err := parseSource(ctx, g.src)
	if err != nil {
		return fmt.Errorf("get: %w", err)
	}
	if m != nil {
		if err := g.newClient(); err != nil {
			return err
		}
		g.log.Info("fetching metadata", "info_hash", m.InfoHash.String(), "name", safe(m.Name))
		// The magnet's torrent fetches the metadata and then the pieces, on
		// the same connections.
		g.t, err = g.client.AddMagnet(m, engine.TorrentOptions{Peers: g.mf.peers, WebSeeds: g.mf.webSeeds, MetadataTimeout: g.mf.metadataTimeout})
		if err != nil {
			return fmt.Errorf("get %s: metadata: %w", g.src, withPeerHint(err))
		}
		if mt, err = g.t.WaitInfo(ctx); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("get %s: interrupted while fetching the metadata", g.src)
			}
			return fmt.Errorf("get %s: metadata: %w", g.src, err)
		}
		g.log.Info("metadata fetched", "torrent", safe(mt.Info.Name), "size", mt.Info.TotalLength)
	}
	g.mt = mt
	info := mt.Info
	if err := os.MkdirAll(g.dir, 0o755); err != nil {
		return fmt.Errorf("get: folder %s: %w", g.dir, err)
	}
	lay, err := prepareLayout(info, g.dir)
	if err != nil {
		return fmt.Errorf("get %s: %w", g.src, err)
	}
	g.lay = lay
	start := time.Now()
	have, held, err := g.check(ctx)
	if err != nil {
		return err
	}
	missing := info.TotalLength - held
	g.log.Info("checked existing data", "path", lay.root, "have_bytes", held, "missing_bytes", missing, "took", time.Since(start).Round(time.Millisecond))
	if missing == 0 {
		if err := lay.sync(); err != nil {
			return fmt.Errorf("get %s: %w", g.src, err)
		}
		printComplete(g.stdout, info, lay.root)
		fmt.Fprintf(g.stdout, "fetched nothing: 0 bytes received from peers, %d bytes were already here\n", held)
		return nil
	}
	if err := g.newClient(); err != nil {
		return err
	}
	if g.t == nil {
		g.t, err = g.client.AddTorrent(mt, engine.TorrentOptions{Peers: g.mf.peers, WebSeeds: g.mf.webSeeds})
		if err != nil {
			return fmt.Errorf("get %s: %w", g.src, err)
		}
	}
	g.log.Info("downloading", "torrent", safe(info.Name), "info_hash", mt.InfoHash.String(), "to", lay.root,
		"missing", missing, "listen", g.client.ListenAddr().String())
	return g.download(ctx, have, held)
}

// check hashes the pieces DIR already holds in full, with a progress line.
func (g *getter) check(ctx context.Context) ([]bool, int64, error) {
	info := g.mt.Info
	var checked atomic.Int64
	present := g.lay.present()
	var toCheck int64
	for i, ok := range present {
		if ok {
			toCheck += info.PieceLen(i)
		}
	}
	if toCheck == 0 {
		return present, 0, nil
	}
	g.log.Info("checking existing data", "path", g.lay.root, "bytes", toCheck)
	bar := startProgress(g.out, progressOptions{Label: "checking", Total: toCheck, Done: checked.Load, PlainEvery: 5 * time.Second,
		Plain: func(s progressStat) {
			g.log.Info("checking", "done", s.Done, "total", s.Total, "rate", formatRate(s.Rate))
		}})
	held, err := g.lay.verify(ctx, present, &checked)
	bar.Stop()
	if err != nil {
		if ctx.Err() != nil {
			return nil, 0, fmt.Errorf("get %s: interrupted while checking %s; run the same command again to resume", g.src, g.lay.root)
		}
		return nil, 0, fmt.Errorf("get %s: checking %s: %w", g.src, g.lay.root, err)
	}
	return present, held, nil
}

// download fetches the missing pieces with getWorkers readers and writes them.
func (g *getter) download(ctx context.Context, have []bool, held int64) error {
	info := g.mt.Info
	segs := missingSegments(info, have, getWorkers)
	var written atomic.Int64
	start := time.Now()
	bar := startProgress(g.out, progressOptions{
		Label: safe(info.Name), Total: info.TotalLength,
		Done:       func() int64 { return held + written.Load() },
		Extra:      func() string { return fmt.Sprintf("peers %d", g.t.Stats().Peers) },
		PlainEvery: 5 * time.Second,
		Plain: func(s progressStat) {
			g.log.Info("progress", "percent", fmt.Sprintf("%.1f", 100*float64(s.Done)/float64(max(s.Total, 1))),
				"done", s.Done, "total", s.Total, "rate", formatRate(s.Rate), "peers", g.t.Stats().Peers, "eta", formatETA(s.ETA))
		},
	})
	// Say so when nothing comes: a torrent nobody seeds waits forever.
	lonely := time.AfterFunc(noPeersWarning, func() {
		if written.Load() == 0 && g.t.Stats().Peers == 0 {
			g.log.Warn("no peer connected yet", "after", noPeersWarning, "trackers", len(g.mt.AnnounceList), "dht", !g.mf.noDHT,
				"peers_given", len(g.mf.peers), "hint", "keep waiting, or add --peer HOST:PORT of a peer that has it")
		}
	})
	err := g.fetch(ctx, segs, &written)
	lonely.Stop()
	bar.Stop()
	if serr := g.lay.sync(); err == nil && serr != nil {
		err = fmt.Errorf("get %s: %w", g.src, serr)
	}
	took := time.Since(start)
	st := g.t.Stats()
	done := held + written.Load()
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(g.stdout, "stopped: %s is %.1f%% here (%s of %s) in %s\n", safe(info.Name),
				100*float64(done)/float64(info.TotalLength), humanSize(done), humanSize(info.TotalLength), safe(g.lay.root))
			return fmt.Errorf("get %s: interrupted; run the same command again to resume", g.src)
		}
		return err
	}
	printComplete(g.stdout, info, g.lay.root)
	fmt.Fprintf(g.stdout, "fetched %s in %v (%s): %d bytes received from peers, %d bytes were already here\n",
		humanSize(written.Load()), took.Round(time.Millisecond), formatRate(float64(written.Load())/max(took.Seconds(), 1e-3)), st.Downloaded, held)
	return nil
}

// fetch runs the workers over the segments; the first error stops them all.
func (g *getter) fetch(ctx context.Context, segs []segment, written *atomic.Int64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	queue := make(chan segment, len(segs))
	for _, s := range segs {
		queue <- s
	}
	close(queue)
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	fail := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	block := readBlock(g.mt.Info.PieceLength)
	for range min(getWorkers, len(segs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := g.lay.cursor(os.O_WRONLY)
			defer w.close()
			buf := make([]byte, block)
			for s := range queue {
				if err := g.fetchSegment(ctx, s, buf, w, written); err != nil {
					fail(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// fetchSegment reads one run of missing pieces through its own Reader,
// sequentially, so its readahead window grows, and writes it to the files.
// The Reader is opened on the segment itself, given as a File of the torrent
// (NewReader needs only its Offset and Length): its window never reaches past
// the segment, so with --fetch lazy the engine fetches no piece DIR holds, and
// a piece that spans files comes whole.
func (g *getter) fetchSegment(ctx context.Context, s segment, buf []byte, w *fileCursor, written *atomic.Int64) error {
	r := g.t.NewReader(metainfo.File{Offset: s.off, Length: s.length})
	defer r.Close()
	for off := int64(0); off < s.length; {
		n := int(min(int64(len(buf)), s.length-off))
		got, err := r.ReadAt(ctx, buf[:n], off)
		if got < n {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("get %s: reading torrent bytes %d..%d: %w", g.src, s.off+off, s.off+off+int64(n), err)
		}
		if err := w.writeAt(buf[:n], s.off+off); err != nil {
			return fmt.Errorf("get %s: %w", g.src, err)
		}
		written.Add(int64(n))
		off += int64(n)
	}
	return nil
}

// seed serves the finished download from disk until ctx ends.
func (g *getter) seed(ctx context.Context, stopSignals func()) error {
	if err := g.newClient(); err != nil {
		return err
	}
	if g.t != nil {
		g.client.RemoveTorrent(g.t)
	}
	g.log.Info("checking the download once more before seeding it", "path", g.lay.root)
	storage, err := engine.OpenStorage(g.mt.Info, g.lay.root)
	if err != nil {
		return fmt.Errorf("get %s: seed: %w", g.src, err)
	}
	defer storage.Close()
	t, err := g.client.AddTorrent(g.mt, engine.TorrentOptions{Storage: storage, Peers: g.mf.peers})
	if err != nil {
		return fmt.Errorf("get %s: seed: %w", g.src, err)
	}
	fmt.Fprintf(g.stdout, "seeding %s (%s) on %s until Ctrl-C\n", safe(g.mt.Info.Name), g.mt.InfoHash, g.client.ListenAddr())
	start := time.Now()
	<-ctx.Done()
	stopSignals()
	g.client.Close()
	fmt.Fprintf(g.stdout, "stopped seeding %s: uploaded %s in %v\n", safe(g.mt.Info.Name), humanSize(t.Stats().Uploaded), time.Since(start).Round(time.Second))
	return nil
}

// printComplete prints the first summary line: what is now in root.
func printComplete(w io.Writer, info *metainfo.Info, root string) {
	files := info.VisibleFiles()
	var size int64
	for _, f := range files {
		size += f.Length
	}
	fmt.Fprintf(w, "complete: %s (%s in %d file(s)) in %s\n", safe(info.Name), humanSize(size), len(files), safe(root))
}

// readBlock is how much one ReadAt asks for: whole pieces of about 4 MiB, at
// most 16 MiB (a larger piece is read in parts).
func readBlock(pieceLength int64) int {
	const target, most = 4 << 20, 16 << 20
	if pieceLength > most {
		return most
	}
	return int(max(1, target/pieceLength) * pieceLength)
}

// segment is a run of missing pieces, as torrent bytes [off, off+length).
type segment struct{ off, length int64 }

// missingSegments groups the pieces not held into runs, split so that workers
// readers have several each to share (between 16 MiB and 256 MiB, in whole
// pieces): long enough for a reader's readahead to grow, short enough that no
// worker is left with most of the work at the end.
func missingSegments(info *metainfo.Info, have []bool, workers int) []segment {
	var missing int64
	for i, ok := range have {
		if !ok {
			missing += info.PieceLen(i)
		}
	}
	size := min(max(missing/int64(2*workers), 16<<20), 256<<20)
	per := max(1, size/info.PieceLength) // pieces per segment
	var segs []segment
	for i := 0; i < len(have); {
		if have[i] {
			i++
			continue
		}
		j := i
		for j < len(have) && !have[j] && int64(j-i) < per {
			j++
		}
		off := info.PieceOffset(i)
		end := info.PieceOffset(j-1) + info.PieceLen(j-1)
		segs = append(segs, segment{off, end - off})
		i = j
	}
	return segs
}

// getLayout is where a torrent's files go on disk.
type getLayout struct {
	info  *metainfo.Info
	root  string     // DIR/NAME: the file of a single-file torrent, the folder of a multi-file one
	files []diskFile // every file of the torrent with bytes, padding included, in torrent order
}

// diskFile is one file of the torrent on disk.
type diskFile struct {
	path        string // "" for padding
	off, length int64  // in the torrent
	had         int64  // bytes it held before this run (its size, at most length)
}

// layoutPath is where file f of the torrent goes under dir.
func layoutPath(info *metainfo.Info, dir string, f metainfo.File) string {
	if !info.MultiFile {
		return filepath.Join(dir, info.Name)
	}
	return filepath.Join(append([]string{dir, info.Name}, f.Path...)...)
}

// prepareLayout creates the torrent's folders and files under dir, each at its
// full size (sparse where new), and notes how much each held before. A name
// already taken by a symbolic link or by something that is not a regular file
// (or folder, for a folder) is an error: get never writes outside DIR/NAME.
func prepareLayout(info *metainfo.Info, dir string) (*getLayout, error) {
	lay := &getLayout{info: info, root: filepath.Join(dir, info.Name)}
	made := map[string]bool{}
	for _, f := range info.Files {
		if f.Padding {
			if f.Length > 0 {
				lay.files = append(lay.files, diskFile{off: f.Offset, length: f.Length})
			}
			continue
		}
		p := layoutPath(info, dir, f)
		if err := makeParents(dir, p, made); err != nil {
			return nil, err
		}
		had, err := prepareFile(p, f.Length)
		if err != nil {
			return nil, err
		}
		if f.Length > 0 {
			lay.files = append(lay.files, diskFile{path: p, off: f.Offset, length: f.Length, had: had})
		}
	}
	return lay, nil
}

// makeParents creates the folders between dir and the file p, refusing to go
// through a symbolic link or a file.
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

// prepareFile opens or creates the file p, sets it to length bytes and returns
// how many it held before (at most length).
func prepareFile(p string, length int64) (int64, error) {
	if st, err := os.Lstat(p); err == nil && !st.Mode().IsRegular() {
		return 0, fmt.Errorf("%s: the torrent needs a file here, but it is a %s (move it away)", p, kindOf(st))
	}
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o644)
	if err != nil {
		return 0, fmt.Errorf("file %s: %w", p, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("file %s: %w", p, err)
	}
	if st.Size() != length {
		if err := f.Truncate(length); err != nil {
			return 0, fmt.Errorf("file %s: setting its size to %d: %w", p, length, err)
		}
	}
	return min(st.Size(), length), f.Close()
}

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

// present reports, for every piece, whether all its bytes were on disk before
// this run (padding counts as present: it is zeros by definition).
func (l *getLayout) present() []bool {
	info := l.info
	out := make([]bool, info.NumPieces)
	for i := range out {
		out[i] = true
	}
	for _, f := range l.files {
		if f.path == "" || f.had >= f.length {
			continue
		}
		// Bytes [f.off+f.had, f.off+f.length) are missing.
		first := int((f.off + f.had) / info.PieceLength)
		last := int((f.off + f.length - 1) / info.PieceLength)
		for i := first; i <= last; i++ {
			out[i] = false
		}
	}
	return out
}

// verify hashes the pieces marked in have, GOMAXPROCS at a time, and clears
// the ones that do not match. It returns the bytes of the pieces that do, and
// counts bytes hashed in checked.
func (l *getLayout) verify(ctx context.Context, have []bool, checked *atomic.Int64) (int64, error) {
	info := l.info
	var next atomic.Int64
	var held atomic.Int64
	errs := make(chan error, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := l.cursor(os.O_RDONLY)
			defer r.close()
			buf := make([]byte, info.PieceLength)
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= info.NumPieces {
					return
				}
				if !have[i] {
					continue
				}
				b := buf[:info.PieceLen(i)]
				if err := r.readAt(b, info.PieceOffset(i)); err != nil {
					errs <- err
					return
				}
				checked.Add(int64(len(b)))
				if sha1.Sum(b) == info.PieceHash(i) {
					held.Add(int64(len(b)))
				} else {
					have[i] = false // each worker writes its own indices
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return held.Load(), nil
}

// sync flushes everything written to the disk: one syncfs of the filesystem
// holding the files, so a torrent of many files costs one call.
func (l *getLayout) sync() error {
	for _, f := range l.files {
		if f.path == "" {
			continue
		}
		fh, err := os.Open(f.path)
		if err != nil {
			return fmt.Errorf("syncing %s: %w", f.path, err)
		}
		err = unix.Syncfs(int(fh.Fd()))
		fh.Close()
		if err != nil {
			return fmt.Errorf("syncing %s: %w", f.path, err)
		}
		return nil
	}
	return nil
}

// cursor returns a fileCursor over the layout's files, opened with flag.
func (l *getLayout) cursor(flag int) *fileCursor {
	return &fileCursor{l: l, flag: flag, cur: -1}
}

// fileCursor reads or writes torrent bytes across the files, keeping the last
// file it used open: a worker moves through the files in order, so a torrent
// of many files never has more than one file open per worker.
type fileCursor struct {
	l    *getLayout
	flag int
	cur  int // index in l.files of f, -1 for none
	f    *os.File
}

func (c *fileCursor) file(k int) (*os.File, error) {
	if c.cur == k {
		return c.f, nil
	}
	c.close()
	f, err := os.OpenFile(c.l.files[k].path, c.flag|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	c.cur, c.f = k, f
	return f, nil
}

func (c *fileCursor) close() {
	if c.f != nil {
		c.f.Close()
		c.f, c.cur = nil, -1
	}
}

// do runs op on every part of torrent bytes [off, off+len(p)) that falls in a
// real file; padding parts are zeroed (reads) or skipped (writes).
func (c *fileCursor) do(p []byte, off int64, op func(f *os.File, b []byte, at int64) (int, error)) error {
	files := c.l.files
	k := sort.Search(len(files), func(i int) bool { return files[i].off+files[i].length > off })
	n := 0
	for ; n < len(p) && k < len(files); k++ {
		df := files[k]
		pos := off + int64(n) - df.off
		chunk := p[n:min(len(p), n+int(df.length-pos))]
		n += len(chunk)
		if df.path == "" {
			if c.flag == os.O_RDONLY {
				clear(chunk)
			}
			continue
		}
		f, err := c.file(k)
		if err != nil {
			return err
		}
		if _, err := op(f, chunk, pos); err != nil {
			return fmt.Errorf("%s: %w", df.path, err)
		}
	}
	if n < len(p) {
		return fmt.Errorf("torrent bytes %d..%d: past the end of the files", off, off+int64(len(p)))
	}
	return nil
}

func (c *fileCursor) readAt(p []byte, off int64) error {
	return c.do(p, off, (*os.File).ReadAt)
}

func (c *fileCursor) writeAt(p []byte, off int64) error {
	return c.do(p, off, (*os.File).WriteAt)
}
