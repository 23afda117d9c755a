package wire

import (
	"encoding/binary"
	"fmt"

	"github.com/hyperblow/hyperblow/engine/bt"
)

// Parse decodes the message at the start of buf and returns it with the number of
// bytes it used. It never allocates: the Message's Payload aliases buf.
//
// When buf holds only part of a message Parse returns [ErrShort] — but first checks
// everything the bytes at hand allow: with 4 bytes the length prefix against the cap,
// with 5 the length against the id. So a caller that sees ErrShort with at least 5
// bytes buffered knows the full length is acceptable and may allocate for it.
//
// Other errors are protocol violations and the connection should be dropped:
// [ErrMessageTooLong], [*LengthError], [ErrIndexOutOfRange], or [bt.ErrBitfield] for
// a bitfield with spare bits set. Unknown ids are not errors: they come back with
// their ID and raw Payload so the caller can skip them.
func Parse(buf []byte, lim Limits) (Message, int, error) {
	if len(buf) < 4 {
		return Message{}, 0, ErrShort
	}
	n := binary.BigEndian.Uint32(buf)
	if n == 0 {
		return Message{Keepalive: true}, 4, nil
	}
	if limit := lim.maxMessageLen(); n > limit {
		return Message{}, 0, fmt.Errorf("%w: length %d exceeds %d", ErrMessageTooLong, n, limit)
	}
	if len(buf) < 5 {
		return Message{}, 0, ErrShort
	}
	m := Message{ID: ID(buf[4])}
	if err := lim.checkLen(m.ID, n); err != nil {
		return Message{}, 0, err
	}
	if uint64(len(buf)) < 4+uint64(n) {
		return Message{}, 0, ErrShort
	}
	body := buf[5 : 4+n]
	switch m.ID {
	case Choke, Unchoke, Interested, NotInterested, HaveAll, HaveNone:
	case Have, Suggest, AllowedFast:
		m.Index = binary.BigEndian.Uint32(body)
	case Request, Cancel, Reject:
		m.Index = binary.BigEndian.Uint32(body)
		m.Begin = binary.BigEndian.Uint32(body[4:])
		m.Length = binary.BigEndian.Uint32(body[8:])
	case Piece:
		m.Index = binary.BigEndian.Uint32(body)
		m.Begin = binary.BigEndian.Uint32(body[4:])
		m.Payload = body[8:]
	case Port:
		m.Port = binary.BigEndian.Uint16(body)
	case Extended:
		m.ExtID = body[0]
		m.Payload = body[1:]
	case Bitfield:
		m.Payload = body
		if err := checkSpareBits(body, lim.numPieces()); err != nil {
			return Message{}, 0, err
		}
	default:
		m.Payload = body
	}
	if err := checkIndex(m, lim.numPieces()); err != nil {
		return Message{}, 0, err
	}
	return m, int(4 + n), nil
}

// checkSpareBits rejects a bitfield with bits set past the last piece: BEP 3 says to
// drop such a peer. The length was checked already.
func checkSpareBits(b []byte, numPieces int) error {
	if numPieces == 0 || len(b) == 0 {
		return nil
	}
	if spare := numPieces % 8; spare != 0 && b[len(b)-1]&(0xff>>spare) != 0 {
		return fmt.Errorf("wire: bitfield for %d pieces: %w: spare bits set", numPieces, bt.ErrBitfield)
	}
	return nil
}

// checkIndex rejects a piece index at or beyond numPieces, when numPieces is known.
func checkIndex(m Message, numPieces int) error {
	if numPieces == 0 {
		return nil
	}
	switch m.ID {
	case Have, Suggest, AllowedFast, Request, Cancel, Reject, Piece:
		if uint64(m.Index) >= uint64(numPieces) {
			return fmt.Errorf("%w: %v index %d, torrent has %d pieces", ErrIndexOutOfRange, m.ID, m.Index, numPieces)
		}
	}
	return nil
}
