package bt

import (
	"fmt"
	"math/bits"
)

// Bitfield is a fixed-length set of piece indices, stored as in BEP 3's BITFIELD
// message: the high bit of the first byte is piece 0.
type Bitfield struct {
	n     int
	bytes []byte
}

// NewBitfield returns an empty bitfield of n bits.
func NewBitfield(n int) Bitfield {
	return Bitfield{n: n, bytes: make([]byte, (n+7)/8)}
}

// BitfieldFromBytes validates a wire bitfield for n pieces: exact length and no
// spare bits set. The bytes are copied.
func BitfieldFromBytes(b []byte, n int) (Bitfield, error) {
	want := (n + 7) / 8
	if len(b) != want {
		return Bitfield{}, fmt.Errorf("%w: %d bytes for %d pieces, want %d", ErrBitfield, len(b), n, want)
	}
	if spare := n % 8; spare != 0 && b[len(b)-1]&(0xff>>spare) != 0 {
		return Bitfield{}, fmt.Errorf("%w: spare bits set", ErrBitfield)
	}
	bf := Bitfield{n: n, bytes: make([]byte, want)}
	copy(bf.bytes, b)
	return bf, nil
}

// Len is the number of bits.
func (b Bitfield) Len() int { return b.n }

// Has reports whether bit i is set; out-of-range indices are never set.
func (b Bitfield) Has(i int) bool {
	if i < 0 || i >= b.n {
		return false
	}
	return b.bytes[i/8]&(0x80>>(i%8)) != 0
}

// Set sets bit i; out-of-range indices are ignored.
func (b Bitfield) Set(i int) {
	if i < 0 || i >= b.n {
		return
	}
	b.bytes[i/8] |= 0x80 >> (i % 8)
}

// Clear clears bit i; out-of-range indices are ignored.
func (b Bitfield) Clear(i int) {
	if i < 0 || i >= b.n {
		return
	}
	b.bytes[i/8] &^= 0x80 >> (i % 8)
}

// SetAll sets every bit.
func (b Bitfield) SetAll() {
	for i := range b.bytes {
		b.bytes[i] = 0xff
	}
	if spare := b.n % 8; spare != 0 {
		b.bytes[len(b.bytes)-1] = byte(0xff << (8 - spare))
	}
}

// Count returns the number of set bits.
func (b Bitfield) Count() int {
	c := 0
	for _, x := range b.bytes {
		c += bits.OnesCount8(x)
	}
	return c
}

// Full reports whether every bit is set.
func (b Bitfield) Full() bool { return b.Count() == b.n }

// Bytes returns the wire form. The caller must not modify it.
func (b Bitfield) Bytes() []byte { return b.bytes }

// Clone returns an independent copy.
func (b Bitfield) Clone() Bitfield {
	c := Bitfield{n: b.n, bytes: make([]byte, len(b.bytes))}
	copy(c.bytes, b.bytes)
	return c
}
