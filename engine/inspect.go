package engine

import (
	"cmp"
	"context"
	"net/netip"
	"slices"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/tracker"
)

// Read-only views of a running client for status pages and metrics: snapshots
// taken by the owner goroutine on request (inspectMsg), and lookups that never
// wait for the network. None of them changes what the engine does.

// Snapshot is one torrent's state at one moment, for a status page: the
// counters of Stats plus what only the owner knows (peers, waiting reads).
type Snapshot struct {
	Stats
	Peers []PeerInfo
	// Waiting lists the pieces blocked reads wait for, in piece order.
	Waiting []WaitingPiece
	// DownloadRate and UploadRate sum the peers' rates, in bytes per second.
	DownloadRate, UploadRate float64
	// Trackers is what each of the torrent's trackers did last, in tier order;
	// empty without trackers.
	Trackers []TrackerStatus
	// Mirrors are the torrent's web seeds (BEP 19); their rates are in
	// DownloadRate too.
	Mirrors []MirrorStats
}

// TrackerStatus is one tracker's state: waiting, announcing, ok (with the peers
// of its last answer) or failing (with the reason), and when it is next asked.
// See tracker.Status.
type TrackerStatus = tracker.Status

// PeerInfo describes one connected peer.
type PeerInfo struct {
	Addr     netip.AddrPort
	PeerID   bt.PeerID
	Client   string // BEP 10 "v" (sanitized by wire); empty if the peer sent none
	Incoming bool   // it connected to us
	Fast     bool   // both sides speak BEP 6
	// Encryption is the MSE method of the connection ("rc4" or "plaintext"),
	// or "" for a plain BitTorrent connection.
	Encryption string
	// Transport is "tcp" or "utp" (BEP 29); Addr tells IPv4 from IPv6.
	Transport string

	AmChoking      bool // we do not upload to it
	AmInterested   bool // it has pieces we want
	PeerChoking    bool // it does not upload to us
	PeerInterested bool // it wants pieces we have
	Optimistic     bool // it holds our optimistic unchoke
	// Snubbed: our requests to it timed out since the last block it sent (it
	// is dropped once that lasts Config.SnubTimeout).
	Snubbed bool

	Pieces   int // pieces it has
	Requests int // our requests outstanding at it
	// Depth is how many requests its pipeline may hold: its peak rate times
	// its round trip plus a margin (RTT; 0 until its first block).
	Depth      int
	RTT        time.Duration
	Downloaded int64 // piece payload bytes it sent us since connecting
	Uploaded   int64 // piece payload bytes we sent it
	// DownloadRate is smoothed over about a second; UploadRate is measured
	// over the last rechoke period (10 s). Bytes per second.
	DownloadRate, UploadRate float64
}

// WaitingPiece is a piece that blocked reads wait for.
type WaitingPiece struct {
	Piece   int
	Waiters int // blocked reads waiting for it
}

// inspectMsg asks the owner for a Snapshot's owner-side part.
type inspectMsg struct{ reply chan Snapshot }

func (inspectMsg) ownerMsg() {}

// Inspect returns a snapshot of the torrent. It waits for the owner goroutine
// (normally well under a millisecond) until ctx ends; it returns ErrClosed once
// the torrent is stopped.
func (t *Torrent) Inspect(ctx context.Context) (Snapshot, error) {
	r := make(chan Snapshot, 1)
	if !t.post(inspectMsg{r}) { // idle.go: a sleeping torrent answers in place
		select {
		case t.msgs <- inspectMsg{r}:
		case <-t.done:
			return Snapshot{}, ErrClosed
		case <-ctx.Done():
			return Snapshot{}, ctx.Err()
		}
	}
	var s Snapshot
	select {
	case s = <-r:
	case <-t.done:
		return Snapshot{}, ErrClosed
	case <-ctx.Done():
		return Snapshot{}, ctx.Err()
	}
	// The counters are atomics: read them here, after the owner's part, so
	// that pieces counted as have were also counted as downloaded.
	s.Downloaded = t.stats.downloaded.Load()
	s.Uploaded = t.stats.uploaded.Load()
	s.ServedToReaders = t.stats.served.Load()
	s.Wasted = t.stats.wasted.Load()
	s.Duplicates = t.stats.duplicates.Load()
	s.PiecesVerified = t.stats.verified.Load()
	s.HashFailures = t.stats.hashFails.Load()
	s.PeersBanned = int(t.stats.banned.Load())
	s.Dials, s.DialFailures = t.stats.dials.Load(), t.stats.dialFailures.Load()
	s.RefusedPerIP, s.PeersReplaced = t.stats.refusedPerIP.Load(), t.stats.replaced.Load()
	s.Tier = t.tierStats() // tier.go
	if info := t.Info(); info != nil {
		s.NumPieces = info.NumPieces
	}
	return s, nil
}

