package fs

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Unmounting. A FUSE mount whose file is open cannot be unmounted plainly
// ("busy"), and a read waiting for data keeps its file open. So a stop first
// releases the readers (Options.Life), then unmounts, and falls back to a lazy
// unmount (the mount leaves the namespace at once; the kernel lets go of it
// when its last file is closed) so that nothing is left mounted. A process
// that exits closes its FUSE connection: files still open then fail with
// ENOTCONN.

// Detach unmounts the mount at mountpoint for a stop, its readers already
// released: a plain unmount, tried a few times while their files close, then
// a lazy one. served is closed when the FUSE server has ended (an unmount from
// outside meanwhile is no failure). It waits a little for that, never for
// ever: a server that serves a file still open goes when the process exits.
func Detach(mountpoint string, served <-chan struct{}, log *slog.Logger) error {
	abs := absPath(mountpoint)
	var err error
	delay := 10 * time.Millisecond
	for try := 0; try < 6; try++ {
		if err = plainUnmount(abs); err == nil {
			break
		}
		select {
		case <-served:
			return nil // unmounted from outside
		case <-time.After(delay):
		}
		delay *= 2
	}
	wait := 5 * time.Second
	if err != nil {
		if lerr := lazyUnmount(abs); lerr != nil {
			select {
			case <-served:
				return nil
			default:
			}
			return fmt.Errorf("unmount %s: %v; lazy unmount: %w", mountpoint, err, lerr)
		}
		log.Info("a file of the mount is still open: unmounted lazily", "mountpoint", mountpoint, "busy", err)
		wait = 500 * time.Millisecond
	}
	select {
	case <-served:
	case <-time.After(wait):
		log.Warn("the mount is detached, but a file of it is still open; it fails once this process ends",
			"mountpoint", mountpoint)
	}
	return nil
}

func absPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// plainUnmount unmounts abs unless it is busy.
func plainUnmount(abs string) error {
	if os.Geteuid() == 0 {
		if err := unix.Unmount(abs, 0); err != nil {
			return fmt.Errorf("umount %s: %w", abs, err)
		}
		return nil
	}
	return fusermount("-u", abs)
}

// lazyUnmount detaches abs from the namespace even while it is busy.
func lazyUnmount(abs string) error {
	if os.Geteuid() == 0 {
		err := unix.Unmount(abs, unix.MNT_DETACH)
		if err == nil {
			return nil
		}
		if ferr := fusermount("-u", "-z", abs); ferr != nil {
			return fmt.Errorf("umount -l %s: %w; %v", abs, err, ferr)
		}
		return nil
	}
	return fusermount("-u", "-z", abs)
}

