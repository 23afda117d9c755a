package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/hyperblow/hyperblow/mounthelper"
)

// daemonFlags are mount's --daemon settings (mounthelper.Start does the work).
type daemonFlags struct {
	daemon  bool
	logFile string
	timeout time.Duration
}

func (d *daemonFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&d.daemon, "daemon", false, "return once mounted and leave a background process serving the mount until it is unmounted (umount MOUNTPOINT); it logs to --log-file")
	fs.StringVar(&d.logFile, "log-file", "", "with --daemon: the background process's log (default: /var/log/hyperblow/MOUNTPOINT.log as root, else $XDG_STATE_HOME/hyperblow/MOUNTPOINT.log, MOUNTPOINT's slashes as dashes)")
	fs.DurationVar(&d.timeout, "daemon-timeout", 2*time.Minute, "with --daemon: stop and fail if the mount is not live after this long")
}

// daemonChild reports whether this is the background process of --daemon,
// which then serves in the foreground.
func daemonChild() bool { return mounthelper.IsChild() }

// startDaemon re-executes `hyperblow mount ARGS` in the background and waits
// until MOUNTPOINT (the last of the positional arguments pos) is mounted.
func startDaemon(args, pos []string, d *daemonFlags, tf *tierFlags, stdout io.Writer) error {
	st, err := mounthelper.Start(mounthelper.Daemon{
		Args:       append([]string{"mount"}, tf.pinFolders(mounthelper.AbsPaths(args, pos), pos)...), // tierflags.go
		Mountpoint: pos[len(pos)-1],
		LogFile:    d.logFile,
		Timeout:    d.timeout,
	})
	var ue *mounthelper.ChildUsageError
	if errors.As(err, &ue) {
		return usageError{Msg: ue.Msg}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "hyperblow: mounted %s at %s; background process %d, log %s\n", pos[0], st.Mountpoint, st.PID, st.LogFile)
	return nil
}

// isHelperName reports whether the program was run as a mount helper
// (/sbin/mount.fuse.hyperblow, for fstab lines: docs/mounting.md).
func isHelperName(argv0 string) bool { return mounthelper.IsHelperName(argv0) }

// isFuseHelperCall reports whether args are mount.fuse3's call:
// SOURCE MOUNTPOINT -o OPTIONS, SOURCE not being a command.
func isFuseHelperCall(args []string) bool {
	return mounthelper.IsFuseHelperCall(args, func(name string) bool { _, ok := commands[name]; return ok })
}

// runMountHelper mounts as mount(8) asks, as
// `hyperblow mount --daemon -o OPTIONS SOURCE MOUNTPOINT`, and returns the
// exit status.
func runMountHelper(args []string, stdout, stderr io.Writer) int {
	c, err := mounthelper.ParseHelperArgs(args)
	var ue *mounthelper.HelperUsageError
	if errors.As(err, &ue) {
		if ue.Msg != "" {
			fmt.Fprintf(stderr, "hyperblow: %s\n", ue.Msg)
		}
		fmt.Fprint(stderr, mounthelper.HelperUsage)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "hyperblow: %v\n", err)
		return 1
	}
	kept, warnings, err := helperOptions(c.Options, c.Sloppy)
	for _, w := range warnings {
		fmt.Fprintf(stderr, "hyperblow: %s\n", w)
	}
	if err != nil {
		return exitCodeFor("mount", usageError{Msg: err.Error()}, stderr)
	}
	if c.Fake {
		return 0 // mount -f: everything but the mount
	}
	margs := []string{"--daemon"}
	if kept != "" {
		margs = append(margs, "-o", kept)
	}
	margs = append(margs, c.Source, c.Mountpoint)
	if !c.Verbose {
		stdout = io.Discard // a helper is quiet when all went well
	}
	return exitCodeFor("mount", runMount(margs, stdout, stderr), stderr)
}

// helperOptions checks mount(8)'s option lists against mount's flags (see
// mounthelper.HelperOptions).
func helperOptions(lists []string, sloppy bool) (kept string, warnings []string, err error) {
	return mounthelper.HelperOptions(lists, sloppy, checkMountOption)
}

// checkMountOption applies one option to a scratch set of mount's flags.
func checkMountOption(item string) error {
	fs := flag.NewFlagSet("mount", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var mf mountFlags
	mf.register(fs, ":6881")
	registerNonempty(fs, &mf.fuse)
	var d daemonFlags
	d.register(fs)
	return mounthelper.Apply(fs, &mf.fuse.FUSE, item)
}
