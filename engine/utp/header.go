package utp

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// BEP 29 packet types.
const (
	stData  = 0
	stFin   = 1
	stState = 2
	stReset = 3
	stSyn   = 4
)

const (
	version    = 1
	headerSize = 20
	extSACK    = 1
	// maxSACKBytes bounds the selective ACK bitmask we send and read: 256
	// packets past the cumulative ack.
	maxSACKBytes = 32
	// maxExtensions bounds the extension chain of one packet.
	maxExtensions = 8
)

var errNotUTP = errors.New("utp: not a uTP packet")

// header is a BEP 29 version 1 header plus the extensions we read.
type header struct {
	typ    uint8
	connID uint16
	ts     uint32 // timestamp_microseconds
	tsDiff uint32 // timestamp_difference_microseconds
	wnd    uint32
	seq    uint16
	ack    uint16
	// sack is the selective ACK bitmask (extension 1), aliasing the packet:
	// bit i of byte j acknowledges packet ack+2+8j+i.
	sack []byte
}

// parseHeader reads a packet's header and extensions and returns its payload,
// which aliases b. Anything that is not a well-formed version 1 packet is
// errNotUTP (it may be another protocol sharing the port, such as the DHT).
func parseHeader(b []byte) (header, []byte, error) {
	var h header
	if len(b) < headerSize {
		return h, nil, errNotUTP
	}
	h.typ = b[0] >> 4
	if b[0]&0xf != version || h.typ > stSyn {
		return h, nil, errNotUTP
	}
	next := b[1]
	h.connID = binary.BigEndian.Uint16(b[2:])
	h.ts = binary.BigEndian.Uint32(b[4:])
	h.tsDiff = binary.BigEndian.Uint32(b[8:])
	h.wnd = binary.BigEndian.Uint32(b[12:])
	h.seq = binary.BigEndian.Uint16(b[16:])
	h.ack = binary.BigEndian.Uint16(b[18:])
	p := b[headerSize:]
	for i := 0; next != 0; i++ {
		if i == maxExtensions {
			return h, nil, fmt.Errorf("%w: more than %d extensions", errNotUTP, maxExtensions)
		}
		if len(p) < 2 {
			return h, nil, fmt.Errorf("%w: truncated extension", errNotUTP)
		}
		typ, n := next, int(p[1])
		next = p[0]
		if len(p) < 2+n {
			return h, nil, fmt.Errorf("%w: extension of %d bytes in %d", errNotUTP, n, len(p)-2)
		}
		if typ == extSACK && n > 0 {
			h.sack = p[2 : 2+min(n, maxSACKBytes)]
		}
		p = p[2+n:]
	}
	return h, p, nil
}

// marshal writes the header and its SACK extension, if any, to b (which must
// hold headerSize+2+len(h.sack) bytes) and returns the bytes written.
func (h *header) marshal(b []byte) int {
	b[0] = h.typ<<4 | version
	b[1] = 0
	if len(h.sack) > 0 {
		b[1] = extSACK
	}
	binary.BigEndian.PutUint16(b[2:], h.connID)
	binary.BigEndian.PutUint32(b[4:], h.ts)
	binary.BigEndian.PutUint32(b[8:], h.tsDiff)
	binary.BigEndian.PutUint32(b[12:], h.wnd)
	binary.BigEndian.PutUint16(b[16:], h.seq)
	binary.BigEndian.PutUint16(b[18:], h.ack)
	n := headerSize
	if len(h.sack) > 0 {
		b[n] = 0
		b[n+1] = byte(len(h.sack))
		n += 2 + copy(b[n+2:], h.sack)
	}
	return n
}

// seqLess reports whether sequence number a comes before b, modulo 2^16.
func seqLess(a, b uint16) bool { return int16(a-b) < 0 }
