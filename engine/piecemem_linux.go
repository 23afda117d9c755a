package engine

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// lastAdvised is the end of the last stretch adviseHuge advised: the next
// piece is most often right after it (the heap grows upwards), and a stretch
// advised already needs no second system call.
var lastAdvised atomic.Uintptr

// adviseHuge advises the 2 MiB-aligned stretches that b's memory lies in with
// MADV_HUGEPAGE. The stretch may hold other heap objects: the advice changes
// only how the kernel backs memory not touched yet, never its contents. A
// stretch partly touched already keeps its 4 KiB pages (the kernel gives a
// huge page only to a stretch first touched whole). Errors are ignored: the
// advice is a hint (EINVAL where huge pages are off or unsupported).
func adviseHuge(b []byte) {
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	lo := p &^ (hugePage - 1)
	hi := (p + uintptr(len(b)) + hugePage - 1) &^ (hugePage - 1)
	if last := lastAdvised.Load(); last > lo && last >= hi && last-hugePage <= lo {
		return // inside the stretch advised last
	}
	_, _, _ = unix.Syscall(unix.SYS_MADVISE, lo, hi-lo, unix.MADV_HUGEPAGE)
	lastAdvised.Store(hi)
}
