package termview

import (
	"strings"
	"testing"

	"github.com/hyperblow/hyperblow/session"
)

// TestPrintDisk: hyperblow status prints the disk tier's line only with a disk
// cache, and says when it stopped writing and why.
func TestPrintDisk(t *testing.T) {
	var b strings.Builder
	PrintStatus(&b, session.Snapshot{}, false)
	if strings.Contains(b.String(), "disk:") {
		t.Errorf("a disk line without a disk cache:\n%s", b.String())
	}
	b.Reset()
	PrintStatus(&b, session.Snapshot{Disk: &session.DiskStatus{HeldBytes: 3 << 20, MaxBytes: 2 << 30, Hits: 5, Writes: 12, Dropped: 2,
		Degraded: true, Error: "disk cache: writing piece 3: no space left on device"}}, false)
	want := "disk: 3.0 MiB held of 2.0 GiB; 5 hits, 0 misses, 12 writes, 2 dropped, 0 evictions; not writing (memory only for new pieces): disk cache: writing piece 3: no space left on device\n"
	if !strings.Contains(b.String(), want) {
		t.Errorf("got:\n%s\nwant a line:\n%s", b.String(), want)
	}
}
