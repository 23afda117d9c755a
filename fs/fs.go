package fs

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path"
	"strings"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/metainfo"
)

// Options tune the filesystem's behaviour.
type Options struct {
	// ReadTimeout makes a read that cannot be served in time fail with EIO;
	// 0 waits as long as the reader waits.
	ReadTimeout time.Duration
	// ModTime is shown as every node's modification time.
	ModTime time.Time
	// UID and GID own every node.
	UID, GID uint32
	// Umask clears permission bits of every node's mode (folders 0555, files
	// 0444), as the umask= mount option of other filesystems does.
	Umask uint32
	// Life, when set, ends when the mount begins to stop: from then on every
	// read fails at once with EIO, those already waiting for data too, and
	// files no longer open. A stop ends Life before it unmounts, so that the
	// readers let go and the unmount is not busy (control.go).
	Life context.Context
	// OnUnmount, set only in the options of the mount's root, is called when
	// someone allowed asks the mount to stop through XattrUnmount (control.go:
	// `hyperblow unmount`). It must not block.
	OnUnmount func()
	// Logger receives a warning for every read that fails because
	// ReadTimeout passed, and for every symlink whose target would leave the
	// mount; nil logs nothing.
	Logger *slog.Logger
	// ShowHidden shows the files a torrent marks hidden (BEP 47 attribute h),
	// which are otherwise left out of the tree.
	ShowHidden bool
}

// Root is the root directory of a mounted torrent.
type Root struct {
	dir
	opts Options

	mu     sync.Mutex // guards t, status, built
	t      *engine.Torrent
	status func() string // content of StatusFile while the metadata resolves
	built  bool

	open openCount // the open handles of its files (see MultiRoot.Remove)
}

// StatusFile is the file a magnet mount shows at its root until the metadata
// arrives: what is happening (peers tried, metadata progress), or why it failed.
const StatusFile = ".hyperblow-status"

var (
	_ gofs.NodeOnAdder   = (*Root)(nil)
	_ gofs.NodeGetattrer = (*dir)(nil)
	_ gofs.NodeGetattrer = (*file)(nil)
	_ gofs.NodeOpener    = (*file)(nil)
	_ gofs.NodeSetattrer = (*file)(nil)
	_ gofs.FileReader    = (*handle)(nil)
	_ gofs.FileReleaser  = (*handle)(nil)
)

// NewRoot returns the root node for torrent t: a single-file torrent's file sits
// at the root; a multi-file torrent's files and folders sit at the root as laid
// out in the torrent (the mount point is the torrent's top folder).
func NewRoot(t *engine.Torrent, opts Options) *Root {
	r := &Root{t: t, opts: opts}
	r.dir.opts = &r.opts
	return r
}

// NewPendingRoot returns a root for a torrent whose metadata is still coming (a
// magnet link): it shows StatusFile, whose content status gives, until Attach.
func NewPendingRoot(status func() string, opts Options) *Root {
	r := &Root{status: status, opts: opts}
	r.dir.opts = &r.opts
	return r
}

// OnAdd builds the tree, or the status file of a pending root.
func (r *Root) OnAdd(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.t != nil {
		r.build(ctx)
		return
	}
	in := r.NewPersistentInode(ctx, &statusFile{status: r.status, opts: &r.opts}, gofs.StableAttr{Mode: syscall.S_IFREG})
	r.AddChild(StatusFile, in, false)
}

// Attach shows torrent t's files in a pending root, once its metadata is here,
// and removes the status file. The kernel is told, so a name it looked up in
// vain before now resolves.
func (r *Root) Attach(t *engine.Torrent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.built {
		return
	}
	r.t = t
	r.build(context.Background())
	r.RmChild(StatusFile)
	r.NotifyEntry(StatusFile)
	for name := range r.Children() {
		r.NotifyEntry(name)
	}
}

