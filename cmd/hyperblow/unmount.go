package main

import (
	"errors"
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
	mnt := pos[0]
	e, ok, err := hfs.FindMount(mnt)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("unmount %s: not mounted", mnt)
	}
	if !e.IsHyperblow() {
		return fmt.Errorf("unmount %s: a %s mount, not Hyperblow's: use umount %s", mnt, e.Type, e.Point)
	}
	pid, err := hfs.RequestUnmount(e, min(*timeout, 5*time.Second))
	switch {
	case err == nil:
		if !hfs.WaitUnmounted(e, *timeout) {
			fmt.Fprintf(stderr, "hyperblow: %s: still mounted %v after asking process %d to stop; forcing\n", e.Point, *timeout, pid)
			return force(e, stdout)
		}
		if !hfs.WaitProcess(pid, *timeout) {
			return fmt.Errorf("unmount %s: unmounted, but its process %d has not ended after %v", e.Point, pid, *timeout)
		}
		fmt.Fprintf(stdout, "unmounted %s (process %d ended)\n", e.Point, pid)
		return nil
	case errors.Is(err, hfs.ErrNotAllowed):
		return fmt.Errorf("unmount %s: %w", e.Point, err)
	case errors.Is(err, hfs.ErrServerGone):
		fmt.Fprintf(stderr, "hyperblow: %s: %v (a dead mount); unmounting it\n", e.Point, err)
	default: // no answer, or an older Hyperblow
		fmt.Fprintf(stderr, "hyperblow: %s: %v; forcing\n", e.Point, err)
	}
	return force(e, stdout)
}

// force unmounts e without its process's help.
func force(e hfs.MountEntry, stdout io.Writer) error {
	if err := hfs.ForceUnmount(e); err != nil {
		return fmt.Errorf("unmount %s: %w", e.Point, err)
	}
	if !hfs.WaitUnmounted(e, 5*time.Second) {
		return fmt.Errorf("unmount %s: still mounted after a forced unmount", e.Point)
	}
	fmt.Fprintf(stdout, "unmounted %s\n", e.Point)
	return nil
}
