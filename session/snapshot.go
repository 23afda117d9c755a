package session

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/bt"
)

// The JSON of a Snapshot, as GET /status (and /) serves it (on one line;
// GET /status?pretty indents it):
//
//	time                       RFC 3339, when the snapshot was taken
//	torrents[]                 one per torrent, by name:
//	  name, info_hash          the torrent's (sanitized) name; 40 hex digits
//	  state                    active, sleeping (idle: no connections), seeding
//	                           (holds every piece) or failed
//	  total_length             bytes in the torrent (padding included)
//	  piece_length, num_pieces
//	  pieces_have              distinct pieces verified at least once
//	  pieces_verified          hash matches (a piece fetched twice counts twice)
//	  pieces_held, held_bytes  pieces verified and still held now, in memory or
//	                           on disk (tier: each tier's share)
//	  pieces_wanted            pieces readers wait for or read ahead
//	  downloaded_bytes         piece payload received from peers
//	  uploaded_bytes           piece payload sent to peers
//	  served_to_readers_bytes  bytes returned to reads of the mount's files
//	  wasted_bytes             duplicate, unrequested or hash-failed payload, and
//	                           parts of pieces given up
//	  duplicate_bytes          requested from a second peer (endgame; late blocks
//	                           of a piece a read waits for)
//	  hash_failures, peers_banned
//	  dials, dial_failures     outgoing connections tried, and failed
//	  refused_per_ip           incoming connections over the per-IP limit
//	  peers_replaced           slowest peers dropped for untried addresses
//	  download_rate, upload_rate  bytes per second, summed over the peers
//	  files[]                  path ("/"-separated, from the mount's root), length
//	  peers[]                  address, peer_id (printable, escaped), client (BEP 10
//	                           "v"), transport ("tcp" or "utp"), ip_version (4 or
//	                           6), incoming, fast (BEP 6), am_choking,
//	                           am_interested, peer_choking, peer_interested,
//	                           optimistic, snubbed, pieces (it has), requests (ours
//	                           outstanding at it), depth (how many its pipeline
//	                           may hold: its rate x (RTT + margin)), rtt_ms (its
//	                           least recent request-to-block time), downloaded_bytes, uploaded_bytes,
//	                           download_rate, upload_rate (bytes per second)
//	  readers[]                open files being read: id, piece (under its last
//	                           read), window_bytes (readahead), rate (bytes/s)
//	  waiting[]                pieces blocked reads wait for: piece, waiters
//	  trackers[]               in tier order: url (any query, such as a passkey,
//	                           hidden), tier (from 1), state: waiting (not asked
//	                           yet, or a backup behind one of its tier that
//	                           answers), announcing (first announce under way),
//	                           ok (last announce answered), failing (it failed,
//	                           or has not answered for 15 s); announcing (one is
//	                           under way now), peers, seeders, leechers (of its
//	                           last answer), error (why it fails), failures (in
//	                           a row), last_ok_seconds_ago,
//	                           next_announce_in_seconds (absent when not planned)
//	  web_seeds[]              BEP 19 mirrors: url, state (idle, fetching, backing
//	                           off, banned, unusable), error (the last failure),
//	                           download_rate, downloaded_bytes
//	  tier                     RAM and disk tier: see tierstatus.go
//	magnets[]                  magnet links still resolving (or failed): name,
//	                           info_hash, state (resolving|resolved|failed),
//	                           elapsed_seconds, peers_known, peers_tried,
//	                           peers_connected, peers_offering, metadata_size,
//	                           metadata_pieces_have, metadata_pieces_total, error,
//	                           trackers[] (as a torrent's)
//	network                    lsd (on, off, or "unavailable: " and why),
//	                           lsd_peers (heard of on the local network),
//	                           port_map (off, searching, none, nat-pmp or upnp),
//	                           external (IP:PORT outside, once mapped)
//	goroutines                 the process's goroutines now
//	connections                open peer connections, all torrents
//	cache                      hits, misses, evictions, rejections (cumulative);
//	                           held_bytes (piece data in memory now, all
//	                           torrents; exact), hot_bytes (the LRU tier's
//	                           share), max_bytes (--cache-size)
//	disk                       the disk cache folder: see tierstatus.go
//
// Lists are never null. Fields may be added; none is renamed or removed.

