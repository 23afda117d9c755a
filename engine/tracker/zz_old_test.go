package tracker

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/internal/benc"
)

// oldHttpAnnounceReply is the bencoded dictionary an HTTP tracker answers an announce with
// (BEP 3). Typed fields make a value of the wrong type a decode error.
type oldHttpAnnounceReply struct {
	FailureReason *string      `bencode:"failure reason"`
	Warning       string       `bencode:"warning message"`
	Interval      int64        `bencode:"interval"`
	MinInterval   int64        `bencode:"min interval"`
	Complete      int64        `bencode:"complete"`
	Incomplete    int64        `bencode:"incomplete"`
	Peers         oldPeerList  `bencode:"peers"`
	Peers6        oldBytesOnly `bencode:"peers6"`
	TrackerID     string       `bencode:"tracker id"`
	ExternalIP    string       `bencode:"external ip"`
}

// oldPeerList decodes the "peers" value, which is either a compact string (BEP 23) or a
// list of dictionaries (BEP 3).
type oldPeerList []netip.AddrPort

// oldBytesOnly is a bencode string decoded as bytes. A plain []byte field would also accept
// a list of small integers, which is a wrong type here.
type oldBytesOnly []byte

// UnmarshalBencode implements zeebo/bencode's Unmarshaler (called through benc).
func (b *oldBytesOnly) UnmarshalBencode(raw []byte) error {
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

// oldDictPeer is one entry of a BEP 3 dictionary peer list.
type oldDictPeer struct {
	IP     string `bencode:"ip"`
	Port   int64  `bencode:"port"`
	PeerID string `bencode:"peer id"`
}

// UnmarshalBencode implements zeebo/bencode's Unmarshaler (called through benc): it sees
// the raw value of "peers" and decodes it by its first byte.
func (p *oldPeerList) UnmarshalBencode(raw []byte) error {
	if len(raw) == 0 {
		return errors.New("peers: empty value")
	}
	switch c := raw[0]; {
	case c >= '0' && c <= '9':
		var s oldBytesOnly
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
		var list []oldDictPeer
		if err := benc.Unmarshal(raw, &list); err != nil {
			return fmt.Errorf("peers: %w", err)
		}
		peers, err := oldDictPeers(list)
		if err != nil {
			return fmt.Errorf("peers: %w", err)
		}
		*p = peers
		return nil
	}
	return fmt.Errorf("peers: want a string or a list, got %q", raw[0])
}

// oldDictPeers converts BEP 3 peer dictionaries. An IP that is not a literal address (BEP 3
// allows DNS names) and port 0 are skipped; a port out of range is an error.
func oldDictPeers(list []oldDictPeer) ([]netip.AddrPort, error) {
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

// oldParseHTTPAnnounce parses the body of an HTTP announce reply (BEP 3, BEP 23, BEP 7).
// A "failure reason" becomes a *FailureError.
func oldParseHTTPAnnounce(body []byte) (*AnnounceResponse, error) {
	var r oldHttpAnnounceReply
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

// oldHttpScrapeReply is a BEP 48 scrape reply: "files" maps each 20-byte info-hash to its
// counters.
type oldHttpScrapeReply struct {
	FailureReason *string                       `bencode:"failure reason"`
	Files         map[string]oldHttpScrapeEntry `bencode:"files"`
}

type oldHttpScrapeEntry struct {
	Complete   int64  `bencode:"complete"`
	Downloaded int64  `bencode:"downloaded"`
	Incomplete int64  `bencode:"incomplete"`
	Name       []byte `bencode:"name"`
}

// oldParseHTTPScrape parses a BEP 48 scrape reply and returns one result per hash, in the
// order given; a hash the tracker does not mention gets zeros.
func oldParseHTTPScrape(body []byte, hashes []bt.InfoHash) ([]ScrapeResult, error) {
	var r oldHttpScrapeReply
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
		if out[i], err = oldScrapeResult(e); err != nil {
			return nil, fmt.Errorf("scrape %s: %w", h, err)
		}
	}
	return out, nil
}

func oldScrapeResult(e oldHttpScrapeEntry) (ScrapeResult, error) {
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

func TestZZOldAllocations(t *testing.T) {
	var h0 bt.InfoHash
	hashes := []bt.InfoHash{h0}
	for name, body := range hostileReplies() {
		a := allocated(0, func() { oldParseHTTPAnnounce(body) })
		s := allocated(0, func() { oldParseHTTPScrape(body, hashes) })
		na := allocated(0, func() { parseHTTPAnnounce(body) })
		ns := allocated(0, func() { parseHTTPScrape(body, hashes) })
		t.Logf("%-24s old announce %6.2f scrape %6.2f | new announce %5.2f scrape %5.2f", name,
			float64(a)/float64(len(body)), float64(s)/float64(len(body)), float64(na)/float64(len(body)), float64(ns)/float64(len(body)))
	}
}

func FuzzZZDiff(f *testing.F) {
	for _, s := range []string{
		"d8:completei5e10:incompletei7e8:intervali1800e12:min intervali60e5:peers12:\x0a\x00\x00\x01\x1a\xe1\x7f\x00\x00\x01\x00\x50e",
		"d8:intervali900e5:peersld2:ip8:10.0.0.27:peer id20:abcdefghijklmnopqrst4:porti6881eed2:ip3:::14:porti1eed2:ip11:example.org4:porti5eed2:ip7:1.2.3.44:porti0eeee",
		"d8:intervali60e5:peers0:6:peers618:\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1a\xe1e",
		"d8:intervali60e15:warning message9:slow\x07downe",
		"d5:peersld2:ip14:fe80::1%eth0zz4:porti1eed2:ip16:::ffff:1.2.3.4%x4:porti1eed2:ip8:1.2.3.4%4:porti1eeee",
		"d5:filesd20:\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00d8:completei3e10:downloadedi9e10:incompletei4e4:name1:xeee",
		"d14:failure reason3:bad10:tracker idi1e11:external ip4:abcde",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		oa, oerr := oldParseHTTPAnnounce(body)
		na, nerr := parseHTTPAnnounce(body)
		var fe *FailureError
		if errors.As(nerr, &fe) {
			var ofe *FailureError
			if errors.As(oerr, &ofe) && ofe.Reason != fe.Reason {
				t.Fatalf("reason %q vs %q", ofe.Reason, fe.Reason)
			}
		} else if (oerr == nil) != (nerr == nil) {
			t.Fatalf("announce: old err %v, new err %v", oerr, nerr)
		} else if oerr == nil {
			if len(oa.Peers) == 0 {
				oa.Peers = nil
			}
			if !reflect.DeepEqual(oa, na) {
				t.Fatalf("announce: old %+v new %+v", oa, na)
			}
		}
		var h bt.InfoHash
		if len(body) >= 20 {
			copy(h[:], body[len(body)-20:])
		}
		for _, hs := range [][]bt.InfoHash{{h, {}}, {h, h}, {{1}}} {
			or, oerr := oldParseHTTPScrape(body, hs)
			nr, nerr := parseHTTPScrape(body, hs)
			if errors.As(nerr, &fe) {
				continue
			}
			if oerr == nil && nerr != nil && strings.Contains(nerr.Error(), "name") {
				continue // old accepted a list of ints as a name
			}
			if (oerr == nil) != (nerr == nil) {
				t.Fatalf("scrape: old err %v, new err %v", oerr, nerr)
			}
			if oerr == nil && !reflect.DeepEqual(or, nr) {
				t.Fatalf("scrape: old %+v new %+v", or, nr)
			}
		}
	})
}
