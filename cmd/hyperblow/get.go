package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hyperblow/hyperblow/download"
	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/metainfo"
	"github.com/hyperblow/hyperblow/engine/storage"
	"github.com/hyperblow/hyperblow/progress"
	"github.com/hyperblow/hyperblow/session"
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

func runGet(args []string, stdout, stderr io.Writer) error {
	fset := newFlagSet("get", getUsage, stdout)
	var mf netFlags
	mf.register(fset, "get", ":6881")
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
	out := progress.NewOut(stderr, progress.IsTerminal(stderr) && !mf.quiet)
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
	mf       *netFlags
	log      *slog.Logger
	out      *progress.Out
	stdout   io.Writer

	sess *session.Session // nil until needed
	mt   *metainfo.Torrent
	t    *engine.Torrent
	lay  *storage.Layout // DIR/NAME: the torrent's files (storage.Layout, NoResume)
}

func (g *getter) close() {
	if g.sess != nil {
		g.sess.Close()
	}
	if g.lay != nil {
		g.lay.Close()
	}
}

func (g *getter) newSession() error {
	if g.sess != nil {
		return nil
	}
	s, err := g.mf.newSession(g.log, nil)
	if err != nil {
		return fmt.Errorf("get: %w (choose another --listen HOST:PORT)", err)
	}
	g.sess = s
	return nil
}

// run resolves the source, checks DIR and downloads what is missing.
func (g *getter) run(ctx context.Context) error {
	src, err := session.ParseSource(ctx, g.src)
	if err != nil {
		return fmt.Errorf("get: %w", err)
	}
	mt := src.Torrent
	if m := src.Magnet; m != nil {
		if err := g.newSession(); err != nil {
			return err
		}
		g.log.Info("fetching metadata", "info_hash", m.InfoHash.String(), "name", safe(m.Name))
		// The magnet's torrent fetches the metadata from its peers and then
		// downloads from the same connections.
		e, err := g.sess.Start(ctx, src, session.StartOptions{})
		if err != nil {
			return fmt.Errorf("get %s: metadata: %w", g.src, err)
		}
		if mt, err = e.WaitInfo(ctx); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("get %s: interrupted while fetching the metadata", g.src)
			}
			return fmt.Errorf("get %s: metadata: %w", g.src, err)
		}
		g.t = e.Torrent()
		g.log.Info("metadata fetched", "torrent", safe(mt.Info.Name), "size", mt.Info.TotalLength)
	}
	g.mt = mt
	info := mt.Info
	if err := os.MkdirAll(g.dir, 0o755); err != nil {
		return fmt.Errorf("get: folder %s: %w", g.dir, err)
	}
	start := time.Now()
	have, held, err := g.check(ctx)
	if err != nil {
		return err
	}
	root := g.lay.Root()
	missing := info.TotalLength - held
	g.log.Info("checked existing data", "path", root, "have_bytes", held, "missing_bytes", missing, "took", time.Since(start).Round(time.Millisecond))
	if missing == 0 {
		if err := g.lay.Sync(); err != nil {
			return fmt.Errorf("get %s: %w", g.src, err)
		}
		printComplete(g.stdout, info, root)
		fmt.Fprintf(g.stdout, "fetched nothing: 0 bytes received from peers, %d bytes were already here\n", held)
		return nil
	}
	if err := g.newSession(); err != nil {
		return err
	}
	if g.t == nil {
		e, err := g.sess.Start(ctx, session.Source{Torrent: mt}, session.StartOptions{})
		if err != nil {
			return fmt.Errorf("get %s: %w", g.src, err)
		}
		g.t = e.Torrent()
	}
	g.log.Info("downloading", "torrent", safe(info.Name), "info_hash", mt.InfoHash.String(), "to", root,
		"missing", missing, "listen", g.sess.Client().ListenAddr().String())
	return g.download(ctx, have, held)
}

