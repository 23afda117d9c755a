package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestLogName(t *testing.T) {
	cases := map[string]string{
		"/mnt/movie":        "mnt-movie",
		"/mnt/my movie/":    "mnt-my_movie",
		"/":                 "root",
		"/srv/.hidden":      "srv-.hidden",
		"/.x":               "_x",
		"/mnt/été":          "mnt-_t_", // one '_' per character
		"/a//b/../c":        "a-c",
		"/mnt/x\n--y;rm -f": "mnt-x_--y_rm_-f",
	}
	for in, want := range cases {
		if got := logName(in); got != want {
			t.Errorf("logName(%q) = %q, want %q", in, got, want)
		}
	}
	if n := logName("/" + strings.Repeat("a", 500)); len(n) != 200 {
		t.Errorf("long mount point: %d bytes, want 200", len(n))
	}
}

func TestDefaultLogPath(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/state")
	got, err := defaultLogPath("/mnt/movie")
	want := "/state/hyperblow/mnt-movie.log"
	if os.Geteuid() == 0 {
		want = "/var/log/hyperblow/mnt-movie.log"
	}
	if err != nil || got != want {
		t.Errorf("defaultLogPath = %q, %v; want %q", got, err, want)
	}
}

func TestAbsPaths(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.WriteFile("x.torrent", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir("mnt", 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"--daemon", "-o", "no-dht", "x.torrent", "magnet:?xt=urn:btih:00", "mnt"}
	got := absPaths(args, []string{"x.torrent", "magnet:?xt=urn:btih:00", "mnt"})
	want := []string{"--daemon", "-o", "no-dht", filepath.Join(dir, "x.torrent"), "magnet:?xt=urn:btih:00", filepath.Join(dir, "mnt")}
	if !slices.Equal(got, want) {
		t.Errorf("absPaths = %q, want %q", got, want)
	}
}

func TestChildError(t *testing.T) {
	p := filepath.Join(t.TempDir(), "log")
	old := "hyperblow: an old error from an earlier run\n"
	run := "2026 hyperblow: starting in the background: mount x y\n" +
		"time=... level=INFO msg=something\n" +
		"hyperblow: x.torrent: not a valid torrent\n"
	if err := os.WriteFile(p, []byte(old+run), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := childError(p, int64(len(old))); got != "x.torrent: not a valid torrent" {
		t.Errorf("childError = %q", got)
	}
	// No error line: the last lines say what happened.
	if err := os.WriteFile(p, []byte("2026 hyperblow: starting\na\nb\nc\nd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := childError(p, 0); got != "b | c | d" {
		t.Errorf("childError without an error line = %q", got)
	}
}

// TestFuseMounts: the mount table parses, and a folder that is no mount point
// has no FUSE mount.
func TestFuseMounts(t *testing.T) {
	m, err := fuseMounts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 0 {
		t.Errorf("fresh folder has FUSE mounts: %v", m)
	}
}

func TestIsHelper(t *testing.T) {
	for argv0, want := range map[string]bool{
		"/sbin/mount.fuse.hyperblow": true,
		"mount.hyperblow":            true,
		"/usr/local/bin/hyperblow":   false,
		"mount.fuse":                 false,
	} {
		if got := isHelperName(argv0); got != want {
			t.Errorf("isHelperName(%q) = %v", argv0, got)
		}
	}
	for _, c := range []struct {
		args []string
		want bool
	}{
		{[]string{"/srv/a.torrent", "/mnt/a", "-o", "rw,dev,suid"}, true},
		{[]string{"mount", "/mnt/a", "-o", "x"}, false}, // a command
		{[]string{"/srv/a.torrent", "/mnt/a"}, false},
		{[]string{"-v", "/mnt/a", "-o", "x"}, false},
	} {
		if got := isFuseHelperCall(c.args); got != c.want {
			t.Errorf("isFuseHelperCall(%q) = %v", c.args, got)
		}
	}
}

// TestMountHelperArgs: the helper's own arguments; -f (fake) does everything
// but the mount, so a bad option still fails and a good line exits 0.
func TestMountHelperArgs(t *testing.T) {
	cases := []struct {
		args []string
		code int
		say  string
	}{
		{[]string{}, 2, "usage: mount.fuse.hyperblow"},
		{[]string{"/srv/a.torrent"}, 2, "usage"},
		{[]string{"/srv/a.torrent", "/mnt/a", "-x"}, 2, `unexpected argument "-x"`},
		{[]string{"/srv/a.torrent", "/mnt/a", "-o"}, 2, "-o needs a value"},
		{[]string{"/srv/a.torrent", "/mnt/a", "-N", "/proc/1/ns/mnt"}, 1, "namespace"},
		{[]string{"/srv/a.torrent", "/mnt/a", "-f", "-o", "ro,bogus"}, 2, `unknown option "bogus"`},
		{[]string{"/srv/a.torrent", "/mnt/a", "-fv", "-o", "ro,no-dht,cache-size=1GiB", "-t", "fuse.hyperblow"}, 0, ""},
		{[]string{"/srv/a.torrent", "/mnt/a", "-sf", "-o", "ro,bogus"}, 0, "ignoring"},
		{[]string{"/srv/a.torrent", "/mnt/a", "-f", "-o", "rw"}, 0, "read-only"},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		code := runMountHelper(c.args, &out, &errb)
		if code != c.code || !strings.Contains(errb.String(), c.say) {
			t.Errorf("helper %q: exit %d, stderr %q; want %d and %q", c.args, code, errb.String(), c.code, c.say)
		}
	}
}
