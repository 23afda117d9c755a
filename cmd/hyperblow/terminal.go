package main

import (
	"io"

	"github.com/hyperblow/hyperblow/progress"
)

// isTerminalWriter reports whether w is a terminal (package progress).
func isTerminalWriter(w io.Writer) bool { return progress.IsTerminal(w) }
