package storage

import (
	"bytes"
	"testing"
)

func TestWriteBehindDropsWhenFullAndNeverBlocks(t *testing.T) {
	release := make(chan struct{})
	started := make(chan int, 10)
	var written []int
	w := newWriteBehind(3*100, func(b []item[int]) {
		for _, it := range b {
			started <- it.k
			<-release
			written = append(written, it.k)
		}
	})
	piece := func(k int) []byte { return bytes.Repeat([]byte{byte(k)}, 100) }
	if !w.put(0, piece(0)) {
		t.Fatal("first put refused")
	}
	<-started // the writer holds piece 0 and waits: the disk is "slow"
	for k := 1; k < 3; k++ {
		if !w.put(k, piece(k)) {
			t.Fatalf("put %d refused below the bound", k)
		}
	}
	if w.put(3, piece(3)) {
		t.Fatal("put accepted beyond the bound: it must be dropped")
	}
	if w.put(1, piece(1)) {
		t.Fatal("a queued piece was queued twice")
	}
	for k := 0; k < 3; k++ { // readers are served from the queue meanwhile
		if b, ok := w.get(k); !ok || !bytes.Equal(b, piece(k)) {
			t.Fatalf("get(%d) from the queue: %v", k, ok)
		}
	}
	if got := w.queuedBytes(); got != 300 {
		t.Fatalf("queued %d bytes, want 300", got)
	}
	close(release)
	w.flush()
	if _, ok := w.get(0); ok {
		t.Fatal("a written piece is still pending")
	}
	w.close()
	if len(written) != 3 || written[0] != 0 || written[1] != 1 || written[2] != 2 {
		t.Fatalf("written %v, want [0 1 2] in order", written)
	}
	if w.put(4, piece(4)) {
		t.Fatal("put accepted after close")
	}
}

func TestWriteBehindAcceptsOneOversizedPiece(t *testing.T) {
	w := newWriteBehind(10, func([]item[int]) {})
	defer w.close()
	if !w.put(0, make([]byte, 100)) {
		t.Fatal("a piece larger than the bound must pass through an empty queue")
	}
}
