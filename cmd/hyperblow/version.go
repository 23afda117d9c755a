package main

import "github.com/hyperblow/hyperblow/version"

const versionUsage = `Usage: hyperblow version   (or: hyperblow --version)

Print the version of this build: the module version (a release tag, or a Go
pseudo-version), the source revision and its time when built from a git
checkout ("+dirty" when the checkout had changes), and the Go version.
`

// versionText describes this build (package version).
func versionText() string { return version.String() }

// formatVersion is version.Format, for the tests.
var formatVersion = version.Format
