package fs

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// statfs(2) on any path of a mount (df) reports the whole mount: its size is
// the torrents' total length (for a magnet, 0 until its metadata arrives), it
// is full (nothing can be written) and holds one inode per file.

// StatfsBlockSize is the block size statfs reports; sizes are rounded up to it.
const StatfsBlockSize = 4096

var (
	_ gofs.NodeStatfser = (*dir)(nil)
	_ gofs.NodeStatfser = (*file)(nil)
	_ gofs.NodeStatfser = (*statusFile)(nil)
)

func (d *dir) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	return statfs(&d.Inode, out)
}

func (f *file) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	return statfs(&f.Inode, out)
}

func (s *statusFile) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	return statfs(&s.Inode, out)
}

// statfs fills out for the mount that in belongs to.
func statfs(in *gofs.Inode, out *fuse.StatfsOut) syscall.Errno {
	var size int64
	var files uint64
	switch r := in.Root().Operations().(type) {
	case *Root:
		size, files = r.contents()
	case *MultiRoot:
		for _, root := range r.roots() {
			s, n := root.contents()
			size += s
			files += n
		}
	}
	out.Bsize = StatfsBlockSize
	out.Frsize = StatfsBlockSize
	out.Blocks = uint64((size + StatfsBlockSize - 1) / StatfsBlockSize)
	out.Bfree, out.Bavail = 0, 0
	out.Files, out.Ffree = files, 0
	out.NameLen = 255
	return 0
}

// contents is the torrent's total length and number of (visible) files; 0, 0
// while a magnet's metadata is on its way.
func (r *Root) contents() (size int64, files uint64) {
	r.mu.Lock()
	t := r.t
	r.mu.Unlock()
	if t == nil {
		return 0, 0
	}
	info := t.Info()
	for _, f := range info.Files {
		if !f.Padding {
			files++
		}
	}
	return info.TotalLength, files
}

// roots returns the Root of every torrent in the mount.
func (m *MultiRoot) roots() []*Root {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*Root, 0, len(m.folders))
	for _, f := range m.folders {
		out = append(out, f.root)
	}
	return out
}
