package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestIsFuseHelperCall(t *testing.T) {
	for _, c := range []struct {
		args []string
		want bool
	}{
		{[]string{"/srv/a.torrent", "/mnt/a", "-o", "rw,dev,suid"}, true},
		{[]string{"mount", "/mnt/a", "-o", "x"}, false}, // a command
		{[]string{"/srv/a.torrent", "/mnt/a"}, false},
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