// inspect answers an inspectMsg. Owner only; O(peers + readers + waits).
func (t *Torrent) inspect(m inspectMsg) {
	s := Snapshot{}
	if t.pk != nil {
		s.PiecesHave, s.PiecesWanted = t.have.Count(), t.pk.NumWanted()
	}
	s.Peers = make([]PeerInfo, 0, len(t.peers))
	for _, p := range t.peers {
		if p.closing {
			continue
		}
		pi := PeerInfo{
			Addr:           p.addr,
			PeerID:         p.conn.PeerID(),
			Client:         p.ext.V,
			Incoming:       p.incoming,
			Fast:           p.fast,
			Encryption:     p.conn.Encryption(),
			Transport:      connTransport(p.conn),
			AmChoking:      p.amChoking,
			AmInterested:   p.amInterested,
			PeerChoking:    p.peerChoking,
			PeerInterested: p.peerInterested,
			Optimistic:     p.optimistic,
			Snubbed:        p.expired && p.inflight > 0,
			Pieces:         p.bf.Count(),
			Requests:       p.inflight,
			Depth:          p.depth(),
			RTT:            p.rtt,
			Downloaded:     p.down,
			Uploaded:       p.up,
			DownloadRate:   p.rate,
			UploadRate:     p.upRate,
		}
		s.DownloadRate += pi.DownloadRate
		s.UploadRate += pi.UploadRate
		s.Peers = append(s.Peers, pi)
	}
	s.Peers = slices.Clip(s.Peers)
	s.Stats.Peers = len(s.Peers)
	slices.SortFunc(s.Peers, func(a, b PeerInfo) int {
		return cmp.Or(cmp.Compare(b.DownloadRate, a.DownloadRate), a.Addr.Compare(b.Addr))
	})
	for id, w := range t.windows {
		if id&3 == 0 { // a reader's moving window, not its head/tail prime
			s.Readers = append(s.Readers, ReaderStats{
				ID:          id >> 2,
				Piece:       w.pos,
				WindowBytes: int64(w.hi-w.lo) * t.info.PieceLength,
				Rate:        w.rate,
			})
		}
	}
	slices.SortFunc(s.Readers, func(a, b ReaderStats) int { return cmp.Compare(a.ID, b.ID) })
	for i, f := range t.futures {
		if f.waiters > 0 {
			s.Waiting = append(s.Waiting, WaitingPiece{Piece: i, Waiters: f.waiters})
		}
	}
	slices.SortFunc(s.Waiting, func(a, b WaitingPiece) int { return cmp.Compare(a.Piece, b.Piece) })
	if t.announcer != nil {
		s.Trackers = t.announcer.Trackers()
	}
	s.Mirrors = t.mirrorStats(time.Now())
	for _, ms := range s.Mirrors {
		s.DownloadRate += ms.Rate
	}
	m.reply <- s
}

// PieceHeld reports whether piece i is available without the network: verified
// and still in the cache or the disk tier. It never blocks on the
// owner, and does not count as a cache hit or miss. Out of range: false.
func (t *Torrent) PieceHeld(i int) bool {
	info := t.Info()
	if info == nil || i < 0 || i >= info.NumPieces {
		return false
	}
	return t.held(i) // RAM or disk tier (tier.go)
}

// PiecesHeld counts the pieces in [lo, hi) that PieceHeld reports, and their
// bytes. It costs one cache lookup per piece.
func (t *Torrent) PiecesHeld(lo, hi int) (pieces int, bytes int64) {
	info := t.Info()
	if info == nil {
		return 0, 0
	}
	lo, hi = max(lo, 0), min(hi, info.NumPieces)
	for i := lo; i < hi; i++ {
		if t.PieceHeld(i) {
			pieces++
			bytes += info.PieceLen(i)
		}
	}
	return pieces, bytes
}

// Torrents returns the client's torrents, by name and then info-hash.
func (c *Client) Torrents() []*Torrent {
	c.mu.Lock()
	ts := make([]*Torrent, 0, len(c.torrents))
	for _, t := range c.torrents {
		ts = append(ts, t)
	}
	c.mu.Unlock()
	slices.SortFunc(ts, func(a, b *Torrent) int {
		return cmp.Or(cmp.Compare(a.displayName(), b.displayName()), slices.Compare(a.ih[:], b.ih[:]))
	})
	return ts
}
