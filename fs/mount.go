package fs

import (
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// MountOptions are the mount-level settings.
type MountOptions struct {
	AllowOther bool
	Debug      bool
	Logger     *slog.Logger
	// FsName is the mount's source, the first column of /proc/mounts and df
	// (the type column is always fuse.hyperblow): best the SOURCE the mount
	// was made from, so that mounts can be told apart and mount(8) recognizes
	// an fstab line as mounted. It passes through SafeFsName; empty: "hyperblow".
	FsName string
	// NoExec mounts with noexec: no program on the mount can be executed.
	NoExec bool
}

// FileAttrTimeout is how long the kernel may keep a node's attributes. A
// file's st_blocks follows the pieces held (blocks.go), so it must not be kept
// for long; names and sizes never change, so entries are kept for a day.
const FileAttrTimeout = time.Second

// SafeFsName makes s fit the source column of /proc/mounts and mount options:
// characters that split or escape fields there (space, tab, newline, comma,
// backslash, '#', other control characters) become '_', and it is cut to 255
// bytes at a character boundary. Empty gives "hyperblow".
func SafeFsName(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len()+utf8.RuneLen(r) > 255 {
			break
		}
		switch {
		case r == utf8.RuneError, unicode.IsControl(r), unicode.IsSpace(r), r == ',', r == '\\', r == '#':
			b.WriteByte('_')
		default:
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return "hyperblow"
	}
	return b.String()
}

// ReadAheadKB is what the mount's backing device readahead is raised to (as root):
// the kernel then sends 1 MiB READs and reads further ahead on its own.
const ReadAheadKB = 4096

// maxBackground is how many background requests (page-cache READs) the
// kernel may have with the server at once; readahead is throttled at three
// quarters of it (the congestion threshold).
const maxBackground = 128

// maxRead is the largest READ the kernel may send (MaxWrite also sets max_read).
const maxRead = 1 << 20

// Mount mounts root at mountpoint and returns the serving server. Content is
// immutable, so the kernel may cache entries and data for long; attributes
// for FileAttrTimeout.
func Mount(mountpoint string, root gofs.InodeEmbedder, mo MountOptions) (*fuse.Server, error) {
	long, short, attr := 24*time.Hour, time.Second, FileAttrTimeout
	kernelOpts := []string{"ro", "default_permissions"} // the kernel checks the modes (Options.Umask)
	if mo.NoExec {
		kernelOpts = append(kernelOpts, "noexec")
	}
	opts := &gofs.Options{
		EntryTimeout: &long,
		AttrTimeout:  &attr,
		// Names may appear when a magnet's metadata arrives; the kernel is told,
		// but a failed lookup is only remembered briefly anyway.
		NegativeTimeout: &short,
		// A mode of 0 (umask=0777) stays 0 instead of becoming 0644.
		NullPermissions: true,
		MountOptions: fuse.MountOptions{
			FsName:       SafeFsName(mo.FsName),
			Name:         "hyperblow", // the type: fuse.hyperblow, both direct and through fusermount3
			AllowOther:   mo.AllowOther,
			MaxWrite:     maxRead,
			MaxReadAhead: maxRead,
			// Page-cache READs are background requests, of which the kernel
			// has at most max_background with the server at once; it queues
			// the rest unsent. A READ here can wait long for its piece (the
			// kernel's readahead for a position a player seeked away from
			// waits seconds; so does every READ of a slow swarm), and with
			// go-fuse's default of 12, twelve such READs held every other
			// read of the mount back (TestStuckReadsDoNotBlockOthers). A
			// waiting READ costs a goroutine and a small request here.
			MaxBackground: maxBackground,
			DirectMount:   os.Geteuid() == 0,
			Options:       kernelOpts,
			Debug:         mo.Debug,
			// Data is served from memory; splicing 1 MiB READs needs bigger pipes
			// than the default and buys nothing here.
			DisableSplice: true,
		},
	}
	server, err := withReaderProcs(func() (*fuse.Server, error) { return gofs.Mount(mountpoint, root, opts) }) // procs.go
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", mountpoint, err)
	}
	if os.Geteuid() == 0 {
		if err := raiseReadAhead(mountpoint); err != nil && mo.Logger != nil {
			mo.Logger.Debug("could not raise readahead", "mountpoint", mountpoint, "err", err)
		}
	}
	return server, nil
}

// raiseReadAhead sets /sys/class/bdi/<major>:<minor>/read_ahead_kb of the mount;
// go-fuse's MaxReadAhead alone cannot exceed 128 KiB.
func raiseReadAhead(mountpoint string) error {
	var st unix.Stat_t
	if err := unix.Stat(mountpoint, &st); err != nil {
		return err
	}
	p := fmt.Sprintf("/sys/class/bdi/%d:%d/read_ahead_kb", unix.Major(st.Dev), unix.Minor(st.Dev))
	return os.WriteFile(p, []byte(fmt.Sprint(ReadAheadKB)), 0o644)
}

// Unmount unmounts the server's mount; if the mount is busy it falls back to a
// lazy unmount so that nothing is left mounted.
func Unmount(server *fuse.Server, mountpoint string) error {
	err := server.Unmount()
	if err == nil {
		return nil
	}
	abs, aerr := filepath.Abs(mountpoint)
	if aerr != nil {
		abs = mountpoint
	}
	if os.Geteuid() == 0 {
		if lerr := syscall.Unmount(abs, unix.MNT_DETACH); lerr == nil {
			return nil
		}
	}
	out, lerr := exec.Command("fusermount3", "-u", "-z", abs).CombinedOutput()
	if lerr != nil {
		return fmt.Errorf("unmount %s: %v; lazy unmount: %v %s", mountpoint, err, lerr, strings.TrimSpace(string(out)))
	}
	return nil
}
