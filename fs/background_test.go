package fs

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// slowRoot holds one file, "f", of slowSize bytes read through the page
// cache: a READ in its first half waits until release is closed (a piece no
// peer sends yet), one in its second half is answered at once. Every READ
// that starts is announced on reads.
type slowRoot struct {
	gofs.Inode
	reads   chan int64
	release chan struct{}
}

const slowSize = 512 << 20

func (r *slowRoot) OnAdd(ctx context.Context) {
	r.AddChild("f", r.NewPersistentInode(ctx, &slowFile{root: r}, gofs.StableAttr{Mode: syscall.S_IFREG}), false)
}

type slowFile struct {
	gofs.Inode
	root *slowRoot
}

func (f *slowFile) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode, out.Size = 0o444, slowSize
	return 0
}

func (f *slowFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	return nil, fuse.FOPEN_KEEP_CACHE, 0
}

func (f *slowFile) Read(ctx context.Context, fh gofs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	f.root.reads <- off
	if off < slowSize/2 {
		select {
		case <-f.root.release:
		case <-ctx.Done():
			return nil, syscall.EINTR
		}
	}
	return fuse.ReadResultData(make([]byte, len(dest))), 0
}

// Reads waiting on pieces that do not come (the kernel's readahead for a
// position a player seeked away from, or many readers of a slow swarm) must
// not hold up a read whose data is there. The kernel sends page-cache READs
// as background requests, at most max_background at once, and queues the
// rest without sending them: with go-fuse's default of 12, twelve stuck
// READs kept every other read of the mount waiting.
func TestStuckReadsDoNotBlockOthers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting needs root here")
	}
	mnt := t.TempDir()
	root := &slowRoot{reads: make(chan int64, 1024), release: make(chan struct{})}
	server, err := Mount(mnt, root, MountOptions{FsName: "slow"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		close(root.release)
		server.Unmount()
		server.Wait()
	})
	path := filepath.Join(mnt, "f")
	const stuck = 40 // more than three times go-fuse's default max_background (12)
	// readAt opens the file afresh (a reader of its own) and reads 4 KiB at
	// off in a goroutine; the result goes to out.
	readAt := func(off int64, out chan<- error) {
		go func() {
			f, err := os.Open(path)
			if err != nil {
				out <- err
				return
			}
			defer f.Close()
			_, err = f.ReadAt(make([]byte, 4096), off)
			out <- err
		}()
	}
	errs := make(chan error, stuck)
	for k := range stuck {
		readAt(int64(k)*(4<<20), errs)
	}
	// Every stuck read's READ reaches the server.
	seen := map[int64]bool{}
	timeout := time.After(30 * time.Second)
	for len(seen) < stuck {
		select {
		case off := <-root.reads:
			if off < slowSize/2 {
				seen[off/(4<<20)] = true
			}
		case err := <-errs:
			t.Fatalf("a read in the stuck half returned early: %v", err)
		case <-timeout:
			t.Fatalf("only %d of %d stuck reads reached the server in 30 s: the kernel holds the rest back", len(seen), stuck)
		}
	}
	// And a read of data that is there is answered.
	done := make(chan error, 1)
	readAt(slowSize*3/4, done)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("read beside %d stuck ones: %v", stuck, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("a read of available data waited 30 s behind %d stuck reads", stuck)
	}
}
