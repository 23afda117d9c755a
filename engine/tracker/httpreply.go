package tracker

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/internal/benc"
)

// HTTP replies are read with benc.Parse and Value navigation, never decoded into Go
// values: navigation allocates nothing, so keys this package does not read cost nothing
// however many there are, and what parsing allocates is the result itself (peers, at
// most 32 bytes per 19 input bytes, at most maxReplyPeers of them) plus the scanner's
// own bounded state. benc.Unmarshal (zeebo) would allocate up to ~70 bytes per input
// byte on hostile replies.

// replyLimits bounds the bencode of an HTTP reply: no more than httpGet reads.
var replyLimits = benc.Limits{MaxSize: MaxHTTPReply}

// maxReplyPeers bounds the peers taken from one announce reply. The first
// maxReplyPeers are kept ("peers" first, then "peers6") and the rest are dropped
// silently: a 2 MiB compact list holds ~350,000 peers, far more than a torrent can use
// (LIMITS.md keeps 3000 per torrent), and keeping them all would cost ~11 MB. Dropped
// entries are still checked, so whether a reply is valid does not depend on the cap.
const maxReplyPeers = 10_000

const (
	compactPeerLen  = 6  // BEP 23: 4-byte IPv4 address, 2-byte port
	compactPeer6Len = 18 // BEP 7: 16-byte IPv6 address, 2-byte port
	// minDictPeerLen is the shortest dictionary peer that is kept,
	// "d2:ip2:::4:porti1ee", so a list of n bytes yields at most n/minDictPeerLen.
	minDictPeerLen = len("d2:ip2:::4:porti1ee")
	// maxAddrText is the longest IP literal without a zone; longer "ip" strings are
	// skipped without being parsed (or copied).
	maxAddrText = len("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255")
)

// parseReplyDict parses body as a bencoded dictionary.
func parseReplyDict(body []byte) (benc.Value, error) {
	v, err := benc.Parse(body, replyLimits)
	if err != nil {
		return benc.Value{}, err
	}
	if v.Kind() != benc.Dict {
		return benc.Value{}, fmt.Errorf("want a dictionary, got %s", v.Kind())
	}
	return v, nil
}

// wrongType reports a value of the wrong kind.
func wrongType(name string, want benc.Kind, got benc.Value) error {
	return fmt.Errorf("%s: want %s, got %s", name, want, got.Kind())
}

// optInt returns an optional integer: 0 if v is missing, an error if it is not an
// integer.
func optInt(v benc.Value, name string) (int64, error) {
	if v.Kind() == benc.Invalid {
		return 0, nil
	}
	n, ok := v.Int()
	if !ok {
		return 0, wrongType(name, benc.Int, v)
	}
	return n, nil
}

// optBytes returns an optional string (aliasing the reply): nil if v is missing, an
// error if it is not a string.
func optBytes(v benc.Value, name string) ([]byte, error) {
	if v.Kind() == benc.Invalid {
		return nil, nil
	}
	b, ok := v.Bytes()
	if !ok {
		return nil, wrongType(name, benc.String, v)
	}
	return b, nil
}

// text converts tracker text for cleanText, copying no more than cleanText keeps.
func text(b []byte) string {
	return cleanText(string(b[:min(len(b), maxText)]))
}

// failure returns the *FailureError for a "failure reason" value, or nil if there is
// none. A reason that is not a string is an ordinary error.
func failure(v benc.Value) error {
	if v.Kind() == benc.Invalid {
		return nil
	}
	reason, err := optBytes(v, "failure reason")
	if err != nil {
		return err
	}
	return &FailureError{Reason: text(reason)}
}

