package dht

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// compactNodeLen is the size of BEP 5 "compact node info" for IPv4: a 20-byte id, then
// the 6-byte compact address (4 bytes of IP, 2 of port, network byte order).
const compactNodeLen = IDLen + 6

// NodeInfo is one DHT node as BEP 5 exchanges it: an id and an IPv4 UDP address.
type NodeInfo struct {
	ID   ID
	Addr netip.AddrPort
}

// parseCompactNodes decodes a BEP 5 "nodes" string, 26 bytes a node. It keeps at most
// max nodes and skips entries that cannot be contacted (port 0, unspecified or
// multicast addresses), so a reply cannot point a lookup at nonsense.
func parseCompactNodes(b []byte, max int) ([]NodeInfo, error) {
	if len(b)%compactNodeLen != 0 {
		return nil, fmt.Errorf("compact nodes: length %d is not a multiple of %d", len(b), compactNodeLen)
	}
	out := make([]NodeInfo, 0, min(max, len(b)/compactNodeLen))
	for i := 0; i+compactNodeLen <= len(b) && len(out) < max; i += compactNodeLen {
		var n NodeInfo
		copy(n.ID[:], b[i:])
		ip := netip.AddrFrom4([4]byte(b[i+IDLen : i+IDLen+4]))
		n.Addr = netip.AddrPortFrom(ip, binary.BigEndian.Uint16(b[i+IDLen+4:]))
		if !usableAddr(n.Addr) {
			continue
		}
		out = append(out, n)
	}
	return out, nil
}

// appendCompactNode appends n's 26-byte compact node info; n.Addr must be IPv4.
func appendCompactNode(dst []byte, n NodeInfo) []byte {
	dst = append(dst, n.ID[:]...)
	ip := n.Addr.Addr().Unmap().As4()
	dst = append(dst, ip[:]...)
	return binary.BigEndian.AppendUint16(dst, n.Addr.Port())
}

// usableAddr reports whether a is an IPv4 address a node can be reached at. Loopback
// and private addresses are allowed (tests and LANs use them).
func usableAddr(a netip.AddrPort) bool {
	ip := a.Addr().Unmap()
	return a.Port() != 0 && ip.Is4() && !ip.IsUnspecified() && !ip.IsMulticast() &&
		ip != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// unmap turns an IPv4-mapped IPv6 address (as seen on a dual-stack socket) into plain
// IPv4, so that addresses compare equal however they were obtained.
func unmap(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}
