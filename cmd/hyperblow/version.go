package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

const versionUsage = `Usage: hyperblow version   (or: hyperblow --version)

Print the version of this build: the module version (a release tag, or a Go
pseudo-version), the source revision and its time when built from a git
checkout ("+dirty" when the checkout had changes), and the Go version.
`

// versionText describes this build, from what the Go toolchain recorded in
// the binary (runtime/debug.ReadBuildInfo).
func versionText() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return fmt.Sprintf("hyperblow (version unknown) %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	}
	return formatVersion(bi)
}

// formatVersion: "hyperblow VERSION (revision REV+dirty, TIME) GO OS/ARCH".
func formatVersion(bi *debug.BuildInfo) string {
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
