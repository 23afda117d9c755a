package webseed

import (
	"go/build"
	"strings"
	"testing"
)

// TestImports holds the architecture's import rule: webseed is a leaf that
// imports the standard library only.
func TestImports(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if first, _, _ := strings.Cut(imp, "/"); strings.Contains(first, ".") {
			t.Errorf("webseed imports %s", imp)
		}
	}
}
