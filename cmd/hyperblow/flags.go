package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hyperblow/hyperblow/cache"
	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/dht"
	"github.com/hyperblow/hyperblow/session"
	"github.com/hyperblow/hyperblow/termview"
)

// errHelp means --help was asked for and printed.
var errHelp = errors.New("help shown")

// helpTexts holds what --help prints for each flag set made by newFlagSet.
var helpTexts sync.Map // *flag.FlagSet -> func()

// newFlagSet returns a flag set whose errors come back as one-line usage
// errors and whose --help prints the command's usage text with examples and
// its flags. Nothing is printed on a mistake: the flag package's habit of
// printing the whole usage before the one useful line is turned off.
func newFlagSet(name, usage string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {} // called by the flag package on every error too
	helpTexts.Store(fs, func() {
		fmt.Fprint(out, usage)
		printFlags(out, fs)
	})
	return fs
}

// valueKind names what a flag of one of our own types takes.
func valueKind(v flag.Value) string {
	switch v.(type) {
	case *sizeFlag:
		return "SIZE"
	case *peersFlag, *stringsFlag:
		return "HOST:PORT"
	case *encryptionFlag:
		return "POLICY"
	case *webSeedsFlag:
		return "URL"
	case *optionsFlag:
		return "OPTIONS"
	case *viewFlag:
		return "auto|on|off"
	}
	return "value"
}

func isString(v any) bool { _, ok := v.(string); return ok }

// printFlags lists fs's flags as flag.PrintDefaults does, but written as they
// are typed: --cache-size, -o.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		kind, usage := flag.UnquoteUsage(f)
		if kind == "value" {
			kind = valueKind(f.Value)
		}
		line := "  " + dashed(f.Name)
		if kind != "" {
			line += " " + kind
		}
		if len(line) <= 4 { // "  -v": the text fits on the same line
			line += "\t"
		} else {
			line += "\n    \t"
		}
		line += strings.ReplaceAll(usage, "\n", "\n    \t")
		switch f.DefValue {
		case "", "0", "0s", "false", "[]":
		default:
			if g, ok := f.Value.(flag.Getter); ok && isString(g.Get()) {
				line += fmt.Sprintf(" (default %q)", f.DefValue)
			} else {
				line += fmt.Sprintf(" (default %s)", f.DefValue)
			}
		}
		fmt.Fprintln(w, line)
	})
}

// parseFlags parses args, turning flag errors into one-line usage errors that
// name the flag. Flags and positional arguments may be mixed.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				if help, ok := helpTexts.Load(fs); ok {
					help.(func())()
				}
				return nil, errHelp
			}
			return nil, usagef("%s: %s (see hyperblow %s --help)", fs.Name(), flagErrorText(fs, err), fs.Name())
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// The flag package's error messages, to be said again more plainly.
var (
	undefinedRE = regexp.MustCompile(`^flag provided but not defined: -+(.*)$`)
	needsArgRE  = regexp.MustCompile(`^flag needs an argument: -+(.*)$`)
	invalidRE   = regexp.MustCompile(`(?s)^invalid (?:boolean )?value (".*") for (?:flag )?-+([^:]+): (.*)$`)
)

// flagErrorText rewrites an error of fs.Parse so that it names the flag as it
// is written (--cache-size, -o) and says what a good value looks like.
func flagErrorText(fs *flag.FlagSet, err error) string {
	msg := err.Error()
	if m := undefinedRE.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("unknown flag %s", dashed(m[1]))
	}
	if m := needsArgRE.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("%s needs a value", dashed(m[1]))
	}
	if m := invalidRE.FindStringSubmatch(msg); m != nil {
		value, name, cause := m[1], m[2], m[3]
		if f := fs.Lookup(name); f != nil {
			if g, ok := f.Value.(flag.Getter); ok {
				switch g.Get().(type) {
				case bool:
					cause = "want true or false"
				case time.Duration:
					cause = "want a duration such as 90s, 5m or 1h30m"
				case int, int64, uint, uint64:
					cause = "want a whole number"
				case float64:
					cause = "want a number"
				}
			}
		}
		if strings.Contains(cause, strings.Trim(value, `"`)) {
			return fmt.Sprintf("%s: %s", dashed(name), oneLine(cause))
		}
		return fmt.Sprintf("%s %s: %s", dashed(name), value, oneLine(cause))
	}
	return oneLine(msg)
}

