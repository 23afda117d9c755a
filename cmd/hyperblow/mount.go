package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/dht"
	"github.com/hyperblow/hyperblow/engine/metainfo"
	hfs "github.com/hyperblow/hyperblow/fs"
)

const mountUsage = `Usage: hyperblow mount [flags] SOURCE... MOUNTPOINT

Mount a torrent as a read-only folder and stay in the foreground until it is
unmounted ("hyperblow unmount MOUNTPOINT", Ctrl-C, SIGTERM, "umount MOUNTPOINT"
or "fusermount3 -u MOUNTPOINT"). Stopping ends the reads that wait for data
with an I/O error; a read that waits keeps the mount busy for umount and
fusermount3 -u, as for any filesystem: "hyperblow unmount" always works.
Files are listed at once; reading a file fetches its pieces from the swarm,
verifies them, and serves them from a memory cache bounded by --cache-size.

SOURCE is a .torrent file, an http(s) URL of one, a magnet link, or a bare
info-hash (40 hex digits). A single-file torrent's file appears at the root of
MOUNTPOINT; a multi-file torrent's files and folders appear at the root as laid
out in the torrent. A magnet link mounts at once: until its metadata arrives
the mount shows only .hyperblow-status, which tells what is happening.

Several SOURCEs mount several torrents: the root of MOUNTPOINT then holds one
folder per torrent, named after it (a single-file torrent's folder holds its
file; a magnet's folder shows .hyperblow-status until its metadata arrives).
Two torrents of the same name get "name" and "name (2)"; the same torrent given
twice shows once. A magnet whose metadata is not found in time leaves its
folder with .hyperblow-status saying why (the log says the same) and the other
torrents serving. A SOURCE that is a folder is watched: every *.torrent file in
it, and every *.magnet file (a text file holding a magnet link or an
info-hash), shows as a folder within a second or two of being written; a file
removed takes its folder away (files still open keep working until closed);
a file that is not a valid torrent is logged and skipped until it changes.

On a terminal (and without --quiet) a live view below the log lines shows each
torrent's progress, rates, peers, bytes served to readers, what reads wait
for, and the cache; --view off gives plain log lines, --view on forces it.

-o OPTIONS takes mount options as mount(8) and /etc/fstab do (allow_other,
uid=N, gid=N, umask=027, noexec, and any flag below as NAME=VALUE, e.g.
cache-size=1GiB,no-dht). --daemon returns once the mount is live and leaves a
background process serving it until "umount MOUNTPOINT"; that is how fstab
lines and systemd mount units of type fuse.hyperblow work (docs/mounting.md).

Examples:
  hyperblow mount video.torrent ~/mnt
  hyperblow mount -o allow_other,uid=1000,gid=1000,umask=022 video.torrent /mnt/v
  hyperblow mount --daemon -o cache-size=1GiB video.torrent /mnt/v; umount /mnt/v
  hyperblow mount 'magnet:?xt=urn:btih:...&tr=udp://tracker.example:6969' ~/mnt
  hyperblow mount --cache-size 1GiB --peer 192.0.2.7:51413 video.torrent ~/mnt
  hyperblow mount https://example.org/file.torrent /mnt/t
  hyperblow mount --view off video.torrent ~/mnt     # plain log lines, no live view
  hyperblow mount a.torrent b.torrent 'magnet:?xt=urn:btih:...' ~/mnt  # a folder each
  hyperblow mount ~/torrents ~/mnt        # then: cp x.torrent ~/torrents/; ls ~/mnt
  echo 'magnet:?xt=urn:btih:...' > ~/torrents/film.magnet   # with the above

Flags:
`