// Snapshot is the status of a session at one moment: what GET /status
// serves as JSON (its field names are a contract), what /metrics and the
// terminal view read. Lists are never null.
type Snapshot struct {
	Time     string          `json:"time"`
	Torrents []TorrentStatus `json:"torrents"`
	Magnets  []MagnetStatus  `json:"magnets"`
	Cache    CacheStatus     `json:"cache"`
	Network  *NetworkStatus  `json:"network,omitempty"`
	Disk     *DiskStatus     `json:"disk,omitempty"` // tierstatus.go; absent without a disk cache
	// Goroutines is the process's (runtime.NumGoroutine); Connections the
	// engine's open peer connections, all torrents.
	Goroutines  int `json:"goroutines"`
	Connections int `json:"connections"`
}

type TorrentStatus struct {
	Name           string `json:"name"`
	InfoHash       string `json:"info_hash"`
	State          string `json:"state"` // active, resolving, sleeping, seeding or failed
	TotalLength    int64  `json:"total_length"`
	PieceLength    int64  `json:"piece_length"`
	NumPieces      int    `json:"num_pieces"`
	PiecesHave     int    `json:"pieces_have"`
	PiecesVerified int64  `json:"pieces_verified"`
	PiecesHeld     int    `json:"pieces_held"`
	PiecesWanted   int    `json:"pieces_wanted"`
	HeldBytes      int64  `json:"held_bytes"`

	DownloadedBytes      int64   `json:"downloaded_bytes"`
	UploadedBytes        int64   `json:"uploaded_bytes"`
	ServedToReadersBytes int64   `json:"served_to_readers_bytes"`
	WastedBytes          int64   `json:"wasted_bytes"`
	DuplicateBytes       int64   `json:"duplicate_bytes"`
	HashFailures         int64   `json:"hash_failures"`
	PeersBanned          int     `json:"peers_banned"`
	Dials                int64   `json:"dials"`
	DialFailures         int64   `json:"dial_failures"`
	RefusedPerIP         int64   `json:"refused_per_ip"`
	PeersReplaced        int64   `json:"peers_replaced"`
	DownloadRate         float64 `json:"download_rate"`
	UploadRate           float64 `json:"upload_rate"`

	Files    []FileStatus    `json:"files"`
	Peers    []PeerStatus    `json:"peers"`
	Readers  []ReaderStatus  `json:"readers"`
	Waiting  []WaitingStatus `json:"waiting"`
	Trackers []TrackerStatus `json:"trackers"`
	WebSeeds []WebSeedStatus `json:"web_seeds"`
	Tier     TierStatus      `json:"tier"` // tierstatus.go

	// Stopped: the torrent was closed while the snapshot was taken;
	// Unanswered: its owner did not answer in time (its figures are empty).
	Stopped    bool `json:"-"`
	Unanswered bool `json:"-"`
}

// TrackerStatus is one tracker of a torrent (see statusHandler).
type TrackerStatus struct {
	URL        string `json:"url"`
	Tier       int    `json:"tier"`
	State      string `json:"state"`
	Announcing bool   `json:"announcing"`
	Peers      int    `json:"peers"`
	Seeders    int    `json:"seeders"`
	Leechers   int    `json:"leechers"`
	Error      string `json:"error,omitempty"`
	Failures   int    `json:"failures"`
	// Absent when it never answered, and when no announce is planned (one is
	// under way, or it is a backup).
	LastOKSecondsAgo      *float64 `json:"last_ok_seconds_ago,omitempty"`
	NextAnnounceInSeconds *float64 `json:"next_announce_in_seconds,omitempty"`
}

type FileStatus struct {
	Path   string `json:"path"`
	Length int64  `json:"length"`
}

type PeerStatus struct {
	Address         string  `json:"address"`
	PeerID          string  `json:"peer_id"`
	Client          string  `json:"client"`
	Transport       string  `json:"transport"`  // "tcp" or "utp" (BEP 29)
	IPVersion       int     `json:"ip_version"` // 4 or 6
	Incoming        bool    `json:"incoming"`
	Fast            bool    `json:"fast"`
	Encryption      string  `json:"encryption,omitempty"` // MSE: "rc4" or "plaintext"; absent for plain BitTorrent
	AmChoking       bool    `json:"am_choking"`
	AmInterested    bool    `json:"am_interested"`
	PeerChoking     bool    `json:"peer_choking"`
	PeerInterested  bool    `json:"peer_interested"`
	Optimistic      bool    `json:"optimistic"`
	Snubbed         bool    `json:"snubbed"`
	Pieces          int     `json:"pieces"`
	Requests        int     `json:"requests"`
	Depth           int     `json:"depth"`
	RTTMillis       float64 `json:"rtt_ms"`
	DownloadedBytes int64   `json:"downloaded_bytes"`
	UploadedBytes   int64   `json:"uploaded_bytes"`
	DownloadRate    float64 `json:"download_rate"`
	UploadRate      float64 `json:"upload_rate"`
}

