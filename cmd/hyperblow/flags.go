package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hyperblow/hyperblow/cache"
	"github.com/hyperblow/hyperblow/engine"
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

// checkFlags runs the value rules of mf's flags that fs has registered, after
// parsing: a value that parses but cannot work (--cache-size 1KiB) is a usage
// error naming the flag, caught before anything starts.
func (m *mountFlags) checkFlags(fs *flag.FlagSet) error {
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
	if has("read-timeout") && m.readTimeout < 0 {
		add("read-timeout", "want 0 (wait for the data) or a duration above 0, such as 30s")
	}
	if has("status") && m.status != "" {
		if _, err := statusListenAddr(m.status); err != nil {
			bad = append(bad, err.Error()) // it names --status
		}
	}
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
func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

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

// registerEncryption registers --encryption, shared by mount, seed and get.
func registerEncryption(fs *flag.FlagSet, e *encryptionFlag) {
	fs.Var(e, "encryption", "Message Stream Encryption (MSE/PE) toward peers: prefer-plain (default: dial plain, retry encrypted if the peer refuses; accept both), prefer (dial encrypted first), require (only RC4-encrypted connections) or off (plain only)")
}

// registerIdle adds --idle: a torrent nothing reads for this long sleeps (no
// connections, no timers) until the next read (engine.Config.Idle).
func (m *mountFlags) registerIdle(fs *flag.FlagSet) {
	fs.DurationVar(&m.idle, "idle", 5*time.Minute, "put a torrent to sleep (its connections closed, its timers stopped) once nothing has read it for this long; the next read wakes it (0: never sleep)")
}
