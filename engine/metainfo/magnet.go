package metainfo

import (
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/hyperblow/hyperblow/engine/bt"
)

// Limits on a magnet URI. A magnet link is typed or pasted by a person, or fetched from
// a web page: a few trackers and a name. Anything much longer is not a link.
const (
	// MaxMagnetLen is the longest magnet URI accepted, in bytes.
	MaxMagnetLen = 64 << 10
	// MaxMagnetParams is the most key=value parameters a magnet URI may hold.
	MaxMagnetParams = 1024
)

// ErrNotMagnet is wrapped by ParseSource's error when its input is neither a magnet URI
// nor a bare info-hash, so a caller can go on to try it as a path or a URL.
var ErrNotMagnet = errors.New("not a magnet URI or info-hash")

// Magnet is a parsed BitTorrent magnet URI (BEP 9): enough to find peers and fetch the
// info dictionary from them. It is a plain value; ParseMagnet returns nil slices for
// absent parameters.
type Magnet struct {
	// InfoHash names the torrent in the swarm: the xt=urn:btih: hash, or for a v2-only
	// link (only xt=urn:btmh:) the v2 hash truncated to 20 bytes, as BEP 52 does.
	InfoHash bt.InfoHash
	// InfoHashV2 is the xt=urn:btmh: SHA-256 info-hash (BEP 52), zero if absent.
	InfoHashV2 [32]byte
	// Name is the dn= display name, sanitized as a torrent name is (see sanitize.go).
	// It is only a hint until the metadata arrives; the real name comes from the info
	// dictionary. "" if absent.
	Name string
	// Trackers are the tr= URLs in the order given, each its own BEP 12 tier, as
	// libtorrent does. Only http, https and udp URLs with a host are kept, trimmed,
	// without repeats, at most MaxTrackers.
	Trackers [][]string
	// WebSeeds are the ws= URLs (BEP 19): http and https only, without repeats, at most
	// MaxWebSeeds.
	WebSeeds []string
	// Peers are the x.pe= peer addresses. Only literal IP addresses with a non-zero
	// port are kept (1.2.3.4:6881, [::1]:6881); host names are skipped, because
	// resolving them is I/O this package does not do.
	Peers []netip.AddrPort
	// Length is the xl= total size in bytes, or 0 if absent or not a positive integer
	// within MaxTotalLength. Like Name it is only a hint.
	Length int64
}

// ParseMagnet parses a magnet URI: "magnet:?xt=urn:btih:HASH&dn=...&tr=...".
//
// The info-hash is taken from xt=urn:btih: (also xt.1=, xt.2=, ...) as 40 hex digits
// or 32 base32 characters (RFC 4648), in either case. A BitTorrent v2 hash
// (urn:btmh:1220 and 64 hex digits, BEP 52) goes to InfoHashV2; a v2-only link is named
// by its truncation. Two different v1 hashes, or two different v2 ones, are an error. Other xt values (urn:sha1:, urn:ed2k:, ...) are
// ignored. Keys and values are percent-decoded as in a URL query; a malformed escape
// is an error. Unknown parameters are ignored. Leading and trailing white space (a
// pasted newline) is trimmed. The URI may be at most MaxMagnetLen bytes with at most
// MaxMagnetParams parameters.
func ParseMagnet(uri string) (*Magnet, error) {
	m, err := parseMagnet(strings.TrimSpace(uri))
	if err != nil {
		return nil, fmt.Errorf("metainfo: magnet URI: %w", err)
	}
	return m, nil
}

// ParseSource accepts what a user may give as a SOURCE for a torrent known only by its
// hash: a magnet URI, or a bare info-hash of 40 hex digits or 32 base32 characters.
// Anything else is an error wrapping ErrNotMagnet; an input that is a magnet URI but a
// broken one gets ParseMagnet's error instead.
func ParseSource(s string) (*Magnet, error) {
	s = strings.TrimSpace(s)
	if hasMagnetScheme(s) {
		return ParseMagnet(s)
	}
	if len(s) == 40 || len(s) == 32 {
		if h, err := parseBTIH(s); err == nil {
			return &Magnet{InfoHash: h}, nil
		}
	}
	return nil, fmt.Errorf("metainfo: %q: %w", clip(s), ErrNotMagnet)
}

// V2Only reports a link with a v2 info-hash and no v1 one.
func (m *Magnet) V2Only() bool {
	return m.InfoHashV2 != [32]byte{} && m.InfoHash == bt.InfoHash(m.InfoHashV2[:20])
}

