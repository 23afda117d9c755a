package mounthelper

import (
	"bufio"
	"errors"
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
// same command re-executed with ChildEnv set: in its own session (setsid),
// stdin /dev/null, stdout and stderr appended to a log file, working folder /
// (so that it holds no other filesystem busy). Start polls
// /proc/self/mountinfo for a new fuse mount at the mount point; if the child
// exits first, its error (the last "hyperblow: " lines of the log) becomes
// Start's, and the exit status follows.

// ChildEnv marks the background process of --daemon, which then serves in
// the foreground.
const ChildEnv = "HYPERBLOW_DAEMON_CHILD"

// IsChild reports whether this process is a --daemon's background process.
func IsChild() bool { return os.Getenv(ChildEnv) == "1" }

// maxLogSize: a log file bigger than this when a daemon starts is moved to
// FILE.1 (one old generation is kept).
const maxLogSize = 16 << 20

// Daemon says how to start a mount in the background.
type Daemon struct {
	// Args are the arguments of this binary in the background: "mount",
	// then the flags and positional arguments, relative paths made
	// absolute (AbsPaths), since the background process runs in /.
	Args       []string
	Mountpoint string
	LogFile    string        // "": DefaultLogPath
	Timeout    time.Duration // give up (and stop the process) if not mounted by then
}

// Started is a mount live in the background.
type Started struct {
	Mountpoint string // absolute, symlinks resolved
	PID        int
	LogFile    string
}

// ChildUsageError is the background process's exit with status 2 (a usage
// error): the caller should exit 2 too.
type ChildUsageError struct{ Msg string }

func (e *ChildUsageError) Error() string { return e.Msg }

// Start runs d.Args in the background and waits until d.Mountpoint is mounted.
func Start(d Daemon) (Started, error) {
	mnt, err := filepath.Abs(d.Mountpoint)
	if err != nil {
		return Started{}, fmt.Errorf("mount point %s: %w", d.Mountpoint, err)
	}
	if real, err := filepath.EvalSymlinks(mnt); err == nil {
		mnt = real // as the kernel shows it in mountinfo
	}
	logPath := d.LogFile
	if logPath == "" {
		if logPath, err = DefaultLogPath(mnt); err != nil {
			return Started{}, err
		}
	}
	if logPath, err = filepath.Abs(logPath); err != nil {
		return Started{}, fmt.Errorf("log file: %w", err)
	}
	logf, start, err := openLog(logPath)
	if err != nil {
		return Started{}, err
	}
	defer logf.Close()
	before, err := FuseMounts(mnt)
	if err != nil {
		return Started{}, err
	}
	for _, typ := range before {
		if typ == "fuse.hyperblow" { // mount(8) does not check; a second mount would hide the first
			return Started{}, fmt.Errorf("%s is already mounted (type %s): umount it first", mnt, typ)
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return Started{}, fmt.Errorf("finding the hyperblow binary to run in the background: %w", err)
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return Started{}, err
	}
	defer devnull.Close()
	cmd := exec.Command(exe, d.Args...)
	cmd.Env = append(os.Environ(), ChildEnv+"=1")
	cmd.Dir = "/"
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	fmt.Fprintf(logf, "%s hyperblow: starting in the background: %s\n", time.Now().Format(time.RFC3339), strings.Join(cmd.Args[1:], " "))
	if err := cmd.Start(); err != nil {
		return Started{}, fmt.Errorf("starting hyperblow in the background: %w", err)
	}
	pid := cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(d.Timeout)
	for {
		select {
		case err := <-exited:
			msg := childError(logPath, start)
			var ee *exec.ExitError
			if errors.As(err, &ee) && ee.ExitCode() == 2 {
				return Started{}, &ChildUsageError{fmt.Sprintf("%s (log: %s)", msg, logPath)}
			}
			return Started{}, fmt.Errorf("%s (the background process exited: %v; log: %s)", msg, err, logPath)
		case <-deadline:
			stopChild(cmd.Process, exited)
			return Started{}, fmt.Errorf("%s not mounted %v after starting; stopped the background process (log: %s; a slow SOURCE URL? see --daemon-timeout)",
				mnt, d.Timeout, logPath)
		case <-tick.C:
			now, err := FuseMounts(mnt)
			if err != nil {
				return Started{}, err
			}
			for id := range now {
				if _, ok := before[id]; !ok {
					return Started{Mountpoint: mnt, PID: pid, LogFile: logPath}, nil
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

// AbsPaths makes the positional arguments that are existing relative paths
// absolute, since the background process runs in /.
func AbsPaths(args, pos []string) []string {
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

// DefaultLogPath is /var/log/hyperblow/NAME.log as root, else
// $XDG_STATE_HOME/hyperblow/NAME.log (~/.local/state), NAME being the mount
// point escaped (LogName).
func DefaultLogPath(mnt string) (string, error) {
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
	return filepath.Join(dir, LogName(mnt)+".log"), nil
}

// LogName turns a mount point into a file name as systemd-escape --path does,
// but simpler: /mnt/my movie -> mnt-my_movie; / -> root.
func LogName(mnt string) string {
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

// FuseMounts returns the FUSE mounts at dir, mount ID to type.
func FuseMounts(dir string) (map[string]string, error) {
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