// dashed writes a flag's name as on the command line: -o, -v, --cache-size.
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// oneLine keeps a message on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
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
	return bad
}

// flagsError is the usage error for the first of bad, if any.
func flagsError(fs *flag.FlagSet, bad []string) error {
	if len(bad) == 0 {
		return nil
	}
	return usagef("%s: %s (see hyperblow %s --help)", fs.Name(), bad[0], fs.Name())
}

// minReadahead is the smallest --readahead: a reader's window starts at 1 MiB.
const minReadahead = 1 << 20

// checkHostPort accepts HOST:PORT, :PORT and [IPv6]:PORT with a port 0-65535.
func checkHostPort(v string) error {
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		return fmt.Errorf("want HOST:PORT or :PORT, e.g. 127.0.0.1:6881, :6881 or [::]:6881 (IPv6 in brackets)")
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return nil
}

// sizeFlag is a byte size: 1048576, 64MiB, 64M, 1GiB, 1G (binary units).
type sizeFlag int64

func (s *sizeFlag) String() string { return formatSize(int64(*s)) }

func (s *sizeFlag) Set(v string) error {
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	*s = sizeFlag(n)
	return nil
}

func parseSize(v string) (int64, error) {
	t := strings.TrimSpace(v)
	units := []struct {
		suffix string
		mul    int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40}, {"B", 1}}
	mul := int64(1)
	for _, u := range units {
		if strings.HasSuffix(strings.ToUpper(t), strings.ToUpper(u.suffix)) {
			t = strings.TrimSpace(t[:len(t)-len(u.suffix)])
			mul = u.mul
			break
		}
	}
	n, err := strconv.ParseFloat(t, 64)
	if err != nil || n < 0 || n*float64(mul) > 1<<62 {
		return 0, fmt.Errorf("invalid size %q (examples: 512MiB, 64M, 1GiB)", v)
	}
	return int64(n * float64(mul)), nil
}

func formatSize(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return strconv.FormatInt(n, 10)
}

// humanSize prints a size for people: 1.5 MiB.
func humanSize(n int64) string { return termview.HumanSize(n) }

// safe prints a name from a torrent or a peer so that it cannot drive the terminal.
func safe(s string) string { return session.Safe(s) }

// peersFlag collects repeated --peer HOST:PORT.
type peersFlag []netip.AddrPort

func (p *peersFlag) String() string { return fmt.Sprint([]netip.AddrPort(*p)) }

func (p *peersFlag) Set(v string) error {
	ap, err := netip.ParseAddrPort(v)
	if err != nil {
		ta, rerr := net.ResolveTCPAddr("tcp", v)
		if rerr != nil || ta.Port == 0 {
			return fmt.Errorf("invalid peer %q: want HOST:PORT, e.g. 127.0.0.1:6881 or [::1]:6881", v)
		}
		ap = ta.AddrPort()
	}
	*p = append(*p, ap)
	return nil
}

// stringsFlag collects a repeatable string flag.
type stringsFlag []string

func (s *stringsFlag) String() string { return fmt.Sprint([]string(*s)) }

func (s *stringsFlag) Set(v string) error {
	*s = append(*s, v)
	return nil
}

// encryptionFlag is --encryption: prefer-plain, prefer, require or off.
type encryptionFlag engine.Encryption

func (e *encryptionFlag) String() string { return engine.Encryption(*e).String() }

func (e *encryptionFlag) Set(v string) error {
	p, err := engine.ParseEncryption(v)
	if err != nil {
		return err
	}
	*e = encryptionFlag(p)
	return nil
}

// webSeedsFlag collects repeated --web-seed URL (BEP 19 mirrors).
type webSeedsFlag []string

func (w *webSeedsFlag) String() string { return fmt.Sprint([]string(*w)) }

func (w *webSeedsFlag) Set(v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("invalid web seed %q: want an http or https URL, e.g. https://mirror.example/files/", v)
	}
	*w = append(*w, v)
	return nil
}

// netFlags is the one flag group of the commands that talk to peers (mount,
// demo, get, seed, info): it builds their session.Config. Each command
// registers the part it uses (register); the help texts say what the flag
// does for that command.
type netFlags struct {
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
	return session.Config{Engine: ec, AnyPortIfBusy: n.listen == ":6881",
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
