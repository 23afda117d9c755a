package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hyperblow/hyperblow/datadir"
	"github.com/hyperblow/hyperblow/engine/metainfo"
	"github.com/hyperblow/hyperblow/engine/storage"
	"github.com/hyperblow/hyperblow/session"
)

const seedUsage = `Usage: hyperblow seed [flags] TORRENT DATA

Serve the data of a torrent to the swarm until Ctrl-C or SIGTERM: all of it,
or, when DATA is partial, the pieces it holds (it never downloads).

TORRENT is a .torrent file (or an http(s) URL of one). DATA is where its data is:
  single-file torrent   the file itself, or a folder holding a file named after
                        the torrent
  multi-file torrent    the folder whose children are the torrent's top-level
                        files and folders (the torrent's own folder), or its
                        parent: a folder holding a folder named after the torrent
DATA is only read. Every piece whose bytes are there is checked against the
torrent before seeding starts (pieces listed in a resume record that
"hyperblow mount --data" left, in files unchanged since, are trusted), and
checked again each time it is read for a peer. Pieces that are missing or do
not match are not offered: seed says how many, names the first, and serves
the rest (BEP 21 upload_only). If DATA holds no piece of the torrent, seed
says so and exits 1.

Hyperblow announces to the torrent's trackers (unless --no-trackers) and to
the DHT (unless --no-dht, or the torrent is private), accepts peers on --listen
and dials every --peer. Once ready it prints one line on
stdout, for scripts:
  seeding NAME (INFOHASH) on HOST:PORT
On Ctrl-C or SIGTERM it tells the trackers it stopped and exits 0.

Examples:
  hyperblow seed movie.torrent ~/Downloads/movie.mkv
  hyperblow seed album.torrent ~/Music/album        # the album's own folder
  hyperblow seed album.torrent ~/Music              # holds ~/Music/album
  hyperblow seed --no-trackers --listen 127.0.0.1:0 album.torrent ~/Music/album
  hyperblow seed --peer 192.0.2.7:51413 movie.torrent movie.mkv

Flags:
`

// seedCacheSize bounds the piece cache of a seeder: it serves from DATA, so the
// cache holds nothing of note.
const seedCacheSize = 32 << 20

func runSeed(args []string, stdout, stderr io.Writer) error {
	fset := newFlagSet("seed", seedUsage, stdout)
	var nf netFlags
	nf.register(fset, "seed", ":6881")
	fset.BoolVar(&nf.noTrackers, "no-trackers", false, "do not announce to the torrent's trackers (peers come from --peer or connect to us)")
	pos, err := parseFlags(fset, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("seed: want TORRENT and DATA, got %d arguments (see hyperblow seed --help)", len(pos))
	}
	if err := nf.checkFlags(fset); err != nil {
		return err
	}
	src, data := pos[0], pos[1]
	log := nf.logger(stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	mt, err := session.LoadTorrent(ctx, src)
	if err != nil {
		return err
	}
	dataPath, err := datadir.Root(mt.Info, data)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}

	s, err := nf.newSession(log, nil)
	if err != nil {
		return fmt.Errorf("seed: %w (choose another --listen HOST:PORT)", err)
	}
	defer s.Close()
	client := s.Client()
	start := time.Now()
	log.Info("checking data", "torrent", safe(mt.Info.Name), "data", safe(dataPath), "size", mt.Info.TotalLength, "pieces", mt.Info.NumPieces)
	// The data is the torrent's tier, read only: a seed is a torrent that
	// serves what its files hold and fetches nothing. Seeded on purpose: it
	// never sleeps.
	var lay *storage.Layout
	var openErr error
	opts := session.StartOptions{NoSleep: true, UploadOnly: true,
		OpenTier: func(mt *metainfo.Torrent, ev storage.Events) (storage.Tier, error) {
			var st storage.Tier
			st, lay, _, openErr = s.OpenData(ctx, "", mt, storage.LayoutConfig{ReadOnly: true, Root: dataPath, Log: log}, ev)
			return st, openErr
		}}
	e, err := s.Start(ctx, session.Source{Torrent: mt}, opts)
	if err == nil {
		err = openErr
	}
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("seed: interrupted while checking %s", dataPath)
		}
		return fmt.Errorf("seed: %w (give the data of this torrent)", err)
	}
	held := lay.Bitfield()
	if held.Count() == 0 {
		return fmt.Errorf("seed: %s holds no piece of %s: %s (give the data of this torrent, or download it first)", safe(dataPath), src, datadir.FirstMissing(mt.Info, held))
	}
	if n := mt.Info.NumPieces - held.Count(); n > 0 {
		log.Warn("seeding partial data: pieces missing or not matching the torrent are not offered",
			"missing_pieces", n, "pieces", mt.Info.NumPieces, "first", datadir.FirstMissing(mt.Info, held))
	}
	log.Info("data verified", "took", time.Since(start).Round(time.Millisecond))
	addr := client.ListenAddr()
	t := e.Torrent()
	trackers := len(mt.AnnounceList) > 0 && !nf.noTrackers
	if !trackers && len(nf.peers) == 0 {
		log.Warn("no trackers and no --peer: peers must be told to connect to us", "listen", addr.String())
	}
	fmt.Fprintf(stdout, "seeding %s (%s) on %s\n", safe(mt.Info.Name), mt.InfoHash, addr)

	<-ctx.Done()
	stop() // a second signal kills the process the default way
	log.Info("stopping: telling trackers and peers")
	s.CloseWithin(30 * time.Second)
	st := t.Stats()
	fmt.Fprintf(stdout, "stopped %s: uploaded %s in %v\n", safe(mt.Info.Name), humanSize(st.Uploaded), time.Since(start).Round(time.Second))
	return nil
}