// build adds a persistent inode per folder and file. Call with r.mu held.
func (r *Root) build(ctx context.Context) {
	r.built = true
	info := r.t.Info()
	dirs := map[string]*gofs.Inode{"": r.EmbeddedInode()}
	var mkdir func(p string) *gofs.Inode
	mkdir = func(p string) *gofs.Inode {
		if in, ok := dirs[p]; ok {
			return in
		}
		parent := mkdir(parentOf(p))
		in := parent.NewPersistentInode(ctx, &dir{opts: &r.opts}, gofs.StableAttr{Mode: syscall.S_IFDIR})
		parent.AddChild(path.Base(p), in, false)
		dirs[p] = in
		return in
	}
	for _, f := range info.VisibleFiles() {
		if f.Hidden && !r.opts.ShowHidden {
			continue // BEP 47 h
		}
		comps := f.Path // relative to the torrent's folder; the mount point is that folder
		parent := mkdir(path.Join(comps[:len(comps)-1]...))
		if f.Symlink && r.addSymlink(ctx, parent, f) {
			continue
		}
		node := &file{t: r.t, f: f, opts: &r.opts, root: r}
		in := parent.NewPersistentInode(ctx, node, gofs.StableAttr{Mode: syscall.S_IFREG})
		parent.AddChild(comps[len(comps)-1], in, false)
	}
}

func parentOf(p string) string {
	d := path.Dir(p)
	if d == "." {
		return ""
	}
	return d
}

type dir struct {
	gofs.Inode
	opts *Options
}

func (d *dir) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = syscall.S_IFDIR | 0o555
	out.Nlink = 2
	setCommon(&out.Attr, d.opts)
	return 0
}

type file struct {
	gofs.Inode
	t    *engine.Torrent
	f    metainfo.File
	opts *Options
	root *Root
	held heldMemo // blocks.go: bytes held, remembered briefly for big files
}

// Getattr: st_blocks counts the bytes of the file that are verified and held
// now (blocks.go), so du shows what a mount holds; st_size is the whole file.
func (f *file) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = syscall.S_IFREG | 0o444
	if f.f.Exec {
		out.Mode |= 0o111 // BEP 47 x; the umask still applies
	}
	out.Nlink = 1
	out.Size = uint64(f.f.Length)
	out.Blksize = 1 << 16
	out.Blocks = (uint64(f.heldBytes()) + 511) / 512
	setCommon(&out.Attr, f.opts)
	return 0
}

// Setattr refuses every change: the filesystem is read-only.
func (f *file) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return syscall.EROFS
}

func setCommon(a *fuse.Attr, o *Options) {
	a.Mode &^= o.Umask & 0o777
	a.Uid, a.Gid = o.UID, o.GID
	t := o.ModTime
	a.SetTimes(&t, &t, &t)
}

// Open refuses writing and gives the handle its own engine.Reader.
func (f *file) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC|syscall.O_APPEND) != 0 {
		return nil, 0, syscall.EROFS
	}
	if f.opts.stopping() {
		return nil, 0, syscall.EIO // the mount is stopping
	}
	if !f.root.open.acquire() {
		return nil, 0, syscall.ENOENT // its folder was removed and its torrent stopped
	}
	return &handle{r: f.t.NewReader(f.f), opts: f.opts, root: f.root, path: strings.Join(f.f.Path, "/")}, fuse.FOPEN_KEEP_CACHE, 0
}

type handle struct {
	r     *engine.Reader
	opts  *Options
	root  *Root
	path  string       // the file's path in its torrent, for logs
	reads pendingReads // flush.go

	mu       sync.Mutex // guards timedOut
	timedOut timedOut   // the last read that failed by ReadTimeout
}

// timedOut is a read that failed because ReadTimeout passed: bytes [off, end)
// of the file, waited for since since, failed at at.
type timedOut struct {
	off, end  int64
	since, at time.Time
}

