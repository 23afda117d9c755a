package peerconn

import (
	"go/build"
	"strings"
	"testing"
)

// TestImports holds the architecture's import rule: peerconn imports the standard
// library, engine/bt, engine/wire and engine/mse (the MSE handshake under the
// BitTorrent one) only.
func TestImports(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{
		"github.com/hyperblow/hyperblow/engine/bt":   true,
		"github.com/hyperblow/hyperblow/engine/wire": true,
		"github.com/hyperblow/hyperblow/engine/mse":  true,
	}
	for _, imp := range pkg.Imports {
		first, _, _ := strings.Cut(imp, "/")
		if strings.Contains(first, ".") && !allowed[imp] {
			t.Errorf("peerconn imports %s", imp)
		}
	}
}
