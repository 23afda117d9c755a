package storage

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
)

// hashPieces is the one check of what a store already holds, shared by
// OpenLayout and OpenReader: it reads each piece of toHash (read fills b,
// which has the piece's length) and verifies it, a few pieces in parallel,
// and calls matched, one call at a time, for each piece that verifies.
// progress, if set, is called after each piece with the count hashed so far
// (on the hashing goroutines). ctx stops the feeding; the error is then
// ctx's, and matched has been called for what was verified until then.
func hashPieces(ctx context.Context, toHash []int, maxPiece int64, pieceLen func(int) int64,
	read func(i int, b []byte) error, verify func(i int, b []byte) bool,
	progress func(hashed, total int), matched func(i int)) error {
	if len(toHash) == 0 {
		return nil
	}
	workers := min(runtime.NumCPU(), 4, len(toHash))
	next := make(chan int)
	var mu sync.Mutex
	var wg sync.WaitGroup
	var hashed atomic.Int64
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, maxPiece)
			for i := range next {
				b := buf[:pieceLen(i)]
				ok := read(i, b) == nil && verify(i, b)
				if progress != nil {
					progress(int(hashed.Add(1)), len(toHash))
				}
				if ok {
					mu.Lock()
					matched(i)
					mu.Unlock()
				}
			}
		}()
	}
	var err error
feed:
	for _, i := range toHash {
		select {
		case next <- i:
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	return err
}
