package fs

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Before a mount: is the folder fit to take it?
//
// Mounting over a folder that holds files, or over another mount, hides what
// is there until the new mount goes: almost always a mistake (a wrong path, a
// mount still running). CheckMountpoint refuses both unless asked not to
// (mount -o nonempty), and says what is there and how to fix it.
//
// A FUSE mount whose process was killed (kill -9, a crash) stays in the mount
// table, and every access to it fails with ENOTCONN, "transport endpoint is
// not connected". The kernel answers that only when the connection to the
// serving process is gone: nothing can ever be served there again. When such
// a dead mount is a Hyperblow mount of this user (type fuse.hyperblow, and
// user_id= ours, or we are root), CheckMountpoint unmounts it lazily, logs
// that it did, and goes on; any other dead mount gets a message naming the
// command that removes it.

// MountpointError says why a folder cannot take a mount, and how to fix it.
type MountpointError struct {
	Dir     string // the mount point as given
	Problem string // what is wrong: "is not empty (it holds a.txt, b.txt)"
	Fix     string // what to do: "choose an empty folder"
	// Overridable: mounting anyway (mount -o nonempty) would work; the
	// problem is what it would hide.
	Overridable bool
	Err         error // the underlying error, if any
}

func (e *MountpointError) Error() string {
	return fmt.Sprintf("mount point %s %s: %s", e.Dir, e.Problem, e.Fix)
}

func (e *MountpointError) Unwrap() error { return e.Err }

// CheckMountpoint checks that dir can take a mount: it exists and is a
// folder; unless nonempty, it is neither a mount point nor holds anything. A
// dead Hyperblow mount of ours at dir is unmounted first (see above), and log
// is told (log may be nil).
func CheckMountpoint(dir string, nonempty bool, log *slog.Logger) error {
	err := statfsWithin(dir, answerTimeout)
	if errors.Is(err, errNoAnswer) {
		return &MountpointError{Dir: dir, Err: err,
			Problem: fmt.Sprintf("does not answer (statfs has waited %v): a mount whose process is stuck", answerTimeout),
			Fix:     "unmount it: fusermount3 -u -z " + shellQuote(dir) + " (or, as root, umount -l " + shellQuote(dir) + ")",
		}
	}
	if errors.Is(err, syscall.ENOTCONN) {
		if err := clearDeadMount(dir, log); err != nil {
			return err
		}
	}
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return &MountpointError{Dir: dir, Problem: "does not exist", Fix: "create the folder first (mkdir -p " + shellQuote(dir) + ")", Err: err}
	case err != nil:
		return &MountpointError{Dir: dir, Problem: "cannot be used", Fix: errText(err), Err: err}
	case !st.IsDir():
		return &MountpointError{Dir: dir, Problem: "is not a folder", Fix: "give a folder to mount on"}
	case nonempty:
		return nil
	}
	if m, ok := mountAt(dir); ok {
		return &MountpointError{Dir: dir, Overridable: true,
			Problem: fmt.Sprintf("is already a mount point (%s, source %s); a mount there would hide it", m.Type, m.Source),
			Fix:     "unmount it first (" + unmountCommand(dir, m.Type) + "), or choose another folder",
		}
	}
	if names := someEntries(dir, 3); len(names) > 0 {
		held := strings.Join(names, ", ")
		if len(names) == 3 {
			held += ", ..."
		}
		return &MountpointError{Dir: dir, Overridable: true,
			Problem: fmt.Sprintf("is not empty (it holds %s); a mount there would hide what it holds", held),
			Fix:     "choose an empty folder",
		}
	}
	return nil
}

// answerTimeout bounds the wait for a mount at the mount point to answer.
const answerTimeout = 10 * time.Second

var errNoAnswer = errors.New("no answer")

// statfsWithin is statfs(2) on dir, which reaches a FUSE mount's serving
// process (stat may be answered from the kernel's attribute cache for a second
// after the process died). A mount whose process is stuck never answers: then
// it gives up after d, leaving one goroutine blocked.
func statfsWithin(dir string, d time.Duration) error {
	done := make(chan error, 1)
	go func() {
		var st unix.Statfs_t
		done <- unix.Statfs(dir, &st)
	}()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		return errNoAnswer
	}
}

