package tracker

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
)

// BEP 15 wire constants.
const (
	udpProtocolID = 0x41727101980 // magic constant of a connect request

	actionConnect  = 0
	actionAnnounce = 1
	actionScrape   = 2
	actionError    = 3

	udpHeaderLen      = 8  // action, transaction id
	udpConnectLen     = 16 // request and reply
	udpAnnounceLen    = 98 // request
	udpAnnounceHdrLen = 20 // reply before the peers
	udpScrapeEntryLen = 12 // seeders, completed, leechers

	// udpMaxScrapeHashes is how many info-hashes fit one scrape request (BEP 15).
	udpMaxScrapeHashes = 74
)

// udpEvent maps an Event to its BEP 15 code (0 none, 1 completed, 2 started, 3 stopped).
func udpEvent(e Event) uint32 {
	switch e {
	case EventCompleted:
		return 1
	case EventStarted:
		return 2
	case EventStopped:
		return 3
	}
	return 0
}

// appendConnectRequest appends a BEP 15 connect request (16 bytes).
func appendConnectRequest(b []byte, tx uint32) []byte {
	b = binary.BigEndian.AppendUint64(b, udpProtocolID)
	b = binary.BigEndian.AppendUint32(b, actionConnect)
	return binary.BigEndian.AppendUint32(b, tx)
}

// appendAnnounceRequest appends a BEP 15 announce request (98 bytes). The IP field is
// 0 (the tracker uses the source address).
func appendAnnounceRequest(b []byte, connID uint64, tx uint32, req *AnnounceRequest) []byte {
	numWant := int32(-1)
	if req.NumWant > 0 {
		numWant = int32(min(req.NumWant, 1<<31-1))
	}
	b = binary.BigEndian.AppendUint64(b, connID)
	b = binary.BigEndian.AppendUint32(b, actionAnnounce)
	b = binary.BigEndian.AppendUint32(b, tx)
	b = append(b, req.InfoHash[:]...)
	b = append(b, req.PeerID[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(req.Downloaded))
	b = binary.BigEndian.AppendUint64(b, uint64(req.Left))
	b = binary.BigEndian.AppendUint64(b, uint64(req.Uploaded))
	b = binary.BigEndian.AppendUint32(b, udpEvent(req.Event))
	b = binary.BigEndian.AppendUint32(b, 0) // IP address: default
	b = binary.BigEndian.AppendUint32(b, req.Key)
	b = binary.BigEndian.AppendUint32(b, uint32(numWant))
	return binary.BigEndian.AppendUint16(b, req.Port)
}

// appendScrapeRequest appends a BEP 15 scrape request for at most udpMaxScrapeHashes.
func appendScrapeRequest(b []byte, connID uint64, tx uint32, hashes []bt.InfoHash) []byte {
	b = binary.BigEndian.AppendUint64(b, connID)
	b = binary.BigEndian.AppendUint32(b, actionScrape)
	b = binary.BigEndian.AppendUint32(b, tx)
	for _, h := range hashes {
		b = append(b, h[:]...)
	}
	return b
}

// udpHeader returns the action and transaction id that start every BEP 15 reply.
func udpHeader(b []byte) (action, tx uint32, err error) {
	if len(b) < udpHeaderLen {
		return 0, 0, fmt.Errorf("UDP reply of %d bytes is too short", len(b))
	}
	return binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:]), nil
}

// checkAction returns the reply body after the header if the reply has the wanted
// action; an error reply (action 3) becomes a *FailureError.
func checkAction(b []byte, want uint32) ([]byte, error) {
	action, _, err := udpHeader(b)
	if err != nil {
		return nil, err
	}
	switch action {
	case want:
		return b[udpHeaderLen:], nil
	case actionError:
		return nil, &FailureError{Reason: cleanText(string(b[udpHeaderLen:]))}
	}
	return nil, fmt.Errorf("UDP reply has action %d, want %d", action, want)
}

// parseUDPConnect parses a BEP 15 connect reply and returns the connection id.
func parseUDPConnect(b []byte) (uint64, error) {
	body, err := checkAction(b, actionConnect)
	if err != nil {
		return 0, err
	}
	if len(b) < udpConnectLen {
		return 0, fmt.Errorf("UDP connect reply of %d bytes, want %d", len(b), udpConnectLen)
	}
	return binary.BigEndian.Uint64(body), nil
}

// parseUDPAnnounce parses a BEP 15 announce reply. Peers are 6 bytes each, or 18 bytes
// when the tracker was reached over IPv6 (ipv6 true).
func parseUDPAnnounce(b []byte, ipv6 bool) (*AnnounceResponse, error) {
	body, err := checkAction(b, actionAnnounce)
	if err != nil {
		return nil, err
	}
	if len(b) < udpAnnounceHdrLen {
		return nil, fmt.Errorf("UDP announce reply of %d bytes, want at least %d", len(b), udpAnnounceHdrLen)
	}
	interval, err := seconds("interval", int64(int32(binary.BigEndian.Uint32(body))))
	if err != nil {
		return nil, err
	}
	leechers, err := count("leechers", int64(int32(binary.BigEndian.Uint32(body[4:]))))
	if err != nil {
		return nil, err
	}
	seeders, err := count("seeders", int64(int32(binary.BigEndian.Uint32(body[8:]))))
	if err != nil {
		return nil, err
	}
	parse := bt.ParseCompactPeers
	if ipv6 {
		parse = bt.ParseCompactPeers6
	}
	peers, err := parse(body[12:])
	if err != nil {
		return nil, err
	}
	return &AnnounceResponse{Interval: interval, Peers: peers, Seeders: seeders, Leechers: leechers}, nil
}

// parseUDPScrape parses a BEP 15 scrape reply for n info-hashes.
func parseUDPScrape(b []byte, n int) ([]ScrapeResult, error) {
	body, err := checkAction(b, actionScrape)
	if err != nil {
		return nil, err
	}
	if len(body) < n*udpScrapeEntryLen {
		return nil, fmt.Errorf("UDP scrape reply has %d bytes for %d hashes", len(body), n)
	}
	out := make([]ScrapeResult, n)
	for i := range out {
		e := body[i*udpScrapeEntryLen:]
		vals := [3]int{}
		for j := range vals {
			v, err := count("scrape counter", int64(int32(binary.BigEndian.Uint32(e[4*j:]))))
			if err != nil {
				return nil, err
			}
			vals[j] = v
		}
		out[i] = ScrapeResult{Seeders: vals[0], Completed: vals[1], Leechers: vals[2]}
	}
	return out, nil
}

// retryDelay is BEP 15's retransmission timeout base·2^n, saturating instead of
// overflowing.
func retryDelay(base time.Duration, n int) time.Duration {
	d := base
	for range n {
		if d > math.MaxInt64/2 {
			return math.MaxInt64
		}
		d *= 2
	}
	return d
}
