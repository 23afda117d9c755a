package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/metainfo"
	hfs "github.com/hyperblow/hyperblow/fs"
)

const mountUsage = `Usage: hyperblow mount [flags] SOURCE MOUNTPOINT

Mount a torrent as a read-only folder and stay in the foreground until it is
unmounted (Ctrl-C, SIGTERM, "fusermount3 -u MOUNTPOINT" or "umount MOUNTPOINT").
Files are listed at once; reading a file fetches its pieces from the swarm,
verifies them, and serves them from a memory cache bounded by --cache-size.

A single-file torrent's file appears at the root of MOUNTPOINT; a multi-file
torrent's files and folders appear at the root as laid out in the torrent.

Examples:
  hyperblow mount video.torrent ~/mnt
  hyperblow mount --cache-size 1GiB --peer 192.0.2.7:51413 video.torrent ~/mnt
  hyperblow mount https://example.org/file.torrent /mnt/t

Flags:
`

// mountFlags are the settings shared by mount and demo.
type mountFlags struct {
	cacheSize   sizeFlag
	readahead   sizeFlag
	listen      string
	peers       peersFlag
	noDHT       bool
	readTimeout time.Duration
	allowOther  bool
	verbose     bool
	quiet       bool
	fuseDebug   bool
	cpuProfile  string
	maxUpload   sizeFlag
}

func (m *mountFlags) register(fs *flag.FlagSet, listenDefault string) {
	m.cacheSize = 512 << 20
	m.readahead = 64 << 20
	fs.Var(&m.cacheSize, "cache-size", "memory for verified pieces (e.g. 512MiB, 2GiB)")
	fs.Var(&m.readahead, "readahead", "largest readahead window of one reader (e.g. 64MiB)")
	fs.StringVar(&m.listen, "listen", listenDefault, "HOST:PORT for incoming peers (port 0: any free port)")
	fs.Var(&m.peers, "peer", "HOST:PORT of a peer to connect to (repeatable)")
	fs.BoolVar(&m.noDHT, "no-dht", false, "do not use the DHT (not implemented yet: the DHT is always off)")
	fs.DurationVar(&m.readTimeout, "read-timeout", 0, "fail a read with EIO if its data does not come in time (0: wait)")
	fs.BoolVar(&m.allowOther, "allow-other", false, "let other users read the mount (needs user_allow_other in /etc/fuse.conf when not root)")
	fs.BoolVar(&m.verbose, "v", false, "verbose: debug logs")
	fs.BoolVar(&m.quiet, "quiet", false, "only warnings and errors")
	fs.BoolVar(&m.fuseDebug, "fuse-debug", false, "log every FUSE request")
	fs.StringVar(&m.cpuProfile, "cpuprofile", "", "write a CPU profile (pprof) to this file while mounted")
	fs.Var(&m.maxUpload, "max-upload-rate", "cap upload to peers, in bytes per second (e.g. 1MiB; 0: no cap)")
}

