package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/metainfo"
)

const seedUsage = `Usage: hyperblow seed [flags] TORRENT DATA

Serve the complete data of a torrent to the swarm until Ctrl-C or SIGTERM.

TORRENT is a .torrent file (or an http(s) URL of one). DATA is where its data is:
  single-file torrent   the file itself, or a folder holding a file named after
                        the torrent
  multi-file torrent    the folder whose children are the torrent's top-level
                        files and folders (the torrent's own folder), or its
                        parent: a folder holding a folder named after the torrent
Every piece is checked against the torrent before seeding starts; if one does
not match, seed names it and exits 1.

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
	mf := mountFlags{cacheSize: seedCacheSize, fetch: "lazy"}
	fset.StringVar(&mf.listen, "listen", ":6881", "HOST:PORT for incoming peers (port 0: any free port; if the default is busy, any free port)")
	fset.Var(&mf.peers, "peer", "HOST:PORT of a peer to connect to (repeatable)")
	fset.BoolVar(&mf.noDHT, "no-dht", false, "do not use the DHT (BEP 5) to announce the torrent")
	mf.registerLocalNet(fset)
	mf.registerNoUTP(fset)
	fset.Var(&mf.dhtBootstrap, "dht-bootstrap", "HOST:PORT of a DHT node to join through (repeatable; default: the public routers)")
	fset.Var(&mf.maxUpload, "max-upload-rate", "cap upload to peers, in bytes per second (e.g. 1MiB; 0: no cap)")
	registerEncryption(fset, &mf.encryption)
	noTrackers := fset.Bool("no-trackers", false, "do not announce to the torrent's trackers (peers come from --peer or connect to us)")
	fset.BoolVar(&mf.verbose, "v", false, "verbose: debug logs")
	fset.BoolVar(&mf.quiet, "quiet", false, "only warnings and errors")
	pos, err := parseFlags(fset, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("seed: want TORRENT and DATA, got %d arguments (see hyperblow seed --help)", len(pos))
	}
	if err := mf.checkFlags(fset); err != nil {
		return err
	}
	src, data := pos[0], pos[1]
	log := mf.logger(stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	mt, err := loadSource(ctx, src)
	if err != nil {
		return err
	}
	storage, dataPath, err := openSeedData(mt.Info, data)
	if err != nil {
		return err
	}
	defer storage.Close()

	client, err := newClient(log, &mf)
	if err != nil {
		return fmt.Errorf("seed: %w (choose another --listen HOST:PORT)", err)
	}
	defer client.Close()
	start := time.Now()
	log.Info("checking data", "torrent", mt.Info.Name, "data", dataPath, "size", mt.Info.TotalLength, "pieces", mt.Info.NumPieces)
	t, err := client.AddTorrent(mt, engine.TorrentOptions{Storage: storage, Peers: mf.peers, NoTrackers: *noTrackers, NoSleep: true})
	if err != nil {
		return fmt.Errorf("seed: checking %s against %s: %w (give the complete, unmodified data of this torrent, or download it first)", dataPath, src, err)
	}
	log.Info("data verified", "took", time.Since(start).Round(time.Millisecond))
	addr := client.ListenAddr()
	trackers := len(mt.AnnounceList) > 0 && !*noTrackers
	if !trackers && len(mf.peers) == 0 {
		log.Warn("no trackers and no --peer: peers must be told to connect to us", "listen", addr.String())
	}
	fmt.Fprintf(stdout, "seeding %s (%s) on %s\n", safe(mt.Info.Name), mt.InfoHash, addr)

	<-ctx.Done()
	stop() // a second signal kills the process the default way
	log.Info("stopping: telling trackers and peers")
	closed := make(chan struct{})
	go func() {
		client.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		log.Warn("engine did not stop within 30s; exiting anyway")
	}
	st := t.Stats()
	fmt.Fprintf(stdout, "stopped %s: uploaded %s in %v\n", safe(mt.Info.Name), humanSize(st.Uploaded), time.Since(start).Round(time.Second))
	return nil
}

// openSeedData opens DATA for the torrent, following the convention of
// engine.OpenStorage (the file of a single-file torrent, the torrent's folder for a
// multi-file one), and also accepts the folder that holds DATA/<name>. It returns
// the path it used.
func openSeedData(info *metainfo.Info, data string) (*engine.FileStorage, string, error) {
	st, err := os.Stat(data)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, data, fmt.Errorf("seed: data %s: %w (give the torrent's file, or the folder holding its files)", data, err)
	}
	inner := filepath.Join(data, info.Name)
	ist, ierr := os.Stat(inner)
	switch {
	case !info.MultiFile && st.IsDir():
		if ierr != nil || !ist.Mode().IsRegular() {
			return nil, data, fmt.Errorf("seed: data %s: is a folder, and %s is a single-file torrent with no file %q in it (give the file itself)", data, safe(info.Name), safe(info.Name))
		}
		data = inner
	case info.MultiFile && !st.IsDir():
		return nil, data, fmt.Errorf("seed: data %s: not a folder, and %s is a multi-file torrent (give the folder holding its files)", data, safe(info.Name))
	case info.MultiFile && ierr == nil && ist.IsDir() && !holdsFirstFile(info, data):
		data = inner // the parent of the torrent's folder
	}
	s, err := engine.OpenStorage(info, data)
	if err != nil {
		hint := "give the complete data of this torrent"
		if errors.Is(err, fs.ErrNotExist) && info.MultiFile {
			hint = fmt.Sprintf("give the folder whose children are the torrent's files, or the folder holding %q", info.Name)
		}
		return nil, data, fmt.Errorf("seed: %w (%s)", err, hint)
	}
	return s, data, nil
}

// holdsFirstFile reports whether dir holds the first non-padding file of a
// multi-file torrent: then dir is the torrent's folder itself, even if it also
// has a child named like the torrent.
func holdsFirstFile(info *metainfo.Info, dir string) bool {
	for _, f := range info.Files {
		if f.Padding {
			continue
		}
		_, err := os.Stat(filepath.Join(append([]string{dir}, f.Path...)...))
		return err == nil
	}
	return false
}