// retryWindow: a read of bytes that timed out on the same handle this
// recently is the kernel asking again, not a new read. A buffered read(2)
// whose readahead READ failed is retried once by the kernel with a READ of
// its own page; without this a --read-timeout of 3 s failed read(2) after
// 6 s. Such a retry fails at once, ReadTimeout after the first READ began.
const retryWindow = time.Second

// Errors a read's context ends with, to tell the causes apart.
var (
	errStopping    = errors.New("the mount is stopping")
	errReadTimeout = errors.New("read timeout")
)

func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	o := h.opts
	if o.stopping() {
		return nil, syscall.EIO
	}
	// The process closing its descriptor cancels its own waiting reads (flush.go).
	fctx, done := h.reads.start(ctx)
	defer done()
	rctx, cancel := context.WithCancelCause(fctx)
	defer cancel(nil)
	if o.Life != nil {
		// The stop releases this read at once, whatever it waits for.
		stop := context.AfterFunc(o.Life, func() { cancel(errStopping) })
		defer stop()
	}
	start := time.Now()
	since, retry := start, false
	if o.ReadTimeout > 0 {
		since, retry = h.waitingSince(off, int64(len(dest)), start)
		var cancelT context.CancelFunc
		rctx, cancelT = context.WithDeadlineCause(rctx, since.Add(o.ReadTimeout), errReadTimeout)
		defer cancelT()
	}
	// The verified pieces' own bytes go to the kernel (writev), not a copy
	// into dest: a READ costs no copy and no fresh pages of its own.
	parts, err := h.r.ReadShared(rctx, off, len(dest))
	if err != nil && len(parts) == 0 {
		if errors.Is(err, io.EOF) {
			return fuse.ReadResultData(nil), 0
		}
		if ctx.Err() == nil { // not interrupted by the reader: why else?
			switch cause := context.Cause(rctx); {
			case errors.Is(cause, errStopping):
				return nil, syscall.EIO
			case errors.Is(cause, errReadTimeout):
				h.timeout(off, off+int64(len(dest)), since, err, retry)
				return nil, syscall.EIO
			}
		}
		return nil, errno(err)
	}
	if len(parts) == 1 {
		return fuse.ReadResultData(parts[0]), 0
	}
	return fuse.ReadResultVector(parts), 0
}

// waitingSince is when the wait for a read of [off, off+size) began: now, or,
// for the kernel's retry of a read that just timed out, when that one began.
func (h *handle) waitingSince(off, size int64, now time.Time) (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.timedOut
	if !t.at.IsZero() && now.Sub(t.at) < retryWindow && off < t.end && off+size > t.off {
		return t.since, true
	}
	return now, false
}

// timeout records a read that failed by ReadTimeout and logs it; the kernel's
// retry of it is logged at debug level only.
func (h *handle) timeout(off, end int64, since time.Time, err error, retry bool) {
	now := time.Now()
	h.mu.Lock()
	h.timedOut = timedOut{off: off, end: end, since: since, at: now}
	h.mu.Unlock()
	log := h.opts.Logger
	if log == nil {
		return
	}
	args := []any{"file", h.path, "offset", off, "size", end - off,
		"waited", now.Sub(since).Round(time.Millisecond), "read_timeout", h.opts.ReadTimeout, "waiting_for", err}
	if retry {
		log.Debug("the kernel's retry of a timed-out read failed at once", args...)
		return
	}
	log.Warn("read failed: its data did not come within the read timeout", args...)
}

func (h *handle) Release(ctx context.Context) syscall.Errno {
	h.r.Close()
	h.root.open.release()
	return 0
}

// stopping reports whether the mount has begun to stop (Options.Life).
func (o *Options) stopping() bool { return o.Life != nil && o.Life.Err() != nil }

// errno maps engine errors to errno values; the one place this happens.
func errno(err error) syscall.Errno {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return syscall.EINTR
	case errors.Is(err, engine.ErrClosed):
		return syscall.EIO
	default:
		return syscall.EIO
	}
}
