package dht

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"math/bits"
)

// IDLen is the length of a BEP 5 node id and info-hash: 160 bits.
const IDLen = 20

// ID is a BEP 5 node id, or a lookup target (an info-hash is a target in the same
// 160-bit space). Closeness is XOR distance.
type ID [IDLen]byte

// RandomID returns a uniformly random node id (BEP 5: "chosen at random from the same
// 160-bit space as BitTorrent infohashes").
func RandomID() ID {
	var id ID
	rand.Read(id[:]) // never fails (crypto/rand documents it)
	return id
}

// String returns the id as 40 lower-case hex digits.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether the id is all zeros (Config uses it for "pick one").
func (id ID) IsZero() bool { return id == ID{} }

// xor is the BEP 5 distance metric: distance(A, B) = |A xor B|, read as an unsigned
// 160-bit integer.
func xor(a, b ID) ID {
	var d ID
	for i := range d {
		d[i] = a[i] ^ b[i]
	}
	return d
}

// cmpDistance orders a and b by distance to target (-1, 0, +1), for slices.SortFunc.
func cmpDistance(target, a, b ID) int {
	da, db := xor(target, a), xor(target, b)
	return bytes.Compare(da[:], db[:])
}

// commonPrefixLen is the number of leading bits a and b share (160 when equal). The
// routing table files a node under its common prefix length with our own id.
func commonPrefixLen(a, b ID) int {
	for i := range a {
		if x := a[i] ^ b[i]; x != 0 {
			return i*8 + bits.LeadingZeros8(x)
		}
	}
	return IDLen * 8
}

// randomIDWithPrefix returns a random id that shares exactly cpl leading bits with id
// (cpl < 160): the first cpl bits copied, bit cpl flipped, the rest random. A bucket
// refresh looks such an id up (BEP 5: "picking a random ID in the range of the bucket").
func randomIDWithPrefix(id ID, cpl int) ID {
	r := RandomID()
	if cpl >= IDLen*8 {
		return id
	}
	for i := 0; i < cpl/8; i++ {
		r[i] = id[i]
	}
	byteIdx, bit := cpl/8, uint(cpl%8)
	keep := byte(0xff) << (8 - bit) // the high bits that must match
	flip := byte(0x80) >> bit       // the first bit that must differ
	r[byteIdx] = id[byteIdx]&keep | (^id[byteIdx])&flip | r[byteIdx]&^(keep|flip)
	return r
}
