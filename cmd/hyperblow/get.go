package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hyperblow/hyperblow/datadir"
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

get is the same torrent as "hyperblow mount --data DIR --fetch all", without
FUSE: the torrent's files are its store, and it fetches every piece they lack.

Resume: what DIR already holds is checked first, as mount --data checks it.
Pieces listed in the resume record (DIR/.hyperblow/INFOHASH.resume, written
at least every 64 MiB and when get ends, after an fsync) in files whose size,
mtime and inode are unchanged are trusted; every other piece whose bytes are
all there is hashed against the torrent; only missing or damaged pieces are
downloaded. Stop with Ctrl-C (or SIGTERM, or even kill -9) at any time; what
was written stays, and running the same command again resumes.

On a terminal a progress line shows the percentage, bytes, rate, peers and
time left; otherwise (or with --quiet) progress goes to log lines. When every
piece is written and synced, get prints a summary and exits 0. With --seed it
uploads to peers while it downloads, and once complete goes on seeding the
same files until Ctrl-C, without reading them again. Exit 1 on failure (a
full disk says so) or when interrupted.

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
	seed := fset.Bool("seed", false, "seed while downloading, and after it until Ctrl-C or SIGTERM (nothing is read again)")
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
	mf.fetch = "all" // get is a torrent that fetches all of itself into its files
	src, dir := pos[0], pos[1]
	out := progress.NewOut(stderr, progress.IsTerminal(stderr) && !mf.quiet)
	log := mf.logger(out)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	g := &getter{src: src, dir: dir, mf: &mf, log: log, out: out, stdout: stdout, seed: *seed}
	defer g.close()
	if err := g.run(ctx); err != nil {
		return err
	}
	if *seed {
		return g.seedOn(ctx, stop)
	}
	return nil
}

// getter is one run of hyperblow get: a datadir.Fetch with a progress bar,
// log lines and a summary.
type getter struct {
	src, dir string
	mf       *netFlags
	log      *slog.Logger
	out      *progress.Out
	stdout   io.Writer
	seed     bool

	sess *session.Session
	f    *datadir.Fetch
	mt   *metainfo.Torrent
	lay  *storage.Layout
	t    *engine.Torrent
}

func (g *getter) close() {
	if g.sess != nil {
		g.sess.Close() // the torrent closes its Layout: the queue written, fsynced
	}
}

// checkBar is the progress line of the check of what DIR/NAME holds.
func (g *getter) checkBar(root string, total int64, done func() int64) func() {
	bar := progress.Start(g.out, progress.Options{Label: "checking", Total: total, Done: done, PlainEvery: 5 * time.Second,
		Plain: func(s progress.Stat) {
			g.log.Info("checking", "done", s.Done, "total", s.Total, "rate", progress.FormatRate(s.Rate))
		}})
	return bar.Stop
}

// run resolves the source, opens DIR/NAME as the torrent's tier and fetches
// what it lacks, with a progress bar, until every piece is written.
func (g *getter) run(ctx context.Context) error {
	src, err := session.ParseSource(ctx, g.src)
	if err != nil {
		return fmt.Errorf("get: %w", err)
	}
	if err := os.MkdirAll(g.dir, 0o755); err != nil {
		return fmt.Errorf("get: folder %s: %w", g.dir, err)
	}
	s, err := g.mf.newSession(g.log, nil)
	if err != nil {
		return fmt.Errorf("get: %w (choose another --listen HOST:PORT)", err)
	}
	g.sess = s
	start := time.Now()
	// Seeded on purpose (--seed): it never sleeps.
	f, err := datadir.Start(ctx, s, src, g.dir, datadir.Options{Log: g.log, NoSleep: g.seed, Check: g.checkBar})
	if ie := (*datadir.Interrupted)(nil); errors.As(err, &ie) && ie.Checking != "" {
		return fmt.Errorf("get %s: %w; run the same command again to resume", g.src, err)
	} else if err != nil {
		return fmt.Errorf("get %s: %w", g.src, err)
	}
	g.f, g.mt, g.lay, g.t = f, f.Metainfo(), f.Layout(), f.Torrent()
	info := g.mt.Info
	root := g.lay.Root()
	held := f.Checked().HeldBytes
	missing := info.TotalLength - held
	g.log.Info("checked existing data", "path", safe(root), "have_bytes", held, "missing_bytes", missing, "took", time.Since(start).Round(time.Millisecond))
	if missing == 0 {
		if err := g.lay.Sync(); err != nil {
			return fmt.Errorf("get %s: %w", g.src, err)
		}
		printComplete(g.stdout, info, root)
		fmt.Fprintf(g.stdout, "fetched nothing: 0 bytes received from peers, %d bytes were already here\n", held)
		return nil
	}
	g.log.Info("downloading", "torrent", safe(info.Name), "info_hash", g.mt.InfoHash.String(), "to", safe(root),
		"missing", missing, "listen", s.Client().ListenAddr().String())
	return g.download(ctx, held)
}

