package wire

import (
	"errors"
	"fmt"
)

// ErrShort is returned by [Parse], [ParseHandshake] and [ParseHandshakeHeader] when the
// input holds the beginning of a valid item but not all of it: read more and retry.
// Whatever could be checked in the bytes at hand has been checked already.
var ErrShort = errors.New("wire: need more bytes")

// ErrBadProtocol means the peer did not open with the BEP 3 protocol string
// "\x13BitTorrent protocol" (for example an HTTP client or an encrypted stream).
var ErrBadProtocol = errors.New("wire: not a BitTorrent handshake")

// ErrMessageTooLong means a length prefix exceeds [Limits.MaxMessageLen]. It is
// detected from the 4-byte prefix alone, before any payload is read or allocated.
var ErrMessageTooLong = errors.New("wire: message too long")

// ErrBadLength is matched (with errors.Is) by every [*LengthError].
var ErrBadLength = errors.New("wire: bad message length")

// ErrIndexOutOfRange means a message names a piece index at or beyond
// [Limits.NumPieces] (anacrolix/torrent #228 crashed on HAVE 0xFFFFFFFF).
var ErrIndexOutOfRange = errors.New("wire: piece index out of range")

// LengthError reports a message whose length prefix is wrong for its id: a fixed-size
// message of another size, a PIECE larger than the largest block, a BITFIELD of the
// wrong size for the torrent. Len counts the id byte, as the length prefix does.
type LengthError struct {
	ID       ID
	Len      uint32
	Min, Max uint32 // the accepted range of Len
}

// Error names the message, its length and the accepted range.
func (e *LengthError) Error() string {
	if e.Min == e.Max {
		return fmt.Sprintf("wire: %v message with length %d, want %d", e.ID, e.Len, e.Min)
	}
	return fmt.Sprintf("wire: %v message with length %d, want %d..%d", e.ID, e.Len, e.Min, e.Max)
}

// Unwrap makes errors.Is(err, ErrBadLength) true.
func (e *LengthError) Unwrap() error { return ErrBadLength }
