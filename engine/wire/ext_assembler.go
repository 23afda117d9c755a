package wire

import (
	"errors"
	"fmt"

	"github.com/hyperblow/hyperblow/engine/bt"
)

// ErrMetadataHash is returned by [MetadataAssembler.Verify] when the assembled info
// dictionary does not hash to the info-hash: some peer sent bad pieces.
var ErrMetadataHash = errors.New("wire: metadata does not match the info-hash")

// MetadataAssembler collects the BEP 9 pieces of an info dictionary of a known size
// and checks the whole against the info-hash. It is a plain struct: one goroutine
// (the torrent's owner) uses it. Its memory is the declared size, at most
// MaxMetadataSize, allocated when the first piece arrives.
//
// Which peer sent which piece is the caller's business: when Verify fails, every
// piece is discarded, since a bad piece cannot be told from a good one.
type MetadataAssembler struct {
	size  int64
	hash  bt.InfoHash
	buf   []byte
	have  []bool
	count int
	ok    bool     // verified
	v2    [32]byte // BEP 52: when not zero, the SHA-256 the metadata must have instead
}

// NewMetadataAssembler returns an assembler for an info dictionary of size bytes
// (from the peers' metadata_size) that must hash to infoHash. size must be in
// 1..MaxMetadataSize.
func NewMetadataAssembler(size int64, infoHash bt.InfoHash) (*MetadataAssembler, error) {
	if size < 1 || size > MaxMetadataSize {
		return nil, fmt.Errorf("wire: metadata size %d is not in 1..%d", size, MaxMetadataSize)
	}
	return &MetadataAssembler{size: size, hash: infoHash, have: make([]bool, MetadataPieces(size))}, nil
}

// Size returns the declared size of the info dictionary.
func (a *MetadataAssembler) Size() int64 { return a.size }

// NumPieces returns the number of pieces to collect.
func (a *MetadataAssembler) NumPieces() int { return len(a.have) }

// Add stores piece. data must be exactly the piece's length (MetadataPieceLen, less
// for the last piece); it is copied. A piece already held is ignored, and so is
// everything once Verify has succeeded.
func (a *MetadataAssembler) Add(piece int, data []byte) error {
	if piece < 0 || piece >= len(a.have) {
		return fmt.Errorf("wire: metadata piece %d is not in 0..%d", piece, len(a.have)-1)
	}
	if want := MetadataPieceSize(a.size, piece); len(data) != want {
		return fmt.Errorf("wire: metadata piece %d has %d bytes, want %d", piece, len(data), want)
	}
	if a.have[piece] || a.ok {
		return nil
	}
	if a.buf == nil {
		a.buf = make([]byte, a.size)
	}
	copy(a.buf[piece*MetadataPieceLen:], data)
	a.have[piece] = true
	a.count++
	return nil
}

// Missing returns the indices of the pieces not yet held, in order.
func (a *MetadataAssembler) Missing() []int {
	var out []int
	for i, ok := range a.have {
		if !ok {
			out = append(out, i)
		}
	}
	return out
}

// Done reports whether every piece is held.
func (a *MetadataAssembler) Done() bool { return a.count == len(a.have) }

// Verify checks the assembled info dictionary against the info-hash and returns it. The
// assembler never modifies the result afterwards; the caller should still validate it
// with metainfo.ParseInfo. It is an error to call Verify before Done. On a mismatch it
// returns an error matching ErrMetadataHash and discards every piece, so that they are
// fetched again.
func (a *MetadataAssembler) Verify() ([]byte, error) {
	if a.ok {
		return a.buf, nil
	}
	if !a.Done() {
		return nil, fmt.Errorf("wire: metadata incomplete: %d of %d pieces", a.count, len(a.have))
	}
	if got, ok := a.matches(); !ok {
		clear(a.have)
		a.count = 0
		return nil, fmt.Errorf("%w: got %x, want %s", ErrMetadataHash, got, a.want())
	}
	a.ok = true
	return a.buf, nil
}
