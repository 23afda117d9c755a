package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	cases := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1048576", 1 << 20, true},
		{"512MiB", 512 << 20, true},
		{"64M", 64 << 20, true},
		{"1GiB", 1 << 30, true},
		{"1.5G", 3 << 29, true},
		{"16KiB", 16 << 10, true},
		{"12b", 12, true},
		{"", 0, false},
		{"-1M", 0, false},
		{"lots", 0, false},
		{"99999999999T", 0, false},
	}
	for _, c := range cases {
		got, err := parseSize(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}

func TestExitCodes(t *testing.T) {
	cases := []struct {
		args []string
		code int
		say  string
	}{
		{nil, 2, "Usage"},
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"mount"}, 2, "want SOURCE and MOUNTPOINT"},
		{[]string{"mount", "--cache-size", "lots", "a", "b"}, 2, "invalid size"},
		{[]string{"info"}, 2, "want one SOURCE"},
		{[]string{"info", "/nonexistent.torrent"}, 1, "/nonexistent.torrent"},
		{[]string{"mount", "/nonexistent.torrent", "/nonexistent-dir"}, 1, "/nonexistent-dir"},
		{[]string{"mount", "--help"}, 0, "Examples"},
		{[]string{"help", "info"}, 0, "Examples"},
		{[]string{"help"}, 0, "Usage"},
		{[]string{"--help"}, 0, "Usage"},
		{[]string{"help", "--help"}, 0, "Usage"},
	}
	for _, c := range cases {
		var out, errOut bytes.Buffer
		code := run(c.args, &out, &errOut)
		if code != c.code || !strings.Contains(out.String()+errOut.String(), c.say) {
			t.Errorf("run(%q) = %d, output %q; want %d and %q", c.args, code, out.String()+errOut.String(), c.code, c.say)
		}
	}
}

// usageCase is a mistake on the command line and what its one line must say.
type usageCase struct {
	args []string
	say  []string
}

