package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hyperblow/hyperblow/cache"
	"github.com/hyperblow/hyperblow/cliflag"
	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/dht"
	"github.com/hyperblow/hyperblow/session"
	"github.com/hyperblow/hyperblow/termview"
)

// minReadahead is the smallest --readahead: a reader's window starts at 1 MiB.
const minReadahead = 1 << 20

// The command line's flag handling is package cliflag's.
var (
	errHelp       = cliflag.ErrHelp
	newFlagSet    = cliflag.NewFlagSet
	parseFlags    = cliflag.Parse
	dashed        = cliflag.Dashed
	oneLine       = cliflag.OneLine
	flagsError    = cliflag.FirstError
	checkHostPort = cliflag.CheckHostPort
	parseSize     = cliflag.ParseSize
	formatSize    = cliflag.FormatSize
)

type (
	sizeFlag     = cliflag.Size
	peersFlag    = cliflag.Peers
	stringsFlag  = cliflag.Strings
	webSeedsFlag = cliflag.URLs
)

// humanSize prints a size for people: 1.5 MiB.
func humanSize(n int64) string { return termview.HumanSize(n) }

// safe prints a name from a torrent or a peer so that it cannot drive the terminal.
func safe(s string) string { return session.Safe(s) }

// encryptionFlag is --encryption: prefer-plain, prefer, require or off.
type encryptionFlag engine.Encryption

func (e *encryptionFlag) String() string { return engine.Encryption(*e).String() }

// Kind is what --help says it takes.
func (*encryptionFlag) Kind() string { return "POLICY" }

func (e *encryptionFlag) Set(v string) error {
	p, err := engine.ParseEncryption(v)
	if err != nil {
		return err
	}
	*e = encryptionFlag(p)
	return nil
}

// checkFlags runs the value rules of the group's flags that fs has
// registered, after parsing: a value that parses but cannot work
// (--cache-size 1KiB) is a usage error naming the flag, caught before
// anything starts.
func (m *netFlags) checkFlags(fs *flag.FlagSet) error { return flagsError(fs, m.badFlags(fs)) }

// badFlags lists what is wrong with the group's flag values, one line each.
func (m *netFlags) badFlags(fs *flag.FlagSet) []string {
	has := func(name string) bool { return fs.Lookup(name) != nil }
	var bad []string
	add := func(name, format string, a ...any) {
		bad = append(bad, fmt.Sprintf("%s %s: %s", dashed(name), fs.Lookup(name).Value.String(), fmt.Sprintf(format, a...)))
	}
	if has("cache-size") && int64(m.cacheSize) < cache.MinSize {
		add("cache-size", "below the minimum of %s", formatSize(cache.MinSize))
	}
	if has("readahead") && int64(m.readahead) < minReadahead {
		add("readahead", "below the minimum of %s", formatSize(minReadahead))
	}
	if has("listen") {
		if err := checkHostPort(m.listen); err != nil {
			add("listen", "%v (port 0: any free port)", err)
		}
	}
	if has("dht-bootstrap") {
		for _, b := range m.dhtBootstrap {
			if err := checkHostPort(b); err != nil || strings.HasSuffix(b, ":0") {
				bad = append(bad, fmt.Sprintf("--dht-bootstrap %s: want the HOST:PORT of a DHT node, e.g. router.bittorrent.com:6881", b))
			}
		}
	}
	if has("fetch") {
		if _, err := engine.ParseFetch(m.fetch); err != nil {
			add("fetch", "want lazy, file or all")
		}
	}
	if has("metadata-timeout") && m.metadataTimeout <= 0 {
		add("metadata-timeout", "want a duration above 0, such as 5m")
	}
	if has("idle") && m.idle < 0 {
		add("idle", "want 0 (never sleep) or a duration above 0, such as 5m")
	}
	return bad
}

