package wire

import (
	"encoding/hex"
	"strings"
)

// Reserved is the 8 reserved bytes of the BEP 3 handshake. Extensions claim single
// bits in it; a feature is usable on a connection only when both sides set its bit.
type Reserved [8]byte

// Bits of the reserved bytes, as byte offset and mask.
const (
	extendedByte, extendedBit = 5, 0x10 // BEP 10 extension protocol
	fastByte, fastBit         = 7, 0x04 // BEP 6 fast extension
	dhtByte, dhtBit           = 7, 0x01 // BEP 5 DHT (the peer accepts PORT)
)

// Fast reports the BEP 6 fast extension bit (reserved[7] & 0x04).
func (r Reserved) Fast() bool { return r[fastByte]&fastBit != 0 }

// Extended reports the BEP 10 extension protocol bit (reserved[5] & 0x10).
func (r Reserved) Extended() bool { return r[extendedByte]&extendedBit != 0 }

// DHT reports the BEP 5 DHT bit (reserved[7] & 0x01).
func (r Reserved) DHT() bool { return r[dhtByte]&dhtBit != 0 }

// WithFast returns r with the BEP 6 fast extension bit set.
func (r Reserved) WithFast() Reserved { r[fastByte] |= fastBit; return r }

// WithExtended returns r with the BEP 10 extension protocol bit set.
func (r Reserved) WithExtended() Reserved { r[extendedByte] |= extendedBit; return r }

// WithDHT returns r with the BEP 5 DHT bit set.
func (r Reserved) WithDHT() Reserved { r[dhtByte] |= dhtBit; return r }

// String returns the bytes in hex followed by the names of the known bits set,
// e.g. "0000000000100005 ext,fast,dht".
func (r Reserved) String() string {
	var names []string
	if r.Extended() {
		names = append(names, "ext")
	}
	if r.Fast() {
		names = append(names, "fast")
	}
	if r.DHT() {
		names = append(names, "dht")
	}
	s := hex.EncodeToString(r[:])
	if len(names) == 0 {
		return s
	}
	return s + " " + strings.Join(names, ",")
}
