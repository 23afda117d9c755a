package wire

import (
	"go/build"
	"strings"
	"testing"
)

// TestImports holds the architecture's import rule: wire imports the standard library,
// engine/bt and engine/internal/benc (for the BEP 9/10/11 payloads) only.
func TestImports(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		first, _, _ := strings.Cut(imp, "/")
		if strings.Contains(first, ".") && imp != "github.com/hyperblow/hyperblow/engine/bt" &&
			imp != "github.com/hyperblow/hyperblow/engine/internal/benc" {
			t.Errorf("wire imports %s", imp)
		}
	}
}
