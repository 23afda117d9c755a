package termview

import (
	"fmt"
	"io"

	"github.com/hyperblow/hyperblow/session"
)

// printDisk prints the disk tier's line of hyperblow status (nothing without
// a disk cache): the folder's bytes against its bound, hits and writes, and
// why it stopped writing, if it did.
func printDisk(w io.Writer, st session.Snapshot) {
	d := st.Disk
	if d == nil {
		return
	}
	fmt.Fprintf(w, "disk: %s held of %s; %d hits, %d misses, %d writes, %d dropped, %d evictions",
		HumanSize(d.HeldBytes), HumanSize(d.MaxBytes), d.Hits, d.Misses, d.Writes, d.Dropped, d.Evictions)
	if d.Corrupt > 0 {
		fmt.Fprintf(w, ", %d corrupt", d.Corrupt)
	}
	if d.Degraded {
		fmt.Fprintf(w, "; not writing (memory only for new pieces): %s", session.Safe(d.Error))
	}
	fmt.Fprintln(w)
}
