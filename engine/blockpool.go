package engine

import (
	"sync"

	"github.com/hyperblow/hyperblow/engine/bt"
)

// blockPool recycles the 16 KiB buffers that connections copy PIECE payloads
// into: the owner copies each block into its piece buffer and puts the block
// back, so a download allocates per piece, not per block.
var blockPool = sync.Pool{New: func() any { b := make([]byte, bt.BlockSize); return &b }}

func allocBlock(n int) []byte {
	if n > bt.BlockSize {
		return make([]byte, n)
	}
	return (*blockPool.Get().(*[]byte))[:n]
}

func freeBlock(b []byte) {
	if cap(b) != bt.BlockSize {
		return
	}
	b = b[:bt.BlockSize]
	blockPool.Put(&b)
}
