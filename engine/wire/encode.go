package wire

import "encoding/binary"

// AppendMessage appends the wire encoding of m to dst (BEP 3 framing: a 4-byte
// big-endian length, the id, the payload). Fields that m.ID does not use are ignored.
// It does not check m against any Limits: what we send is ours to get right.
func AppendMessage(dst []byte, m Message) []byte {
	if m.Keepalive {
		return append(dst, 0, 0, 0, 0)
	}
	switch m.ID {
	case Choke, Unchoke, Interested, NotInterested, HaveAll, HaveNone:
		return append(dst, 0, 0, 0, 1, byte(m.ID))
	case Have, Suggest, AllowedFast:
		dst = appendHeader(dst, 5, m.ID)
		return binary.BigEndian.AppendUint32(dst, m.Index)
	case Request, Cancel, Reject:
		dst = appendHeader(dst, 13, m.ID)
		dst = binary.BigEndian.AppendUint32(dst, m.Index)
		dst = binary.BigEndian.AppendUint32(dst, m.Begin)
		return binary.BigEndian.AppendUint32(dst, m.Length)
	case Piece:
		dst = AppendPieceHeader(dst, m.Index, m.Begin, len(m.Payload))
		return append(dst, m.Payload...)
	case Port:
		dst = appendHeader(dst, 3, m.ID)
		return binary.BigEndian.AppendUint16(dst, m.Port)
	case Extended:
		dst = appendHeader(dst, uint32(2+len(m.Payload)), m.ID)
		dst = append(dst, m.ExtID)
		return append(dst, m.Payload...)
	default: // Bitfield and unknown ids: the payload follows the id as is.
		dst = appendHeader(dst, uint32(1+len(m.Payload)), m.ID)
		return append(dst, m.Payload...)
	}
}

func appendHeader(dst []byte, n uint32, id ID) []byte {
	dst = binary.BigEndian.AppendUint32(dst, n)
	return append(dst, byte(id))
}

// AppendRequest appends a REQUEST for length bytes at begin in piece index. It is
// the hot path of downloading and does not build a Message.
func AppendRequest(dst []byte, index, begin, length uint32) []byte {
	dst = appendHeader(dst, 13, Request)
	dst = binary.BigEndian.AppendUint32(dst, index)
	dst = binary.BigEndian.AppendUint32(dst, begin)
	return binary.BigEndian.AppendUint32(dst, length)
}

// AppendPieceHeader appends the 13-byte head of a PIECE message carrying a block of
// blockLen bytes. The caller writes the block itself right after, straight from the
// verified piece, so serving a block never copies it into a message buffer.
func AppendPieceHeader(dst []byte, index, begin uint32, blockLen int) []byte {
	dst = appendHeader(dst, uint32(9+blockLen), Piece)
	dst = binary.BigEndian.AppendUint32(dst, index)
	return binary.BigEndian.AppendUint32(dst, begin)
}

// AppendHave appends a HAVE for piece index.
func AppendHave(dst []byte, index uint32) []byte {
	dst = appendHeader(dst, 5, Have)
	return binary.BigEndian.AppendUint32(dst, index)
}
