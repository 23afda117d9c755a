package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/hyperblow/hyperblow/engine"
)

// errHelp means --help was asked for and printed.
var errHelp = errors.New("help shown")

// newFlagSet returns a flag set whose errors come back as usage errors and whose
// --help prints the command's usage text with examples.
func newFlagSet(name, usage string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprint(out, usage)
		fs.SetOutput(out)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// parseFlags parses args, turning flag errors into usage errors. Flags and
// positional arguments may be mixed.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp // the flag package has printed fs.Usage
			}
			return nil, usagef("%s: %v (see hyperblow %s --help)", fs.Name(), err, fs.Name())
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
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