// parseHTTPAnnounce parses the body of an HTTP announce reply (BEP 3, BEP 23, BEP 7).
// A "failure reason" becomes a *FailureError; as BEP 3 says, no other key matters then.
// Otherwise every known key must have the right type, and unknown keys are ignored.
// Peers are "peers" (compact or a list of dictionaries) followed by "peers6", at most
// maxReplyPeers in all.
func parseHTTPAnnounce(body []byte) (*AnnounceResponse, error) {
	top, err := parseReplyDict(body)
	if err != nil {
		return nil, fmt.Errorf("decode announce reply: %w", err)
	}
	var reason, warning, interval, minInterval, complete, incomplete, peers, peers6, trackerID, externalIP benc.Value
	for k, v := range top.Entries() {
		switch string(k) {
		case "failure reason":
			reason = v
		case "warning message":
			warning = v
		case "interval":
			interval = v
		case "min interval":
			minInterval = v
		case "complete":
			complete = v
		case "incomplete":
			incomplete = v
		case "peers":
			peers = v
		case "peers6":
			peers6 = v
		case "tracker id":
			trackerID = v
		case "external ip":
			externalIP = v
		}
	}
	if err := failure(reason); err != nil {
		return nil, err
	}
	var r AnnounceResponse
	if r.Interval, err = secondsValue(interval, "interval"); err != nil {
		return nil, err
	}
	if r.MinInterval, err = secondsValue(minInterval, "min interval"); err != nil {
		return nil, err
	}
	if r.Seeders, err = countValue(complete, "complete"); err != nil {
		return nil, err
	}
	if r.Leechers, err = countValue(incomplete, "incomplete"); err != nil {
		return nil, err
	}
	w, err := optBytes(warning, "warning message")
	if err != nil {
		return nil, err
	}
	r.Warning = text(w)
	// Not used, but a wrong type is as wrong here as anywhere.
	if _, err := optBytes(trackerID, "tracker id"); err != nil {
		return nil, err
	}
	if _, err := optBytes(externalIP, "external ip"); err != nil {
		return nil, err
	}
	if r.Peers, err = announcePeers(peers, peers6); err != nil {
		return nil, err
	}
	return &r, nil
}

