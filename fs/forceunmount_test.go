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

// stuckRoot holds one file, "f", whose reads never answer until release is
// closed: a server that no longer serves, as a killed mount process whose
// last thread waits on a request to its own mount.
type stuckRoot struct {
	gofs.Inode
	reading chan struct{} // closed by the first read
	release chan struct{}
}

func (r *stuckRoot) OnAdd(ctx context.Context) {
	f := r.NewPersistentInode(ctx, &stuckFile{root: r}, gofs.StableAttr{Mode: syscall.S_IFREG})
	r.AddChild("f", f, false)
}

type stuckFile struct {
	gofs.Inode
	root *stuckRoot
}

func (f *stuckFile) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode, out.Size = 0o444, 4096
	return 0
}

func (f *stuckFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	return nil, fuse.FOPEN_DIRECT_IO, 0
}

func (f *stuckFile) Read(ctx context.Context, fh gofs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	select {
	case <-f.root.reading:
	default:
		close(f.root.reading)
	}
	<-f.root.release
	return fuse.ReadResultData(nil), syscall.EIO
}

// ForceUnmount frees a reader whose request the server never answers: it
// aborts the FUSE connection (the reader gets an error) before the lazy
// unmount, which alone leaves the request waiting for good. On a machine
// where the FUSE control filesystem is not mounted (a fresh VM, a container:
// so this machine before the test), ForceUnmount mounts it first.
func TestForceUnmountAbortsStuckRequest(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("aborting a FUSE connection needs root")
	}
	mnt := t.TempDir()
	root := &stuckRoot{reading: make(chan struct{}), release: make(chan struct{})}
	server, err := Mount(mnt, root, MountOptions{FsName: "stuck"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		close(root.release)
		server.Unmount()
		server.Wait()
	})
	done := make(chan error, 1)
	go func() {
		_, err := os.ReadFile(filepath.Join(mnt, "f"))
		done <- err
	}()
	select {
	case <-root.reading:
	case <-time.After(30 * time.Second):
		t.Fatal("the read did not reach the server")
	}
	abs, _ := filepath.Abs(mnt)
	e, ok, err := findMount(abs)
	if err != nil || !ok {
		t.Fatalf("the mount at %s is not in the table: %v", abs, err)
	}
	if err := ForceUnmount(e); err != nil {
		t.Fatalf("ForceUnmount: %v", err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("the stuck read returned no error")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the read still waits 30 s after ForceUnmount: the connection was not aborted")
	}
	if _, still, _ := findMount(abs); still {
		t.Fatalf("%s is still mounted", abs)
	}
}
