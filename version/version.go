// Package version describes this build of Hyperblow from what the Go
// toolchain recorded in the binary (runtime/debug.ReadBuildInfo): the module
// version, the source revision and its time, and the Go version.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// String describes this build, from what the Go toolchain recorded in
// the binary (runtime/debug.ReadBuildInfo).
func String() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return fmt.Sprintf("hyperblow (version unknown) %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	}
	return Format(bi)
}

// Format is "hyperblow VERSION (revision REV+dirty, TIME) GO OS/ARCH".
func Format(bi *debug.BuildInfo) string {
	version := bi.Main.Version
	if version == "" || version == "(devel)" {
		version = "devel"
	}
	var rev, when string
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "hyperblow %s", version)
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if dirty {
			rev += "+dirty"
		}
		fmt.Fprintf(&b, " (revision %s", rev)
		if when != "" {
			fmt.Fprintf(&b, ", %s", when)
		}
		b.WriteString(")")
	}
	goVersion := bi.GoVersion
	if goVersion == "" {
		goVersion = runtime.Version()
	}
	fmt.Fprintf(&b, " %s %s/%s\n", goVersion, runtime.GOOS, runtime.GOARCH)
	return b.String()
}
