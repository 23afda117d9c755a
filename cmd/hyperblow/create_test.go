package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hyperblow/hyperblow/engine/metainfo"
)

// writeTree writes files (slash paths -> contents) under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func runArgs(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestCreateUsage(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a.txt": "hello"})
	for _, c := range []struct {
		args []string
		code int
		say  string
	}{
		{[]string{"create"}, 2, "want one PATH"},
		{[]string{"create", dir, dir}, 2, "want one PATH, got 2"},
		{[]string{"create", "--piece-length", "1KiB", dir}, 2, "not in 16KiB..64MiB"},
		{[]string{"create", "--piece-length", "128MiB", dir}, 2, "not in 16KiB..64MiB"},
		{[]string{"create", "--piece-length", "lots", dir}, 2, "invalid size"},
		{[]string{"create", "--tracker", "ftp://example.org/announce", dir}, 2, "invalid tracker"},
		{[]string{"create", "--tracker", "example.org:6969", dir}, 2, "invalid tracker"},
		{[]string{"create", "--tracker", " , ", dir}, 2, "empty tracker"},
		{[]string{"create", "--web-seed", "udp://example.org/", dir}, 2, "invalid web seed"},
		{[]string{"create", "--frobnicate", dir}, 2, "frobnicate"},
		{[]string{"create", "--help"}, 0, "Examples"},
		{[]string{"create", "-h"}, 0, "--tracker"},
		{[]string{"help", "create"}, 0, "Examples"},
		{[]string{"create", filepath.Join(dir, "missing")}, 1, filepath.Join(dir, "missing")},
	} {
		code, out, errOut := runArgs(c.args...)
		if code != c.code || !strings.Contains(out+errOut, c.say) {
			t.Errorf("run(%q) = %d, output %q; want %d and %q", c.args, code, out+errOut, c.code, c.say)
		}
	}
}

func TestTiersFlag(t *testing.T) {
	var f tiersFlag
	for _, v := range []string{"http://a/announce", "udp://b:1/announce, https://c/announce", "http://d/x,"} {
		if err := f.Set(v); err != nil {
			t.Fatalf("Set(%q): %v", v, err)
		}
	}
	want := tiersFlag{{"http://a/announce"}, {"udp://b:1/announce", "https://c/announce"}, {"http://d/x"}}
	if !reflect.DeepEqual(f, want) {
		t.Errorf("got %q, want %q", f, want)
	}
}

func TestCreate(t *testing.T) {
	src := filepath.Join(t.TempDir(), "album")
	writeTree(t, src, map[string]string{
		"01 intro.txt":  strings.Repeat("la", 20000),
		"cd2/02.txt":    "second",
		"cd2/empty.txt": "",
	})
	work := t.TempDir()
	t.Chdir(work)

	code, out, errOut := runArgs("create", "--tracker", "http://a.example/announce,http://b.example/announce",
		"--tracker", "udp://c.example:6969/announce", "--web-seed", "https://files.example/",
		"--private", "--comment", "hi there", src)
	if code != 0 {
		t.Fatalf("create: exit %d: %s %s", code, out, errOut)
	}
	mt, err := metainfo.Load(filepath.Join(work, "album.torrent"))
	if err != nil {
		t.Fatalf("the default output album.torrent: %v", err)
	}
	wantTiers := [][]string{{"http://a.example/announce", "http://b.example/announce"}, {"udp://c.example:6969/announce"}}
	if !reflect.DeepEqual(mt.AnnounceList, wantTiers) {
		t.Errorf("trackers %q, want %q", mt.AnnounceList, wantTiers)
	}
	if !reflect.DeepEqual(mt.URLList, []string{"https://files.example/"}) || !mt.Info.Private || mt.Comment != "hi there" ||
		mt.CreatedBy != "hyperblow" || mt.CreationDate == 0 || mt.Info.Name != "album" || len(mt.Info.Files) != 3 {
		t.Errorf("unexpected torrent: %+v %+v", mt, mt.Info)
	}
	for _, w := range []string{"created album.torrent", "info-hash: " + mt.InfoHash.String(), "magnet:?xt=urn:btih:" + mt.InfoHash.String() + "&dn=album&tr="} {
		if !strings.Contains(out, w) {
			t.Errorf("output does not say %q:\n%s", w, out)
		}
	}
	if !strings.Contains(errOut, "hashing") || !strings.Contains(errOut, "hashed") {
		t.Errorf("no start and end lines on stderr: %q", errOut)
	}

	// An existing file is kept unless --force.
	before, _ := os.ReadFile("album.torrent")
	code, out, errOut = runArgs("create", "--no-date", src)
	if code != 1 || !strings.Contains(errOut, "album.torrent exists") || !strings.Contains(errOut, "--force") {
		t.Errorf("create over an existing file: exit %d, %q %q; want 1 and a hint at --force", code, out, errOut)
	}
	if after, _ := os.ReadFile("album.torrent"); !bytes.Equal(before, after) {
		t.Error("the existing file was changed")
	}
	if code, out, errOut = runArgs("create", "--no-date", "--force", src); code != 0 {
		t.Fatalf("create --force: exit %d: %s %s", code, out, errOut)
	}
	first, _ := os.ReadFile("album.torrent")
	if code, out, errOut = runArgs("create", "--no-date", "--force", src); code != 0 {
		t.Fatalf("create --force: exit %d: %s %s", code, out, errOut)
	}
	second, _ := os.ReadFile("album.torrent")
	if !bytes.Equal(first, second) {
		t.Error("--no-date: two runs gave different files")
	}
	if bytes.Contains(first, []byte("creation date")) {
		t.Error("--no-date: the torrent has a creation date")
	}
	if left, _ := filepath.Glob(".hyperblow-*"); len(left) > 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

func TestCreateSingleFileOptions(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "movie.bin")
	if err := os.WriteFile(src, bytes.Repeat([]byte{7}, 100000), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out", "x.torrent")
	if err := os.Mkdir(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runArgs("create", "-o", out, "--name", "film.bin", "--piece-length", "32KiB", src)
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, stdout, stderr)
	}
	mt, err := metainfo.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if mt.Info.Name != "film.bin" || mt.Info.MultiFile || mt.Info.PieceLength != 32<<10 || mt.Info.NumPieces != 4 || len(mt.AnnounceList) != 0 {
		t.Errorf("unexpected torrent: %+v", mt.Info)
	}
	// A bad name is refused, and nothing is written.
	bad := filepath.Join(dir, "bad.torrent")
	if code, stdout, stderr = runArgs("create", "-o", bad, "--name", "..", src); code != 1 || !strings.Contains(stderr, "safe") {
		t.Errorf("--name ..: exit %d, %q %q; want 1", code, stdout, stderr)
	}
	if _, err := os.Stat(bad); err == nil {
		t.Error("a torrent was written for a refused name")
	}
}