// check opens DIR/NAME as a storage.Layout: it creates the torrent's files
// at their full size and hashes every piece whose bytes are all there, with a
// progress line. It returns the pieces held and their bytes.
func (g *getter) check(ctx context.Context) ([]bool, int64, error) {
	info := g.mt.Info
	root := filepath.Join(g.dir, info.Name)
	var hashed atomic.Int64 // pieces
	var once sync.Once
	var bar *progress.Bar
	var barMu sync.Mutex // guards bar: started on a hashing goroutine, stopped here
	startBar := func(total int) {
		toCheck := min(int64(total)*info.PieceLength, info.TotalLength)
		g.log.Info("checking existing data", "path", root, "bytes", toCheck)
		barMu.Lock()
		defer barMu.Unlock()
		bar = progress.Start(g.out, progress.Options{Label: "checking", Total: toCheck,
			Done:       func() int64 { return min(hashed.Load()*info.PieceLength, toCheck) },
			PlainEvery: 5 * time.Second,
			Plain: func(s progress.Stat) {
				g.log.Info("checking", "done", s.Done, "total", s.Total, "rate", progress.FormatRate(s.Rate))
			}})
	}
	lay, chk, err := storage.OpenLayout(ctx, g.mt.InfoHash, info, g.dir, storage.LayoutConfig{
		Log:      g.log,
		NoResume: true,
		CheckProgress: func(n, total int) {
			once.Do(func() { startBar(total) })
			hashed.Store(max(hashed.Load(), int64(n)))
		},
	})
	barMu.Lock()
	if bar != nil {
		bar.Stop()
	}
	barMu.Unlock()
	if err != nil {
		if ctx.Err() != nil {
			return nil, 0, fmt.Errorf("get %s: interrupted while checking %s; run the same command again to resume", g.src, root)
		}
		return nil, 0, fmt.Errorf("get %s: %w", g.src, err)
	}
	g.lay = lay
	if st := lay.Stats(); st.Degraded {
		return nil, 0, fmt.Errorf("get %s: %s: cannot write here: %s", g.src, root, st.LastError)
	}
	bf := lay.Bitfield()
	have := make([]bool, info.NumPieces)
	for i := range have {
		have[i] = bf.Has(i)
	}
	return have, chk.HeldBytes, nil
}

// download fetches the missing pieces (package download) and writes them.
func (g *getter) download(ctx context.Context, have []bool, held int64) error {
	info := g.mt.Info
	var written atomic.Int64
	start := time.Now()
	bar := progress.Start(g.out, progress.Options{
		Label: safe(info.Name), Total: info.TotalLength,
		Done:       func() int64 { return held + written.Load() },
		Extra:      func() string { return fmt.Sprintf("peers %d", g.t.Stats().Peers) },
		PlainEvery: 5 * time.Second,
		Plain: func(s progress.Stat) {
			g.log.Info("progress", "percent", fmt.Sprintf("%.1f", 100*float64(s.Done)/float64(max(s.Total, 1))),
				"done", s.Done, "total", s.Total, "rate", progress.FormatRate(s.Rate), "peers", g.t.Stats().Peers, "eta", progress.FormatETA(s.ETA))
		},
	})
	// Say so when nothing comes: a torrent nobody seeds waits forever.
	lonely := time.AfterFunc(noPeersWarning, func() {
		if written.Load() == 0 && g.t.Stats().Peers == 0 {
			g.log.Warn("no peer connected yet", "after", noPeersWarning, "trackers", len(g.mt.AnnounceList), "dht", !g.mf.noDHT,
				"peers_given", len(g.mf.peers), "hint", "keep waiting, or add --peer HOST:PORT of a peer that has it")
		}
	})
	err := download.Missing(ctx, g.t, info, have, g.lay, &written) // package download: several readers, whole pieces to the Layout
	if err != nil && ctx.Err() == nil {
		err = fmt.Errorf("get %s: %w", g.src, err)
	}
	lonely.Stop()
	bar.Stop()
	if serr := g.lay.Sync(); err == nil && serr != nil {
		err = fmt.Errorf("get %s: %w", g.src, serr)
	}
	took := time.Since(start)
	st := g.t.Stats()
	done := held + written.Load()
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(g.stdout, "stopped: %s is %.1f%% here (%s of %s) in %s\n", safe(info.Name),
				100*float64(done)/float64(info.TotalLength), humanSize(done), humanSize(info.TotalLength), safe(g.lay.Root()))
			return fmt.Errorf("get %s: interrupted; run the same command again to resume", g.src)
		}
		return err
	}
	printComplete(g.stdout, info, g.lay.Root())
	fmt.Fprintf(g.stdout, "fetched %s in %v (%s): %d bytes received from peers, %d bytes were already here\n",
		humanSize(written.Load()), took.Round(time.Millisecond), progress.FormatRate(float64(written.Load())/max(took.Seconds(), 1e-3)), st.Downloaded, held)
	return nil
}

// seed serves the finished download from disk until ctx ends.
func (g *getter) seed(ctx context.Context, stopSignals func()) error {
	if err := g.newSession(); err != nil {
		return err
	}
	if g.t != nil {
		g.sess.Client().RemoveTorrent(g.t)
	}
	g.log.Info("checking the download once more before seeding it", "path", g.lay.Root())
	data, err := engine.OpenStorage(g.mt.Info, g.lay.Root())
	if err != nil {
		return fmt.Errorf("get %s: seed: %w", g.src, err)
	}
	defer data.Close()
	// Seeded on purpose: it never sleeps.
	e, err := g.sess.Start(ctx, session.Source{Torrent: g.mt}, session.StartOptions{Storage: data, NoSleep: true})
	if err != nil {
		return fmt.Errorf("get %s: seed: %w", g.src, err)
	}
	t := e.Torrent()
	fmt.Fprintf(g.stdout, "seeding %s (%s) on %s until Ctrl-C\n", safe(g.mt.Info.Name), g.mt.InfoHash, g.sess.Client().ListenAddr())
	start := time.Now()
	<-ctx.Done()
	stopSignals()
	g.sess.Close()
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
