package metainfo

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCleanComponent(t *testing.T) {
	long := strings.Repeat("a", 300)
	longUTF8 := strings.Repeat("é", 200) // 400 bytes
	for _, tc := range []struct {
		in   string
		want string
		keep bool
	}{
		{"movie.mkv", "movie.mkv", true},
		{"foo... bar", "foo... bar", true}, // components, not substrings
		{"...", "...", true},
		{"..foo", "..foo", true},
		{".hidden", ".hidden", true},
		{"", "", false},
		{".", "", false},
		{"..", "_..", true},
		{"a/b", "a_b", true},
		{"../../etc/passwd", ".._.._etc_passwd", true},
		{"/", "_", true},
		{"a\x00b", "a_b", true},
		{"tab\there", "tab_here", true},
		{"nl\n", "nl_", true},
		{"del\x7f", "del_", true},
		{"\xff\xfe", "\uFFFD\uFFFD", true},
		{"ok é 日本", "ok é 日本", true},
		{"C:\\windows", "C:\\windows", true}, // a legal Linux name
		{" spaced ", " spaced ", true},
		{long, strings.Repeat("a", 255), true},
		{long + ".mkv", strings.Repeat("a", 251) + ".mkv", true},
		{longUTF8 + ".txt", strings.Repeat("é", 125) + ".txt", true}, // 250 + 4 bytes: no half rune
		{long + "." + strings.Repeat("x", 40), (long + "." + strings.Repeat("x", 40))[:255], true},
	} {
		got, keep := cleanComponent([]byte(tc.in))
		if got != tc.want || keep != tc.keep {
			t.Errorf("cleanComponent(%q) = %q, %v; want %q, %v", tc.in, got, keep, tc.want, tc.keep)
		}
		if keep {
			assertSafe(t, got)
		}
	}
}

func assertSafe(t *testing.T, c string) {
	t.Helper()
	if c == "" || c == "." || c == ".." || strings.ContainsAny(c, "/\x00") || len(c) > MaxNameLen || !utf8.ValidString(c) {
		t.Fatalf("unsafe component %q", c)
	}
}

func TestCleanPathAndName(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{[]string{"a", "b.txt"}, "a/b.txt"},
		{[]string{"a", "", "b"}, "a/b"},
		{[]string{".", "a", "."}, "a"},
		{[]string{"..", "..", "etc", "passwd"}, "_../_../etc/passwd"},
		{[]string{""}, "_"},
		{[]string{".", ""}, "_"},
		{[]string{"a/../b"}, "a_.._b"},
	} {
		raw := make([][]byte, len(tc.in))
		for i, c := range tc.in {
			raw[i] = []byte(c)
		}
		if got := strings.Join(cleanPath(raw), "/"); got != tc.want {
			t.Errorf("cleanPath(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for in, want := range map[string]string{"": "hash", ".": "hash", "..": "_..", "a/b": "a_b", "ok": "ok"} {
		if got := cleanName([]byte(in), "hash"); got != want {
			t.Errorf("cleanName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestHostileNamesEndToEnd parses torrents whose names try to escape the mount.
func TestHostileNamesEndToEnd(t *testing.T) {
	files := []string{
		fileEntry(1, "..", "..", "etc", "passwd"),
		fileEntry(1, "/abs"),
		fileEntry(1, "a\x00b"),
		fileEntry(1, ".", ""),
		fileEntry(1, "x", ".."),
		fileEntry(1, "foo... bar"),
	}
	info := bd("files", bl(files...), "name", bs(".."), "piece length", bi(16384), "pieces", hashes(1))
	i := mustParse(t, torrentWith(info)).Info
	if i.Name != "_.." {
		t.Fatalf("name %q", i.Name)
	}
	var got []string
	for _, f := range i.Files {
		for _, c := range f.Path {
			assertSafe(t, c)
		}
		got = append(got, strings.Join(f.Path, "/"))
	}
	want := "_../_../etc/passwd,_abs,a_b,_,x/_..,foo... bar"
	if strings.Join(got, ",") != want {
		t.Fatalf("got %q\nwant %q", strings.Join(got, ","), want)
	}
	i = mustParse(t, torrentWith(bd("length", bi(1), "name", bs(""), "piece length", bi(16384), "pieces", hashes(1)))).Info
	if len(i.Name) != 40 || i.Files[0].Path[0] != i.Name {
		t.Fatalf("empty name should become the info-hash: %q", i.Name)
	}
}
