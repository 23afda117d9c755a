package fs

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"syscall"
	"testing"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/metainfo"
)

func TestSymlinkTarget(t *testing.T) {
	for _, c := range []struct {
		link, target []string
		want         string
		ok           bool
	}{
		{[]string{"link"}, []string{"a", "b"}, "a/b", true},
		{[]string{"d", "link"}, []string{"run.sh"}, "../run.sh", true},
		{[]string{"d", "e", "link"}, []string{"d", "x"}, "../x", true},
		{[]string{"d", "link"}, []string{"d", "e", "f"}, "e/f", true},
		{[]string{"d", "link"}, []string{"d"}, ".", true},
		{[]string{"d", "link"}, []string{"d", "..", "z"}, "../z", true},
		{[]string{"d", "link"}, []string{"..", "etc", "passwd"}, "", false},
		{[]string{"d", "link"}, []string{"d", "..", "..", "x"}, "", false},
		{[]string{"link"}, []string{"a/b"}, "", false},
	} {
		got, ok := symlinkTarget(c.link, c.target)
		if got != c.want || ok != c.ok {
			t.Errorf("symlinkTarget(%q, %q) = %q, %v; want %q, %v", c.link, c.target, got, ok, c.want, c.ok)
		}
	}
}

// attrTorrent is a hand-built multi-file torrent with BEP 47 attributes (its
// data is never read: the piece hash is zeros).
func attrTorrent(t *testing.T) *metainfo.Torrent {
	t.Helper()
	s := func(v string) string { return fmt.Sprintf("%d:%s", len(v), v) }
	l := func(vs ...string) string {
		out := "l"
		for _, v := range vs {
			out += s(v)
		}
		return out + "e"
	}
	file := func(attr string, length int, path []string, link ...string) string {
		out := "d"
		if attr != "" {
			out += s("attr") + s(attr)
		}
		out += s("length") + fmt.Sprintf("i%de", length) + s("path") + l(path...)
		if link != nil {
			out += s("symlink path") + l(link...)
		}
		return out + "e"
	}
	files := "l" +
		file("x", 100, []string{"run.sh"}) +
		file("h", 10, []string{"secret"}) +
		file("", 5, []string{"plain"}) +
		file("l", 0, []string{"d", "link"}, "run.sh") +
		file("l", 0, []string{"d", "e", "deep"}, "d", "x") +
		file("l", 0, []string{"esc"}, "..", "etc", "passwd") +
		"e"
	info := "d" + s("files") + files + s("name") + s("attrs") + s("piece length") + "i16384e" + s("pieces") + s(strings.Repeat("\x00", 20)) + "e"
	mt, err := metainfo.Parse([]byte("d" + s("info") + info + "e"))
	if err != nil {
		t.Fatal(err)
	}
	return mt
}

func TestBEP47Attributes(t *testing.T) {
	c := testClient(t)
	tor, err := c.AddTorrent(attrTorrent(t), engine.TorrentOptions{NoTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	rfs := gofs.NewNodeFS(NewRoot(tor, Options{Umask: 0o022, Logger: log}), &gofs.Options{NullPermissions: true})

	if m := attrOf(t, rfs, "run.sh").Mode; m != syscall.S_IFREG|0o555 {
		t.Errorf("run.sh (x): mode %o, want %o", m, syscall.S_IFREG|0o555)
	}
	if m := attrOf(t, rfs, "plain").Mode; m != syscall.S_IFREG|0o444 {
		t.Errorf("plain: mode %o", m)
	}
	if st := lookupStatus(rfs, 1, "secret"); st != fuse.ENOENT {
		t.Errorf("hidden file: lookup %v, want ENOENT", st)
	}
	d := mustLookup(t, rfs, 1, "d").NodeId
	for _, c := range []struct {
		dir  uint64
		name string
		want string
	}{{d, "link", "../run.sh"}, {mustLookup(t, rfs, d, "e").NodeId, "deep", "../x"}} {
		e := mustLookup(t, rfs, c.dir, c.name)
		if e.Attr.Mode&syscall.S_IFMT != syscall.S_IFLNK {
			t.Errorf("%s: mode %o, want a symlink", c.name, e.Attr.Mode)
		}
		got, st := rfs.Readlink(nil, &fuse.InHeader{NodeId: e.NodeId})
		if st != fuse.OK || string(got) != c.want {
			t.Errorf("readlink %s = %q, %v; want %q", c.name, got, st, c.want)
		}
	}
	if at := attrOf(t, rfs, "esc"); at.Mode != syscall.S_IFREG|0o444 || at.Size != 0 {
		t.Errorf("a symlink out of the mount: mode %o size %d, want an empty regular file", at.Mode, at.Size)
	}
	if !strings.Contains(logs.String(), "symlink target leaves the mount") || !strings.Contains(logs.String(), "esc") {
		t.Errorf("no warning for esc: %q", logs.String())
	}

	shown := gofs.NewNodeFS(NewRoot(tor, Options{ShowHidden: true}), &gofs.Options{NullPermissions: true})
	if at := attrOf(t, shown, "secret"); at.Size != 10 {
		t.Errorf("ShowHidden: secret size %d", at.Size)
	}
}

// FuzzSymlinkTarget: a target that is accepted, resolved from the link's
// folder, stays inside the mount.
func FuzzSymlinkTarget(f *testing.F) {
	f.Add("d/e/link", "../../x")
	f.Add("link", "..")
	f.Add("a/link", "a/../../b")
	f.Fuzz(func(t *testing.T, link, target string) {
		lc := strings.Split(link, "/")
		tc := strings.Split(target, "/")
		for _, c := range lc {
			if c == "" || c == "." || c == ".." {
				return // metainfo never gives such a link path
			}
		}
		rel, ok := symlinkTarget(lc, tc)
		if !ok {
			return
		}
		if strings.HasPrefix(rel, "/") {
			t.Fatalf("absolute target %q", rel)
		}
		// Resolve rel from the link's folder: never above the root.
		depth := len(lc) - 1
		for _, c := range strings.Split(rel, "/") {
			switch c {
			case "..":
				depth--
			case ".", "":
			default:
				depth++
			}
			if depth < 0 {
				t.Fatalf("%q -> %q leaves the mount", link, rel)
			}
		}
	})
}
