package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	hfs "github.com/hyperblow/hyperblow/fs"
)

// `hyperblow mount --daemon` returns once the mount is live, as mount(8)
// expects of a mount helper, and leaves a background process serving it until
// it is unmounted (umount, fusermount3 -u) or signalled. The process is the
// same command re-executed with daemonEnv set: in its own session (setsid),
// stdin /dev/null, stdout and stderr appended to a log file, working folder /
// (so that it holds no other filesystem busy). The parent polls
// /proc/self/mountinfo for a new fuse mount at MOUNTPOINT; if the child exits
// first, its error (the last "hyperblow: " lines of the log) becomes the
// parent's, and the exit status follows.

// daemonFlags are mount's --daemon settings.
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

// daemonEnv marks the background process of --daemon, which then serves in
// the foreground.
const daemonEnv = "HYPERBLOW_DAEMON_CHILD"

func daemonChild() bool { return os.Getenv(daemonEnv) == "1" }

// maxLogSize: a log file bigger than this when a daemon starts is moved to
// FILE.1 (one old generation is kept).
const maxLogSize = 16 << 20

// startDaemon re-executes `hyperblow mount ARGS` in the background and waits
// until MOUNTPOINT (the last of the positional arguments pos) is mounted.
func startDaemon(args, pos []string, d *daemonFlags, stdout io.Writer) error {
	mnt, err := filepath.Abs(pos[len(pos)-1])
	if err != nil {
		return fmt.Errorf("mount point %s: %w", pos[len(pos)-1], err)
	}
	if real, err := filepath.EvalSymlinks(mnt); err == nil {
		mnt = real // as the kernel shows it in mountinfo
	}
	logPath := d.logFile
	if logPath == "" {
		if logPath, err = defaultLogPath(mnt); err != nil {
			return err
		}
	}
	if logPath, err = filepath.Abs(logPath); err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	logf, start, err := openLog(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	before, err := fuseMounts(mnt)
	if err != nil {
		return err
	}
	for _, typ := range before {
		if typ == "fuse.hyperblow" { // mount(8) does not check; a second mount would hide the first
			return fmt.Errorf("%s is already mounted (type %s): umount it first", mnt, typ)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the hyperblow binary to run in the background: %w", err)
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	defer devnull.Close()
	cmd := exec.Command(exe, append([]string{"mount"}, absPaths(args, pos)...)...)
	cmd.Env = append(os.Environ(), daemonEnv+"=1")
	cmd.Dir = "/"
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	fmt.Fprintf(logf, "%s hyperblow: starting in the background: %s\n", time.Now().Format(time.RFC3339), strings.Join(cmd.Args[1:], " "))
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting hyperblow in the background: %w", err)
	}
	pid := cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(d.timeout)
	for {
		select {
		case err := <-exited:
			msg := childError(logPath, start)
			var ee *exec.ExitError
			if errors.As(err, &ee) && ee.ExitCode() == 2 {
				return usageError{fmt.Sprintf("%s (log: %s)", msg, logPath)}
			}
			return fmt.Errorf("%s (the background process exited: %v; log: %s)", msg, err, logPath)
		case <-deadline:
			stopChild(cmd.Process, exited)
			return fmt.Errorf("%s not mounted %v after starting; stopped the background process (log: %s; a slow SOURCE URL? see --daemon-timeout)",
				mnt, d.timeout, logPath)
		case <-tick.C:
			now, err := fuseMounts(mnt)
			if err != nil {
				return err
			}
			for id := range now {
				if _, ok := before[id]; !ok {
					fmt.Fprintf(stdout, "hyperblow: mounted %s at %s; background process %d, log %s\n", pos[0], mnt, pid, logPath)
					return nil
				}
			}
		}
	}
}

// stopChild ends a background process that did not mount in time: SIGTERM
// (it unmounts itself), then SIGKILL.
func stopChild(p *os.Process, exited <-chan error) {
	p.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		p.Kill()
		<-exited
	}
}

// absPaths makes the positional arguments that are existing relative paths
// absolute, since the background process runs in /.
func absPaths(args, pos []string) []string {
	rel := map[string]string{}
	for _, p := range pos {
		if filepath.IsAbs(p) {
			continue
		}
		if _, err := os.Stat(p); err != nil {
			continue // a magnet link, a URL, an info-hash
		}
		if abs, err := filepath.Abs(p); err == nil {
			rel[p] = abs
		}
	}
	out := make([]string, len(args))
	for i, a := range args {
		if abs, ok := rel[a]; ok {
			a = abs
		}
		out[i] = a
	}
	return out
}

// defaultLogPath is /var/log/hyperblow/NAME.log as root, else
// $XDG_STATE_HOME/hyperblow/NAME.log (~/.local/state), NAME being the mount
// point escaped (logName).
func defaultLogPath(mnt string) (string, error) {
	dir := "/var/log/hyperblow"
	if os.Geteuid() != 0 {
		state := os.Getenv("XDG_STATE_HOME")
		if state == "" || !filepath.IsAbs(state) {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("no folder for the log (%v): give --log-file", err)
			}
			state = filepath.Join(home, ".local", "state")
		}
		dir = filepath.Join(state, "hyperblow")
	}
	return filepath.Join(dir, logName(mnt)+".log"), nil
}

