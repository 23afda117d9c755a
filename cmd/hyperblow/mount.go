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
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/metainfo"
	hfs "github.com/hyperblow/hyperblow/fs"
	"github.com/hyperblow/hyperblow/session"
	"github.com/hyperblow/hyperblow/termview"
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

Pieces that verified are kept below the memory cache: by default in a disk
cache (--cache-dir, --disk-cache), or with --data DIR in the torrent's own
files, DIR/NAME, laid out as "hyperblow get" writes them: complete files,
usable outside Hyperblow, never evicted. What DIR already holds (checked, or
trusted from the resume record in DIR/.hyperblow while the files are unchanged)
is not fetched again, and a changed file costs only the pieces it breaks.
With --data the disk cache is not used. Several torrents each get DIR/NAME; a
second torrent of the same name runs without --data (memory only, logged).
With --data and --fetch all the mount fills DIR and becomes a full seed.

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
  hyperblow mount --data ~/Downloads --fetch all video.torrent ~/mnt  # keep the files; seed once complete
  hyperblow mount --view off video.torrent ~/mnt     # plain log lines, no live view
  hyperblow mount a.torrent b.torrent 'magnet:?xt=urn:btih:...' ~/mnt  # a folder each
  hyperblow mount ~/torrents ~/mnt        # then: cp x.torrent ~/torrents/; ls ~/mnt
  echo 'magnet:?xt=urn:btih:...' > ~/torrents/film.magnet   # with the above

