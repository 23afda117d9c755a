package storage

import "sync"

// DefaultQueueBytes bounds the write-behind queue when the config leaves it 0.
const DefaultQueueBytes = 64 << 20

// writeBehind is a bounded queue of verified pieces and the one goroutine that
// writes them, so that neither the engine's owner goroutine nor a reader ever
// waits for a disk write. When the queue is full a Put is dropped (the piece
// stays in the RAM cache, and a later read may fetch it again), never blocked.
type writeBehind[K comparable] struct {
	write func([]item[K]) // a batch, in queue order
	max   int64

	mu      sync.Mutex // guards pending, order, queued, busy, closed
	cond    *sync.Cond // signalled when work arrives or the queue drains
	pending map[K][]byte
	order   []K
	queued  int64
	busy    bool
	closed  bool
	done    chan struct{}
}

// item is one queued piece.
type item[K comparable] struct {
	k    K
	data []byte
}

// Batch bounds: the writer takes what is queued, up to these, so that a tier
// can share fsyncs among the pieces of one batch (group commit).
const (
	maxBatch      = 32
	maxBatchBytes = 32 << 20
)

func newWriteBehind[K comparable](max int64, write func([]item[K])) *writeBehind[K] {
	if max <= 0 {
		max = DefaultQueueBytes
	}
	w := &writeBehind[K]{write: write, max: max, pending: map[K][]byte{}, done: make(chan struct{})}
	w.cond = sync.NewCond(&w.mu)
	go w.run()
	return w
}

// put queues data under k; false if the queue is full, closed, or k is queued.
// One piece larger than the bound is still accepted into an empty queue.
func (w *writeBehind[K]) put(k K, data []byte) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return false
	}
	if _, ok := w.pending[k]; ok {
		return false
	}
	if w.queued > 0 && w.queued+int64(len(data)) > w.max {
		return false
	}
	w.pending[k] = data
	w.order = append(w.order, k)
	w.queued += int64(len(data))
	w.cond.Broadcast()
	return true
}

// get returns the bytes of a piece still queued or being written.
func (w *writeBehind[K]) get(k K) ([]byte, bool) {
	w.mu.Lock()
	d, ok := w.pending[k]
	w.mu.Unlock()
	return d, ok
}

func (w *writeBehind[K]) queuedBytes() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.queued
}

func (w *writeBehind[K]) run() {
	defer close(w.done)
	w.mu.Lock()
	for {
		for len(w.order) == 0 && !w.closed {
			w.cond.Wait()
		}
		if len(w.order) == 0 {
			w.mu.Unlock()
			return
		}
		var batch []item[K]
		var size int64
		for len(w.order) > 0 && len(batch) < maxBatch && (len(batch) == 0 || size+int64(len(w.pending[w.order[0]])) <= maxBatchBytes) {
			k := w.order[0]
			w.order = w.order[1:]
			batch = append(batch, item[K]{k, w.pending[k]})
			size += int64(len(w.pending[k]))
		}
		w.busy = true
		w.mu.Unlock()
		w.write(batch)
		w.mu.Lock()
		w.busy = false
		for _, it := range batch {
			delete(w.pending, it.k)
		}
		w.queued -= size
		w.cond.Broadcast()
	}
}

// flush waits until every piece queued before it has been written.
func (w *writeBehind[K]) flush() {
	w.mu.Lock()
	for len(w.order) > 0 || w.busy {
		w.cond.Wait()
	}
	w.mu.Unlock()
}

// close writes what is queued, then stops the writer.
func (w *writeBehind[K]) close() {
	w.mu.Lock()
	w.closed = true
	w.cond.Broadcast()
	w.mu.Unlock()
	<-w.done
}

// setMax changes the bound; pieces queued beyond a lower one stay queued.
func (w *writeBehind[K]) setMax(n int64) {
	w.mu.Lock()
	w.max = n
	w.mu.Unlock()
}
