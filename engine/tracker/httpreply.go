package tracker

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/internal/benc"
)

// httpAnnounceReply is the bencoded dictionary an HTTP tracker answers an announce with
// (BEP 3). Typed fields make a value of the wrong type a decode error.
type httpAnnounceReply struct {
	FailureReason *string   `bencode:"failure reason"`
	Warning       string    `bencode:"warning message"`
	Interval      int64     `bencode:"interval"`
	MinInterval   int64     `bencode:"min interval"`
	Complete      int64     `bencode:"complete"`
	Incomplete    int64     `bencode:"incomplete"`
	Peers         peerList  `bencode:"peers"`
	Peers6        bytesOnly `bencode:"peers6"`
	TrackerID     string    `bencode:"tracker id"`
	ExternalIP    string    `bencode:"external ip"`
}

// peerList decodes the "peers" value, which is either a compact string (BEP 23) or a
// list of dictionaries (BEP 3).
type peerList []netip.AddrPort

// bytesOnly is a bencode string decoded as bytes. A plain []byte field would also accept
// a list of small integers, which is a wrong type here.
type bytesOnly []byte

// UnmarshalBencode implements zeebo/bencode's Unmarshaler (called through benc).
func (b *bytesOnly) UnmarshalBencode(raw []byte) error {
	if len(raw) == 0 || raw[0] < '0' || raw[0] > '9' {
		return errors.New("want a string")
	}
	var s []byte
	if err := benc.Unmarshal(raw, &s); err != nil {
		return err
	}
	*b = s
	return nil
}

// dictPeer is one entry of a BEP 3 dictionary peer list.
type dictPeer struct {
	IP     string `bencode:"ip"`
	Port   int64  `bencode:"port"`
	PeerID string `bencode:"peer id"`
}

// UnmarshalBencode implements zeebo/bencode's Unmarshaler (called through benc): it sees
// the raw value of "peers" and decodes it by its first byte.
func (p *peerList) UnmarshalBencode(raw []byte) error {
	if len(raw) == 0 {
		return errors.New("peers: empty value")
	}
	switch c := raw[0]; {
	case c >= '0' && c <= '9':
		var s bytesOnly
		if err := s.UnmarshalBencode(raw); err != nil {
			return fmt.Errorf("peers: %w", err)
		}
		peers, err := bt.ParseCompactPeers(s)
		if err != nil {
			return fmt.Errorf("peers: %w", err)
		}
		*p = peers
		return nil
	case c == 'l':
		var list []dictPeer
		if err := benc.Unmarshal(raw, &list); err != nil {
			return fmt.Errorf("peers: %w", err)
		}
		peers, err := dictPeers(list)
		if err != nil {
			return fmt.Errorf("peers: %w", err)
		}
		*p = peers
		return nil
	}
	return fmt.Errorf("peers: want a string or a list, got %q", raw[0])
}

// dictPeers converts BEP 3 peer dictionaries. An IP that is not a literal address (BEP 3
// allows DNS names) and port 0 are skipped; a port out of range is an error.
func dictPeers(list []dictPeer) ([]netip.AddrPort, error) {
	out := make([]netip.AddrPort, 0, len(list))
	for i, d := range list {
		if d.Port < 0 || d.Port > math.MaxUint16 {
			return nil, fmt.Errorf("peer %d: port %d out of range", i, d.Port)
		}
		addr, err := netip.ParseAddr(d.IP)
		if err != nil || d.Port == 0 {
			continue
		}
		out = append(out, netip.AddrPortFrom(addr.Unmap().WithZone(""), uint16(d.Port)))
	}
	return out, nil
}

// parseHTTPAnnounce parses the body of an HTTP announce reply (BEP 3, BEP 23, BEP 7).
// A "failure reason" becomes a *FailureError.
func parseHTTPAnnounce(body []byte) (*AnnounceResponse, error) {
	var r httpAnnounceReply
	if err := benc.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("decode announce reply: %w", err)
	}
	if r.FailureReason != nil {
		return nil, &FailureError{Reason: cleanText(*r.FailureReason)}
	}
	interval, err := seconds("interval", r.Interval)
	if err != nil {
		return nil, err
	}
	minInterval, err := seconds("min interval", r.MinInterval)
	if err != nil {
		return nil, err
	}
	seeders, err := count("complete", r.Complete)
	if err != nil {
		return nil, err
	}
	leechers, err := count("incomplete", r.Incomplete)
	if err != nil {
		return nil, err
	}
	peers := []netip.AddrPort(r.Peers)
	if len(r.Peers6) > 0 {
		p6, err := bt.ParseCompactPeers6(r.Peers6)
		if err != nil {
			return nil, fmt.Errorf("peers6: %w", err)
		}
		peers = append(peers, p6...)
	}
	return &AnnounceResponse{
		Interval:    interval,
		MinInterval: minInterval,
		Peers:       peers,
		Seeders:     seeders,
		Leechers:    leechers,
		Warning:     cleanText(r.Warning),
	}, nil
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

// count validates a peer count.
func count(name string, v int64) (int, error) {
	if v < 0 || v > math.MaxInt32 {
		return 0, fmt.Errorf("%s %d out of range", name, v)
	}
	return int(v), nil
}

// httpScrapeReply is a BEP 48 scrape reply: "files" maps each 20-byte info-hash to its
// counters.
type httpScrapeReply struct {
	FailureReason *string                    `bencode:"failure reason"`
	Files         map[string]httpScrapeEntry `bencode:"files"`
}

type httpScrapeEntry struct {
	Complete   int64  `bencode:"complete"`
	Downloaded int64  `bencode:"downloaded"`
	Incomplete int64  `bencode:"incomplete"`
	Name       []byte `bencode:"name"`
}

// parseHTTPScrape parses a BEP 48 scrape reply and returns one result per hash, in the
// order given; a hash the tracker does not mention gets zeros.
func parseHTTPScrape(body []byte, hashes []bt.InfoHash) ([]ScrapeResult, error) {
	var r httpScrapeReply
	if err := benc.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("decode scrape reply: %w", err)
	}
	if r.FailureReason != nil {
		return nil, &FailureError{Reason: cleanText(*r.FailureReason)}
	}
	out := make([]ScrapeResult, len(hashes))
	for i, h := range hashes {
		e, ok := r.Files[string(h[:])]
		if !ok {
			continue
		}
		var err error
		if out[i], err = scrapeResult(e); err != nil {
			return nil, fmt.Errorf("scrape %s: %w", h, err)
		}
	}
	return out, nil
}

func scrapeResult(e httpScrapeEntry) (ScrapeResult, error) {
	var res ScrapeResult
	var err error
	if res.Seeders, err = count("complete", e.Complete); err != nil {
		return res, err
	}
	if res.Completed, err = count("downloaded", e.Downloaded); err != nil {
		return res, err
	}
	res.Leechers, err = count("incomplete", e.Incomplete)
	return res, err
}
