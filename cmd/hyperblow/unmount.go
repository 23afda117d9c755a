package main

import (
	"fmt"
	"io"
	"time"

	hfs "github.com/hyperblow/hyperblow/fs"
)

const unmountUsage = `Usage: hyperblow unmount [flags] MOUNTPOINT

Stop a Hyperblow mount, whatever it is doing: reads that wait for data end
with an I/O error ("cat: Input/output error"), the folder is unmounted, and the
process serving it (in the foreground, --daemon, or from /etc/fstab) tells its
trackers and exits. It returns once the mount and its process are gone.

umount and "fusermount3 -u" refuse a mount while a read waits on it ("target
is busy"), as for any filesystem; this command does not.

The mount is asked through its root folder (the extended attribute
user.hyperblow.unmount), so this works from any shell that sees the mount.
Root, the user running the mount and the owner of its files (-o uid=) may stop
it. A dead mount (its process was killed: "Transport endpoint is not
connected") or one whose process does not answer within --timeout is
unmounted by force: its FUSE connection is aborted and it is detached.

Examples:
  hyperblow unmount ~/mnt
  hyperblow unmount /mnt/video          # a mount made by fstab or --daemon
  hyperblow unmount --timeout 30s ~/mnt

Exit status: 0 when nothing is left mounted and the process has ended; 1
otherwise (not mounted, not a Hyperblow mount, not allowed).

Flags:
`

func runUnmount(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("unmount", unmountUsage, stdout)
	timeout := fs.Duration("timeout", 15*time.Second, "how long to wait for the mount's process to answer and to end before forcing")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("unmount: want one MOUNTPOINT, got %d arguments (see hyperblow unmount --help)", len(pos))
	}
	if *timeout <= 0 {
		return usagef("unmount: --timeout must be positive, got %v", *timeout)
	}
	st, err := hfs.Stop(pos[0], *timeout, func(note string) { fmt.Fprintf(stderr, "hyperblow: %s\n", note) })
	if err != nil {
		return err
	}
	if st.Forced {
		fmt.Fprintf(stdout, "unmounted %s\n", st.Point)
	} else {
		fmt.Fprintf(stdout, "unmounted %s (process %d ended)\n", st.Point, st.PID)
	}
	return nil
}
