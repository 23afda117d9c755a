package fs

import (
	"context"
	"testing"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// TestFlushCancelsOwnReads: a FLUSH cancels the waiting reads of the process
// that closed its descriptor, and only those.
func TestFlushCancelsOwnReads(t *testing.T) {
	from := func(pid uint32) context.Context {
		return fuse.NewContext(context.Background(), &fuse.Caller{Pid: pid})
	}
	var p pendingReads
	mine, done1 := p.start(from(10))
	defer done1()
	other, done2 := p.start(from(20))
	defer done2()
	finished, done3 := p.start(from(10))
	done3() // answered before the flush

	p.flushed(from(10))
	if mine.Err() == nil {
		t.Error("the closing process's waiting read was not cancelled")
	}
	if other.Err() != nil {
		t.Error("another process's read was cancelled")
	}
	if finished.Err() == nil {
		t.Error("a finished read's context was left uncancelled") // done releases it
	}
	if len(p.byID) != 1 {
		t.Errorf("%d reads still registered, want 1 (the other process's)", len(p.byID))
	}
	// A context without a caller (not from the kernel) is left as it is.
	ctx, done := p.start(context.Background())
	p.flushed(context.Background())
	if ctx.Err() != nil {
		t.Error("a read without a caller was cancelled")
	}
	done()
}