func fusermount(args ...string) error {
	out, err := exec.Command("fusermount3", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("fusermount3 %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// MountEntry is one mount of the mount table (/proc/self/mountinfo).
type MountEntry struct {
	ID        string // the mount's ID in the table
	Point     string // where it is mounted, as the kernel shows it
	Type      string // "fuse.hyperblow" for Hyperblow's mounts
	Source    string
	SuperOpts string // the filesystem's options: ro,user_id=0,...
	Dev       uint64 // the device number: a FUSE mount's connection in /sys/fs/fuse/connections
}

// IsHyperblow reports whether the mount is Hyperblow's.
func (e MountEntry) IsHyperblow() bool { return e.Type == "fuse.hyperblow" }

// FindMount looks path up in the mount table, as given (made absolute) and,
// if it is not found so, with its symbolic links resolved. It never looks at
// the mount itself, which may be dead or stuck. The last of several mounts on
// one path is the one visible there.
func FindMount(path string) (MountEntry, bool, error) {
	abs := absPath(path)
	e, ok, err := findMount(abs)
	if ok || err != nil {
		return e, ok, err
	}
	// Resolve links in the parent only: the last component may be a dead mount.
	if dir, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
		if real := filepath.Join(dir, filepath.Base(abs)); real != abs {
			return findMount(real)
		}
	}
	return MountEntry{}, false, nil
}

func findMount(abs string) (MountEntry, bool, error) {
	table, err := MountTable()
	if err != nil {
		return MountEntry{}, false, err
	}
	var found MountEntry
	ok := false
	for _, e := range table {
		if e.Point == abs {
			found, ok = e, true
		}
	}
	return found, ok, nil
}

// MountTable reads /proc/self/mountinfo; later entries are mounted on top of
// earlier ones.
func MountTable() ([]MountEntry, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("reading the mount table: %w", err)
	}
	defer f.Close()
	var out []MountEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if e, ok := parseMountinfo(sc.Text()); ok {
			out = append(out, e)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading the mount table: %w", err)
	}
	return out, nil
}

// parseMountinfo reads one line of /proc/self/mountinfo:
// ID PARENT MAJOR:MINOR ROOT POINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER.
func parseMountinfo(line string) (MountEntry, bool) {
	pre, post, ok := strings.Cut(line, " - ")
	if !ok {
		return MountEntry{}, false
	}
	f, g := strings.Fields(pre), strings.Fields(post)
	if len(f) < 5 || len(g) < 2 {
		return MountEntry{}, false
	}
	majS, minS, ok := strings.Cut(f[2], ":")
	if !ok {
		return MountEntry{}, false
	}
	maj, err1 := strconv.ParseUint(majS, 10, 32)
	mnr, err2 := strconv.ParseUint(minS, 10, 32)
	if err1 != nil || err2 != nil {
		return MountEntry{}, false
	}
	e := MountEntry{
		ID:     f[0],
		Point:  unescapeMountinfo(f[4]),
		Type:   unescapeMountinfo(g[0]),
		Source: unescapeMountinfo(g[1]),
		Dev:    maj<<20 | mnr, // the kernel's own encoding, which names the FUSE connection
	}
	if len(g) > 2 {
		e.SuperOpts = g[2]
	}
	return e, true
}

// Errors of RequestUnmount.
var (
	// ErrServerGone: the mount's process has ended (killed): a dead mount.
	ErrServerGone = errors.New("the mount's process has ended")
	// ErrNoAnswer: the mount's process did not answer in time.
	ErrNoAnswer = errors.New("the mount's process does not answer")
	// ErrNotAllowed: only root, the user running the mount or the owner of
	// its files may stop it.
	ErrNotAllowed = errors.New("only root, the user running the mount, or the owner of its files may stop it")
	// ErrNoControl: the mount does not take unmount requests (an older
	// Hyperblow).
	ErrNoControl = errors.New("the mount does not take unmount requests")
)

// RequestUnmount asks the process serving the Hyperblow mount e to stop
// (control.go) and returns its process id. It waits up to timeout for an
// answer.
func RequestUnmount(e MountEntry, timeout time.Duration) (int, error) {
	type answer struct {
		pid int
		err error
	}
	ch := make(chan answer, 1)
	go func() { // a stuck server never answers: the call stays blocked until we exit
		buf := make([]byte, 32)
		n, err := unix.Getxattr(e.Point, XattrUnmount, buf)
		if err != nil {
			ch <- answer{err: err}
			return
		}
		pid, err := strconv.Atoi(string(buf[:n]))
		if err != nil || pid <= 0 {
			ch <- answer{err: fmt.Errorf("odd answer %q", buf[:n])}
			return
		}
		ch <- answer{pid: pid}
	}()
	select {
	case a := <-ch:
		switch {
		case a.err == nil:
			return a.pid, nil
		case errors.Is(a.err, syscall.ENOTCONN):
			return 0, ErrServerGone
		case errors.Is(a.err, syscall.EPERM), errors.Is(a.err, syscall.EACCES):
			return 0, ErrNotAllowed
		case errors.Is(a.err, syscall.ENODATA), errors.Is(a.err, syscall.ENOTSUP):
			return 0, ErrNoControl
		}
		return 0, fmt.Errorf("asking the mount at %s to stop: %w", e.Point, a.err)
	case <-time.After(timeout):
		return 0, fmt.Errorf("%w within %v", ErrNoAnswer, timeout)
	}
}

// ForceUnmount ends mount e without its server's help: it aborts the FUSE
// connection (every request waiting fails with ENOTCONN, and a live server
// sees its mount end), then unmounts lazily. Aborting needs fusectl
// (/sys/fs/fuse/connections) and is skipped without it.
func ForceUnmount(e MountEntry) error {
	abort := fmt.Sprintf("%s/%d/abort", fusectlDir, e.Dev)
	if _, err := os.Stat(abort); errors.Is(err, os.ErrNotExist) {
		mountFusectl()
	}
	aborted := false
	if f, err := os.OpenFile(abort, os.O_WRONLY, 0); err == nil {
		_, err = f.Write([]byte("1"))
		aborted = err == nil
		f.Close()
	}
	if err := lazyUnmount(e.Point); err != nil {
		if aborted {
			if _, still, _ := findMount(e.Point); !still {
				return nil
			}
		}
		return err
	}
	return nil
}

// fusectlDir is where the FUSE control filesystem lists the connections.
const fusectlDir = "/sys/fs/fuse/connections"

// mountFusectl mounts the FUSE control filesystem where systemd would
// (sys-fs-fuse-connections.mount), when it is not: a machine without it (a
// container, a minimal VM) cannot abort a connection, and a mount process
// killed while one of its threads waits in the kernel on a request to its own
// mount (a close() in fuse_flush) then stays stuck for good. Root only; an
// error (not root, already mounted) is left to the caller's Stat.
func mountFusectl() {
	if os.Geteuid() != 0 {
		return
	}
	_ = unix.Mount("fusectl", fusectlDir, "fusectl", 0, "")
}

// WaitUnmounted waits until no mount with e's device is at e.Point any more,
// up to timeout. It wakes on every change of the mount table.
func WaitUnmounted(e MountEntry, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	f, err := os.Open("/proc/self/mountinfo")
	if err == nil {
		defer f.Close()
	}
	for {
		cur, ok, _ := findMount(e.Point)
		if !ok || cur.Dev != e.Dev {
			return true
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		if f == nil {
			time.Sleep(min(left, 50*time.Millisecond))
			continue
		}
		// The mount table's file reports a change with POLLPRI; read it
		// through first, or the change seen already reports again.
		f.Seek(0, 0)
		buf := make([]byte, 64<<10)
		for {
			if _, err := f.Read(buf); err != nil {
				break
			}
		}
		fds := []unix.PollFd{{Fd: int32(f.Fd()), Events: unix.POLLPRI}}
		unix.Poll(fds, int(min(left, time.Second).Milliseconds())+1)
	}
}

// WaitProcess waits up to timeout for process pid to end, by a pidfd.
func WaitProcess(pid int, timeout time.Duration) bool {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return errors.Is(err, syscall.ESRCH)
	}
	defer unix.Close(fd)
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(left.Milliseconds())+1)
		if err == nil && n > 0 {
			return true
		}
		if err != nil && !errors.Is(err, syscall.EINTR) {
			return false
		}
	}
}
