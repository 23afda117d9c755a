package main

import (
	"bytes"
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
	}
	for _, c := range cases {
		var out, errOut bytes.Buffer
		code := run(c.args, &out, &errOut)
		if code != c.code || !strings.Contains(out.String()+errOut.String(), c.say) {
			t.Errorf("run(%q) = %d, output %q; want %d and %q", c.args, code, out.String()+errOut.String(), c.code, c.say)
		}
	}
}