// mountFlags are the settings shared by mount and demo.
type mountFlags struct {
	cacheSize   sizeFlag
	readahead   sizeFlag
	listen      string
	peers       peersFlag
	noDHT       bool
	noLSD       bool // --no-lsd (localnet.go)
	noUPnP      bool // --no-upnp (localnet.go)
	noUTP       bool // --no-utp: TCP only
	readTimeout time.Duration
	idle        time.Duration // --idle (flags.go)
	allowOther  bool
	verbose     bool
	quiet       bool
	fuseDebug   bool
	cpuProfile  string
	maxUpload   sizeFlag
	encryption  encryptionFlag // --encryption: the MSE policy

	metadataTimeout time.Duration
	fetch           string
	dhtBootstrap    stringsFlag
	webSeeds        webSeedsFlag // --web-seed (webseed.go)
	showHidden      bool         // --show-hidden: BEP 47 hidden files too
	status          string

	view viewFlag // --view: the live status view on a terminal (tty.go)
	term *termOut // where the view draws, when it is on; set by logger

	life *mountLife // how the mount ends; set by the serve functions
	log  *slog.Logger

	fuse fuseOptions // -o options that are not flags: uid, gid, umask, ... (options.go)
}

func (m *mountFlags) register(fs *flag.FlagSet, listenDefault string) {
	m.cacheSize = 512 << 20
	m.readahead = 64 << 20
	fs.Var(&m.cacheSize, "cache-size", "memory for verified pieces (e.g. 512MiB, 2GiB)")
	fs.Var(&m.readahead, "readahead", "largest readahead window of one reader (e.g. 64MiB)")
	fs.StringVar(&m.listen, "listen", listenDefault, "HOST:PORT for incoming peers (port 0: any free port; :PORT or [::]:PORT: IPv4 and IPv6, [::1]:PORT: IPv6 only)")
	fs.Var(&m.peers, "peer", "HOST:PORT of a peer to connect to (repeatable)")
	fs.Var(&m.webSeeds, "web-seed", "http(s) URL of a web seed (BEP 19 mirror) to fetch from, beside the torrent's own (repeatable)")
	fs.BoolVar(&m.noDHT, "no-dht", false, "do not use the DHT (BEP 5) to find peers")
	m.registerLocalNet(fs)
	fs.BoolVar(&m.showHidden, "show-hidden", false, "show the files a torrent marks hidden (BEP 47 attribute h; -o show_hidden); they are left out by default")
	m.registerNoUTP(fs)
	fs.Var(&m.dhtBootstrap, "dht-bootstrap", "HOST:PORT of a DHT node to join through (repeatable; default: the public routers)")
	fs.DurationVar(&m.readTimeout, "read-timeout", 0, "fail a read with EIO if its data does not come in time (0: wait)")
	m.registerIdle(fs)
	fs.BoolVar(&m.allowOther, "allow-other", false, "let other users read the mount (needs user_allow_other in /etc/fuse.conf when not root)")
	fs.BoolVar(&m.verbose, "v", false, "verbose: debug logs")
	fs.BoolVar(&m.quiet, "quiet", false, "only warnings and errors")
	fs.BoolVar(&m.fuseDebug, "fuse-debug", false, "log every FUSE request")
	fs.StringVar(&m.cpuProfile, "cpuprofile", "", "write a CPU profile (pprof) to this file while mounted")
	fs.StringVar(&m.fetch, "fetch", "lazy", "what to download besides what is read: lazy (only that), file (opened files, whole) or all (the torrent), in the background")
	fs.DurationVar(&m.metadataTimeout, "metadata-timeout", 5*time.Minute, "give up fetching a magnet link's metadata after this long, and stop (a mount of several torrents: that magnet's folder says it failed); 0: keep trying")
	fs.Var(&m.maxUpload, "max-upload-rate", "cap upload to peers, in bytes per second (e.g. 1MiB; 0: no cap)")
	registerEncryption(fs, &m.encryption)
	m.view = "auto"
	fs.Var(&m.view, "view", "live status view on the terminal, redrawn below the log lines: auto (when stderr is a terminal and not --quiet), on (always), off (plain log lines)")
	fs.StringVar(&m.status, "status", "", "serve JSON status at http://ADDR/status and Prometheus metrics at /metrics; ADDR is HOST:PORT or :PORT (127.0.0.1); a non-loopback IP must be given explicitly, e.g. 0.0.0.0:9100")
}

