package mounthelper

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
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
		if got := LogName(in); got != want {
			t.Errorf("LogName(%q) = %q, want %q", in, got, want)
		}
	}
	if n := LogName("/" + strings.Repeat("a", 500)); len(n) != 200 {
		t.Errorf("long mount point: %d bytes, want 200", len(n))
	}
}

func TestDefaultLogPath(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/state")
	got, err := DefaultLogPath("/mnt/movie")
	want := "/state/hyperblow/mnt-movie.log"
	if os.Geteuid() == 0 {
		want = "/var/log/hyperblow/mnt-movie.log"
	}
	if err != nil || got != want {
		t.Errorf("DefaultLogPath = %q, %v; want %q", got, err, want)
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
	got := AbsPaths(args, []string{"x.torrent", "magnet:?xt=urn:btih:00", "mnt"})
	want := []string{"--daemon", "-o", "no-dht", filepath.Join(dir, "x.torrent"), "magnet:?xt=urn:btih:00", filepath.Join(dir, "mnt")}
	if !slices.Equal(got, want) {
		t.Errorf("AbsPaths = %q, want %q", got, want)
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
	m, err := FuseMounts(t.TempDir())
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
		if got := IsHelperName(argv0); got != want {
			t.Errorf("IsHelperName(%q) = %v", argv0, got)
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
		if got := IsFuseHelperCall(c.args, func(n string) bool { return n == "mount" }); got != c.want {
			t.Errorf("IsFuseHelperCall(%q) = %v", c.args, got)
		}
	}
}

// TestParseHelperArgs: the helper's own arguments, as mount(8) gives them.
func TestParseHelperArgs(t *testing.T) {
	cases := []struct {
		args  []string
		usage string // a *HelperUsageError saying this
		err   string // another error saying this
		want  HelperCall
	}{
		{args: []string{}, usage: ""},
		{args: []string{"/srv/a.torrent"}, usage: ""},
		{args: []string{"-v", "/mnt/a"}, usage: ""},
		{args: []string{"/srv/a.torrent", "/mnt/a", "-x"}, usage: `unexpected argument "-x"`},
		{args: []string{"/srv/a.torrent", "/mnt/a", "-o"}, usage: "-o needs a value"},
		{args: []string{"/srv/a.torrent", "/mnt/a", "-N", "/proc/1/ns/mnt"}, err: "namespace"},
		{args: []string{"/srv/a.torrent", "/mnt/a", "-fv", "-o", "ro,no-dht", "-t", "fuse.hyperblow", "-ocache-size=1GiB"},
			want: HelperCall{Source: "/srv/a.torrent", Mountpoint: "/mnt/a", Options: []string{"ro,no-dht", "cache-size=1GiB"}, Fake: true, Verbose: true}},
		{args: []string{"/srv/a.torrent", "/mnt/a", "-s", "-n"},
			want: HelperCall{Source: "/srv/a.torrent", Mountpoint: "/mnt/a", Sloppy: true}},
	}
	for _, c := range cases {
		got, err := ParseHelperArgs(c.args)
		var ue *HelperUsageError
		switch {
		case errors.As(err, &ue):
			if c.err != "" || c.usage != ue.Msg || c.want.Source != "" {
				t.Errorf("%q: usage error %q, want usage %q err %q", c.args, ue.Msg, c.usage, c.err)
			}
		case err != nil:
			if c.err == "" || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want one saying %q", c.args, err, c.err)
			}
		default:
			if c.want.Source == "" || !reflect.DeepEqual(got, c.want) {
				t.Errorf("%q: %+v, want %+v", c.args, got, c.want)
			}
		}
	}
}