// netFlags is the one flag group of the commands that talk to peers (mount,
// demo, get, seed, info): it builds their session.Config. Each command
// registers the part it uses (register); the help texts say what the flag
// does for that command.
type netFlags struct {
	tier            tierFlags // --cache-dir, --disk-cache (tierflags.go; mount registers them)
	cacheSize       sizeFlag
	readahead       sizeFlag
	listen          string
	peers           peersFlag
	webSeeds        webSeedsFlag
	noDHT           bool
	dhtBootstrap    stringsFlag
	noLSD, noUPnP   bool
	noUTP           bool // TCP only
	encryption      encryptionFlag
	maxUpload       sizeFlag
	metadataTimeout time.Duration
	fetch           string
	idle            time.Duration
	verbose, quiet  bool

	noTrackers bool             // seed --no-trackers; demo
	morePeers  []netip.AddrPort // demo: its seeder
}

// register adds to fs the flags of the group that command uses, with
// command's defaults and help texts.
func (n *netFlags) register(fs *flag.FlagSet, command, listenDefault string) {
	mount := command == "mount"
	n.cacheSize, n.readahead, n.fetch, n.listen = 512<<20, 64<<20, "lazy", listenDefault
	switch command {
	case "mount":
		fs.Var(&n.cacheSize, "cache-size", "memory for verified pieces (e.g. 512MiB, 2GiB)")
		fs.Var(&n.readahead, "readahead", "largest readahead window of one reader (e.g. 64MiB)")
		fs.StringVar(&n.fetch, "fetch", "lazy", "what to download besides what is read: lazy (only that), file (opened files, whole) or all (the torrent), in the background")
	case "get":
		fs.Var(&n.cacheSize, "cache-size", "memory for verified pieces on their way to disk (e.g. 512MiB, 2GiB)")
	case "seed":
		n.cacheSize = seedCacheSize // it serves from DATA: the cache holds nothing of note
	case "info":
		n.cacheSize = cache.MinSize // a client that only fetches metadata
		n.listen = ""               // and only dials out
	}
	if command != "info" {
		listen := "HOST:PORT for incoming peers (port 0: any free port; if the default is busy, any free port)"
		if mount {
			listen = "HOST:PORT for incoming peers (port 0: any free port; :PORT or [::]:PORT: IPv4 and IPv6, [::1]:PORT: IPv6 only)"
		}
		fs.StringVar(&n.listen, "listen", listenDefault, listen)
		fs.BoolVar(&n.noLSD, "no-lsd", false, "do not use Local Service Discovery (BEP 14) to find peers on the local network (never used for private torrents, nor when --listen is a loopback address)")
		fs.BoolVar(&n.noUPnP, "no-upnp", false, "do not ask the gateway (NAT-PMP or UPnP IGD) to forward the --listen port")
		fs.Var(&n.maxUpload, "max-upload-rate", "cap upload to peers, in bytes per second (e.g. 1MiB; 0: no cap)")
		fs.Var(&n.encryption, "encryption", "Message Stream Encryption (MSE/PE) toward peers: prefer-plain (default: dial plain, retry encrypted if the peer refuses; accept both), prefer (dial encrypted first), require (only RC4-encrypted connections) or off (plain only)")
		fs.BoolVar(&n.verbose, "v", false, "verbose: debug logs")
		quiet := "only warnings and errors"
		if command == "get" {
			quiet = "no progress line; only warnings, errors and the summary"
		}
		fs.BoolVar(&n.quiet, "quiet", false, quiet)
	}
	peer, dht := "HOST:PORT of a peer to connect to (repeatable)", "do not use the DHT (BEP 5) to find peers"
	switch command {
	case "info":
		peer, dht = "HOST:PORT of a peer to ask for a magnet link's metadata (repeatable)", "do not use the DHT (BEP 5) to find peers for a magnet link"
	case "seed":
		dht = "do not use the DHT (BEP 5) to announce the torrent"
	}
	fs.Var(&n.peers, "peer", peer)
	fs.BoolVar(&n.noDHT, "no-dht", false, dht)
	fs.Var(&n.dhtBootstrap, "dht-bootstrap", "HOST:PORT of a DHT node to join through (repeatable; default: the public routers)")
	fs.BoolVar(&n.noUTP, "no-utp", false, "do not use uTP (BEP 29): dial and accept peers over TCP only")
	if mount || command == "get" {
		fs.Var(&n.webSeeds, "web-seed", "http(s) URL of a web seed (BEP 19 mirror) to fetch from, beside the torrent's own (repeatable)")
	}
	switch command {
	case "mount":
		fs.DurationVar(&n.metadataTimeout, "metadata-timeout", 5*time.Minute, "give up fetching a magnet link's metadata after this long, and stop (a mount of several torrents: that magnet's folder says it failed); 0: keep trying")
	case "get":
		fs.DurationVar(&n.metadataTimeout, "metadata-timeout", 5*time.Minute, "give up fetching a magnet link's metadata after this long")
	case "info":
		fs.DurationVar(&n.metadataTimeout, "metadata-timeout", 2*time.Minute, "give up fetching a magnet link's metadata after this long")
	}
}