// clearDeadMount handles a dir whose stat gave ENOTCONN: a dead FUSE mount at
// dir or above it. A dead Hyperblow mount of ours at dir is unmounted lazily;
// anything else is an error naming the command that removes it.
func clearDeadMount(dir string, log *slog.Logger) error {
	dead := &MountpointError{Dir: dir, Err: syscall.ENOTCONN,
		Problem: "is a dead mount (transport endpoint is not connected: the program that served it has ended)",
		Fix:     "unmount it: fusermount3 -u " + shellQuote(dir) + " (or, as root, umount " + shellQuote(dir) + ")",
	}
	m, ok := mountAt(dir)
	if !ok {
		if above, ok := mountAbove(dir); ok {
			dead.Problem = "is inside a dead mount at " + above.Point + " (transport endpoint is not connected: the program that served it has ended)"
			dead.Fix = "unmount that: fusermount3 -u " + shellQuote(above.Point) + " (or, as root, umount " + shellQuote(above.Point) + ")"
		}
		return dead
	}
	if !m.ours() {
		return dead
	}
	if err := lazyUnmount(m.Point); err != nil {
		dead.Fix += fmt.Sprintf(" (unmounting it here failed: %v)", err)
		return dead
	}
	if log != nil {
		log.Info("a dead Hyperblow mount was left here (its process had ended); unmounted it", "mountpoint", dir, "source", m.Source)
	}
	return nil
}

// unmountCommand is what a user runs to unmount the mount at dir.
func unmountCommand(dir, typ string) string {
	q := shellQuote(dir)
	switch {
	case typ == "fuse.hyperblow":
		return "hyperblow unmount " + q + ", or fusermount3 -u " + q
	case strings.HasPrefix(typ, "fuse"):
		return "fusermount3 -u " + q
	}
	return "umount " + q
}

// someEntries returns up to n names in dir (nil if it cannot be read: then
// the mount will tell).
func someEntries(dir string, n int) []string {
	f, err := os.Open(dir)
	if err != nil {
		return nil
	}
	defer f.Close()
	names, _ := f.Readdirnames(n)
	for i, s := range names {
		if strings.ContainsAny(s, " ,\"'\\") || strconv.Quote(s) != `"`+s+`"` {
			names[i] = strconv.Quote(s) // odd names cannot drive the terminal
		}
	}
	return names
}

// ours reports whether a mount is a Hyperblow mount this process may remove:
// of type fuse.hyperblow, made by this user (fusermount3 records user_id=),
// or we are root.
func (m MountEntry) ours() bool {
	if m.Type != "fuse.hyperblow" {
		return false
	}
	if os.Geteuid() == 0 {
		return true
	}
	for _, o := range strings.Split(m.SuperOpts, ",") {
		if v, ok := strings.CutPrefix(o, "user_id="); ok {
			return v == strconv.Itoa(os.Geteuid())
		}
	}
	return false
}

// mountTable is MountTable, empty when it cannot be read.
func mountTable() []MountEntry {
	t, _ := MountTable()
	return t
}

// mountAt returns the topmost mount whose mount point is dir.
func mountAt(dir string) (MountEntry, bool) {
	path := canonical(dir)
	table := mountTable()
	for i := len(table) - 1; i >= 0; i-- {
		if table[i].Point == path {
			return table[i], true
		}
	}
	return MountEntry{}, false
}

// mountAbove returns the innermost mount that holds dir (not at dir itself).
func mountAbove(dir string) (MountEntry, bool) {
	path := canonical(dir)
	var best MountEntry
	found := false
	for _, m := range mountTable() {
		inside := m.Point == "/" || strings.HasPrefix(path, m.Point+"/")
		if inside && m.Point != path && (!found || len(m.Point) >= len(best.Point)) {
			best, found = m, true
		}
	}
	return best, found
}

// canonical is dir as the mount table shows it: absolute, symbolic links of
// its parents resolved. dir itself is not resolved, since a dead mount cannot
// be looked at (and a mount point is not a link).
func canonical(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return filepath.Clean(dir)
	}
	parent, base := filepath.Split(abs)
	if base == "" {
		return abs
	}
	if real, err := filepath.EvalSymlinks(parent); err == nil {
		return filepath.Join(real, base)
	}
	return abs
}

// unescapeMountinfo undoes the kernel's \NNN octal escapes (\040 a space).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && octal(s[i+1]) && octal(s[i+2]) && octal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func octal(c byte) bool { return c >= '0' && c <= '7' }

// shellQuote quotes s for a command line when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+=:@%,~") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// errText is an error without the path that os errors repeat.
func errText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