// logName turns a mount point into a file name as systemd-escape --path does,
// but simpler: /mnt/my movie -> mnt-my_movie; / -> root.
func logName(mnt string) string {
	p := strings.Trim(filepath.Clean(mnt), "/")
	if p == "" {
		return "root"
	}
	var b strings.Builder
	for _, r := range p {
		switch {
		case r == '/':
			b.WriteByte('-')
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	name := b.String()
	if strings.HasPrefix(name, ".") {
		name = "_" + name[1:]
	}
	if len(name) > 200 {
		name = name[:200]
	}
	return name
}

// openLog opens the log for appending (creating its folder), moving a big old
// one aside first; start is where this run's lines begin.
func openLog(path string) (f *os.File, start int64, err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, 0, fmt.Errorf("log folder: %w (give --log-file)", err)
	}
	if st, err := os.Stat(path); err == nil && st.Size() > maxLogSize {
		os.Rename(path, path+".1")
	}
	f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, 0, fmt.Errorf("log file: %w (give --log-file)", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("log file: %w", err)
	}
	return f, st.Size(), nil
}

// childError is what the background process said before it exited: its
// "hyperblow: " error lines from start on, else its last lines.
func childError(logPath string, start int64) string {
	f, err := os.Open(logPath)
	if err != nil {
		return "the background process failed"
	}
	defer f.Close()
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return "the background process failed"
	}
	var errs, last []string
	sc := bufio.NewScanner(io.LimitReader(f, 4<<20))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	first := true
	for sc.Scan() {
		line := sc.Text()
		if first { // our own "starting in the background" line
			first = false
			continue
		}
		if msg, ok := strings.CutPrefix(line, "hyperblow: "); ok {
			errs = append(errs, msg)
		}
		if last = append(last, line); len(last) > 3 {
			last = last[1:]
		}
	}
	switch {
	case len(errs) > 0:
		return strings.Join(errs, "; ")
	case len(last) > 0:
		return strings.Join(last, " | ")
	}
	return "the background process failed without a word"
}

// fuseMounts returns the FUSE mounts at dir, mount ID to type.
func fuseMounts(dir string) (map[string]string, error) {
	table, err := hfs.MountTable()
	if err != nil {
		return nil, err
	}
	ids := map[string]string{}
	for _, e := range table {
		if strings.HasPrefix(e.Type, "fuse") && e.Point == dir {
			ids[e.ID] = e.Type
		}
	}
	return ids, nil
}

// The mount helper. For an fstab line or systemd mount unit of type
// fuse.hyperblow, mount(8) runs /sbin/mount.fuse.hyperblow (a symlink to this
// binary; /sbin/mount.hyperblow for type hyperblow) as
//
//	mount.fuse.hyperblow SOURCE MOUNTPOINT [-sfnv] [-N NAMESPACE] [-o OPTIONS] [-t TYPE]
//
// and, when there is no such helper, /sbin/mount.fuse3 runs
// `hyperblow SOURCE MOUNTPOINT -o OPTIONS` through /bin/sh (with dev,suid
// added). Both become `hyperblow mount --daemon -o OPTIONS SOURCE MOUNTPOINT`.
// mount(8) passes rw when the line does not say ro: the mount is read-only
// anyway, with a warning, as mount(8) does for a write-protected device.

// helperNames are the names mount(8) runs a helper by.
var helperNames = map[string]bool{"mount.fuse.hyperblow": true, "mount.hyperblow": true}