Flags:
`

// mountFlags are the settings of mount and demo: the shared group, and the
// mount's own.
type mountFlags struct {
	netFlags
	readTimeout time.Duration
	allowOther  bool
	fuseDebug   bool
	cpuProfile  string
	showHidden  bool // --show-hidden: BEP 47 hidden files too
	status      string

	view viewFlag      // --view: the live status view on a terminal (tty.go)
	term *termview.Out // where the view draws, when it is on; set by logger

	life *mountLife // how the mount ends; set by serve
	log  *slog.Logger

	fuse fuseOptions // -o options that are not flags: uid, gid, umask, ... (options.go)
}

func (m *mountFlags) register(fs *flag.FlagSet, listenDefault string) {
	m.netFlags.register(fs, "mount", listenDefault)
	fs.BoolVar(&m.showHidden, "show-hidden", false, "show the files a torrent marks hidden (BEP 47 attribute h; -o show_hidden); they are left out by default")
	fs.DurationVar(&m.readTimeout, "read-timeout", 0, "fail a read with EIO if its data does not come in time (0: wait)")
	m.registerIdle(fs)
	fs.BoolVar(&m.allowOther, "allow-other", false, "let other users read the mount (needs user_allow_other in /etc/fuse.conf when not root)")
	fs.BoolVar(&m.fuseDebug, "fuse-debug", false, "log every FUSE request")
	fs.StringVar(&m.cpuProfile, "cpuprofile", "", "write a CPU profile (pprof) to this file while mounted")
	m.view = "auto"
	fs.Var(&m.view, "view", "live status view on the terminal, redrawn below the log lines: auto (when stderr is a terminal and not --quiet), on (always), off (plain log lines)")
	fs.StringVar(&m.status, "status", "", "serve JSON status at http://ADDR/status and Prometheus metrics at /metrics; ADDR is HOST:PORT or :PORT (127.0.0.1); a non-loopback IP must be given explicitly, e.g. 0.0.0.0:9100")
}

// checkFlags: the group's rules, and the mount's own flags.
func (m *mountFlags) checkFlags(fs *flag.FlagSet) error {
	bad := m.badFlags(fs)
	if fs.Lookup("read-timeout") != nil && m.readTimeout < 0 {
		bad = append(bad, "--read-timeout "+m.readTimeout.String()+": want 0 (wait for the data) or a duration above 0, such as 30s")
	}
	if fs.Lookup("status") != nil && m.status != "" {
		if _, err := statusListenAddr(m.status); err != nil {
			bad = append(bad, err.Error()) // it names --status
		}
	}
	return flagsError(fs, bad)
}

// logger: log lines go above the status view when it is on (tty.go).
func (m *mountFlags) logger(stderr io.Writer) *slog.Logger {
	return m.netFlags.logger(m.viewOutput(stderr))
}

func runMount(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("mount", mountUsage, stdout)
	var mf mountFlags
	mf.register(fs, ":6881")
	mf.registerOptions(fs) // options.go: -o OPTIONS
	mf.tier.register(fs)   // tierflags.go: --cache-dir, --disk-cache
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
		return startDaemon(args, pos, &dm, &mf.tier, stdout) // daemon.go: returns once mounted
	}
	srcs, mnt := pos[:len(pos)-1], pos[len(pos)-1]
	if err := checkMountpoint(mnt); err != nil {
		return err
	}
	log := mf.logger(stderr)
	ctx, stop := signal.NotifyContext(context.Background(), mountSignals()...) // tty.go: SIGHUP too
	defer stop()
	var fixed []mountSource
	var dirs []string
	for _, src := range srcs {
		if isFolder(src) {
			dir, err := checkWatchDir(src, mnt)
			if err != nil {
				return err
			}
			if !slices.Contains(dirs, dir) {
				dirs = append(dirs, dir)
			}
			continue
		}
		s, err := session.ParseSource(ctx, src)
		if err != nil {
			return err
		}
		fixed = append(fixed, mountSource{arg: src, Source: s})
	}
	return serve(ctx, stop, log, &mf, fixed, dirs, mnt, nil)
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

// isFolder reports whether src names an existing folder (a watched SOURCE).
func isFolder(src string) bool {
	st, err := os.Stat(src)
	return err == nil && st.IsDir()
}

// checkWatchDir returns the watched folder's absolute path; it may not be the
// mount point or inside it.
func checkWatchDir(dir, mnt string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		return "", fmt.Errorf("watched folder %s: %w", dir, err)
	}
	m, err := filepath.Abs(mnt)
	if err == nil {
		if r, err := filepath.EvalSymlinks(m); err == nil {
			m = r
		}
	}
	if abs == m || strings.HasPrefix(abs, m+string(filepath.Separator)) {
		return "", usagef("watched folder %s is inside the mount point %s: give a folder outside it", dir, mnt)
	}
	return abs, nil
}

// mountSource is a SOURCE argument that is not a folder, parsed.
type mountSource struct {
	arg string
	session.Source
}

// serveThen mounts one torrent (demo): see serve.
func serveThen(ctx context.Context, stopSignals func(), log *slog.Logger, mf *mountFlags, mt *metainfo.Torrent, topts engine.TorrentOptions, mnt string, stdout io.Writer, onMounted func()) error {
	mf.morePeers, mf.noTrackers = topts.Peers, topts.NoTrackers
	return serve(ctx, stopSignals, log, mf, []mountSource{{arg: mt.Info.Name, Source: session.Source{Torrent: mt}}}, nil, mnt, onMounted)
}

// serve is the one serve sequence of a mount: a session with the fixed
// sources' torrents and the watched folders' files, the status server, the
// mount, the view; then it blocks until the mount is unmounted or its life
// ends, and stops cleanly. One SOURCE that is not a folder shows at the
// mount's root (a magnet: .hyperblow-status until its metadata comes, and
// a failure stops the mount); several, or a folder, show in a folder each
// (fs.MultiRoot). onMounted, if set, runs once the mount is live.
func serve(ctx context.Context, stopSignals func(), log *slog.Logger, mf *mountFlags, fixed []mountSource, dirs []string, mnt string, onMounted func()) error {
	mf.life, mf.log = newMountLife(ctx), log
	stopProfile, err := startProfile(mf)
	if err != nil {
		return err
	}
	defer stopProfile()
	var folders hfs.Folders
	single := len(fixed) == 1 && len(dirs) == 0
	if single {
		folders = hfs.NewOneFolder(func() hfs.Options { return mf.rootOptions(time.Now()) }, log, func(e *session.Entry, err error) {
			if mf.life.ctx.Err() == nil { // else stopping anyway
				log.Error("metadata not fetched; stopping", "info_hash", e.InfoHash().String(), "err", err)
				mf.life.stop(err)
			}
		})
	} else {
		folders = hfs.NewMultiFolders(hfs.NewMultiRoot(mf.rootOptions(time.Now())), func() hfs.Options { return fsOptions(mf, time.Now()) }, log)
	}
	s, err := mf.newSession(log, folders)
	if err != nil {
		return err
	}
	stopStatus, err := startStatus(log, mf.status, s)
	if err != nil {
		s.Close()
		return err
	}
	defer stopStatus()
	for _, src := range fixed {
		if err := s.Add(src.arg, src.Source); err != nil {
			s.Close()
			if single {
				return errors.Unwrap(err) // it named the source twice
			}
			return err
		}
	}
	for _, dir := range dirs {
		if err := s.Watch(dir); err != nil {
			s.Close()
			return err
		}
	}
	server, err := hfs.Mount(mnt, folders.Root(), mf.mountOptions(log)) // options.go: -o
	if err != nil {
		s.Close()
		return err
	}
	if single {
		logMounted(log, s.Client(), fixed[0].Source, mnt, mf.metadataTimeout)
	} else {
		log.Info("mounted", "torrents", len(s.Entries()), "watching", dirs, "mountpoint", mnt,
			"listen", s.Client().ListenAddr().String())
	}
	if onMounted != nil {
		onMounted()
	}
	defer func() {
		for _, t := range s.Client().Torrents() {
			if t.Info() == nil {
				continue // a magnet that never got its info
			}
			if single {
				logStats(log, t)
			} else {
				logStats(log.With("torrent", t.Info().Name), t)
			}
		}
	}()
	stopView := mf.startView(mnt, s) // tty.go; its final frame comes before "stopped"
	defer stopView()
	return waitUnmount(mf.life, stopSignals, log, s, server, mnt)
}

func logMounted(log *slog.Logger, c *engine.Client, src session.Source, mnt string, timeout time.Duration) {
	if mt := src.Torrent; mt != nil {
		log.Info("mounted", "torrent", mt.Info.Name, "info_hash", mt.InfoHash.String(), "mountpoint", mnt,
			"size", mt.Info.TotalLength, "listen", c.ListenAddr().String())
		return
	}
	log.Info("mounted; fetching metadata", "info_hash", src.Magnet.InfoHash.String(), "name", src.Magnet.Name, "mountpoint", mnt,
		"listen", c.ListenAddr().String(), "metadata_timeout", timeout)
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

// engineStopWait bounds a stop: the engine tells trackers "stopped" and
// closes its connections; a stop never waits for ever for that.
const engineStopWait = 15 * time.Second

// waitUnmount blocks until the mount is unmounted from outside or its life
// ends (a signal, `hyperblow unmount`, a failure); then it releases the
// readers, unmounts (lazily if a file is still open), stops the session and
// its engine, and returns the failure, if any. Nothing is left mounted.
func waitUnmount(life *mountLife, stopSignals func(), log *slog.Logger, s *session.Session, server *fuse.Server, mnt string) error {
	unmounted := make(chan struct{})
	go func() {
		server.Wait()
		close(unmounted)
	}()
	select {
	case <-unmounted:
		log.Info("unmounted from outside; stopping")
		life.stop(nil) // nothing can read any more; resolutions stop
		s.CloseWithin(engineStopWait)
		return nil
	case <-life.ctx.Done():
	}
	stopSignals() // a second signal kills the process the default way
	// life's end has released every read: their files close, the unmount is
	// not busy. The engine stops meanwhile: trackers are told.
	log.Info("stopping: releasing readers, unmounting, telling trackers")
	closed := make(chan struct{})
	go func() {
		s.CloseWithin(engineStopWait)
		close(closed)
	}()
	err := hfs.Detach(mnt, unmounted, log)
	log.Debug("unmounted; waiting for the engine to stop")
	<-closed
	if err != nil {
		return err
	}
	return life.failure()
}

// logStats logs the torrent's counters when the mount ends.
func logStats(log *slog.Logger, t *engine.Torrent) {
	st := t.Stats()
	log.Info("stopped", "downloaded", st.Downloaded, "uploaded", st.Uploaded,
		"served_to_readers", st.ServedToReaders, "wasted", st.Wasted, "duplicates", st.Duplicates,
		"pieces_verified", st.PiecesVerified, "hash_failures", st.HashFailures,
		"peers_banned", st.PeersBanned)
}