// announcePeers reads "peers" (a BEP 23 compact string or a BEP 3 list of dictionaries)
// and "peers6" (BEP 7, compact only), either of which may be missing, and returns the
// first maxReplyPeers of them. The result is allocated once, sized by what the input
// can hold.
func announcePeers(peers, peers6 benc.Value) ([]netip.AddrPort, error) {
	var compact4, compact6 []byte
	n := 0
	switch peers.Kind() {
	case benc.Invalid:
	case benc.String:
		compact4, _ = peers.Bytes()
		if len(compact4)%compactPeerLen != 0 {
			return nil, fmt.Errorf("peers: compact peer list: length %d is not a multiple of %d", len(compact4), compactPeerLen)
		}
		n = len(compact4) / compactPeerLen
	case benc.List:
		n = len(peers.Raw()) / minDictPeerLen // cheaper than a walk with Len, and as safe
	default:
		return nil, fmt.Errorf("peers: want a string or a list, got %s", peers.Kind())
	}
	if peers6.Kind() != benc.Invalid {
		var err error
		if compact6, err = optBytes(peers6, "peers6"); err != nil {
			return nil, err
		}
		if len(compact6)%compactPeer6Len != 0 {
			return nil, fmt.Errorf("peers6: compact peer list: length %d is not a multiple of %d", len(compact6), compactPeer6Len)
		}
		n += len(compact6) / compactPeer6Len
	}
	var out []netip.AddrPort
	if n > 0 {
		out = make([]netip.AddrPort, 0, min(n, maxReplyPeers))
	}
	if peers.Kind() == benc.List {
		var err error
		if out, err = appendDictPeers(out, peers); err != nil {
			return nil, fmt.Errorf("peers: %w", err)
		}
	} else {
		out = appendCompact(out, compact4, 4)
	}
	if out = appendCompact(out, compact6, 16); len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// appendCompact appends compact peers (ipLen 4 or 16) from b, whose length is a multiple
// of the entry size, while out has fewer than maxReplyPeers. Like bt.ParseCompactPeers6,
// it keeps IPv4-mapped IPv6 addresses as they are.
func appendCompact(out []netip.AddrPort, b []byte, ipLen int) []netip.AddrPort {
	for i := 0; i < len(b) && len(out) < maxReplyPeers; i += ipLen + 2 {
		var addr netip.Addr
		if ipLen == 4 {
			addr = netip.AddrFrom4([4]byte(b[i : i+4]))
		} else {
			addr = netip.AddrFrom16([16]byte(b[i : i+16]))
		}
		out = append(out, netip.AddrPortFrom(addr, binary.BigEndian.Uint16(b[i+ipLen:])))
	}
	return out
}

// appendDictPeers appends BEP 3 dictionary peers while out has fewer than maxReplyPeers.
// Every entry must be a dictionary whose "ip" and "peer id" are strings and whose "port"
// is an integer in 0..65535, even past the cap. An "ip" that is not a literal address
// (BEP 3 allows DNS names, which this package does not resolve) and port 0 are skipped.
func appendDictPeers(out []netip.AddrPort, list benc.Value) ([]netip.AddrPort, error) {
	i := 0
	for item := range list.Items() {
		if item.Kind() != benc.Dict {
			return nil, wrongType(fmt.Sprintf("peer %d", i), benc.Dict, item)
		}
		var ipv, portv, idv benc.Value
		for k, v := range item.Entries() {
			switch string(k) {
			case "ip":
				ipv = v
			case "port":
				portv = v
			case "peer id":
				idv = v
			}
		}
		ip, err := optBytes(ipv, "ip")
		if err != nil {
			return nil, fmt.Errorf("peer %d: %w", i, err)
		}
		port, err := optInt(portv, "port")
		if err != nil {
			return nil, fmt.Errorf("peer %d: %w", i, err)
		}
		if _, err := optBytes(idv, "peer id"); err != nil {
			return nil, fmt.Errorf("peer %d: %w", i, err)
		}
		if port < 0 || port > math.MaxUint16 {
			return nil, fmt.Errorf("peer %d: port %d out of range", i, port)
		}
		i++
		if port == 0 || len(out) >= maxReplyPeers {
			continue
		}
		if addr, ok := parsePeerAddr(ip); ok {
			out = append(out, netip.AddrPortFrom(addr, uint16(port)))
		}
	}
	return out, nil
}

// parsePeerAddr parses the "ip" of a dictionary peer as an IP literal, without its zone
// (meaningless off the tracker's own host) and with IPv4-mapped addresses unmapped. It
// accepts exactly what netip.ParseAddr accepts, but parses the address without the zone,
// so that a hostile zone is never interned, and never copies an over-long string.
func parsePeerAddr(b []byte) (netip.Addr, bool) {
	zoned := false
	if i := bytes.IndexByte(b, '%'); i >= 0 {
		if i == len(b)-1 {
			return netip.Addr{}, false // netip rejects an empty zone
		}
		b, zoned = b[:i], true
	}
	if len(b) > maxAddrText || !addrChars(b) {
		return netip.Addr{}, false // a host name, most likely: skip it without an error value
	}
	addr, err := netip.ParseAddr(string(b))
	if err != nil || zoned && !addr.Is6() {
		return netip.Addr{}, false // only IPv6 addresses have zones
	}
	return addr.Unmap(), true
}

// addrChars reports whether b holds only characters of IP literals (without a zone).
func addrChars(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// maxSeconds bounds intervals from a tracker; BEP 15 carries them in 32 bits.
const maxSeconds = math.MaxInt32

// seconds validates an interval given in seconds.
func seconds(name string, v int64) (time.Duration, error) {
	if v < 0 || v > maxSeconds {
		return 0, fmt.Errorf("%s %d out of range", name, v)
	}
	return time.Duration(v) * time.Second, nil
}

// secondsValue reads an optional interval in seconds.
func secondsValue(v benc.Value, name string) (time.Duration, error) {
	n, err := optInt(v, name)
	if err != nil {
		return 0, err
	}
	return seconds(name, n)
}

// count validates a peer count.
func count(name string, v int64) (int, error) {
	if v < 0 || v > math.MaxInt32 {
		return 0, fmt.Errorf("%s %d out of range", name, v)
	}
	return int(v), nil
}

// countValue reads an optional peer count.
func countValue(v benc.Value, name string) (int, error) {
	n, err := optInt(v, name)
	if err != nil {
		return 0, err
	}
	return count(name, n)
}

// parseHTTPScrape parses a BEP 48 scrape reply, whose "files" dictionary maps each raw
// 20-byte info-hash to its counters, and returns one result per hash, in the order
// given; a hash the tracker does not mention gets zeros. Every entry of "files" must be
// a dictionary with integer "complete", "downloaded" and "incomplete" and a string
// "name" (each optional); the counters of the requested hashes must also be in range.
// A "failure reason" becomes a *FailureError.
func parseHTTPScrape(body []byte, hashes []bt.InfoHash) ([]ScrapeResult, error) {
	top, err := parseReplyDict(body)
	if err != nil {
		return nil, fmt.Errorf("decode scrape reply: %w", err)
	}
	var reason, files benc.Value
	for k, v := range top.Entries() {
		switch string(k) {
		case "failure reason":
			reason = v
		case "files":
			files = v
		}
	}
	if err := failure(reason); err != nil {
		return nil, err
	}
	if k := files.Kind(); k != benc.Invalid && k != benc.Dict {
		return nil, wrongType("files", benc.Dict, files)
	}
	// want maps a requested hash to its first index; the map is sized by the caller's
	// hashes, never by the reply.
	want := make(map[bt.InfoHash]int, len(hashes))
	for i, h := range hashes {
		if _, dup := want[h]; !dup {
			want[h] = i
		}
	}
	out := make([]ScrapeResult, len(hashes))
	for key, e := range files.Entries() {
		c, err := readScrapeCounters(e)
		if err != nil {
			return nil, fmt.Errorf("scrape reply: files[%x]: %w", key[:min(len(key), 20)], err)
		}
		if len(key) != len(bt.InfoHash{}) {
			continue
		}
		h := bt.InfoHash(key)
		i, ok := want[h]
		if !ok {
			continue
		}
		if out[i], err = c.result(); err != nil {
			return nil, fmt.Errorf("scrape %s: %w", h, err)
		}
	}
	for i, h := range hashes {
		out[i] = out[want[h]] // a hash asked for twice gets its result twice
	}
	return out, nil
}

// scrapeCounters is one entry of a scrape reply's "files", types checked.
type scrapeCounters struct{ complete, downloaded, incomplete int64 }

func readScrapeCounters(e benc.Value) (scrapeCounters, error) {
	var c scrapeCounters
	if e.Kind() != benc.Dict {
		return c, fmt.Errorf("want %s, got %s", benc.Dict, e.Kind())
	}
	var err error
	for k, v := range e.Entries() {
		switch string(k) {
		case "complete":
			c.complete, err = optInt(v, "complete")
		case "downloaded":
			c.downloaded, err = optInt(v, "downloaded")
		case "incomplete":
			c.incomplete, err = optInt(v, "incomplete")
		case "name":
			_, err = optBytes(v, "name")
		}
		if err != nil {
			return c, err
		}
	}
	return c, nil
}

// result checks the counters' ranges.
func (c scrapeCounters) result() (ScrapeResult, error) {
	var res ScrapeResult
	var err error
	if res.Seeders, err = count("complete", c.complete); err != nil {
		return res, err
	}
	if res.Completed, err = count("downloaded", c.downloaded); err != nil {
		return res, err
	}
	res.Leechers, err = count("incomplete", c.incomplete)
	return res, err
}
