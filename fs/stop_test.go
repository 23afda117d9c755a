package fs

import (
	"strings"
	"testing"
	"time"
)

// TestStopNotMounted: a folder that is no mount point is an error naming it,
// and nothing is forced.
func TestStopNotMounted(t *testing.T) {
	dir := t.TempDir()
	var notes []string
	_, err := Stop(dir, time.Second, func(n string) { notes = append(notes, n) })
	if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "not mounted") {
		t.Errorf("Stop(%s) = %v, want a not-mounted error", dir, err)
	}
	if len(notes) != 0 {
		t.Errorf("notes %q, want none", notes)
	}
}

// TestStopNotHyperblow: a mount of another kind (proc) is left alone.
func TestStopNotHyperblow(t *testing.T) {
	_, err := Stop("/proc", time.Second, func(string) { t.Error("a note for /proc") })
	if err == nil || !strings.Contains(err.Error(), "not Hyperblow's") {
		t.Errorf("Stop(/proc) = %v, want a not-Hyperblow error", err)
	}
}
