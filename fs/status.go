package fs

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// statusFile is a small text file whose content is made when it is opened; it
// is read with direct I/O, so its size may change between opens.
type statusFile struct {
	gofs.Inode
	status func() string
	opts   *Options
}

var (
	_ gofs.NodeGetattrer = (*statusFile)(nil)
	_ gofs.NodeOpener    = (*statusFile)(nil)
	_ gofs.FileReader    = (*statusHandle)(nil)
)

func (s *statusFile) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = syscall.S_IFREG | 0o444
	out.Nlink = 1
	out.Size = uint64(len(s.status()))
	setCommon(&out.Attr, s.opts)
	out.SetTimeout(0) // fresh on every stat
	return 0
}

func (s *statusFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC|syscall.O_APPEND) != 0 {
		return nil, 0, syscall.EROFS
	}
	return &statusHandle{content: []byte(s.status())}, fuse.FOPEN_DIRECT_IO, 0
}

type statusHandle struct{ content []byte }

func (h *statusHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if off >= int64(len(h.content)) {
		return fuse.ReadResultData(nil), 0
	}
	return fuse.ReadResultData(h.content[off:min(int64(len(h.content)), off+int64(len(dest)))]), 0
}
