package dht

import (
	"go/build"
	"strings"
	"testing"
)

// TestImports holds the architecture's import rule: dht imports the standard library,
// engine/bt and engine/internal/benc only.
func TestImports(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{
		"github.com/hyperblow/hyperblow/engine/bt":            true,
		"github.com/hyperblow/hyperblow/engine/internal/benc": true,
	}
	for _, imp := range pkg.Imports {
		first, _, _ := strings.Cut(imp, "/")
		if strings.Contains(first, ".") && !allowed[imp] {
			t.Errorf("dht imports %s", imp)
		}
	}
}
