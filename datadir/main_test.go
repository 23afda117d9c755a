package datadir

import (
	"testing"

	"github.com/hyperblow/hyperblow/internal/mountns"
)

// TestMain runs the tests in a private mount namespace (as root): a tmpfs a
// test mounts (smallTmpfs) goes away with the test binary even when it is
// killed before its cleanups run.
func TestMain(m *testing.M) { mountns.Main(m) }
