package metainfo

import (
	"fmt"
	"testing"

	"github.com/hyperblow/hyperblow/engine/internal/benc"
)

// Where sanitizing or makeUnique changed a name, the torrent's own spelling is
// kept for web seeds' URLs (RawPath, RawName); elsewhere nothing is kept.
func TestRawPathForMirrors(t *testing.T) {
	files := []string{
		fileEntry(1, "ok.txt"),
		fileEntry(1, "caf\xe9.bin"), // Latin-1: not UTF-8
		fileEntry(1, "a/b"),
		fileEntry(1, "dup"),
		fileEntry(1, "dup"),
		fileEntry(1, "x", "", "y"),
		fileEntry(1, "z", "..", "w"),
		fileEntry(1, "d", "f"),
		fileEntry(1, "d"), // a file where a directory is: itself renamed
		fileEntry(1, "tab\tname"),
	}
	info := bd("files", bl(files...), "name", bs("root\x01"), "piece length", bi(16384), "pieces", hashes(1))
	i := mustParse(t, torrentWith(info)).Info
	if i.Name != "root_" || i.RawName != "root\x01" || i.URLName() != "root\x01" {
		t.Fatalf("name %q, raw %q, URL %q", i.Name, i.RawName, i.URLName())
	}
	got := ""
	for _, f := range i.Files {
		got += fmt.Sprintf("%q %q %q\n", f.Path, f.RawPath, f.URLPath())
	}
	want := `["ok.txt"] [] ["ok.txt"]
` + "[\"caf\ufffd.bin\"]" + ` ["caf\xe9.bin"] ["caf\xe9.bin"]
["a_b"] ["a/b"] ["a/b"]
["dup"] [] ["dup"]
["dup (1)"] ["dup"] ["dup"]
["x" "y"] [] ["x" "y"]
["z" "_.." "w"] ["z" "w"] ["z" "w"]
["d" "f"] [] ["d" "f"]
["d (1)"] ["d"] ["d"]
["tab_name"] ["tab\tname"] ["tab\tname"]
`
	if got != want {
		t.Fatalf("got\n%swant\n%s", got, want)
	}
	for _, f := range i.Files {
		if f.RawPath != nil && len(f.RawPath) == 0 {
			t.Fatalf("%q: an empty RawPath, not nil", f.Path)
		}
	}

	plain := mustParse(t, torrentWith(singleInfo())).Info
	if plain.RawName != "" || plain.URLName() != plain.Name || plain.Files[0].RawPath != nil {
		t.Fatalf("a plain single-file torrent keeps a raw name %q or path %q", plain.RawName, plain.Files[0].RawPath)
	}
	odd := mustParse(t, torrentWith(bd("length", bi(1), "name", bs("\xff.iso"), "piece length", bi(16384), "pieces", hashes(1)))).Info
	if odd.Name != "\ufffd.iso" || odd.URLName() != "\xff.iso" {
		t.Fatalf("single file: name %q, URL name %q", odd.Name, odd.URLName())
	}
	nav := mustParse(t, torrentWith(bd("length", bi(1), "name", bs(".."), "piece length", bi(16384), "pieces", hashes(1)))).Info
	if nav.RawName != "" {
		t.Fatalf("a name of .. is kept raw: %q", nav.RawName)
	}
}

// BEP 47 in a single-file torrent: attr sits in the info dictionary.
func TestSingleFileAttr(t *testing.T) {
	for _, c := range []struct {
		attr         string
		exec, hidden bool
	}{{"x", true, false}, {"h", false, true}, {"xh", true, true}, {"l", false, false}, {"", false, false}} {
		info := bd("attr", bs(c.attr), "length", bi(1), "name", bs("run"), "piece length", bi(16384), "pieces", hashes(1))
		f := mustParse(t, torrentWith(info)).Info.Files[0]
		if f.Exec != c.exec || f.Hidden != c.hidden || f.Symlink {
			t.Fatalf("attr %q: x=%v h=%v l=%v", c.attr, f.Exec, f.Hidden, f.Symlink)
		}
	}
	// Not a string: no attributes, and no error (as in a file entry).
	info := bd("attr", bi(7), "length", bi(1), "name", bs("run"), "piece length", bi(16384), "pieces", hashes(1))
	if f := mustParse(t, torrentWith(info)).Info.Files[0]; f.Exec || f.Hidden {
		t.Fatalf("attr i7e: x=%v h=%v", f.Exec, f.Hidden)
	}
}

// A v2 file tree's names keep their spelling for mirrors too.
func TestRawPathV2(t *testing.T) {
	m := loadFixtureMap(t, "v2only.torrent")
	tree := treeOf(m)
	tree["caf\xe9"] = map[string]any{"z.bin": tree["z.bin"]}
	delete(tree, "z.bin")
	tor := parseMap(t, m)
	found := false
	for _, f := range tor.Info.Files {
		switch {
		case len(f.Path) == 2 && f.Path[0] == "caf\ufffd":
			found = true
			if len(f.RawPath) != 2 || f.RawPath[0] != "caf\xe9" || f.RawPath[1] != "z.bin" {
				t.Fatalf("%q: raw path %q", f.Path, f.RawPath)
			}
		case f.RawPath != nil:
			t.Fatalf("%q: a raw path %q though nothing was changed", f.Path, f.RawPath)
		}
	}
	if !found {
		t.Fatal("the renamed directory's file is missing")
	}
}

// BEP 47 in a v2 file tree: attr (and symlink path) in a file's entry, as
// libtorrent writes them.
func TestV2Attributes(t *testing.T) {
	m := loadFixtureMap(t, "v2only.torrent")
	tree := treeOf(m)
	leaf := func(name string) map[string]any { return tree[name].(map[string]any)[""].(map[string]any) }
	leaf("a.bin")["attr"] = "x"
	leaf("z.bin")["attr"] = "h"
	tree["link"] = map[string]any{"": map[string]any{"attr": "l", "length": 0, "symlink path": []any{"a.bin"}}}
	tor := parseMap(t, m)
	got := map[string]string{}
	for _, f := range tor.Info.Files {
		if !f.Padding {
			got[f.Path[len(f.Path)-1]] = fmt.Sprintf("x=%v h=%v l=%v %q", f.Exec, f.Hidden, f.Symlink, f.SymlinkTarget)
		}
	}
	for name, want := range map[string]string{
		"a.bin": `x=true h=false l=false []`,
		"z.bin": `x=false h=true l=false []`,
		"link":  `x=false h=false l=true ["a.bin"]`,
	} {
		if got[name] != want {
			t.Errorf("%s: %s, want %s", name, got[name], want)
		}
	}
}

// parseMap encodes a torrent decoded into maps (loadFixtureMap) and parses it.
func parseMap(t *testing.T, m map[string]any) *Torrent {
	t.Helper()
	b, err := benc.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	tor, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return tor
}
