package fs

import (
	"context"
	"sync"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

var _ gofs.FileFlusher = (*handle)(nil)

// Reads the kernel sends on its own, and how they end when their process goes.
//
// The kernel's readahead READs are background requests: they belong to no
// system call, so when the process that caused them is killed (Ctrl-C on a cp
// blocked on a piece no peer has sent yet) no INTERRUPT comes for them, and they
// would wait for their data forever. The file stays open meanwhile: the kernel
// sends RELEASE only once every READ of the handle has been answered. So the
// reader and its waits would stay in the status and the view long after the
// process is gone.
//
// What the kernel does send at once is FLUSH, on every close(2) of a descriptor
// (an exit closes them all), from the closing process. On FLUSH, the handle's
// reads that the same process caused and that still wait are cancelled (they end
// with EINTR, which for readahead only means the pages stay not cached); then the
// kernel releases the handle, and the reader is closed. Reads of other processes
// sharing the open file (after fork) are left alone.

// pendingReads are a handle's reads that wait, by the process they came for.
type pendingReads struct {
	mu   sync.Mutex // guards next, byID
	next uint64
	byID map[uint64]pendingRead
}

type pendingRead struct {
	pid    uint32
	cancel context.CancelFunc
}

// start registers a read and returns its context, cancelled by a FLUSH from the
// read's process, and the function that ends its registration.
func (p *pendingReads) start(ctx context.Context) (context.Context, func()) {
	caller, ok := fuse.FromContext(ctx)
	if !ok {
		return ctx, func() {}
	}
	rctx, cancel := context.WithCancel(ctx)
	p.mu.Lock()
	if p.byID == nil {
		p.byID = make(map[uint64]pendingRead)
	}
	p.next++
	id := p.next
	p.byID[id] = pendingRead{pid: caller.Pid, cancel: cancel}
	p.mu.Unlock()
	return rctx, func() {
		p.mu.Lock()
		delete(p.byID, id)
		p.mu.Unlock()
		cancel()
	}
}

// flushed cancels the waiting reads of the process that closed a descriptor.
func (p *pendingReads) flushed(ctx context.Context) {
	caller, ok := fuse.FromContext(ctx)
	if !ok {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, r := range p.byID {
		if r.pid == caller.Pid {
			r.cancel()
			delete(p.byID, id)
		}
	}
}

// Flush: a descriptor of the handle was closed (see pendingReads).
func (h *handle) Flush(ctx context.Context) syscall.Errno {
	h.reads.flushed(ctx)
	return 0
}
