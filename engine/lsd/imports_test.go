package lsd

import (
	"go/build"
	"strings"
	"testing"
)

// TestImports holds the architecture's import rule: lsd imports the standard library,
// and engine/bt only.
func TestImports(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{
		"github.com/hyperblow/hyperblow/engine/bt": true,
	}
	for _, imp := range pkg.Imports {
		first, _, _ := strings.Cut(imp, "/")
		if strings.Contains(first, ".") && !allowed[imp] {
			t.Errorf("lsd imports %s", imp)
		}
	}
}
