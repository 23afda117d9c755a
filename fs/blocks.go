package fs

import (
	"sync"
	"time"
)

// A file's st_blocks counts the bytes of the file that lie in pieces verified
// and held now (in the cache, in the disk tier, or in a seeder's storage), exactly: the first and
// last pieces of a file are usually shared with its neighbours, and only the
// file's part of them counts. So `du` of a mount shows what it holds, and `du`
// after reading a file (within the cache size) shows about its size. The
// kernel keeps attributes for FileAttrTimeout (mount.go), so du lags by at most
// that much.
//
// It costs one cache lookup per piece of the file. A file of more than
// memoPieces pieces remembers its count for memoTTL, so stat(2) of a big file
// stays cheap when called often; small files (most files of a big tree) are
// counted on every getattr, which is a handful of lookups.
const (
	memoPieces = 64
	memoTTL    = time.Second
)

// heldMemo remembers a big file's held bytes for memoTTL.
type heldMemo struct {
	mu    sync.Mutex // guards bytes, at
	bytes int64
	at    time.Time
}

// heldBytes is how many bytes of f are held now.
func (f *file) heldBytes() int64 {
	pieceLen := f.t.Info().PieceLength
	lo, hi := filePieces(pieceLen, f.f.Offset, f.f.Length)
	if hi-lo <= memoPieces {
		return heldBytes(f.t.PieceHeld, pieceLen, f.f.Offset, f.f.Length)
	}
	f.held.mu.Lock()
	defer f.held.mu.Unlock()
	if now := time.Now(); f.held.at.IsZero() || now.Sub(f.held.at) >= memoTTL {
		f.held.bytes = heldBytes(f.t.PieceHeld, pieceLen, f.f.Offset, f.f.Length)
		f.held.at = now
	}
	return f.held.bytes
}

// heldBytes counts the bytes of [off, off+length) of the torrent that lie in
// pieces held reports, pieces being pieceLen long (the torrent's last piece may
// be shorter, but a file never reaches past the torrent's end).
func heldBytes(held func(piece int) bool, pieceLen, off, length int64) int64 {
	lo, hi := filePieces(pieceLen, off, length)
	end := off + length
	var n int64
	for i := lo; i < hi; i++ {
		if !held(i) {
			continue
		}
		from, to := max(int64(i)*pieceLen, off), min(int64(i+1)*pieceLen, end)
		n += to - from
	}
	return n
}