type ReaderStatus struct {
	ID          uint64  `json:"id"`
	Piece       int     `json:"piece"`
	WindowBytes int64   `json:"window_bytes"`
	Rate        float64 `json:"rate"`
}

type WaitingStatus struct {
	Piece   int `json:"piece"`
	Waiters int `json:"waiters"`
}

type MagnetStatus struct {
	Name                string  `json:"name"`
	InfoHash            string  `json:"info_hash"`
	State               string  `json:"state"`
	ElapsedSeconds      float64 `json:"elapsed_seconds"`
	PeersKnown          int     `json:"peers_known"`
	PeersTried          int     `json:"peers_tried"`
	PeersConnected      int     `json:"peers_connected"`
	PeersOffering       int     `json:"peers_offering"`
	MetadataSize        int64   `json:"metadata_size"`
	MetadataPiecesHave  int     `json:"metadata_pieces_have"`
	MetadataPiecesTotal int     `json:"metadata_pieces_total"`
	Error               string  `json:"error,omitempty"`

	Trackers []TrackerStatus `json:"trackers"`
}

type CacheStatus struct {
	Hits       int64 `json:"hits"`
	Misses     int64 `json:"misses"`
	Evictions  int64 `json:"evictions"`
	Rejections int64 `json:"rejections"`
	HeldBytes  int64 `json:"held_bytes"`
	HotBytes   int64 `json:"hot_bytes"`
	MaxBytes   int64 `json:"max_bytes"`
}

// NetworkStatus is the "network" object of GET /status.
type NetworkStatus struct {
	LSD      string `json:"lsd"`
	LSDPeers int64  `json:"lsd_peers"`
	PortMap  string `json:"port_map"`
	External string `json:"external,omitempty"`
}

// WebSeedStatus is one web seed of a torrent.
type WebSeedStatus struct {
	URL             string  `json:"url"`
	State           string  `json:"state"`
	Error           string  `json:"error,omitempty"`
	DownloadRate    float64 `json:"download_rate"`
	DownloadedBytes int64   `json:"downloaded_bytes"`
}

// SnapshotOptions say how a snapshot is taken.
type SnapshotOptions struct {
	// Wait bounds the wait for each torrent's owner (default 5 s); one that
	// does not answer in time is marked Unanswered.
	Wait time.Duration
	// Light leaves out what the terminal view does not show and costs in
	// proportion to a torrent's size: its file list, and the pieces it holds
	// (pieces_held and held_bytes stay 0).
	Light bool
}

// Snapshot takes the status of every torrent of the session's client, in
// parallel, and of the magnets still resolving; a magnet whose torrent runs
// is not listed twice. Closed torrents are marked Stopped.
func (s *Session) Snapshot(ctx context.Context, opts SnapshotOptions) Snapshot {
	if opts.Wait <= 0 {
		opts.Wait = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Wait)
	defer cancel()
	st := Snapshot{Time: time.Now().UTC().Format(time.RFC3339), Magnets: []MagnetStatus{}}
	// The cache's figures first: its Stats waits for ristretto's buffers, so that
	// what the torrents report held (PiecesHeld) is up to date as well.
	cs := s.client.CacheStats()
	st.Network = networkStatus(s.client)
	st.Goroutines, st.Connections = runtime.NumGoroutine(), s.client.Conns()
	ts := s.client.Torrents()
	st.Torrents = make([]TorrentStatus, 0, len(ts))
	snaps := make([]engine.Snapshot, len(ts))
	errs := make([]error, len(ts))
	var wg sync.WaitGroup
	for i, t := range ts {
		wg.Go(func() { snaps[i], errs[i] = t.Inspect(ctx) })
	}
	wg.Wait()
	running := map[bt.InfoHash]bool{}
	now := time.Now()
	for i, t := range ts {
		if t.Info() == nil {
			continue // no info yet: listed among the magnets
		}
		running[t.InfoHash()] = true
		switch {
		case errs[i] == nil:
			st.Torrents = append(st.Torrents, torrentStatus(t, snaps[i], now, opts.Light))
		case errors.Is(errs[i], engine.ErrClosed):
			st.Torrents = append(st.Torrents, emptyStatus(t, engine.StateActive, true, false))
		default:
			st.Torrents = append(st.Torrents, emptyStatus(t, t.State(), false, true))
		}
	}
	for _, rs := range s.magnets() {
		if !running[rs.InfoHash] {
			st.Magnets = append(st.Magnets, magnetStatus(rs))
		}
	}
	st.Cache.Hits, st.Cache.Misses, st.Cache.Evictions, st.Cache.Rejections = cs.Hits, cs.Misses, cs.Evictions, cs.Rejections
	st.Cache.HeldBytes, st.Cache.HotBytes, st.Cache.MaxBytes = cs.HeldBytes, cs.HotBytes, cs.MaxBytes
	st.Disk = diskStatus(s.client.DiskStats())
	return st
}

