package fs

import (
	"context"
	"os"
	"strconv"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// Stopping a mount from outside. `hyperblow unmount MOUNTPOINT` reads the
// extended attribute XattrUnmount of the mount's root: the serving process
// answers with its process id and begins to stop (Options.OnUnmount): blocked
// reads fail with EIO, the mount is unmounted and the process ends. Asking the
// mount itself needs no socket, pid file or registry, so it works the same for
// a mount in the foreground, one made with --daemon and one made by mount(8)
// from /etc/fstab, and whoever can reach the mount point can reach its server.
//
// Only root, the user the serving process runs as, and the user the mount's
// files belong to (Options.UID: -o uid=) may stop it; anyone else gets EPERM.
// The attribute is not listed (listxattr), so tools that copy attributes never
// read it; a request for its size only (a zero-length buffer) stops nothing.
const XattrUnmount = "user.hyperblow.unmount"

// Getxattr answers XattrUnmount at the mount's root, and the user.hyperblow.*
// attributes of a folder (xattr.go).
func (r *Root) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	if attr == XattrUnmount {
		return unmountRequest(ctx, &r.opts, dest)
	}
	return r.dir.Getxattr(ctx, attr, dest)
}

// Getxattr answers XattrUnmount; the root of several torrents has no other
// attribute.
func (m *MultiRoot) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	if attr == XattrUnmount {
		return unmountRequest(ctx, &m.opts, dest)
	}
	return m.dir.Getxattr(ctx, attr, dest)
}

// unmountRequest checks the caller, answers the process id and calls
// o.OnUnmount. Roots of torrents inside a MultiRoot have no OnUnmount: the
// attribute does not exist there.
func unmountRequest(ctx context.Context, o *Options, dest []byte) (uint32, syscall.Errno) {
	if o.OnUnmount == nil {
		return 0, syscall.ENODATA
	}
	if !mayStop(ctx, o) {
		return 0, syscall.EPERM
	}
	val := strconv.Itoa(os.Getpid())
	n, errno := putXattr(dest, val)
	if errno == 0 {
		o.OnUnmount()
	}
	return n, errno
}

// mayStop: root, the serving process's user, or the owner of the mount's files.
func mayStop(ctx context.Context, o *Options) bool {
	caller, ok := fuse.FromContext(ctx)
	if !ok {
		return false
	}
	uid := caller.Uid
	return uid == 0 || uid == uint32(os.Geteuid()) || uid == o.UID
}