// TestUsageErrors: every mistake on the command line is one line on stderr,
// naming the flag or argument, with a hint to --help, and exit code 2; nothing
// on stdout (no help text dumped before the one useful line).
func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	var cases []usageCase
	// Every command, the ones added later too: an unknown flag, a flag without its value.
	for name := range commands {
		cases = append(cases,
			usageCase{[]string{name, "--no-such-flag", "x"}, []string{"unknown flag --no-such-flag", "hyperblow " + name + " --help"}},
			usageCase{[]string{name, "--no-such-flag=3"}, []string{"--no-such-flag", "hyperblow " + name + " --help"}},
		)
	}
	mnt := dir // any folder: the flags are checked first
	for _, c := range []usageCase{
		{[]string{"frobnicate"}, []string{`unknown command "frobnicate"`, "mount", "hyperblow --help"}},
		{[]string{"--frobnicate"}, []string{"unknown flag --frobnicate", "hyperblow --help"}},
		{[]string{"help", "nosuch"}, []string{`unknown command "nosuch"`, "hyperblow --help"}},
		{[]string{"help", "mount", "info"}, []string{"want one COMMAND"}},
		{[]string{"version", "x"}, []string{"takes no arguments"}},

		{[]string{"mount"}, []string{"want SOURCE and MOUNTPOINT"}},
		{[]string{"mount", "--cache-size", "lots", "a", mnt}, []string{"--cache-size", `invalid size "lots"`}},
		{[]string{"mount", "--cache-size", "1KiB", "a", mnt}, []string{"--cache-size 1KiB", "below the minimum of 1MiB"}},
		{[]string{"mount", "-o", "cache-size=1KiB", "a", mnt}, []string{"--cache-size 1KiB", "below the minimum"}},
		{[]string{"mount", "--readahead", "4KiB", "a", mnt}, []string{"--readahead 4KiB", "below the minimum"}},
		{[]string{"mount", "--listen", "nowhere", "a", mnt}, []string{"--listen nowhere", "HOST:PORT"}},
		{[]string{"mount", "--listen", ":99999", "a", mnt}, []string{"--listen :99999", "port"}},
		{[]string{"mount", "--fetch", "some", "a", mnt}, []string{"--fetch some", "lazy, file or all"}},
		{[]string{"mount", "--metadata-timeout", "0", "a", mnt}, []string{"--metadata-timeout 0s", "above 0"}},
		{[]string{"mount", "--read-timeout", "-3s", "a", mnt}, []string{"--read-timeout -3s"}},
		{[]string{"mount", "--idle", "-1s", "a", mnt}, []string{"--idle -1s"}},
		{[]string{"mount", "--read-timeout", "soon", "a", mnt}, []string{"--read-timeout", "duration"}},
		{[]string{"mount", "--quiet=perhaps", "a", mnt}, []string{"--quiet", "true or false"}},
		{[]string{"mount", "--status", "here", "a", mnt}, []string{"--status"}},
		{[]string{"mount", "--dht-bootstrap", "nonsense", "a", mnt}, []string{"--dht-bootstrap nonsense"}},
		{[]string{"mount", "--peer", "nowhere", "a", mnt}, []string{"--peer", "invalid peer"}},
		{[]string{"mount", "--view", "maybe", "a", mnt}, []string{"--view", "auto, on or off"}},
		{[]string{"mount", "--encryption", "rot13", "a", mnt}, []string{"--encryption"}},
		{[]string{"mount", "-o", "rw", "a", mnt}, []string{"-o", "read-only"}},
		{[]string{"mount", "-o", "frob=1", "a", mnt}, []string{"-o", `unknown option "frob"`}},
		{[]string{"mount", "--cache-size"}, []string{"--cache-size needs a value"}},

		{[]string{"info"}, []string{"want one SOURCE"}},
		{[]string{"info", "--metadata-timeout", "-1m", "x.torrent"}, []string{"--metadata-timeout -1m0s"}},
		{[]string{"info", "--peer", "x", "x.torrent"}, []string{"--peer"}},
		{[]string{"info", "--json=2", "x.torrent"}, []string{"--json", "true or false"}},

		{[]string{"demo"}, []string{"want MOUNTPOINT"}},
		{[]string{"demo", "--size", "big", mnt}, []string{"--size", "invalid size"}},
		{[]string{"demo", "--cache-size", "1", mnt}, []string{"--cache-size 1", "below the minimum"}},
		{[]string{"demo", "--peer", "127.0.0.1:1", mnt}, []string{"unknown flag --peer"}},
		{[]string{"demo", "--no-dht", mnt}, []string{"unknown flag --no-dht"}},

		{[]string{"create"}, []string{"want one PATH"}},
		{[]string{"create", "--piece-length", "1", dir}, []string{"--piece-length 1", "16KiB..64MiB"}},
		{[]string{"create", "--tracker", "ftp://x/", dir}, []string{"--tracker", "invalid tracker"}},
		{[]string{"create", "--web-seed", "x", dir}, []string{"--web-seed", "invalid web seed"}},

		{[]string{"seed", "a"}, []string{"want TORRENT and DATA"}},
		{[]string{"seed", "--listen", "here", "a", dir}, []string{"--listen here"}},
		{[]string{"seed", "--max-upload-rate", "fast", "a", dir}, []string{"--max-upload-rate", "invalid size"}},

		{[]string{"get", "a"}, []string{"want SOURCE and DIR"}},
		{[]string{"get", "--cache-size", "100KiB", "a", dir}, []string{"--cache-size 100KiB", "below the minimum"}},
		{[]string{"get", "--metadata-timeout", "0", "a", dir}, []string{"--metadata-timeout 0s"}},
		{[]string{"get", "--listen", "1.2.3.4", "a", dir}, []string{"--listen 1.2.3.4"}},

		{[]string{"status"}, []string{"want ADDR"}},
		{[]string{"status", "--timeout", "x", ":1"}, []string{"--timeout", "duration"}},
	} {
		cases = append(cases, c)
	}
	for _, c := range cases {
		var out, errOut bytes.Buffer
		code := run(c.args, &out, &errOut)
		msg := errOut.String()
		if code != 2 || out.Len() != 0 || strings.Count(msg, "\n") != 1 || !strings.HasSuffix(msg, "\n") ||
			!strings.HasPrefix(msg, "hyperblow: ") || !strings.Contains(msg, "--help") {
			t.Errorf("run(%q) = %d, stdout %q, stderr %q; want exit 2 and one line on stderr with a hint to --help", c.args, code, out.String(), msg)
			continue
		}
		for _, s := range c.say {
			if !strings.Contains(msg, s) {
				t.Errorf("run(%q): %q does not say %q", c.args, msg, s)
			}
		}
	}
}