// sessionConfig is the session the flags ask for. The DHT is on unless
// --no-dht, joined through --dht-bootstrap or the public routers, its node
// table kept in the user's cache folder; LSD and port mapping are on unless
// their flags say no; the default port, busy, gives way to any free port.
func (n *netFlags) sessionConfig(log *slog.Logger) (session.Config, error) {
	fetch, err := engine.ParseFetch(n.fetch)
	if err != nil {
		return session.Config{}, usagef("--fetch: %v", err)
	}
	ec := engine.Config{Listen: n.listen, Fetch: fetch, MaxUploadRate: int64(n.maxUpload),
		Encryption: engine.Encryption(n.encryption), NoUTP: n.noUTP, LSD: !n.noLSD, PortMap: !n.noUPnP}
	if !n.noDHT {
		ec.DHT, ec.DHTBootstrap = true, n.dhtBootstrap
		if len(ec.DHTBootstrap) == 0 {
			ec.DHTBootstrap = dht.DefaultBootstrap()
		}
		if dir, err := os.UserCacheDir(); err == nil {
			dir = filepath.Join(dir, "hyperblow")
			if os.MkdirAll(dir, 0o700) == nil {
				ec.DHTStateFile = filepath.Join(dir, "dht-nodes")
			}
		}
	}
	dataDir, err := n.tier.dataDir() // --data (tierflags.go)
	if err != nil {
		return session.Config{}, err
	}
	ec.DiskCache = n.tier.open(log) // nil unless the command registered the flags, or with --data
	return session.Config{Engine: ec, AnyPortIfBusy: n.listen == ":6881", DataDir: dataDir,
		CacheSize: int64(n.cacheSize), Readahead: int64(n.readahead), Idle: n.idle,
		Peers: slices.Concat(n.peers, n.morePeers), WebSeeds: n.webSeeds, NoTrackers: n.noTrackers,
		MetadataTimeout: n.metadataTimeout, Logger: log}, nil
}

// newSession starts the session the flags ask for.
func (n *netFlags) newSession(log *slog.Logger, folders session.Folders) (*session.Session, error) {
	cfg, err := n.sessionConfig(log)
	if err != nil {
		return nil, err
	}
	cfg.Folders = folders
	return session.New(cfg)
}

// logger logs to w at the level -v and --quiet ask for.
func (n *netFlags) logger(w io.Writer) *slog.Logger {
	level := slog.LevelInfo
	if n.verbose {
		level = slog.LevelDebug
	} else if n.quiet {
		level = slog.LevelWarn
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// registerIdle adds --idle: a torrent nothing reads for this long sleeps (no
// connections, no timers) until the next read (engine.Config.Idle).
func (n *netFlags) registerIdle(fs *flag.FlagSet) {
	fs.DurationVar(&n.idle, "idle", 5*time.Minute, "put a torrent to sleep (its connections closed, its timers stopped) once nothing has read it for this long; the next read wakes it (0: never sleep)")
}
