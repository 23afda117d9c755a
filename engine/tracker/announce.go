package tracker

import (
	"net/netip"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
)

// Event is the event an announce reports (BEP 3). Its values are not the BEP 15 wire
// codes; see udpEvent.
type Event int

// Announce events. EventNone is a regular re-announce.
const (
	EventNone Event = iota
	EventStarted
	EventCompleted
	EventStopped
)

// String returns the BEP 3 name of the event ("" for EventNone).
func (e Event) String() string {
	switch e {
	case EventStarted:
		return "started"
	case EventCompleted:
		return "completed"
	case EventStopped:
		return "stopped"
	}
	return ""
}

// AnnounceRequest is what one announce tells a tracker (BEP 3, BEP 15).
type AnnounceRequest struct {
	InfoHash   bt.InfoHash
	PeerID     bt.PeerID
	Port       uint16
	Uploaded   int64
	Downloaded int64
	Left       int64
	Event      Event
	// NumWant is how many peers to ask for; zero or negative leaves it to the tracker
	// (HTTP omits numwant, UDP sends -1).
	NumWant int
	// Key identifies this client across IP changes (BEP 7, BEP 15); keep it constant for
	// a session.
	Key uint32
	// IPv6, when valid, is sent to HTTP trackers as BEP 7's "ipv6=": the address
	// we take IPv6 peers on, for a tracker reached over IPv4.
	IPv6 netip.Addr
}

// AnnounceResponse is a tracker's answer to an announce.
type AnnounceResponse struct {
	// Interval is how long to wait before the next regular announce; zero if the tracker
	// did not say (HTTP only).
	Interval time.Duration
	// MinInterval is the shortest allowed time between announces; zero if not given.
	MinInterval time.Duration
	Peers       []netip.AddrPort
	Seeders     int
	Leechers    int
	// Warning is the tracker's "warning message" (HTTP only), sanitised.
	Warning string
}

// ScrapeResult is what a tracker knows of one torrent (BEP 48, BEP 15).
type ScrapeResult struct {
	Seeders   int // "complete"
	Completed int // "downloaded": how many peers ever completed
	Leechers  int // "incomplete"
}
