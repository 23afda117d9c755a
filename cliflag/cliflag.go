// Package cliflag is the command line's flag handling shared by hyperblow's
// commands: flag sets whose mistakes come back as one-line usage errors that
// name the flag as it is typed (--cache-size, -o) and say what a good value
// looks like, a --help that lists the flags that way, and the value types the
// commands share (sizes, peers, URLs).
package cliflag

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrHelp means --help was asked for and printed.
var ErrHelp = errors.New("help shown")

// UsageError is a mistake on the command line (exit code 2).
type UsageError struct{ Msg string }

func (e UsageError) Error() string { return e.Msg }

// Usagef makes a UsageError.
func Usagef(format string, a ...any) error { return UsageError{fmt.Sprintf(format, a...)} }

// helpTexts holds what --help prints for each flag set made by NewFlagSet.
var helpTexts sync.Map // *flag.FlagSet -> func()

// NewFlagSet returns a flag set whose errors come back as one-line usage
// errors (Parse) and whose --help prints the command's usage text with
// examples and its flags. Nothing is printed on a mistake: the flag
// package's habit of printing the whole usage before the one useful line is
// turned off.
func NewFlagSet(name, usage string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {} // called by the flag package on every error too
	helpTexts.Store(fs, func() {
		fmt.Fprint(out, usage)
		PrintFlags(out, fs)
	})
	return fs
}

// A Kinder names what its flag takes in --help (SIZE, HOST:PORT, URL).
type Kinder interface{ Kind() string }

func isString(v any) bool { _, ok := v.(string); return ok }

// PrintFlags lists fs's flags as flag.PrintDefaults does, but written as they
// are typed: --cache-size, -o.
func PrintFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		kind, usage := flag.UnquoteUsage(f)
		if kind == "value" {
			if k, ok := f.Value.(Kinder); ok {
				kind = k.Kind()
			}
		}
		line := "  " + Dashed(f.Name)
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

// Parse parses args, turning flag errors into one-line usage errors that
// name the flag; --help prints the help and returns ErrHelp. Flags and
// positional arguments may be mixed.
func Parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				if help, ok := helpTexts.Load(fs); ok {
					help.(func())()
				}
				return nil, ErrHelp
			}
			return nil, Usagef("%s: %s (see hyperblow %s --help)", fs.Name(), ErrorText(fs, err), fs.Name())
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

// ErrorText rewrites an error of fs.Parse so that it names the flag as it is
// written (--cache-size, -o) and says what a good value looks like.
func ErrorText(fs *flag.FlagSet, err error) string {
	msg := err.Error()
	if m := undefinedRE.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("unknown flag %s", Dashed(m[1]))
	}
	if m := needsArgRE.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("%s needs a value", Dashed(m[1]))
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
			return fmt.Sprintf("%s: %s", Dashed(name), OneLine(cause))
		}
		return fmt.Sprintf("%s %s: %s", Dashed(name), value, OneLine(cause))
	}
	return OneLine(msg)
}

// Dashed writes a flag's name as on the command line: -o, -v, --cache-size.
func Dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// OneLine keeps a message on one line.
func OneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// FirstError is the usage error for the first of bad (lines that say what is
// wrong with a flag's value), if any.
func FirstError(fs *flag.FlagSet, bad []string) error {
	if len(bad) == 0 {
		return nil
	}
	return Usagef("%s: %s (see hyperblow %s --help)", fs.Name(), bad[0], fs.Name())
}

// CheckHostPort accepts HOST:PORT, :PORT and [IPv6]:PORT with a port 0-65535.
func CheckHostPort(v string) error {
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		return fmt.Errorf("want HOST:PORT or :PORT, e.g. 127.0.0.1:6881, :6881 or [::]:6881 (IPv6 in brackets)")
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("port %q is not a number from 0 to 65535", port)
	}
	return nil
}

// Size is a byte size: 1048576, 64MiB, 64M, 1GiB, 1G (binary units).
type Size int64

func (s *Size) String() string { return FormatSize(int64(*s)) }

// Kind is what --help says it takes.
func (*Size) Kind() string { return "SIZE" }

// Set parses v.
func (s *Size) Set(v string) error {
	n, err := ParseSize(v)
	if err != nil {
		return err
	}
	*s = Size(n)
	return nil
}

// ParseSize parses a byte size with an optional binary unit (K, KiB, M, ...).
func ParseSize(v string) (int64, error) {
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

// FormatSize writes n as ParseSize reads it, in the largest exact unit.
func FormatSize(n int64) string {
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

// Peers collects repeated --peer HOST:PORT.
type Peers []netip.AddrPort

func (p *Peers) String() string { return fmt.Sprint([]netip.AddrPort(*p)) }

// Kind is what --help says it takes.
func (*Peers) Kind() string { return "HOST:PORT" }

// Set adds one peer; a host name is looked up.
func (p *Peers) Set(v string) error {
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

// Strings collects a repeatable HOST:PORT string flag (--dht-bootstrap).
type Strings []string

func (s *Strings) String() string { return fmt.Sprint([]string(*s)) }

// Kind is what --help says it takes.
func (*Strings) Kind() string { return "HOST:PORT" }

// Set adds v.
func (s *Strings) Set(v string) error {
	*s = append(*s, v)
	return nil
}

// URLs collects repeated http(s) URLs (--web-seed: BEP 19 mirrors).
type URLs []string

func (w *URLs) String() string { return fmt.Sprint([]string(*w)) }

// Kind is what --help says it takes.
func (*URLs) Kind() string { return "URL" }

// Set adds one URL.
func (w *URLs) Set(v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("invalid web seed %q: want an http or https URL, e.g. https://mirror.example/files/", v)
	}
	*w = append(*w, v)
	return nil
}
