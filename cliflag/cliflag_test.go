package cliflag

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestSizeRoundTrip(t *testing.T) {
	for in, want := range map[string]int64{"512MiB": 512 << 20, "64M": 64 << 20, "1GiB": 1 << 30, "1.5K": 1536, "100": 100} {
		n, err := ParseSize(in)
		if err != nil || n != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, n, err, want)
		}
		if back, err := ParseSize(FormatSize(n)); err != nil || back != n {
			t.Errorf("ParseSize(FormatSize(%d)) = %d, %v", n, back, err)
		}
	}
	if _, err := ParseSize("1x"); err == nil {
		t.Error(`ParseSize("1x"): no error`)
	}
}

// A mistake names the flag as typed and is a UsageError; --help lists the
// flags with what they take.
func TestParseAndHelp(t *testing.T) {
	var help bytes.Buffer
	fs := NewFlagSet("mount", "Usage: hyperblow mount\n", &help)
	var size Size
	var peers Peers
	fs.Var(&size, "cache-size", "memory for pieces")
	fs.Var(&peers, "peer", "a peer")
	_, err := Parse(fs, []string{"--cache-size", "1x"})
	var ue UsageError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "--cache-size") {
		t.Errorf("bad size: %v, want a UsageError naming --cache-size", err)
	}
	pos, err := Parse(fs, []string{"a", "--peer", "127.0.0.1:1", "b"})
	if err != nil || strings.Join(pos, ",") != "a,b" || len(peers) != 1 {
		t.Errorf("Parse: %v, %v, peers %v", pos, err, peers)
	}
	if _, err := Parse(fs, []string{"--help"}); !errors.Is(err, ErrHelp) {
		t.Errorf("--help: %v, want ErrHelp", err)
	}
	for _, want := range []string{"--cache-size SIZE", "--peer HOST:PORT"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, help.String())
		}
	}
}
