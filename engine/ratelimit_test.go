package engine

import (
	"testing"
	"time"
)

// The upload limiter lets a burst through at once and then makes senders wait;
// a waiting sender is released when its connection closes.
func TestTokenBucketBlocksBeyondBurst(t *testing.T) {
	b := newTokenBucket(1 << 10) // 1 KiB/s, burst 64 KiB: a 48 KiB take waits ~48 s
	done := make(chan struct{})
	for i := 0; i < 4; i++ {
		if !b.Take(16<<10, done) {
			t.Fatal("a take within the burst failed")
		}
	}
	res := make(chan bool, 1)
	go func() { res <- b.Take(48<<10, done) }()
	select {
	case ok := <-res:
		t.Fatalf("a take beyond the burst returned at once (%v)", ok)
	case <-time.After(100 * time.Millisecond):
	}
	close(done)
	select {
	case ok := <-res:
		if ok {
			t.Fatal("a released take reported success")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("closing did not release the waiting take")
	}
}