// emptyStatus is a torrent without figures: closed, or its owner busy.
func emptyStatus(t *engine.Torrent, state engine.TorrentState, stopped, unanswered bool) TorrentStatus {
	info := t.Info()
	return TorrentStatus{Name: info.Name, InfoHash: t.InfoHash().String(), State: state.String(),
		TotalLength: info.TotalLength, PieceLength: info.PieceLength, NumPieces: info.NumPieces,
		Files: []FileStatus{}, Peers: []PeerStatus{}, Readers: []ReaderStatus{}, Waiting: []WaitingStatus{},
		Trackers: []TrackerStatus{}, WebSeeds: []WebSeedStatus{}, Stopped: stopped, Unanswered: unanswered}
}

func torrentStatus(t *engine.Torrent, s engine.Snapshot, now time.Time, light bool) TorrentStatus {
	info := t.Info()
	var held int
	var heldBytes, ramBytes int64
	if !light {
		held, heldBytes = t.PiecesHeld(0, info.NumPieces)
		_, ramBytes = t.PiecesInRAM(0, info.NumPieces)
	}
	ts := TorrentStatus{
		Name: info.Name, InfoHash: t.InfoHash().String(), State: t.State().String(),
		TotalLength: info.TotalLength, PieceLength: info.PieceLength, NumPieces: info.NumPieces,
		PiecesHave: s.PiecesHave, PiecesVerified: s.PiecesVerified, PiecesHeld: held, PiecesWanted: s.PiecesWanted,
		HeldBytes:       heldBytes,
		DownloadedBytes: s.Downloaded, UploadedBytes: s.Uploaded, ServedToReadersBytes: s.ServedToReaders,
		WastedBytes: s.Wasted, DuplicateBytes: s.Duplicates, HashFailures: s.HashFailures, PeersBanned: s.PeersBanned,
		Dials: s.Dials, DialFailures: s.DialFailures, RefusedPerIP: s.RefusedPerIP, PeersReplaced: s.PeersReplaced,
		DownloadRate: math.Round(s.DownloadRate), UploadRate: math.Round(s.UploadRate),
		Files: []FileStatus{}, Peers: []PeerStatus{}, Readers: []ReaderStatus{}, Waiting: []WaitingStatus{},
		Trackers: trackerStatuses(s.Trackers, now),
		WebSeeds: webSeedStatuses(s.Mirrors),
		Tier:     tierStatus(s.Tier, ramBytes),
	}
	for _, f := range info.VisibleFiles() {
		if light {
			break
		}
		ts.Files = append(ts.Files, FileStatus{Path: strings.Join(f.Path, "/"), Length: f.Length})
	}
	for _, p := range s.Peers {
		ts.Peers = append(ts.Peers, PeerStatus{
			Address: p.Addr.String(), PeerID: p.PeerID.String(), Client: p.Client,
			Transport: p.Transport, IPVersion: ipVersion(p.Addr),
			Incoming: p.Incoming, Fast: p.Fast, Encryption: p.Encryption,
			AmChoking: p.AmChoking, AmInterested: p.AmInterested,
			PeerChoking: p.PeerChoking, PeerInterested: p.PeerInterested,
			Optimistic: p.Optimistic, Snubbed: p.Snubbed,
			Pieces: p.Pieces, Requests: p.Requests, Depth: p.Depth,
			RTTMillis:       math.Round(float64(p.RTT.Microseconds())/100) / 10,
			DownloadedBytes: p.Downloaded, UploadedBytes: p.Uploaded,
			DownloadRate: math.Round(p.DownloadRate), UploadRate: math.Round(p.UploadRate),
		})
	}
	for _, r := range s.Readers {
		ts.Readers = append(ts.Readers, ReaderStatus{ID: r.ID, Piece: r.Piece, WindowBytes: r.WindowBytes, Rate: math.Round(r.Rate)})
	}
	for _, w := range s.Waiting {
		ts.Waiting = append(ts.Waiting, WaitingStatus{Piece: w.Piece, Waiters: w.Waiters})
	}
	return ts
}

