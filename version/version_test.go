package version

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestFormat(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.99", Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-01-02T03:04:05Z"}, {Key: "vcs.modified", Value: "true"},
	}}
	want := "hyperblow v1.2.3 (revision 0123456789ab+dirty, 2026-01-02T03:04:05Z) go1.99 " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	if got := Format(bi); got != want {
		t.Errorf("Format = %q, want %q", got, want)
	}
	if got := Format(&debug.BuildInfo{GoVersion: "go1.99", Main: debug.Module{Version: "(devel)"}}); !strings.HasPrefix(got, "hyperblow devel go1.99 ") {
		t.Errorf("Format of a devel build without VCS = %q", got)
	}
	if s := String(); !strings.HasPrefix(s, "hyperblow ") || !strings.Contains(s, runtime.Version()) || strings.Count(s, "\n") != 1 {
		t.Errorf("String = %q", s)
	}
}
