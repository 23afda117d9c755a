package fs

import (
	"runtime"
	"sync"
)

// go-fuse's readers wait for the kernel's next request in a blocking read(2)
// on /dev/fuse, and a goroutine in a system call keeps its P (one of
// GOMAXPROCS) until the runtime's monitor takes it back, which on a quiet
// process comes up to 10 ms later. go-fuse keeps up to GOMAXPROCS+1 readers
// (sized when its server is made: maxReaders = GOMAXPROCS, 2 to 16), so on a
// 2-core machine every P can be held by a reader waiting for the kernel
// while the goroutines a READ wakes (the torrent's owner, a web seed's fetch,
// the network poller that brings its answer) wait for the monitor: measured
// 11-15 ms of a fresh mount's first read (a 64 KiB read from a local web
// seed: 20 ms, 7.5 ms with spare Ps). So the process gets as many more Ps as
// go-fuse's readers can hold: they never take the Ps the work needs.
var procs struct {
	sync.Mutex
	base  int // GOMAXPROCS before the first mount
	extra int // added for readers
}

// maxExtraMounts bounds the Ps added, in go-fuse servers' worth.
const maxExtraMounts = 4

// readerProcs returns the most go-fuse readers a server made with gomaxprocs
// Ps keeps in read(2) (fuse.NewServer: clamp(GOMAXPROCS, 2, 16), plus the one
// that may start as the last goes to work).
func readerProcs(gomaxprocs int) int { return min(max(gomaxprocs, 2), 16) + 1 }

// withReaderProcs makes a go-fuse server with mount (which must create it
// with GOMAXPROCS as it is then) and raises GOMAXPROCS by the readers the
// server may keep blocked, once per server. The server is sized from the base
// GOMAXPROCS, not from what earlier mounts raised it to. At most
// maxExtraMounts servers' readers are added.
func withReaderProcs[T any](mount func() (T, error)) (T, error) {
	procs.Lock()
	defer procs.Unlock()
	if procs.base == 0 {
		procs.base = runtime.GOMAXPROCS(0)
	}
	if procs.extra > 0 {
		runtime.GOMAXPROCS(procs.base) // go-fuse sizes its readers from it
	}
	v, err := mount()
	if err == nil {
		// Servers are not counted off as they end: bounded instead, for a
		// process that mounts many times (tests).
		procs.extra = min(procs.extra+readerProcs(procs.base), maxExtraMounts*readerProcs(procs.base))
	}
	runtime.GOMAXPROCS(procs.base + procs.extra)
	return v, err
}