// isHelperName reports whether the program was run as a mount helper.
func isHelperName(argv0 string) bool { return helperNames[filepath.Base(argv0)] }

// isFuseHelperCall reports whether args are mount.fuse3's call:
// SOURCE MOUNTPOINT -o OPTIONS, SOURCE not being a command.
func isFuseHelperCall(args []string) bool {
	if len(args) != 4 || args[2] != "-o" || strings.HasPrefix(args[0], "-") {
		return false
	}
	_, isCommand := commands[args[0]]
	return !isCommand
}

const helperUsage = `usage: mount.fuse.hyperblow SOURCE MOUNTPOINT [-sfnv] [-o OPTIONS] [-t fuse.hyperblow]
(run by mount(8) for fstab lines and systemd mount units of type fuse.hyperblow;
see hyperblow mount --help for the options)
`

// runMountHelper mounts as mount(8) asks and returns the exit status.
func runMountHelper(args []string, stdout, stderr io.Writer) int {
	if len(args) < 2 || strings.HasPrefix(args[0], "-") || strings.HasPrefix(args[1], "-") {
		fmt.Fprint(stderr, helperUsage)
		return 2
	}
	src, mnt := args[0], args[1]
	var opts []string
	var fake, sloppy, verbose bool
	for i := 2; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-o" || a == "-t" || a == "-N":
			if i+1 == len(args) {
				fmt.Fprintf(stderr, "hyperblow: %s needs a value\n%s", a, helperUsage)
				return 2
			}
			i++
			switch a {
			case "-o":
				opts = append(opts, args[i])
			case "-N":
				fmt.Fprintf(stderr, "hyperblow: -N %s: mounting in another mount namespace is not supported\n", args[i])
				return 1
			}
		case strings.HasPrefix(a, "-o"):
			opts = append(opts, a[2:])
		case strings.HasPrefix(a, "-t"):
		case len(a) > 1 && a[0] == '-' && strings.Trim(a[1:], "sfnv") == "":
			fake = fake || strings.Contains(a, "f")
			sloppy = sloppy || strings.Contains(a, "s")
			verbose = verbose || strings.Contains(a, "v")
		default:
			fmt.Fprintf(stderr, "hyperblow: unexpected argument %q\n%s", a, helperUsage)
			return 2
		}
	}
	kept, warnings, err := helperOptions(opts, sloppy)
	for _, w := range warnings {
		fmt.Fprintf(stderr, "hyperblow: %s\n", w)
	}
	if err != nil {
		return exitCodeFor("mount", usageError{err.Error()}, stderr)
	}
	if fake {
		return 0 // mount -f: everything but the mount
	}
	margs := []string{"--daemon"}
	if kept != "" {
		margs = append(margs, "-o", kept)
	}
	margs = append(margs, src, mnt)
	if !verbose {
		stdout = io.Discard // a helper is quiet when all went well
	}
	return exitCodeFor("mount", runMount(margs, stdout, stderr), stderr)
}

// helperOptions drops rw (with a warning) and, when sloppy (mount -s), the
// options that would fail (with a warning each); it checks the rest on a
// scratch flag set, so a bad option fails here, before anything starts.
func helperOptions(lists []string, sloppy bool) (kept string, warnings []string, err error) {
	var items []string
	for _, l := range lists {
		its, err := splitOptions(l)
		if err != nil {
			return "", nil, fmt.Errorf("-o %s: %v", l, err)
		}
		items = append(items, its...)
	}
	var out []string
	for _, it := range items {
		if it == "rw" {
			warnings = append(warnings, "mounting read-only: Hyperblow mounts are read-only (mount(8) passes rw when the options do not say ro)")
			continue
		}
		fs := flag.NewFlagSet("mount", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var mf mountFlags
		mf.register(fs, ":6881")
		registerNonempty(fs, &mf.fuse)
		var d daemonFlags
		d.register(fs)
		if err := applyOption(fs, &mf.fuse, it); err != nil {
			if sloppy {
				warnings = append(warnings, fmt.Sprintf("ignoring %v (mount -s)", err))
				continue
			}
			return "", warnings, err
		}
		if name, value, ok := strings.Cut(it, "="); ok && strings.Contains(value, ",") {
			it = name + `="` + value + `"`
		}
		out = append(out, it)
	}
	return strings.Join(out, ","), warnings, nil
}
