package dht

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// compactNodeLen is the size of BEP 5 "compact node info" for IPv4: a 20-byte id, then
// the 6-byte compact address (4 bytes of IP, 2 of port, network byte order).
const compactNodeLen = IDLen + 6

// compactNode6Len is BEP 32's "nodes6" entry: a 20-byte id, 16 bytes of IPv6
// address and 2 of port.
const compactNode6Len = IDLen + 18

// NodeInfo is one DHT node as BEP 5 (IPv4) and BEP 32 (IPv6) exchange it: an id
// and a UDP address.
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

// parseCompactNodes6 decodes a BEP 32 "nodes6" string, 38 bytes a node, with the
// limits of parseCompactNodes. IPv4-mapped entries are refused: an IPv6 node list
// names IPv6 nodes.
func parseCompactNodes6(b []byte, max int) ([]NodeInfo, error) {
	if len(b)%compactNode6Len != 0 {
		return nil, fmt.Errorf("compact nodes6: length %d is not a multiple of %d", len(b), compactNode6Len)
	}
	out := make([]NodeInfo, 0, min(max, len(b)/compactNode6Len))
	for i := 0; i+compactNode6Len <= len(b) && len(out) < max; i += compactNode6Len {
		var n NodeInfo
		copy(n.ID[:], b[i:])
		ip := netip.AddrFrom16([16]byte(b[i+IDLen : i+IDLen+16]))
		n.Addr = netip.AddrPortFrom(ip, binary.BigEndian.Uint16(b[i+IDLen+16:]))
		if ip.Is4In6() || !usableAddr(n.Addr) {
			continue
		}
		out = append(out, n)
	}
	return out, nil
}

// appendCompactNode appends n's compact node info: 26 bytes for IPv4, 38 for IPv6.
func appendCompactNode(dst []byte, n NodeInfo) []byte {
	dst = append(dst, n.ID[:]...)
	dst = append(dst, n.Addr.Addr().Unmap().AsSlice()...)
	return binary.BigEndian.AppendUint16(dst, n.Addr.Port())
}

// usableAddr reports whether a is an address a node can be reached at. Loopback
// and private addresses are allowed (tests and LANs use them); IPv6 link-local
// ones are not (a compact address has no zone to reach them through).
func usableAddr(a netip.AddrPort) bool {
	ip := a.Addr().Unmap()
	if a.Port() == 0 || !ip.IsValid() || ip.IsUnspecified() || ip.IsMulticast() {
		return false
	}
	if ip.Is4() {
		return ip != netip.AddrFrom4([4]byte{255, 255, 255, 255})
	}
	return ip.Zone() == "" && !ip.IsLinkLocalUnicast()
}

// unmap turns an IPv4-mapped IPv6 address (as seen on a dual-stack socket) into plain
// IPv4, so that addresses compare equal however they were obtained.
func unmap(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}