// trackerStatuses converts the engine's tracker states, with times relative to now.
func trackerStatuses(trs []engine.TrackerStatus, now time.Time) []TrackerStatus {
	out := make([]TrackerStatus, 0, len(trs))
	secs := func(d time.Duration) *float64 {
		v := math.Round(d.Seconds()*10) / 10
		return &v
	}
	for _, tr := range trs {
		j := TrackerStatus{
			URL: tr.URL, Tier: tr.Tier + 1, State: tr.State.String(), Announcing: tr.Announcing,
			Peers: tr.Peers, Seeders: tr.Seeders, Leechers: tr.Leechers, Error: tr.Err, Failures: tr.Failures,
		}
		if !tr.LastOK.IsZero() {
			j.LastOKSecondsAgo = secs(max(now.Sub(tr.LastOK), 0))
		}
		if !tr.Next.IsZero() {
			j.NextAnnounceInSeconds = secs(max(tr.Next.Sub(now), 0))
		}
		out = append(out, j)
	}
	return out
}

func magnetStatus(rs engine.ResolveStatus) MagnetStatus {
	m := MagnetStatus{
		Name: rs.Name, InfoHash: rs.InfoHash.String(), State: rs.State.String(),
		ElapsedSeconds: math.Round(time.Since(rs.Started).Seconds()*10) / 10,
		PeersKnown:     rs.PeersKnown, PeersTried: rs.PeersTried, PeersConnected: rs.PeersConnected,
		PeersOffering: rs.PeersOffering, MetadataSize: rs.MetadataSize,
		MetadataPiecesHave: rs.PiecesHave, MetadataPiecesTotal: rs.PiecesTotal,
		Trackers: trackerStatuses(rs.Trackers, time.Now()),
	}
	if rs.Err != nil {
		m.Error = rs.Err.Error()
	}
	return m
}

func webSeedStatuses(ms []engine.MirrorStats) []WebSeedStatus {
	out := make([]WebSeedStatus, 0, len(ms))
	for _, m := range ms {
		out = append(out, WebSeedStatus{URL: m.URL, State: m.State, Error: m.Error,
			DownloadRate: math.Round(m.Rate), DownloadedBytes: m.Downloaded})
	}
	return out
}

func networkStatus(c *engine.Client) *NetworkStatus {
	s := c.LocalNet()
	n := &NetworkStatus{LSD: s.LSD, LSDPeers: s.LSDPeers, PortMap: s.PortMap}
	if s.Mapped.IsValid() {
		n.External = s.Mapped.String()
	}
	return n
}

// StatusText is the .hyperblow-status file of a magnet's folder (or mount)
// while its metadata is on its way, or after it failed.
func (e *Entry) StatusText() string {
	st, ok := e.ResolveStatus()
	if !ok {
		return ""
	}
	return resolveStatusText(st)
}

func resolveStatusText(st engine.ResolveStatus) string {
	var b strings.Builder
	switch st.State {
	case engine.ResolveFailed:
		fmt.Fprintf(&b, "Hyperblow could not fetch this torrent's metadata (magnet link); it gave up.\n")
	case engine.Resolved:
		fmt.Fprintf(&b, "Hyperblow has fetched this torrent's metadata (magnet link).\n")
	default:
		fmt.Fprintf(&b, "Hyperblow is fetching this torrent's metadata (magnet link).\n")
	}
	fmt.Fprintf(&b, "name:      %s\ninfo-hash: %s\n", Safe(st.Name), st.InfoHash)
	fmt.Fprintf(&b, "state:     %s for %v\n", st.State, time.Since(st.Started).Round(time.Second))
	fmt.Fprintf(&b, "peers:     %d known, %d tried, %d connected, %d offering metadata\n",
		st.PeersKnown, st.PeersTried, st.PeersConnected, st.PeersOffering)
	if st.MetadataSize > 0 {
		fmt.Fprintf(&b, "metadata:  %d of %d pieces (%d bytes)\n", st.PiecesHave, st.PiecesTotal, st.MetadataSize)
	} else {
		fmt.Fprintf(&b, "metadata:  size not known yet\n")
	}
	if st.Err != nil {
		fmt.Fprintf(&b, "error:     %s\n", st.Err)
	}
	return b.String()
}

// ipVersion is 4 for an IPv4 (or IPv4-mapped) address, else 6.
func ipVersion(a netip.AddrPort) int {
	if a.Addr().Unmap().Is4() {
		return 4
	}
	return 6
}