// TestHelp: help COMMAND and COMMAND --help print the command's usage with its
// flags written as typed, and exit 0.
func TestHelp(t *testing.T) {
	for name := range commands {
		for _, args := range [][]string{{"help", name}, {name, "--help"}, {name, "-h"}} {
			var out, errOut bytes.Buffer
			code := run(args, &out, &errOut)
			if code != 0 || !strings.Contains(out.String(), "Usage: hyperblow "+name) || errOut.Len() != 0 {
				t.Errorf("run(%q) = %d, stdout %.80q..., stderr %q; want 0 and the usage", args, code, out.String(), errOut.String())
			}
			if strings.Contains(out.String(), "\n  -cache-size") || strings.Contains(out.String(), "\n  -no-dht") {
				t.Errorf("run(%q): flags listed with one dash:\n%s", args, out.String())
			}
		}
	}
	var out bytes.Buffer
	if code := run([]string{"demo", "--help"}, &out, io.Discard); code != 0 {
		t.Fatalf("demo --help: exit %d", code)
	}
	for _, notDemo := range []string{"--peer", "--no-dht", "--no-utp", "--dht-bootstrap", "--listen", "--metadata-timeout", "--max-upload-rate", "--encryption"} {
		if strings.Contains(out.String(), "\n  "+notDemo+" ") || strings.Contains(out.String(), "\n  "+notDemo+"\n") {
			t.Errorf("demo --help lists %s, which an offline demo has no use for", notDemo)
		}
	}
}

// TestVersion: --version and version print one line naming the build's Go
// version, and exit 0.
func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}, {"-version"}} {
		var out, errOut bytes.Buffer
		code := run(args, &out, &errOut)
		if code != 0 || !strings.HasPrefix(out.String(), "hyperblow ") || !strings.Contains(out.String(), runtime.Version()) ||
			strings.Count(out.String(), "\n") != 1 || errOut.Len() != 0 {
			t.Errorf("run(%q) = %d, stdout %q, stderr %q", args, code, out.String(), errOut.String())
		}
	}
	var out bytes.Buffer
	if code := run([]string{"help", "version"}, &out, io.Discard); code != 0 || !strings.Contains(out.String(), "--version") {
		t.Errorf("help version = %d, %q", code, out.String())
	}
	bi := &debug.BuildInfo{GoVersion: "go1.99", Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-01-02T03:04:05Z"}, {Key: "vcs.modified", Value: "true"},
	}}
	want := "hyperblow v1.2.3 (revision 0123456789ab+dirty, 2026-01-02T03:04:05Z) go1.99 " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	if got := formatVersion(bi); got != want {
		t.Errorf("formatVersion = %q, want %q", got, want)
	}
	if got := formatVersion(&debug.BuildInfo{GoVersion: "go1.99", Main: debug.Module{Version: "(devel)"}}); !strings.HasPrefix(got, "hyperblow devel go1.99 ") {
		t.Errorf("formatVersion of a devel build without VCS = %q", got)
	}
}

// TestInfoMessages: info on a cut .torrent says it is truncated, naming the
// file once; on a folder it says what to give instead: one of the torrents the
// folder holds, or, for a folder of data, hyperblow create.
func TestInfoMessages(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(data, "a.bin"), bytes.Repeat([]byte("x"), 40000), 0o644); err != nil {
		t.Fatal(err)
	}
	whole := filepath.Join(dir, "whole.torrent")
	if code := run([]string{"create", "--no-date", "-o", whole, data}, io.Discard, io.Discard); code != 0 {
		t.Fatalf("create: exit %d", code)
	}
	raw, err := os.ReadFile(whole)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.torrent")
	if err := os.WriteFile(cut, raw[:len(raw)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	torrents := filepath.Join(dir, "torrents")
	if err := os.MkdirAll(torrents, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"one.torrent", "two.torrent"} {
		if err := os.WriteFile(filepath.Join(torrents, n), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		arg  string
		once string // named exactly once
		say  []string
	}{
		{cut, cut, []string{fmt.Sprintf("%s: truncated after %d bytes (", cut, len(raw)/2), "is the download complete?"}},
		{data, "", []string{data + ": is a folder", "a SOURCE is a .torrent file", "hyperblow create " + data}},
		{torrents, "", []string{"is a folder", "2 torrents (one.torrent, two.torrent)", filepath.Join(torrents, "one.torrent")}},
	} {
		var out, errOut bytes.Buffer
		code := run([]string{"info", c.arg}, &out, &errOut)
		msg := errOut.String()
		if code != 1 || out.Len() != 0 || strings.Count(msg, "\n") != 1 {
			t.Errorf("info %s = %d, stdout %q, stderr %q; want exit 1 and one line", c.arg, code, out.String(), msg)
		}
		for _, s := range c.say {
			if !strings.Contains(msg, s) {
				t.Errorf("info %s: %q does not say %q", c.arg, msg, s)
			}
		}
		if c.once != "" && strings.Count(msg, c.once) != 1 {
			t.Errorf("info %s: %q names %s %d times, want once", c.arg, msg, c.once, strings.Count(msg, c.once))
		}
		if strings.Contains(msg, "not supported yet") {
			t.Errorf("info %s: %q", c.arg, msg)
		}
	}
}
