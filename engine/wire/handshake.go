package wire

import (
	"github.com/hyperblow/hyperblow/engine/bt"
)

// Protocol is the BEP 3 protocol string that opens every handshake, after its length byte.
const Protocol = "BitTorrent protocol"

// Handshake sizes (BEP 3): 1 length byte, 19 protocol bytes, 8 reserved bytes, the
// 20-byte info-hash, then the 20-byte peer id.
const (
	// HandshakeHeaderLen is the handshake up to and including the info-hash. A
	// listener reads this much first, looks the torrent up, and answers with its own
	// handshake before the initiator's peer id is needed, as real clients do.
	HandshakeHeaderLen = 1 + len(Protocol) + 8 + 20
	// HandshakeLen is the whole handshake.
	HandshakeLen = HandshakeHeaderLen + 20
)

// Handshake is the BEP 3 opening of a connection.
type Handshake struct {
	Reserved Reserved
	InfoHash bt.InfoHash
	PeerID   bt.PeerID
}

// AppendHandshake appends the 68-byte encoding of h to dst.
func AppendHandshake(dst []byte, h Handshake) []byte {
	dst = append(dst, byte(len(Protocol)))
	dst = append(dst, Protocol...)
	dst = append(dst, h.Reserved[:]...)
	dst = append(dst, h.InfoHash[:]...)
	return append(dst, h.PeerID[:]...)
}

// ParseHandshakeHeader parses the first [HandshakeHeaderLen] bytes of a handshake:
// protocol string, reserved bytes and info-hash. The returned Handshake has a zero
// PeerID. The protocol string is checked against as many bytes as b holds, so a
// stranger (an HTTP request, an encrypted stream) is refused after its first bytes
// with [ErrBadProtocol] rather than [ErrShort].
func ParseHandshakeHeader(b []byte) (Handshake, error) {
	var h Handshake
	n := min(len(b), 1+len(Protocol))
	if n > 0 && b[0] != byte(len(Protocol)) {
		return h, ErrBadProtocol
	}
	if n > 1 && string(b[1:n]) != Protocol[:n-1] {
		return h, ErrBadProtocol
	}
	if len(b) < HandshakeHeaderLen {
		return h, ErrShort
	}
	b = b[1+len(Protocol):]
	copy(h.Reserved[:], b[:8])
	copy(h.InfoHash[:], b[8:28])
	return h, nil
}

// ParseHandshake parses a whole [HandshakeLen]-byte handshake from the start of b.
// Bytes after it are not looked at: they are the first messages.
func ParseHandshake(b []byte) (Handshake, error) {
	h, err := ParseHandshakeHeader(b)
	if err != nil {
		return h, err
	}
	if len(b) < HandshakeLen {
		return h, ErrShort
	}
	copy(h.PeerID[:], b[HandshakeHeaderLen:HandshakeLen])
	return h, nil
}
