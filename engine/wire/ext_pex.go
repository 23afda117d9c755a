package wire

import (
	"net/netip"

	"github.com/hyperblow/hyperblow/engine/bt"
)

// BEP 11 limits (LIMITS.md, as libtorrent).
const (
	// MaxPexLen caps a ut_pex payload.
	MaxPexLen = 500 << 10
	// MaxPexPeers is the most addresses kept from one message for each direction:
	// Added and Added6 together, and Dropped and Dropped6 together.
	MaxPexPeers = 50
)

// PEX flags (BEP 11 added.f), one byte per added peer.
const (
	PexEncryption = 0x01 // prefers encryption
	PexSeed       = 0x02 // is a seed or upload-only
	PexUTP        = 0x04 // supports uTP
	PexHolepunch  = 0x08 // supports ut_holepunch
	PexReachable  = 0x10 // the sender connected to it (an outgoing connection)
)

// PexMsg is one BEP 11 ut_pex message: peers the sender connected to or lost since its
// previous message. Addresses are as sent; the caller filters the unusable ones (port
// 0, its own address) and rate-limits (one message a minute per peer).
type PexMsg struct {
	Added       []netip.AddrPort // IPv4 ("added")
	AddedFlags  []byte           // "added.f": one byte per Added, or nil
	Added6      []netip.AddrPort // IPv6 ("added6"; IPv4-mapped addresses stay 16 bytes)
	Added6Flags []byte           // "added6.f": one byte per Added6, or nil
	Dropped     []netip.AddrPort // IPv4 ("dropped")
	Dropped6    []netip.AddrPort // IPv6 ("dropped6")
}

type pexDict struct {
	Added    []byte `bencode:"added"`
	AddedF   []byte `bencode:"added.f"`
	Added6   []byte `bencode:"added6,omitempty"`
	Added6F  []byte `bencode:"added6.f,omitempty"`
	Dropped  []byte `bencode:"dropped"`
	Dropped6 []byte `bencode:"dropped6,omitempty"`
}

// AppendPexMsg appends the payload of m to dst. added, added.f and dropped are always
// written (as libtorrent does); the IPv6 keys when not empty. A flags slice is written
// only if it has one byte per address. Entries of Added and Dropped that are not IPv4
// (after unmapping) are skipped, with their flags; Added6 and Dropped6 entries are
// written as 16 bytes whatever they are. Invalid (zero) addresses are skipped. m is
// not checked against MaxPexPeers.
func AppendPexMsg(dst []byte, m PexMsg) []byte {
	var d pexDict
	d.Added, d.AddedF = appendPexPeers(nil, m.Added, m.AddedFlags, 4)
	d.Added6, d.Added6F = appendPexPeers(nil, m.Added6, m.Added6Flags, 16)
	d.Dropped, _ = appendPexPeers(nil, m.Dropped, nil, 4)
	d.Dropped6, _ = appendPexPeers(nil, m.Dropped6, nil, 16)
	if d.AddedF == nil {
		d.AddedF = []byte{} // always present, if empty
	}
	return mustMarshal(dst, d)
}

// appendPexPeers encodes peers as compact ipLen-byte addresses and their flags, if
// there is one flag per peer.
func appendPexPeers(dst []byte, peers []netip.AddrPort, flags []byte, ipLen int) (compact, outFlags []byte) {
	withFlags := len(flags) == len(peers) && len(peers) > 0
	for i, p := range peers {
		a := p.Addr()
		switch {
		case !a.IsValid():
			continue
		case ipLen == 4 && a.Unmap().Is4():
			dst = bt.AppendCompactPeer(dst, p)
		case ipLen == 16:
			ip := a.As16()
			dst = append(dst, ip[:]...)
			dst = append(dst, byte(p.Port()>>8), byte(p.Port()))
		default:
			continue
		}
		if withFlags {
			outFlags = append(outFlags, flags[i])
		}
	}
	return dst, outFlags
}

// ParsePexMsg decodes a ut_pex payload. It is an error if the payload is over
// MaxPexLen, is not a bencoded dictionary, or has a compact address list whose length
// is not a multiple of its entry size (6 or 18 bytes). Keys of the wrong type are
// ignored. Peers beyond MaxPexPeers per direction are dropped, not an error (as
// libtorrent): Added is filled first, then Added6 with the room left; the same for
// Dropped and Dropped6. A flags string is kept, cut to the peers kept, only if it has
// exactly one byte per peer sent; otherwise the flags are nil. Nothing in the result
// aliases payload.
func ParsePexMsg(payload []byte) (PexMsg, error) {
	const ext = "ut_pex"
	var m PexMsg
	v, err := parseExtDict(ext, payload, MaxPexLen)
	if err != nil {
		return m, err
	}
	var raw [6][]byte // added, added.f, added6, added6.f, dropped, dropped6
	for k, val := range v.Entries() {
		i := -1
		switch string(k) {
		case "added":
			i = 0
		case "added.f":
			i = 1
		case "added6":
			i = 2
		case "added6.f":
			i = 3
		case "dropped":
			i = 4
		case "dropped6":
			i = 5
		}
		if b, ok := val.Bytes(); ok && i >= 0 {
			raw[i] = b
		}
	}
	for _, l := range []struct {
		name string
		b    []byte
		step int
	}{{"added", raw[0], 6}, {"added6", raw[2], 18}, {"dropped", raw[4], 6}, {"dropped6", raw[5], 18}} {
		if len(l.b)%l.step != 0 {
			return m, extErrorf(ext, "%s is %d bytes, not a multiple of %d", l.name, len(l.b), l.step)
		}
	}
	room := MaxPexPeers
	m.Added, m.AddedFlags = parsePexPeers(raw[0], raw[1], 4, &room)
	m.Added6, m.Added6Flags = parsePexPeers(raw[2], raw[3], 16, &room)
	room = MaxPexPeers
	m.Dropped, _ = parsePexPeers(raw[4], nil, 4, &room)
	m.Dropped6, _ = parsePexPeers(raw[5], nil, 16, &room)
	return m, nil
}

// parsePexPeers decodes at most *room compact addresses from b (whose length is a
// multiple of the entry size) and their flags, and takes their number from *room.
func parsePexPeers(b, flags []byte, ipLen int, room *int) ([]netip.AddrPort, []byte) {
	step := ipLen + 2
	sent := len(b) / step
	n := min(sent, *room)
	if n == 0 {
		return nil, nil
	}
	var peers []netip.AddrPort
	if ipLen == 4 {
		peers, _ = bt.ParseCompactPeers(b[:n*step])
	} else {
		peers, _ = bt.ParseCompactPeers6(b[:n*step])
	}
	*room -= n
	var f []byte
	if len(flags) == sent {
		f = append([]byte(nil), flags[:n]...)
	}
	return peers, f
}