func (m *mountFlags) logger(stderr io.Writer) *slog.Logger {
	level := slog.LevelInfo
	if m.verbose {
		level = slog.LevelDebug
	} else if m.quiet {
		level = slog.LevelWarn
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
}

func runMount(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("mount", mountUsage, stdout)
	var mf mountFlags
	mf.register(fs, ":6881")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("mount: want SOURCE and MOUNTPOINT, got %d arguments (see hyperblow mount --help)", len(pos))
	}
	src, mnt := pos[0], pos[1]
	if err := checkMountpoint(mnt); err != nil {
		return err
	}
	log := mf.logger(stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	t, err := loadSource(ctx, src)
	if err != nil {
		return err
	}
	return serveThen(ctx, stop, log, &mf, t, engine.TorrentOptions{Peers: mf.peers}, mnt, stdout, nil)
}

func checkMountpoint(mnt string) error {
	st, err := os.Stat(mnt)
	if err != nil {
		return fmt.Errorf("mount point %s: %w (create the folder first)", mnt, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("mount point %s: not a folder", mnt)
	}
	return nil
}

// serve starts an engine client with the torrent, mounts it, and blocks until it
// is unmounted or ctx is cancelled (a signal); then it unmounts and stops cleanly.
// onMounted, if set, runs once the mount is live.
func serveThen(ctx context.Context, stopSignals func(), log *slog.Logger, mf *mountFlags, mt *metainfo.Torrent, topts engine.TorrentOptions, mnt string, stdout io.Writer, onMounted func()) error {
	if mf.cpuProfile != "" {
		f, err := os.Create(mf.cpuProfile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	client, err := newClient(log, mf)
	if err != nil {
		return err
	}
	t, err := client.AddTorrent(mt, topts)
	if err != nil {
		client.Close()
		return err
	}
	uid, gid := uint32(os.Getuid()), uint32(os.Getgid())
	modTime := time.Now()
	if mt.CreationDate > 0 {
		modTime = time.Unix(mt.CreationDate, 0)
	}
	root := hfs.NewRoot(t, hfs.Options{ReadTimeout: mf.readTimeout, ModTime: modTime, UID: uid, GID: gid})
	server, err := hfs.Mount(mnt, root, hfs.MountOptions{AllowOther: mf.allowOther, Debug: mf.fuseDebug, Logger: log})
	if err != nil {
		client.Close()
		return err
	}
	log.Info("mounted", "torrent", mt.Info.Name, "info_hash", mt.InfoHash.String(), "mountpoint", mnt,
		"size", mt.Info.TotalLength, "listen", client.ListenAddr().String())
	if onMounted != nil {
		onMounted()
	}
	unmounted := make(chan struct{})
	go func() {
		server.Wait()
		close(unmounted)
	}()
	defer logStats(log, t)
	select {
	case <-unmounted:
		log.Info("unmounted from outside; stopping")
		client.Close()
		return nil
	case <-ctx.Done():
	}
	stopSignals() // a second signal kills the process the default way
	log.Info("stopping: releasing readers, telling trackers, unmounting")
	// Close the engine first: blocked reads return EIO, files get closed, and the
	// unmount below is not busy.
	client.Close()
	log.Debug("engine stopped; unmounting")
	if err := hfs.Unmount(server, mnt); err != nil {
		return err
	}
	log.Debug("unmounted")
	select {
	case <-unmounted:
		log.Debug("server done")
	case <-time.After(10 * time.Second):
		// Detached lazily: gone from the namespace; a process still holds a file
		// open. Exiting closes the FUSE connection.
		log.Warn("mount detached while files were still open", "mountpoint", mnt)
	}
	return nil
}

func newClient(log *slog.Logger, mf *mountFlags) (*engine.Client, error) {
	// The cache is most of the heap: a soft limit near it keeps the garbage
	// collector from letting the process grow to twice the cache.
	debug.SetMemoryLimit(int64(mf.cacheSize) + int64(mf.cacheSize)/8 + 96<<20)
	cfg := engine.Config{
		Listen:        mf.listen,
		CacheSize:     int64(mf.cacheSize),
		Readahead:     int64(mf.readahead),
		MaxUploadRate: int64(mf.maxUpload),
		Logger:        log,
	}
	c, err := engine.NewClient(cfg)
	if err != nil && mf.listen == ":6881" {
		// The default port is busy (another client?): any free port will do.
		cfg.Listen = ":0"
		c, err = engine.NewClient(cfg)
	}
	return c, err
}

// logStats logs the torrent's counters when the mount ends.
func logStats(log *slog.Logger, t *engine.Torrent) {
	st := t.Stats()
	log.Info("stopped", "downloaded", st.Downloaded, "uploaded", st.Uploaded,
		"served_to_readers", st.ServedToReaders, "wasted", st.Wasted,
		"pieces_verified", st.PiecesVerified, "hash_failures", st.HashFailures,
		"peers_banned", st.PeersBanned)
}
