package wire

import (
	"crypto/sha1"
	"encoding/binary"
	"net/netip"
	"slices"

	"github.com/hyperblow/hyperblow/engine/bt"
)

// AllowedFastSet returns the canonical BEP 6 allowed-fast set: k piece indices a peer
// at ip may request even while choked, derived from the peer's /24 and the info-hash
// so that every client computes the same set and a peer cannot farm new sets by
// reconnecting from a neighbouring address. BEP 6 defines it for IPv4 only; for other
// addresses it returns nil. k is capped at numPieces.
func AllowedFastSet(ip netip.Addr, ih bt.InfoHash, numPieces, k int) []uint32 {
	ip = ip.Unmap()
	if !ip.Is4() || numPieces <= 0 || k <= 0 {
		return nil
	}
	k = min(k, numPieces)
	a := ip.As4()
	x := make([]byte, 0, 4+len(ih))
	x = append(x, a[0], a[1], a[2], 0) // ip & 0xffffff00
	x = append(x, ih[:]...)
	set := make([]uint32, 0, k)
	for len(set) < k {
		sum := sha1.Sum(x)
		x = sum[:]
		for i := 0; i < 5 && len(set) < k; i++ {
			index := binary.BigEndian.Uint32(x[4*i:]) % uint32(numPieces)
			if !slices.Contains(set, index) {
				set = append(set, index)
			}
		}
	}
	return set
}
