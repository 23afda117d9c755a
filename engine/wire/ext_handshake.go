package wire

import (
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hyperblow/hyperblow/engine/internal/benc"
)

// Limits on a BEP 10 extension handshake.
const (
	// MaxExtHandshakeLen caps the handshake payload. Real ones are a few hundred bytes.
	MaxExtHandshakeLen = 64 << 10
	// MaxExtNames caps the entries of the m dictionary; libtorrent sends about ten.
	MaxExtNames = 64
	// MaxExtNameLen is the longest extension name kept; longer ones are skipped.
	MaxExtNameLen = 64
	// MaxClientNameLen is the longest client name (v) kept, in bytes; longer is cut.
	MaxClientNameLen = 64
	// MaxReqQ caps the request queue depth a peer may announce (libtorrent's default
	// limit is 2000 as well).
	MaxReqQ = 2000
)

// ExtHandshake is the BEP 10 extension handshake, the payload of extended message id
// 0. Both sides send one after the BEP 3 handshake when both set the extension bit;
// a later one updates the earlier (an id of 0 then disables an extension).
type ExtHandshake struct {
	// M maps extension names to the ids the sender wants them sent to (for example
	// "ut_metadata": 1). An id of 0 means the extension is disabled; such entries are
	// kept so that an update can turn an extension off. Parsing gives nil when there
	// are no usable entries.
	M map[string]uint8
	// MetadataSize is BEP 9's metadata_size, the length of the info dictionary in
	// bytes: 1..MaxMetadataSize, or 0 if absent.
	MetadataSize int64
	// V is the client name and version, with invalid UTF-8 and unprintable characters
	// replaced by U+FFFD and cut to MaxClientNameLen bytes: safe to log and print.
	V string
	// ReqQ is the number of outstanding requests the peer accepts (reqq), at most
	// MaxReqQ, or 0 if absent.
	ReqQ int
	// Port is the sender's listen port (p), or 0 if absent.
	Port uint16
	// YourIP is our address as the peer sees it (yourip), IPv4-mapped addresses
	// unmapped; the zero Addr if absent or not 4 or 16 bytes.
	YourIP netip.Addr
	// UploadOnly is BEP 21 upload_only: the peer is a seed or does not want to download.
	UploadOnly bool
}

// extHandshakeDict is the wire form, for benc.Marshal (keys sorted on output).
type extHandshakeDict struct {
	M            map[string]int64 `bencode:"m"`
	MetadataSize int64            `bencode:"metadata_size,omitempty"`
	P            int64            `bencode:"p,omitempty"`
	ReqQ         int64            `bencode:"reqq,omitempty"`
	UploadOnly   int64            `bencode:"upload_only,omitempty"`
	V            string           `bencode:"v,omitempty"`
	YourIP       []byte           `bencode:"yourip,omitempty"`
}

// AppendExtHandshake appends the bencoded payload of h to dst; the caller sends it as
// Message{ID: Extended, ExtID: ExtHandshakeID}. The m dictionary is always present
// (BEP 10); other keys only when set. h is not checked against the limits: what we send
// is ours to get right.
func AppendExtHandshake(dst []byte, h ExtHandshake) []byte {
	d := extHandshakeDict{
		M:            make(map[string]int64, len(h.M)),
		MetadataSize: h.MetadataSize,
		P:            int64(h.Port),
		ReqQ:         int64(h.ReqQ),
		V:            h.V,
	}
	for name, id := range h.M {
		d.M[name] = int64(id)
	}
	if h.UploadOnly {
		d.UploadOnly = 1
	}
	if h.YourIP.IsValid() {
		d.YourIP = h.YourIP.AsSlice()
	}
	return mustMarshal(dst, d)
}

// ParseExtHandshake decodes the payload of an extension handshake. It is an error if
// the payload is over MaxExtHandshakeLen, is not a bencoded dictionary, has an m
// dictionary of more than MaxExtNames entries, or has a metadata_size that is negative
// or over MaxMetadataSize (rain once clamped a negative size after converting it and
// allocated 4 GiB). Otherwise it is lenient, as real clients are: unknown keys, known
// keys of the wrong type, m entries whose id is not in 0..255 or whose name is empty
// or over MaxExtNameLen bytes, a metadata_size of 0, a port outside 1..65535 and a
// reqq below 1 are ignored; reqq is capped at MaxReqQ. Nothing in the result aliases
// payload.
func ParseExtHandshake(payload []byte) (ExtHandshake, error) {
	const ext = "extension handshake"
	var h ExtHandshake
	v, err := parseExtDict(ext, payload, MaxExtHandshakeLen)
	if err != nil {
		return h, err
	}
	for k, val := range v.Entries() {
		switch string(k) {
		case "m":
			if val.Kind() != benc.Dict {
				continue
			}
			if n := val.Len(); n > MaxExtNames {
				return ExtHandshake{}, extErrorf(ext, "m has %d entries, over the limit of %d", n, MaxExtNames)
			}
			h.M = make(map[string]uint8, val.Len())
			for name, idv := range val.Entries() {
				id, ok := idv.Int()
				if ok && id >= 0 && id <= 255 && len(name) > 0 && len(name) <= MaxExtNameLen {
					h.M[string(name)] = uint8(id)
				}
			}
			if len(h.M) == 0 {
				h.M = nil
			}
		case "metadata_size":
			n, ok := val.Int()
			switch {
			case !ok:
			case n < 0:
				return ExtHandshake{}, extErrorf(ext, "metadata_size %d is negative", n)
			case n > MaxMetadataSize:
				return ExtHandshake{}, extErrorf(ext, "metadata_size %d is over the limit of %d", n, MaxMetadataSize)
			default:
				h.MetadataSize = n
			}
		case "v":
			if b, ok := val.Bytes(); ok {
				h.V = printable(b, MaxClientNameLen)
			}
		case "reqq":
			if n, ok := val.Int(); ok && n > 0 {
				h.ReqQ = int(min(n, MaxReqQ))
			}
		case "p":
			if n, ok := val.Int(); ok && n > 0 && n <= 65535 {
				h.Port = uint16(n)
			}
		case "yourip":
			if b, ok := val.Bytes(); ok && (len(b) == 4 || len(b) == 16) {
				a, _ := netip.AddrFromSlice(b)
				h.YourIP = a.Unmap()
			}
		case "upload_only":
			if n, ok := val.Int(); ok {
				h.UploadOnly = n != 0
			}
		}
	}
	return h, nil
}

// printable returns b as valid UTF-8 safe to print (invalid bytes and unprintable
// characters, including control and bidirectional-override characters, become
// U+FFFD) and at most max bytes long, cut at a character boundary.
func printable(b []byte, max int) string {
	var sb strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		b = b[n:]
		if !unicode.IsPrint(r) {
			r = utf8.RuneError
		}
		if sb.Len()+utf8.RuneLen(r) > max {
			break
		}
		sb.WriteRune(r)
	}
	return sb.String()
}
