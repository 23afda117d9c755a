package metainfo

import (
	"strings"
	"testing"
)

func TestMakeUnique(t *testing.T) {
	long := strings.Repeat("n", 255)
	for _, tc := range []struct {
		name string
		in   []string // paths, "/"-separated; a leading "!" marks padding
		want []string
	}{
		{"distinct", []string{"a", "b", "d/a"}, []string{"a", "b", "d/a"}},
		{"same file twice", []string{"a.txt", "a.txt", "a.txt"}, []string{"a.txt", "a (1).txt", "a (2).txt"}},
		{"byte-exact", []string{"A.txt", "a.txt"}, []string{"A.txt", "a.txt"}},
		{"file then dir", []string{"a", "a/b", "a/c"}, []string{"a", "a (1)/b", "a (1)/c"}},
		{"dir then file", []string{"a/b", "a"}, []string{"a/b", "a (1)"}},
		{"nested clash", []string{"d/x", "d/x/y", "d/x/z/w"}, []string{"d/x", "d/x (1)/y", "d/x (1)/z/w"}},
		{"taken numbered name", []string{"a.txt", "a (1).txt", "a.txt"}, []string{"a.txt", "a (1).txt", "a (2).txt"}},
		{"numbered name later", []string{"a.txt", "a.txt", "a (1).txt"}, []string{"a.txt", "a (1).txt", "a (1) (1).txt"}},
		{"same name in other dirs", []string{"x/a", "y/a", "x/a"}, []string{"x/a", "y/a", "x/a (1)"}},
		{"dotfile", []string{".rc", ".rc"}, []string{".rc", ".rc (1)"}},
		{"padding ignored", []string{"!.pad/1", "!.pad/1", ".pad/1"}, []string{".pad/1", ".pad/1", ".pad/1"}},
		{"long name stays short", []string{long, long}, []string{long, strings.Repeat("n", 251) + " (1)"}},
	} {
		files := make([]File, len(tc.in))
		for i, p := range tc.in {
			files[i].Padding = strings.HasPrefix(p, "!")
			files[i].Path = strings.Split(strings.TrimPrefix(p, "!"), "/")
		}
		makeUnique(files)
		for i, f := range files {
			if got := strings.Join(f.Path, "/"); got != tc.want[i] {
				t.Errorf("%s: file %d = %q, want %q", tc.name, i, got, tc.want[i])
			}
			for _, c := range f.Path {
				assertSafe(t, c)
			}
		}
		assertTree(t, files)
	}
}

// assertTree checks that visible paths are distinct and that no file is also a
// directory of another file.
func assertTree(t *testing.T, files []File) {
	t.Helper()
	kind := map[string]bool{} // path -> is a file
	for _, f := range files {
		if f.Padding {
			continue
		}
		for j := range f.Path {
			p := strings.Join(f.Path[:j+1], "\x00")
			last := j == len(f.Path)-1
			if isFile, seen := kind[p]; seen && (isFile || last) {
				t.Fatalf("path %q used twice", strings.Join(f.Path[:j+1], "/"))
			}
			kind[p] = last
		}
	}
}

func TestManyDuplicatesAreLinear(t *testing.T) {
	files := make([]File, 100_000)
	for i := range files {
		files[i].Path = []string{"same.txt"}
	}
	makeUnique(files) // quadratic probing would take minutes
	if got := strings.Join(files[99_999].Path, "/"); got != "same (99999).txt" {
		t.Fatalf("got %q", got)
	}
}
