package bt

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// ParseCompactPeers decodes a BEP 23 compact IPv4 peer list (6 bytes a peer).
func ParseCompactPeers(b []byte) ([]netip.AddrPort, error) {
	return parseCompact(b, 4)
}

// ParseCompactPeers6 decodes a BEP 7 compact IPv6 peer list (18 bytes a peer).
func ParseCompactPeers6(b []byte) ([]netip.AddrPort, error) {
	return parseCompact(b, 16)
}

func parseCompact(b []byte, ipLen int) ([]netip.AddrPort, error) {
	step := ipLen + 2
	if len(b)%step != 0 {
		return nil, fmt.Errorf("compact peer list: length %d is not a multiple of %d", len(b), step)
	}
	out := make([]netip.AddrPort, 0, len(b)/step)
	for i := 0; i < len(b); i += step {
		var addr netip.Addr
		if ipLen == 4 {
			addr = netip.AddrFrom4([4]byte(b[i : i+4]))
		} else {
			addr = netip.AddrFrom16([16]byte(b[i : i+16]))
		}
		port := binary.BigEndian.Uint16(b[i+ipLen:])
		out = append(out, netip.AddrPortFrom(addr, port))
	}
	return out, nil
}

// AppendCompactPeer appends the compact form of p (6 bytes for IPv4, 18 for IPv6).
func AppendCompactPeer(dst []byte, p netip.AddrPort) []byte {
	a := p.Addr().Unmap()
	dst = append(dst, a.AsSlice()...)
	return binary.BigEndian.AppendUint16(dst, p.Port())
}
