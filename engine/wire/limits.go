package wire

import "github.com/hyperblow/hyperblow/engine/bt"

// DefaultMaxMessageLen is the default absolute cap on a length prefix: 1 MiB, as
// libtorrent. It bounds the one message type with no natural size, EXTENDED.
const DefaultMaxMessageLen = 1 << 20

// Limits bound what a peer may send (LIMITS.md, "peer message length"). The zero
// value is usable: 1 MiB cap, 16 KiB blocks, piece count unknown.
type Limits struct {
	// MaxMessageLen caps every length prefix; 0 means DefaultMaxMessageLen.
	MaxMessageLen uint32
	// MaxBlockLen caps the block carried by a PIECE; 0 means bt.BlockSize. We never
	// request more, so a larger block is a protocol violation.
	MaxBlockLen uint32
	// NumPieces is the torrent's piece count, or 0 while unknown (a magnet link
	// before its metadata arrives). When known, a BITFIELD must be exactly
	// ceil(NumPieces/8) bytes with its spare bits clear (BEP 3), and every piece
	// index must be below it.
	NumPieces int
}

func (l Limits) maxMessageLen() uint32 {
	if l.MaxMessageLen == 0 {
		return DefaultMaxMessageLen
	}
	return l.MaxMessageLen
}

func (l Limits) maxBlockLen() uint32 {
	if l.MaxBlockLen == 0 {
		return bt.BlockSize
	}
	return l.MaxBlockLen
}

func (l Limits) numPieces() int { return max(l.NumPieces, 0) }

// checkLen checks the length prefix n (which counts the id byte) of a message with id.
// n is known to be in 1..maxMessageLen.
func (l Limits) checkLen(id ID, n uint32) error {
	lo, hi := uint32(1), l.maxMessageLen()
	switch id {
	case Choke, Unchoke, Interested, NotInterested, HaveAll, HaveNone:
		lo, hi = 1, 1
	case Have, Suggest, AllowedFast:
		lo, hi = 5, 5
	case Request, Cancel, Reject:
		lo, hi = 13, 13
	case Port:
		lo, hi = 3, 3
	case Piece:
		lo, hi = 9, 9+l.maxBlockLen()
	case Bitfield:
		if np := l.numPieces(); np > 0 {
			want := uint32((np+7)/8 + 1)
			lo, hi = want, want
		}
	case Extended:
		lo = 2
	}
	if n < lo || n > hi {
		return &LengthError{ID: id, Len: n, Min: lo, Max: hi}
	}
	return nil
}
