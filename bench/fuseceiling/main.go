// Command fuseceiling serves one file of pseudo-random bytes from memory through
// FUSE, mounted by Hyperblow's own fs.Mount (so with exactly its mount options:
// 1 MiB READs, read_ahead_kb 4096 as root, kernel caching), and with the same
// attributes and open flags as a Hyperblow file. Reading it measures what the
// kernel and go-fuse can deliver when the data is already there: the FUSE ceiling.
//
//	fuseceiling -size 1GiB MOUNTPOINT
//
// It prints "READY" once mounted and serves until SIGTERM or SIGINT, then unmounts.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	hfs "github.com/hyperblow/hyperblow/fs"
)

// name is the one file in the mount.
const name = "ceiling.bin"

type root struct {
	gofs.Inode
	data []byte
}

var _ = (gofs.NodeOnAdder)((*root)(nil))

func (r *root) OnAdd(ctx context.Context) {
	f := &file{data: r.data}
	r.AddChild(name, r.NewPersistentInode(ctx, f, gofs.StableAttr{Mode: syscall.S_IFREG}), false)
}

type file struct {
	gofs.Inode
	data []byte
}

var (
	_ = (gofs.NodeGetattrer)((*file)(nil))
	_ = (gofs.NodeOpener)((*file)(nil))
	_ = (gofs.NodeReader)((*file)(nil))
)

func (f *file) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = syscall.S_IFREG | 0o444
	out.Nlink = 1
	out.Size = uint64(len(f.data))
	out.Blksize = 1 << 16 // as Hyperblow's files: cp picks its buffer from it
	out.Blocks = (uint64(len(f.data)) + 511) / 512
	return 0
}

func (f *file) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	return nil, fuse.FOPEN_KEEP_CACHE, 0
}

func (f *file) Read(ctx context.Context, fh gofs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if off >= int64(len(f.data)) {
		return fuse.ReadResultData(nil), 0
	}
	end := min(off+int64(len(dest)), int64(len(f.data)))
	return fuse.ReadResultData(f.data[off:end]), 0
}

func main() {
	size := flag.Int64("size", 1<<30, "bytes in the served file")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: fuseceiling [-size BYTES] MOUNTPOINT")
		os.Exit(2)
	}
	mnt := flag.Arg(0)
	data := make([]byte, *size)
	rng := rand.NewChaCha8([32]byte{'h', 'y', 'p', 'e', 'r', 'b', 'l', 'o', 'w'})
	rng.Read(data)

	server, err := hfs.Mount(mnt, &root{data: data}, hfs.MountOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "fuseceiling:", err)
		os.Exit(1)
	}
	fmt.Println("READY")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	done := make(chan struct{})
	go func() { server.Wait(); close(done) }()
	select {
	case <-sig:
		if err := hfs.Unmount(server, mnt); err != nil {
			fmt.Fprintln(os.Stderr, "fuseceiling:", err)
		}
		select {
		case <-done:
		case <-time.After(10 * time.Second):
		}
	case <-done: // unmounted from outside
	}
}
