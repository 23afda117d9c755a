package session

import (
	"go/build"
	"strings"
	"testing"
)

// TestImports holds the architecture's rule: the session is above the
// engine and never imports fs (the mount subscribes through Folders), nor
// the command or the view.
func TestImports(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range append(pkg.Imports, pkg.TestImports...) {
		rest, ok := strings.CutPrefix(imp, "github.com/hyperblow/hyperblow/")
		if !ok {
			continue
		}
		if first, _, _ := strings.Cut(rest, "/"); first != "engine" {
			t.Errorf("session imports %s; it may import engine/... only", imp)
		}
	}
}
