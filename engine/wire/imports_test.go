package wire

import (
	"go/build"
	"strings"
	"testing"
)

// TestImports holds the architecture's import rule: wire imports the standard library
// and engine/bt only (engine/internal/benc will join it for BEP 9/10 payloads).
func TestImports(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		first, _, _ := strings.Cut(imp, "/")
		if strings.Contains(first, ".") && imp != "github.com/hyperblow/hyperblow/engine/bt" {
			t.Errorf("wire imports %s", imp)
		}
	}
}