// String returns the canonical magnet URI of m: xt with the hash in lower-case hex (btih,
// then btmh for a v2 hash; btmh alone for a v2-only link), then
// dn, xl, every tr (tiers flattened, in order), ws and x.pe, each query-escaped.
// Parsing it gives back m when m came from ParseMagnet.
func (m *Magnet) String() string {
	var b strings.Builder
	b.WriteString("magnet:?")
	if !m.V2Only() {
		b.WriteString("xt=urn:btih:")
		b.WriteString(m.InfoHash.String())
	}
	if m.InfoHashV2 != [32]byte{} {
		if !m.V2Only() {
			b.WriteString("&")
		}
		b.WriteString("xt=urn:btmh:1220")
		b.WriteString(hex.EncodeToString(m.InfoHashV2[:]))
	}
	if m.Name != "" {
		b.WriteString("&dn=")
		b.WriteString(url.QueryEscape(m.Name))
	}
	if m.Length > 0 {
		b.WriteString("&xl=")
		b.WriteString(strconv.FormatInt(m.Length, 10))
	}
	for _, tier := range m.Trackers {
		for _, u := range tier {
			b.WriteString("&tr=")
			b.WriteString(url.QueryEscape(u))
		}
	}
	for _, u := range m.WebSeeds {
		b.WriteString("&ws=")
		b.WriteString(url.QueryEscape(u))
	}
	for _, p := range m.Peers {
		b.WriteString("&x.pe=")
		b.WriteString(url.QueryEscape(p.String()))
	}
	return b.String()
}

func hasMagnetScheme(s string) bool {
	return len(s) >= len("magnet:") && strings.EqualFold(s[:len("magnet:")], "magnet:")
}

func parseMagnet(uri string) (*Magnet, error) {
	if len(uri) > MaxMagnetLen {
		return nil, fmt.Errorf("%d bytes, over the %s limit", len(uri), size(MaxMagnetLen))
	}
	if !hasMagnetScheme(uri) {
		return nil, fmt.Errorf("%q: not a magnet URI (want magnet:?xt=urn:btih:...)", clip(uri))
	}
	query, ok := strings.CutPrefix(uri[len("magnet:"):], "?")
	if !ok {
		return nil, fmt.Errorf("%q: no '?' after magnet:", clip(uri))
	}
	if n := strings.Count(query, "&") + 1; n > MaxMagnetParams {
		return nil, fmt.Errorf("%d parameters, over the limit of %d", n, MaxMagnetParams)
	}
	m := &Magnet{}
	var haveV1, haveXT, haveV2 bool
	seen := map[string]bool{}
	for param := range strings.SplitSeq(query, "&") {
		if param == "" {
			continue
		}
		rawKey, rawVal, _ := strings.Cut(param, "=")
		key, err := url.QueryUnescape(rawKey)
		if err != nil {
			return nil, fmt.Errorf("parameter %q: bad percent-encoding in its name", clip(rawKey))
		}
		val, err := url.QueryUnescape(rawVal)
		if err != nil {
			return nil, fmt.Errorf("parameter %q: bad percent-encoding in its value", clip(key))
		}
		switch baseKey(key) {
		case "xt":
			haveXT = true
			h, kind, err := parseXT(val)
			switch {
			case err != nil:
				return nil, fmt.Errorf("%s: %w", key, err)
			case kind == xtV2:
				h2, err := parseBTMH(val[len("urn:btmh:"):])
				if err != nil {
					return nil, fmt.Errorf("%s: %w", key, err)
				}
				if haveV2 && h2 != m.InfoHashV2 {
					return nil, fmt.Errorf("%s: second v2 info-hash %x differs from %x", key, h2, m.InfoHashV2)
				}
				m.InfoHashV2, haveV2 = h2, true
			case kind == xtV1 && haveV1 && h != m.InfoHash:
				return nil, fmt.Errorf("%s: second info-hash %s differs from %s", key, h, m.InfoHash)
			case kind == xtV1:
				m.InfoHash, haveV1 = h, true
			}
		case "dn":
			if s, ok := cleanComponent([]byte(val)); ok && m.Name == "" {
				m.Name = s
			}
		case "xl":
			if n, err := strconv.ParseInt(val, 10, 64); err == nil && n > 0 && n <= MaxTotalLength && m.Length == 0 {
				m.Length = n
			}
		case "tr":
			u := strings.TrimSpace(val)
			if !seen[u] && len(seen) < MaxTrackers && isTrackerURL(u) {
				seen[u] = true
				m.Trackers = append(m.Trackers, []string{u})
			}
		case "ws":
			u := strings.TrimSpace(val)
			if len(m.WebSeeds) < MaxWebSeeds && !contains(m.WebSeeds, u) && hasScheme(u, "http", "https") {
				m.WebSeeds = append(m.WebSeeds, u)
			}
		case "x.pe":
			if p, ok := literalPeer(val); ok && !contains(m.Peers, p) {
				m.Peers = append(m.Peers, p)
			}
		}
	}
	switch {
	case haveV1:
		return m, nil
	case haveV2: // BEP 52: a v2 swarm is named by the truncated hash
		m.InfoHash = bt.InfoHash(m.InfoHashV2[:20])
		return m, nil
	case haveXT:
		return nil, errors.New("no BitTorrent info-hash (want xt=urn:btih:...)")
	}
	return nil, errors.New("missing xt=urn:btih: parameter")
}

