package fs

import (
	"context"
	"path"
	"strings"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/hyperblow/hyperblow/engine/metainfo"
)

// symlink is a BEP 47 symlink (attribute l) whose target stays inside the
// mount: a relative target, from the link's folder.
type symlink struct {
	gofs.Inode
	target string
	opts   *Options
}

var (
	_ gofs.NodeReadlinker = (*symlink)(nil)
	_ gofs.NodeGetattrer  = (*symlink)(nil)
)

func (s *symlink) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	return []byte(s.target), 0
}

func (s *symlink) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = syscall.S_IFLNK | 0o777
	out.Nlink = 1
	out.Size = uint64(len(s.target))
	setCommon(&out.Attr, s.opts)
	return 0
}

// addSymlink adds f, a symlink entry, under parent, and reports whether it
// did. A target that would leave the mount is not added (the caller shows f
// as a regular file) and is logged.
func (r *Root) addSymlink(ctx context.Context, parent *gofs.Inode, f metainfo.File) bool {
	target, ok := symlinkTarget(f.Path, f.SymlinkTarget)
	if !ok {
		if r.opts.Logger != nil {
			r.opts.Logger.Warn("symlink target leaves the mount: shown as an empty regular file",
				"file", strings.Join(f.Path, "/"), "target", strings.Join(f.SymlinkTarget, "/"))
		}
		return false
	}
	in := parent.NewPersistentInode(ctx, &symlink{target: target, opts: &r.opts}, gofs.StableAttr{Mode: syscall.S_IFLNK})
	parent.AddChild(f.Path[len(f.Path)-1], in, false)
	return true
}

// symlinkTarget turns a BEP 47 symlink target (components from the torrent's
// root folder, ".." allowed) into a target relative to the link's folder
// (link holds the link's own path components). ok is false when the target
// would leave the root.
func symlinkTarget(link, target []string) (string, bool) {
	var abs []string
	for _, c := range target {
		switch {
		case c == "..":
			if len(abs) == 0 {
				return "", false
			}
			abs = abs[:len(abs)-1]
		case c == "" || c == "." || strings.ContainsAny(c, "/\x00"):
			return "", false // metainfo never gives these
		default:
			abs = append(abs, c)
		}
	}
	dir := link[:len(link)-1]
	k := 0
	for k < len(dir) && k < len(abs) && dir[k] == abs[k] {
		k++
	}
	var rel []string
	for range dir[k:] {
		rel = append(rel, "..")
	}
	rel = append(rel, abs[k:]...)
	if len(rel) == 0 {
		return ".", true
	}
	return path.Join(rel...), true
}
