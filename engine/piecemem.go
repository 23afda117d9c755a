package engine

// newPieceBuf returns a zeroed buffer for one piece's bytes, from the Go
// heap, like make. Where the kernel allows it (Linux, transparent huge pages
// in "madvise" or "always" mode), the 2 MiB-aligned stretches of the heap it
// lies in are advised to be backed by huge pages (adviseHuge): a mount keeps
// every piece it verifies, so nearly every piece lands in fresh memory, and on
// a virtual machine each 4 KiB page's first touch is a fault that costs
// microseconds (measured here: 3.5-4.5 ms of CPU per MiB with 4 KiB pages,
// 0.1-0.2 ms with huge pages; about half of a web-seed mount's CPU per GiB).
// The memory stays the garbage collector's: nothing else changes for it.
func newPieceBuf(n int) []byte {
	b := make([]byte, n)
	if n >= hugeMinPiece {
		adviseHuge(b)
	}
	return b
}

// hugeMinPiece: smaller pieces are not worth a system call each (and share
// their 2 MiB with more of the heap's other objects).
const hugeMinPiece = 256 << 10

// hugePage is the size of a transparent huge page on amd64 and arm64 (4 KiB
// base pages).
const hugePage = 2 << 20
