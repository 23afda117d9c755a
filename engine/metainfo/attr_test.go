package metainfo

import (
	"fmt"
	"strings"
	"testing"
)

// BEP 47: x, h and l (with "symlink path") are read; a symlink's target is
// cleaned like a path, ".." kept for the filesystem to judge.
func TestAttributes(t *testing.T) {
	files := []string{
		bd("attr", bs("x"), "length", bi(100), "path", bl(bs("run.sh"))),
		bd("attr", bs("h"), "length", bi(100), "path", bl(bs("secret"))),
		bd("attr", bs("l"), "length", bi(0), "path", bl(bs("d"), bs("link")), "symlink path", bl(bs("run.sh"))),
		bd("attr", bs("l"), "length", bi(0), "path", bl(bs("up")), "symlink path", bl(bs(".."), bs("."), bs("etc"), bs("a/b"))),
		bd("attr", bs("l"), "length", bi(0), "path", bl(bs("nolist")), "symlink path", bs("x")),
		bd("attr", bs("lx"), "length", bi(0), "path", bl(bs("nopath"))),
	}
	tor := mustParse(t, torrentWith(multiInfo(16384, files...)))
	got := ""
	for _, f := range tor.Info.Files {
		got += fmt.Sprintf("%v x=%v h=%v l=%v %q\n", f.Path, f.Exec, f.Hidden, f.Symlink, f.SymlinkTarget)
	}
	want := `[run.sh] x=true h=false l=false []
[secret] x=false h=true l=false []
[d link] x=false h=false l=true ["run.sh"]
[up] x=false h=false l=true [".." "etc" "a_b"]
[nolist] x=false h=false l=false []
[nopath] x=true h=false l=false []
`
	if got != want {
		t.Fatalf("got\n%swant\n%s", got, want)
	}
}

// FuzzAttributes: any attr and symlink path give no panic, and a symlink
// target's components are never empty, ".", or hold "/" or NUL.
func FuzzAttributes(f *testing.F) {
	f.Add("l", "run.sh", "..")
	f.Add("xhl", "a/b", "")
	f.Add("p", ".", "\x00")
	f.Fuzz(func(t *testing.T, attr, c1, c2 string) {
		files := []string{
			bd("length", bi(100), "path", bl(bs("a"))),
			bd("attr", bs(attr), "length", bi(0), "path", bl(bs("l")), "symlink path", bl(bs(c1), bs(c2))),
		}
		tor, err := Parse([]byte(torrentWith(multiInfo(16384, files...))))
		if err != nil {
			return
		}
		for _, f := range tor.Info.Files {
			for _, c := range f.SymlinkTarget {
				if c == "" || c == "." || strings.ContainsAny(c, "/\x00") {
					t.Fatalf("target component %q", c)
				}
			}
		}
	})
}