// download waits, with a progress bar, until the Layout holds every piece
// (the torrent fetches them, FetchAll, and hands them to it), then syncs.
func (g *getter) download(ctx context.Context, held int64) error {
	info := g.mt.Info
	start := time.Now()
	written := func() int64 { return g.lay.Stats().HeldBytes - held }
	bar := progress.Start(g.out, progress.Options{
		Label: safe(info.Name), Total: info.TotalLength,
		Done:       func() int64 { return g.lay.Stats().HeldBytes },
		Extra:      func() string { return fmt.Sprintf("peers %d", g.t.Stats().Peers) },
		PlainEvery: 5 * time.Second,
		Plain: func(s progress.Stat) {
			g.log.Info("progress", "percent", fmt.Sprintf("%.1f", 100*float64(s.Done)/float64(max(s.Total, 1))),
				"done", s.Done, "total", s.Total, "rate", progress.FormatRate(s.Rate), "peers", g.t.Stats().Peers, "eta", progress.FormatETA(s.ETA))
		},
	})
	// Say so when nothing comes: a torrent nobody seeds waits forever.
	lonely := time.AfterFunc(noPeersWarning, func() {
		if written() == 0 && g.t.Stats().Peers == 0 {
			g.log.Warn("no peer connected yet", "after", noPeersWarning, "trackers", len(g.mt.AnnounceList), "dht", !g.mf.noDHT,
				"peers_given", len(g.mf.peers), "hint", "keep waiting, or add --peer HOST:PORT of a peer that has it")
		}
	})
	// The Layout holds every piece, ctx ends, or its writes stopped (a full
	// disk, a folder made read-only): then get fails saying why, and what
	// was written stays for the next run.
	err := g.f.Wait(ctx)
	lonely.Stop()
	bar.Stop()
	if err != nil && ctx.Err() == nil {
		err = fmt.Errorf("get %s: %w; %s of %s are written, run the same command again once there is room", g.src, err,
			humanSize(g.lay.Stats().HeldBytes), humanSize(info.TotalLength))
	}
	if serr := g.lay.Sync(); err == nil && serr != nil {
		err = fmt.Errorf("get %s: %w", g.src, serr)
	}
	took := time.Since(start)
	if err != nil {
		if ctx.Err() != nil {
			g.sess.Close() // the torrent writes what it verified and the queue holds
			done := g.lay.Stats().HeldBytes
			fmt.Fprintf(g.stdout, "stopped: %s is %.1f%% here (%s of %s) in %s\n", safe(info.Name),
				100*float64(done)/float64(info.TotalLength), humanSize(done), humanSize(info.TotalLength), safe(g.lay.Root()))
			return fmt.Errorf("get %s: interrupted; run the same command again to resume", g.src)
		}
		return err
	}
	st := g.t.Stats()
	printComplete(g.stdout, info, g.lay.Root())
	fmt.Fprintf(g.stdout, "fetched %s in %v (%s): %d bytes received from peers, %d bytes were already here\n",
		humanSize(written()), took.Round(time.Millisecond), progress.FormatRate(float64(written())/max(took.Seconds(), 1e-3)), st.Downloaded, held)
	return nil
}

// seedOn keeps the complete torrent running, seeding from its files (its
// tier), until ctx ends: nothing is read again before seeding.
func (g *getter) seedOn(ctx context.Context, stopSignals func()) error {
	fmt.Fprintf(g.stdout, "seeding %s (%s) on %s until Ctrl-C\n", safe(g.mt.Info.Name), g.mt.InfoHash, g.sess.Client().ListenAddr())
	start := time.Now()
	<-ctx.Done()
	stopSignals()
	up := g.t.Stats().Uploaded
	g.sess.Close()
	fmt.Fprintf(g.stdout, "stopped seeding %s: uploaded %s in %v\n", safe(g.mt.Info.Name), humanSize(up), time.Since(start).Round(time.Second))
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