func (m *mountFlags) logger(stderr io.Writer) *slog.Logger {
	level := slog.LevelInfo
	if m.verbose {
		level = slog.LevelDebug
	} else if m.quiet {
		level = slog.LevelWarn
	}
	stderr = m.viewOutput(stderr) // tty.go: log lines go above the status view when it is on
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
}

func runMount(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("mount", mountUsage, stdout)
	var mf mountFlags
	mf.register(fs, ":6881")
	mf.registerOptions(fs) // options.go: -o OPTIONS
	var dm daemonFlags
	dm.register(fs) // daemon.go: --daemon
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 2 {
		return usagef("mount: want SOURCE and MOUNTPOINT, got %d arguments (see hyperblow mount --help)", len(pos))
	}
	if err := mf.checkMount(fs, pos[len(pos)-1], stderr); err != nil { // options.go: flag values, the mount point
		return err
	}
	if err := mf.checkAllowOther(); err != nil {
		return err
	}
	if mf.fuse.fsname == "" {
		mf.fuse.fsname = fsNameOf(pos[0]) // the source column of df and /proc/mounts
	}
	if dm.daemon && !daemonChild() {
		return startDaemon(args, pos, &dm, stdout) // daemon.go: returns once mounted
	}
	if len(pos) > 2 || isFolder(pos[0]) {
		return runMultiMount(&mf, pos[:len(pos)-1], pos[len(pos)-1], stdout, stderr) // multi.go
	}
	src, mnt := pos[0], pos[1]
	if err := checkMountpoint(mnt); err != nil {
		return err
	}
	log := mf.logger(stderr)
	ctx, stop := signal.NotifyContext(context.Background(), mountSignals()...) // tty.go: SIGHUP too
	defer stop()
	t, m, err := parseSource(ctx, src)
	if err != nil {
		return err
	}
	if m != nil {
		return serveMagnet(ctx, stop, log, &mf, m, mnt, stdout)
	}
	return serveThen(ctx, stop, log, &mf, t, engine.TorrentOptions{Peers: mf.peers, WebSeeds: mf.webSeeds}, mnt, stdout, nil)
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

// serveThen starts an engine client with the torrent, mounts it, and blocks until
// it is unmounted or ctx is cancelled (a signal); then it unmounts and stops
// cleanly. onMounted, if set, runs once the mount is live.
func serveThen(ctx context.Context, stopSignals func(), log *slog.Logger, mf *mountFlags, mt *metainfo.Torrent, topts engine.TorrentOptions, mnt string, stdout io.Writer, onMounted func()) error {
	mf.life, mf.log = newMountLife(ctx), log
	stopProfile, err := startProfile(mf)
	if err != nil {
		return err
	}
	defer stopProfile()
	client, err := newClient(log, mf)
	if err != nil {
		return err
	}
	t, err := client.AddTorrent(mt, topts)
	if err != nil {
		client.Close()
		return err
	}
	stopStatus, err := startStatus(log, mf.status, client, nil)
	if err != nil {
		client.Close()
		return err
	}
	defer stopStatus()
	modTime := time.Now()
	if mt.CreationDate > 0 {
		modTime = time.Unix(mt.CreationDate, 0)
	}
	root := hfs.NewRoot(t, mf.rootOptions(modTime))
	server, err := hfs.Mount(mnt, root, mf.mountOptions(log))
	if err != nil {
		client.Close()
		return err
	}
	log.Info("mounted", "torrent", mt.Info.Name, "info_hash", mt.InfoHash.String(), "mountpoint", mnt,
		"size", mt.Info.TotalLength, "listen", client.ListenAddr().String())
	if onMounted != nil {
		onMounted()
	}
	defer logStats(log, t)
	stopView := mf.startView(mnt, client, nil) // tty.go; its final frame comes before "stopped"
	defer stopView()
	return waitUnmount(mf.life, stopSignals, log, client, server, mnt, nil)
}

// serveMagnet mounts at once with a status file, fetches the metadata in the
// background, and then shows the torrent's files. Metadata not found (in
// --metadata-timeout) stops the mount with an error.
func serveMagnet(ctx context.Context, stopSignals func(), log *slog.Logger, mf *mountFlags, m *metainfo.Magnet, mnt string, stdout io.Writer) error {
	mf.life, mf.log = newMountLife(ctx), log
	stopProfile, err := startProfile(mf)
	if err != nil {
		return err
	}
	defer stopProfile()
	client, err := newClient(log, mf)
	if err != nil {
		return err
	}
	ropts := engine.ResolveOptions{Peers: mf.peers, Timeout: mf.metadataTimeout}
	if err := client.CanFindPeers(m, ropts); err != nil {
		client.Close()
		return withPeerHint(err)
	}
	// The resolution ends when the mount begins to stop, so its end is then
	// no failure to report.
	res := client.Resolve(mf.life.ctx, m, ropts)
	stopStatus, err := startStatus(log, mf.status, client, res)
	if err != nil {
		mf.life.stop(nil) // the resolution ends, so Close does not wait for it
		client.Close()
		return err
	}
	defer stopStatus()
	root := hfs.NewPendingRoot(func() string { return resolveStatusText(res.Status()) }, mf.rootOptions(time.Now()))
	server, err := hfs.Mount(mnt, root, mf.mountOptions(log))
	if err != nil {
		mf.life.stop(nil)
		client.Close()
		return err
	}
	log.Info("mounted; fetching metadata", "info_hash", m.InfoHash.String(), "name", m.Name, "mountpoint", mnt,
		"listen", client.ListenAddr().String(), "metadata_timeout", mf.metadataTimeout)
	var torrent atomic.Pointer[engine.Torrent]
	go func() {
		<-res.Done()
		mt, err := res.Result()
		if mf.life.ctx.Err() != nil {
			return // stopping anyway
		}
		if err != nil {
			log.Error("metadata not fetched; stopping", "info_hash", m.InfoHash.String(), "err", err)
			mf.life.stop(err)
			return
		}
		t, err := client.AddTorrent(mt, engine.TorrentOptions{Peers: append(mf.peers, res.Peers()...), WebSeeds: mf.webSeeds})
		if err != nil {
			log.Error("starting the torrent; stopping", "info_hash", m.InfoHash.String(), "err", err)
			mf.life.stop(fmt.Errorf("starting the torrent %s: %w", m.InfoHash, err))
			return
		}
		torrent.Store(t)
		root.Attach(t)
		log.Info("metadata fetched", "torrent", mt.Info.Name, "files", len(mt.Info.VisibleFiles()), "size", mt.Info.TotalLength)
	}()
	defer func() {
		if t := torrent.Load(); t != nil {
			logStats(log, t)
		}
	}()
	stopView := mf.startView(mnt, client, oneMagnet(res)) // tty.go; its final frame comes before "stopped"
	defer stopView()
	return waitUnmount(mf.life, stopSignals, log, client, server, mnt, nil)
}

// withPeerHint adds to an error that says a magnet has no way to find peers
// (engine.ErrNoPeerSource) how to give it one.
func withPeerHint(err error) error {
	if errors.Is(err, engine.ErrNoPeerSource) {
		return fmt.Errorf("%w (give --peer HOST:PORT, a magnet link with a tracker, or leave the DHT on)", err)
	}
	return err
}

// resolveStatusText is the status file of a magnet mount.
func resolveStatusText(st engine.ResolveStatus) string {
	var b strings.Builder
	switch st.State {
	case engine.ResolveFailed:
		fmt.Fprintf(&b, "Hyperblow could not fetch this torrent's metadata (magnet link); it gave up.\n")
	case engine.Resolved:
		fmt.Fprintf(&b, "Hyperblow has fetched this torrent's metadata (magnet link).\n")
	default:
		fmt.Fprintf(&b, "Hyperblow is fetching this torrent's metadata (magnet link).\n")
	}
	fmt.Fprintf(&b, "name:      %s\ninfo-hash: %s\n", safe(st.Name), st.InfoHash)
	fmt.Fprintf(&b, "state:     %s for %v\n", st.State, time.Since(st.Started).Round(time.Second))
	fmt.Fprintf(&b, "peers:     %d known, %d tried, %d connected, %d offering metadata\n",
		st.PeersKnown, st.PeersTried, st.PeersConnected, st.PeersOffering)
	if st.MetadataSize > 0 {
		fmt.Fprintf(&b, "metadata:  %d of %d pieces (%d bytes)\n", st.PiecesHave, st.PiecesTotal, st.MetadataSize)
	} else {
		fmt.Fprintf(&b, "metadata:  size not known yet\n")
	}
	if st.Err != nil {
		fmt.Fprintf(&b, "error:     %s\n", st.Err)
	}
	return b.String()
}

func fsOptions(mf *mountFlags, modTime time.Time) hfs.Options {
	o := hfs.Options{ReadTimeout: mf.readTimeout, ModTime: modTime, UID: uint32(os.Getuid()), GID: uint32(os.Getgid()),
		Logger: mf.log, ShowHidden: mf.showHidden}
	if mf.life != nil {
		o.Life = mf.life.ctx // a stop releases every read of the mount first
	}
	mf.fuse.apply(&o) // -o uid=,gid=,umask= (options.go)
	return o
}

// rootOptions are fsOptions for the mount's root, which also takes
// `hyperblow unmount` requests.
func (mf *mountFlags) rootOptions(modTime time.Time) hfs.Options {
	o := fsOptions(mf, modTime)
	if l := mf.life; l != nil {
		o.OnUnmount = func() {
			if l.ctx.Err() == nil {
				mf.log.Info("unmount requested (hyperblow unmount)")
			}
			l.stop(nil)
		}
	}
	return o
}

func startProfile(mf *mountFlags) (stop func(), err error) {
	if mf.cpuProfile == "" {
		return func() {}, nil
	}
	f, err := os.Create(mf.cpuProfile)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// mountLife is how a mount ends: a signal (its parent context), `hyperblow
// unmount` (stop(nil)), or a failure such as a magnet whose metadata was not
// found (stop(err)). Its ctx ends as soon as the stop begins, and with it
// every read of the mount (hfs.Options.Life).
type mountLife struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
}

// errUnmountRequested is the cause of a stop asked for with `hyperblow unmount`.
var errUnmountRequested = errors.New("unmount requested")

func newMountLife(signals context.Context) *mountLife {
	ctx, cancel := context.WithCancelCause(signals)
	return &mountLife{ctx: ctx, cancel: cancel}
}

// stop begins the stop; err, if not nil, is the failure the process exits with.
func (l *mountLife) stop(err error) {
	if err == nil {
		err = errUnmountRequested
	}
	l.cancel(err)
}

// failure is the error the mount ends with: nil after a signal or an unmount
// request.
func (l *mountLife) failure() error {
	err := context.Cause(l.ctx)
	if err == nil || errors.Is(err, errUnmountRequested) || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// Bounds of a stop: the engine tells trackers "stopped" and closes its
// connections; a stop never waits for ever for that.
const engineStopWait = 15 * time.Second

// waitUnmount blocks until the mount is unmounted from outside or its life
// ends (a signal, `hyperblow unmount`, a failure); then it releases the
// readers, unmounts (lazily if a file is still open), stops the engine, and
// returns the failure, if any. Nothing is left mounted.
// beforeClose, if set, runs once the stop begins, before the engine stops.
func waitUnmount(life *mountLife, stopSignals func(), log *slog.Logger, client *engine.Client, server *fuse.Server, mnt string, beforeClose func()) error {
	unmounted := make(chan struct{})
	go func() {
		server.Wait()
		close(unmounted)
	}()
	select {
	case <-unmounted:
		log.Info("unmounted from outside; stopping")
		life.stop(nil) // nothing can read any more; resolutions stop
		if beforeClose != nil {
			beforeClose()
		}
		closeEngine(log, client)
		return nil
	case <-life.ctx.Done():
	}
	stopSignals() // a second signal kills the process the default way
	// life's end has released every read: their files close, the unmount is
	// not busy. The engine stops meanwhile: trackers are told.
	log.Info("stopping: releasing readers, unmounting, telling trackers")
	closed := make(chan struct{})
	go func() {
		if beforeClose != nil {
			beforeClose()
		}
		client.Close()
		close(closed)
	}()
	err := hfs.Detach(mnt, unmounted, log)
	log.Debug("unmounted; waiting for the engine to stop")
	select {
	case <-closed:
	case <-time.After(engineStopWait):
		log.Warn("the engine did not stop in time; exiting anyway", "waited", engineStopWait)
		dumpGoroutines(log)
	}
	if err != nil {
		return err
	}
	return life.failure()
}

// closeEngine stops the engine, waiting for it no more than engineStopWait.
func closeEngine(log *slog.Logger, client *engine.Client) {
	closed := make(chan struct{})
	go func() {
		client.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(engineStopWait):
		log.Warn("the engine did not stop in time; exiting anyway", "waited", engineStopWait)
		dumpGoroutines(log)
	}
}

// dumpGoroutines logs every goroutine's stack: what a stop that took too
// long was waiting for (a bug to report).
func dumpGoroutines(log *slog.Logger) {
	var b strings.Builder
	pprof.Lookup("goroutine").WriteTo(&b, 1)
	log.Warn("goroutines of the stop that did not end", "stacks", b.String())
}

func newClient(log *slog.Logger, mf *mountFlags) (*engine.Client, error) {
	// The cache is most of the heap: a soft limit near it keeps the garbage
	// collector from letting the process grow to twice the cache. The bench
	// measured the whole process at this limit (VmHWM), so it is the target,
	// --cache-size + 64 MiB, less room for stacks and the runtime.
	debug.SetMemoryLimit(int64(mf.cacheSize) + 48<<20)
	fetch, err := engine.ParseFetch(mf.fetch)
	if err != nil {
		return nil, usagef("--fetch: %v", err)
	}
	dhtOn, boot, state := mf.dhtSettings()
	cfg := engine.Config{
		DHT:           dhtOn,
		DHTBootstrap:  boot,
		DHTStateFile:  state,
		Fetch:         fetch,
		Listen:        mf.listen,
		CacheSize:     int64(mf.cacheSize),
		Readahead:     int64(mf.readahead),
		MaxUploadRate: int64(mf.maxUpload),
		Encryption:    engine.Encryption(mf.encryption),
		NoUTP:         mf.noUTP,
		Idle:          mf.idle,
		Logger:        log,
	}
	mf.localNetSettings(&cfg)
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
		"served_to_readers", st.ServedToReaders, "wasted", st.Wasted, "duplicates", st.Duplicates,
		"pieces_verified", st.PiecesVerified, "hash_failures", st.HashFailures,
		"peers_banned", st.PeersBanned)
}

// registerNoUTP adds --no-utp, next to --no-dht on every command that has it.
func (m *mountFlags) registerNoUTP(fs *flag.FlagSet) {
	fs.BoolVar(&m.noUTP, "no-utp", false, "do not use uTP (BEP 29): dial and accept peers over TCP only")
}

// dhtSettings: the DHT is on unless --no-dht, joined through --dht-bootstrap or
// the public routers, its node table kept in the user's cache folder.
func (m *mountFlags) dhtSettings() (on bool, bootstrap []string, stateFile string) {
	if m.noDHT {
		return false, nil, ""
	}
	bootstrap = m.dhtBootstrap
	if len(bootstrap) == 0 {
		bootstrap = dht.DefaultBootstrap()
	}
	if dir, err := os.UserCacheDir(); err == nil {
		dir = filepath.Join(dir, "hyperblow")
		if os.MkdirAll(dir, 0o700) == nil {
			stateFile = filepath.Join(dir, "dht-nodes")
		}
	}
	return true, bootstrap, stateFile
}