// baseKey strips a numbered suffix: "xt.1" and "tr.12" are "xt" and "tr" (some
// clients number repeated parameters). "x.pe" keeps its dot.
func baseKey(key string) string {
	i := strings.LastIndexByte(key, '.')
	if i <= 0 || i == len(key)-1 || key[:i] == "x" {
		return key
	}
	for _, c := range key[i+1:] {
		if c < '0' || c > '9' {
			return key
		}
	}
	return key[:i]
}

type xtKind int

const (
	xtOther xtKind = iota // urn:sha1:, urn:ed2k:, ...: not ours, ignored
	xtV1                  // urn:btih:
	xtV2                  // urn:btmh: (BEP 9 for v2; the multihash of a v2 info-hash)
)

func parseXT(v string) (bt.InfoHash, xtKind, error) {
	const v1, v2 = "urn:btih:", "urn:btmh:"
	switch {
	case len(v) >= len(v1) && strings.EqualFold(v[:len(v1)], v1):
		h, err := parseBTIH(v[len(v1):])
		return h, xtV1, err
	case len(v) >= len(v2) && strings.EqualFold(v[:len(v2)], v2):
		return bt.InfoHash{}, xtV2, nil
	}
	return bt.InfoHash{}, xtOther, nil
}

// parseBTMH decodes a v2 info-hash as a multihash in hex: 0x12 (SHA-256), 0x20 (32
// bytes), then the 32-byte hash.
func parseBTMH(s string) ([32]byte, error) {
	var h [32]byte
	if len(s) != 68 {
		return h, fmt.Errorf("v2 info-hash %q is %d characters, want 68 (1220 and 64 hex digits)", clip(s), len(s))
	}
	if !strings.EqualFold(s[:4], "1220") {
		return h, fmt.Errorf("v2 info-hash %q: multihash %s is not SHA-256 (1220)", clip(s), s[:4])
	}
	if _, err := hex.Decode(h[:], []byte(s[4:])); err != nil {
		return h, fmt.Errorf("v2 info-hash %q: invalid hex digit", clip(s))
	}
	return h, nil
}

// parseBTIH decodes a v1 info-hash: 40 hex digits or 32 base32 characters, any case.
func parseBTIH(s string) (bt.InfoHash, error) {
	var h bt.InfoHash
	switch len(s) {
	case 40:
		if _, err := hex.Decode(h[:], []byte(s)); err != nil {
			return h, fmt.Errorf("info-hash %q: invalid hex digit", s)
		}
	case 32:
		// Checked by hand: the decoder would skip '\r' and '\n' and stop at '='.
		up := []byte(s)
		for i, c := range up {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
				up[i] = c
			}
			if (c < 'A' || c > 'Z') && (c < '2' || c > '7') {
				return h, fmt.Errorf("info-hash %q: invalid base32 character", s)
			}
		}
		if n, err := base32.StdEncoding.Decode(h[:], up); err != nil || n != len(h) {
			return h, fmt.Errorf("info-hash %q: invalid base32", s)
		}
	default:
		return h, fmt.Errorf("info-hash %q is %d characters, want 40 hex digits or 32 base32 characters", clip(s), len(s))
	}
	return h, nil
}

// literalPeer parses an x.pe= value that is a literal IP address and port. Zoned IPv6
// addresses, the unspecified address and port 0 are refused; IPv4-mapped IPv6
// addresses become plain IPv4.
func literalPeer(s string) (netip.AddrPort, bool) {
	p, err := netip.ParseAddrPort(strings.TrimSpace(s))
	if err != nil || p.Port() == 0 || p.Addr().Zone() != "" || p.Addr().IsUnspecified() {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(p.Addr().Unmap(), p.Port()), true
}

func contains[T comparable](s []T, x T) bool {
	for _, y := range s {
		if y == x {
			return true
		}
	}
	return false
}

// clip shortens s for an error message, so that a 64 KiB input is not echoed whole.
func clip(s string) string {
	const n = 80
	if len(s) <= n {
		return s
	}
	return truncateUTF8(s, n) + "..."
}
