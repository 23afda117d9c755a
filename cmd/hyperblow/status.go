package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hyperblow/hyperblow/engine"
)

// The status server (mount --status ADDR) and the status command that reads it.
//
// Where it listens: ADDR is HOST:PORT, :PORT or PORT. Without a host it is
// 127.0.0.1. A host name must be "localhost": a name is never resolved to a
// non-loopback address behind the user's back. An IP address is taken as
// given, so serving beyond this machine takes an explicit address such as
// 0.0.0.0:9100 (and is logged as a warning: the page shows the names of the
// files and what is read, to anyone who can reach it).

const statusUsage = `Usage: hyperblow status [flags] ADDR

Show what a running mount is doing, from the status server it started with
"hyperblow mount --status ADDR": per torrent the progress (pieces verified),
download and upload rates, peers, open readers and bytes served to them, and
each tracker's state (ok with the peers of its last answer, or failing with the
reason; when it is next asked); the cache's counters; and magnet links whose
metadata is still on its way. ADDR must be that status server: anything else
(a BitTorrent port, another web server) gets an error that says so.

ADDR is HOST:PORT, :PORT (127.0.0.1) or an http:// URL. --json prints the
server's JSON unchanged. Its fields (snake_case, stable): time; torrents[]:
name, info_hash, total_length, piece_length, num_pieces, pieces_have,
pieces_verified, pieces_held, pieces_wanted, held_bytes, downloaded_bytes,
uploaded_bytes, served_to_readers_bytes, wasted_bytes, duplicate_bytes, hash_failures,
peers_banned, dials, dial_failures, refused_per_ip, peers_replaced,
download_rate, upload_rate (bytes/s), files[] (path, length),
peers[] (address, peer_id, client, incoming, fast, am_choking, am_interested,
peer_choking, peer_interested, optimistic, snubbed, pieces, requests, depth,
rtt_ms, downloaded_bytes, uploaded_bytes, download_rate, upload_rate), readers[] (id,
piece, window_bytes, rate), waiting[] (piece, waiters), trackers[] (url, tier,
state: waiting|announcing|ok|failing, announcing, peers, seeders, leechers,
error, failures, last_ok_seconds_ago, next_announce_in_seconds); magnets[] (name,
info_hash, state, elapsed_seconds, peers_known, peers_tried, peers_connected,
peers_offering, metadata_size, metadata_pieces_have, metadata_pieces_total,
error, trackers[] as above); cache (hits, misses, evictions, rejections, held_bytes, hot_bytes,
max_bytes). The same data is served at /metrics for Prometheus.

Peer flags (--peers): C it chokes us, c we choke it, I it is interested,
i we are interested, F fast extension (BEP 6), E it connected to us,
O our optimistic unchoke, S snubbed (our requests to it timed out),
X encrypted (MSE, RC4).

Examples:
  hyperblow mount --status :9100 movie.torrent ~/mnt &
  hyperblow status :9100
  hyperblow status --peers 127.0.0.1:9100
  hyperblow status --json :9100 | jq '.torrents[0].served_to_readers_bytes'
  curl -s http://127.0.0.1:9100/metrics

Flags:
`

// statusJSON is GET /status; its field names are a contract (see statusHandler).
type statusJSON struct {
	Time     string              `json:"time"`
	Torrents []torrentStatusJSON `json:"torrents"`
	Magnets  []magnetStatusJSON  `json:"magnets"`
	Cache    cacheStatusJSON     `json:"cache"`
	Network  *networkStatusJSON  `json:"network,omitempty"` // localnet.go
}

type torrentStatusJSON struct {
	Name           string `json:"name"`
	InfoHash       string `json:"info_hash"`
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

	Files    []fileStatusJSON    `json:"files"`
	Peers    []peerStatusJSON    `json:"peers"`
	Readers  []readerStatusJSON  `json:"readers"`
	Waiting  []waitingStatusJSON `json:"waiting"`
	Trackers []trackerStatusJSON `json:"trackers"`
	WebSeeds []webSeedStatusJSON `json:"web_seeds"`
}

// trackerStatusJSON is one tracker of a torrent (see statusHandler).
type trackerStatusJSON struct {
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

type fileStatusJSON struct {
	Path   string `json:"path"`
	Length int64  `json:"length"`
}

type peerStatusJSON struct {
	Address         string  `json:"address"`
	PeerID          string  `json:"peer_id"`
	Client          string  `json:"client"`
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

type readerStatusJSON struct {
	ID          uint64  `json:"id"`
	Piece       int     `json:"piece"`
	WindowBytes int64   `json:"window_bytes"`
	Rate        float64 `json:"rate"`
}

type waitingStatusJSON struct {
	Piece   int `json:"piece"`
	Waiters int `json:"waiters"`
}

type magnetStatusJSON struct {
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

	Trackers []trackerStatusJSON `json:"trackers"`
}

type cacheStatusJSON struct {
	Hits       int64 `json:"hits"`
	Misses     int64 `json:"misses"`
	Evictions  int64 `json:"evictions"`
	Rejections int64 `json:"rejections"`
	HeldBytes  int64 `json:"held_bytes"`
	HotBytes   int64 `json:"hot_bytes"`
	MaxBytes   int64 `json:"max_bytes"`
}

// statusListenAddr applies the listening rules above to --status ADDR.
func statusListenAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		if _, perr := strconv.ParseUint(addr, 10, 16); perr != nil {
			return "", usagef("--status %q: want HOST:PORT, :PORT or PORT (e.g. 127.0.0.1:9100)", addr)
		}
		host, port = "", addr
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", usagef("--status %q: bad port %q", addr, port)
	}
	switch {
	case host == "":
		host = "127.0.0.1"
	case strings.EqualFold(host, "localhost"):
	default:
		if _, err := netip.ParseAddr(host); err != nil {
			return "", usagef("--status %q: %q is a name, not an address: the status server listens on loopback "+
				"(127.0.0.1, ::1, localhost) unless given an IP address explicitly, e.g. 0.0.0.0:%s", addr, host, port)
		}
	}
	return net.JoinHostPort(host, port), nil
}

// startStatus serves --status ADDR (nothing when addr is empty): the client's
// torrents, and res while its magnet resolves (res may be nil). It listens
// before it returns; stop closes it.
func startStatus(log *slog.Logger, addr string, client *engine.Client, res *engine.Torrent) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	laddr, err := statusListenAddr(addr)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", laddr)
	if err != nil {
		return nil, fmt.Errorf("--status %s: %w", addr, err)
	}
	src := &statusSource{client: client, res: res}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", src.statusHandler)
	mux.HandleFunc("GET /status", src.statusHandler)
	mux.HandleFunc("GET /metrics", src.metricsHandler)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      60 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	go srv.Serve(ln)
	bound := ln.Addr().String()
	if ap, err := netip.ParseAddrPort(bound); err == nil && !ap.Addr().IsLoopback() {
		log.Warn("the status server is reachable from other machines: it shows file names and what is read",
			"addr", bound)
	}
	log.Info("status server", "addr", bound, "url", "http://"+bound+"/status")
	return func() { srv.Close() }, nil
}

// statusSource gathers the status from the engine on each request.
type statusSource struct {
	client *engine.Client
	res    *engine.Torrent // a magnet's torrent, or nil
}

// statusHandler serves GET /status (and /) as JSON:
//
//	time                       RFC 3339, when the snapshot was taken
//	torrents[]                 one per torrent, by name:
//	  name, info_hash          the torrent's (sanitized) name; 40 hex digits
//	  total_length             bytes in the torrent (padding included)
//	  piece_length, num_pieces
//	  pieces_have              distinct pieces verified at least once
//	  pieces_verified          hash matches (a piece fetched twice counts twice)
//	  pieces_held, held_bytes  pieces verified and still in memory now
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
//	                           "v"), incoming, fast (BEP 6), am_choking,
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
//	cache                      hits, misses, evictions, rejections (cumulative);
//	                           held_bytes (piece data in memory now, all
//	                           torrents; exact), hot_bytes (the LRU tier's
//	                           share), max_bytes (--cache-size)
//
// Lists are never null. Fields may be added; none is renamed or removed.
func (s *statusSource) statusHandler(w http.ResponseWriter, r *http.Request) {
	st, err := s.collect(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(st)
}

// metricsHandler serves GET /metrics in the Prometheus text format (0.0.4).
func (s *statusSource) metricsHandler(w http.ResponseWriter, r *http.Request) {
	st, err := s.collect(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	writeMetrics(w, st)
}

// collect takes a snapshot of every torrent. A torrent that is stopping is
// left out; one whose owner does not answer within 5 s fails the request.
func (s *statusSource) collect(ctx context.Context) (statusJSON, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st := statusJSON{Time: time.Now().UTC().Format(time.RFC3339), Torrents: []torrentStatusJSON{}, Magnets: []magnetStatusJSON{}}
	// The cache's figures first: its Stats waits for ristretto's buffers, so that
	// what the torrents report held (PiecesHeld) is up to date as well.
	cs := s.client.CacheStats()
	st.Network = networkStatus(s.client)
	running := map[string]bool{}
	for _, t := range torrentsWithInfo(s.client) {
		snap, err := t.Inspect(ctx)
		if errors.Is(err, engine.ErrClosed) {
			continue
		}
		if err != nil {
			return statusJSON{}, fmt.Errorf("torrent %s: no snapshot: %w", t.Info().Name, err)
		}
		ts := torrentStatus(t, snap, time.Now())
		running[ts.InfoHash] = true
		st.Torrents = append(st.Torrents, ts)
	}
	if s.res != nil {
		rs := s.res.ResolveStatus()
		if !running[rs.InfoHash.String()] {
			st.Magnets = append(st.Magnets, magnetStatus(rs))
		}
	}
	st.Cache.Hits, st.Cache.Misses, st.Cache.Evictions, st.Cache.Rejections = cs.Hits, cs.Misses, cs.Evictions, cs.Rejections
	st.Cache.HeldBytes, st.Cache.HotBytes, st.Cache.MaxBytes = cs.HeldBytes, cs.HotBytes, cs.MaxBytes
	return st, nil
}

func torrentStatus(t *engine.Torrent, s engine.Snapshot, now time.Time) torrentStatusJSON {
	info := t.Info()
	held, heldBytes := t.PiecesHeld(0, info.NumPieces)
	ts := torrentStatusJSON{
		Name: info.Name, InfoHash: t.InfoHash().String(),
		TotalLength: info.TotalLength, PieceLength: info.PieceLength, NumPieces: info.NumPieces,
		PiecesHave: s.PiecesHave, PiecesVerified: s.PiecesVerified, PiecesHeld: held, PiecesWanted: s.PiecesWanted,
		HeldBytes:       heldBytes,
		DownloadedBytes: s.Downloaded, UploadedBytes: s.Uploaded, ServedToReadersBytes: s.ServedToReaders,
		WastedBytes: s.Wasted, DuplicateBytes: s.Duplicates, HashFailures: s.HashFailures, PeersBanned: s.PeersBanned,
		Dials: s.Dials, DialFailures: s.DialFailures, RefusedPerIP: s.RefusedPerIP, PeersReplaced: s.PeersReplaced,
		DownloadRate: math.Round(s.DownloadRate), UploadRate: math.Round(s.UploadRate),
		Files: []fileStatusJSON{}, Peers: []peerStatusJSON{}, Readers: []readerStatusJSON{}, Waiting: []waitingStatusJSON{},
		Trackers: trackerStatuses(s.Trackers, now),
		WebSeeds: webSeedStatuses(s.Mirrors),
	}
	for _, f := range info.VisibleFiles() {
		ts.Files = append(ts.Files, fileStatusJSON{Path: strings.Join(f.Path, "/"), Length: f.Length})
	}
	for _, p := range s.Peers {
		ts.Peers = append(ts.Peers, peerStatusJSON{
			Address: p.Addr.String(), PeerID: p.PeerID.String(), Client: p.Client,
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
		ts.Readers = append(ts.Readers, readerStatusJSON{ID: r.ID, Piece: r.Piece, WindowBytes: r.WindowBytes, Rate: math.Round(r.Rate)})
	}
	for _, w := range s.Waiting {
		ts.Waiting = append(ts.Waiting, waitingStatusJSON{Piece: w.Piece, Waiters: w.Waiters})
	}
	return ts
}

// trackerStatuses converts the engine's tracker states, with times relative to now.
func trackerStatuses(trs []engine.TrackerStatus, now time.Time) []trackerStatusJSON {
	out := make([]trackerStatusJSON, 0, len(trs))
	secs := func(d time.Duration) *float64 {
		v := math.Round(d.Seconds()*10) / 10
		return &v
	}
	for _, tr := range trs {
		j := trackerStatusJSON{
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

// trackerText says how a tracker stands, in a few words: "ok: 12 peers; next
// announce in 29m0s", "failing: connection refused (3 times); next try in 30s".
func trackerText(tr trackerStatusJSON) string {
	next := func(what string) string {
		if tr.NextAnnounceInSeconds == nil {
			return ""
		}
		return fmt.Sprintf("; %s in %v", what, time.Duration(*tr.NextAnnounceInSeconds*float64(time.Second)).Round(time.Second))
	}
	switch tr.State {
	case "ok":
		peers := "peers"
		if tr.Peers == 1 {
			peers = "peer"
		}
		s := fmt.Sprintf("ok: %d %s", tr.Peers, peers)
		if tr.Announcing {
			return s + "; announcing"
		}
		return s + next("next announce")
	case "failing":
		s := "failing: " + safe(tr.Error)
		if tr.Failures > 1 {
			s += fmt.Sprintf(" (%d times)", tr.Failures)
		}
		if tr.Announcing {
			if !strings.Contains(tr.Error, "still trying") {
				s += "; trying again"
			}
			return s
		}
		return s + next("next try")
	case "announcing":
		return "announcing"
	}
	if tr.NextAnnounceInSeconds == nil {
		return "backup: asked if the trackers before it in its tier fail"
	}
	return "waiting" + next("first announce")
}

func magnetStatus(rs engine.ResolveStatus) magnetStatusJSON {
	m := magnetStatusJSON{
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

// metricFamily is one metric in the Prometheus text format: its samples are
// written together under one # HELP and one # TYPE line.
type metricFamily struct {
	name, help, typ string
	samples         []metricSample
}

type metricSample struct {
	labels [][2]string
	value  float64
}

// writeMetrics renders st in the Prometheus text exposition format. Per-torrent
// metrics carry the labels torrent (its name) and info_hash.
func writeMetrics(w io.Writer, st statusJSON) error {
	var fams []*metricFamily
	family := func(name, typ, help string) *metricFamily {
		f := &metricFamily{name: name, typ: typ, help: help}
		fams = append(fams, f)
		return f
	}
	perTorrent := []struct {
		name, typ, help string
		value           func(t torrentStatusJSON) float64
	}{
		{"hyperblow_downloaded_bytes_total", "counter", "Piece payload bytes received from peers.", func(t torrentStatusJSON) float64 { return float64(t.DownloadedBytes) }},
		{"hyperblow_uploaded_bytes_total", "counter", "Piece payload bytes sent to peers.", func(t torrentStatusJSON) float64 { return float64(t.UploadedBytes) }},
		{"hyperblow_served_bytes_total", "counter", "Bytes returned to reads of the mount's files.", func(t torrentStatusJSON) float64 { return float64(t.ServedToReadersBytes) }},
		{"hyperblow_wasted_bytes_total", "counter", "Duplicate, unrequested or hash-failed piece payload bytes.", func(t torrentStatusJSON) float64 { return float64(t.WastedBytes) }},
		{"hyperblow_pieces_verified_total", "counter", "Pieces whose hash matched (a piece fetched twice counts twice).", func(t torrentStatusJSON) float64 { return float64(t.PiecesVerified) }},
		{"hyperblow_hash_failures_total", "counter", "Pieces that failed their hash check.", func(t torrentStatusJSON) float64 { return float64(t.HashFailures) }},
		{"hyperblow_peers_banned_total", "counter", "Peers banned for sending bad data.", func(t torrentStatusJSON) float64 { return float64(t.PeersBanned) }},
		{"hyperblow_size_bytes", "gauge", "Bytes in the torrent.", func(t torrentStatusJSON) float64 { return float64(t.TotalLength) }},
		{"hyperblow_pieces", "gauge", "Pieces in the torrent.", func(t torrentStatusJSON) float64 { return float64(t.NumPieces) }},
		{"hyperblow_pieces_have", "gauge", "Distinct pieces verified at least once.", func(t torrentStatusJSON) float64 { return float64(t.PiecesHave) }},
		{"hyperblow_pieces_held", "gauge", "Pieces verified and still held in memory.", func(t torrentStatusJSON) float64 { return float64(t.PiecesHeld) }},
		{"hyperblow_pieces_wanted", "gauge", "Pieces readers wait for or read ahead.", func(t torrentStatusJSON) float64 { return float64(t.PiecesWanted) }},
		{"hyperblow_held_bytes", "gauge", "Bytes of the pieces held in memory.", func(t torrentStatusJSON) float64 { return float64(t.HeldBytes) }},
		{"hyperblow_peers", "gauge", "Connected peers.", func(t torrentStatusJSON) float64 { return float64(len(t.Peers)) }},
		{"hyperblow_readers", "gauge", "Open files being read.", func(t torrentStatusJSON) float64 { return float64(len(t.Readers)) }},
		{"hyperblow_waiting_pieces", "gauge", "Pieces blocked reads wait for.", func(t torrentStatusJSON) float64 { return float64(len(t.Waiting)) }},
		{"hyperblow_download_rate_bytes", "gauge", "Download rate from peers, bytes per second.", func(t torrentStatusJSON) float64 { return t.DownloadRate }},
		{"hyperblow_upload_rate_bytes", "gauge", "Upload rate to peers, bytes per second.", func(t torrentStatusJSON) float64 { return t.UploadRate }},
	}
	for _, m := range perTorrent {
		f := family(m.name, m.typ, m.help)
		for _, t := range st.Torrents {
			f.samples = append(f.samples, metricSample{[][2]string{{"torrent", t.Name}, {"info_hash", t.InfoHash}}, m.value(t)})
		}
	}
	trackerUp := family("hyperblow_tracker_up", "gauge", "1 when the tracker answered its last announce, else 0.")
	trackerPeers := family("hyperblow_tracker_peers", "gauge", "Peers in the tracker's last answer.")
	trackerFailures := family("hyperblow_tracker_failures", "gauge", "The tracker's failed announces in a row.")
	for _, t := range st.Torrents {
		for _, tr := range t.Trackers {
			labels := [][2]string{{"torrent", t.Name}, {"info_hash", t.InfoHash}, {"tracker", tr.URL}}
			up := 0.0
			if tr.State == "ok" {
				up = 1
			}
			trackerUp.samples = append(trackerUp.samples, metricSample{labels, up})
			trackerPeers.samples = append(trackerPeers.samples, metricSample{labels, float64(tr.Peers)})
			trackerFailures.samples = append(trackerFailures.samples, metricSample{labels, float64(tr.Failures)})
		}
	}
	resolving := family("hyperblow_magnet_resolving", "gauge", "1 while a magnet link's metadata is being fetched, 0 once it failed.")
	connected := family("hyperblow_magnet_peers_connected", "gauge", "Peers connected to fetch a magnet link's metadata.")
	for _, m := range st.Magnets {
		labels := [][2]string{{"torrent", m.Name}, {"info_hash", m.InfoHash}}
		v := 0.0
		if m.State != engine.ResolveFailed.String() {
			v = 1
		}
		resolving.samples = append(resolving.samples, metricSample{labels, v})
		connected.samples = append(connected.samples, metricSample{labels, float64(m.PeersConnected)})
	}
	c := st.Cache
	for _, m := range []struct {
		name, typ, help string
		value           int64
	}{
		{"hyperblow_cache_hits_total", "counter", "Piece lookups the cache answered.", c.Hits},
		{"hyperblow_cache_misses_total", "counter", "Piece lookups the cache could not answer.", c.Misses},
		{"hyperblow_cache_evictions_total", "counter", "Pieces evicted from the cache.", c.Evictions},
		{"hyperblow_cache_rejections_total", "counter", "Pieces the cache refused to admit.", c.Rejections},
		{"hyperblow_cache_held_bytes", "gauge", "Bytes of verified pieces held, all torrents.", c.HeldBytes},
		{"hyperblow_cache_hot_bytes", "gauge", "Bytes in the cache's LRU tier.", c.HotBytes},
		{"hyperblow_cache_max_bytes", "gauge", "The cache's budget (--cache-size).", c.MaxBytes},
	} {
		f := family(m.name, m.typ, m.help)
		f.samples = []metricSample{{nil, float64(m.value)}}
	}
	var b strings.Builder
	for _, f := range fams {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", f.name, escapeHelp(f.help), f.name, f.typ)
		for _, s := range f.samples {
			b.WriteString(f.name)
			if len(s.labels) > 0 {
				b.WriteByte('{')
				for i, l := range s.labels {
					if i > 0 {
						b.WriteByte(',')
					}
					fmt.Fprintf(&b, "%s=\"%s\"", l[0], escapeLabel(l[1]))
				}
				b.WriteByte('}')
			}
			b.WriteByte(' ')
			b.WriteString(formatMetric(s.value))
			b.WriteByte('\n')
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// escapeHelp escapes a HELP text: backslash and line feed.
func escapeHelp(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}

// escapeLabel escapes a label value: backslash, double quote and line feed.
// Invalid UTF-8 (names are sanitized, but still) becomes U+FFFD.
func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(strings.ToValidUTF8(s, "\uFFFD"))
}

// formatMetric prints whole numbers without an exponent, others in Go's
// shortest float form (which Prometheus parses).
func formatMetric(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func runStatus(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("status", statusUsage, stdout)
	asJSON := fs.Bool("json", false, "print the server's JSON as it comes")
	peers := fs.Bool("peers", false, "list each torrent's peers too")
	timeout := fs.Duration("timeout", 10*time.Second, "give up when the server does not answer in time")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("status: want ADDR, got %d arguments (see hyperblow status --help)", len(pos))
	}
	u, err := statusURL(pos[0])
	if err != nil {
		return err
	}
	body, err := fetchStatus(u, pos[0], *timeout)
	if err != nil {
		return err
	}
	var st statusJSON
	if err := json.Unmarshal(body, &st); err != nil || st.Time == "" || st.Torrents == nil {
		return fmt.Errorf("status: %s is not a Hyperblow status server: it answered HTTP, but not with Hyperblow's status JSON", pos[0])
	}
	if *asJSON {
		_, err := stdout.Write(body)
		return err
	}
	printStatus(stdout, st, *peers)
	return nil
}

// fetchStatus GETs the status JSON at u (the status command's addr), within
// timeout. Whatever answers, its bytes never reach the terminal raw: something
// that is not Hyperblow's status server (a BitTorrent port answers an HTTP
// request with encryption handshake bytes) gets an error that says so.
func fetchStatus(u, addr string, timeout time.Duration) ([]byte, error) {
	var connected atomic.Bool
	dialer := &net.Dialer{Timeout: timeout}
	client := &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
				c, err := dialer.DialContext(ctx, network, a)
				if err == nil {
					connected.Store(true)
				}
				return c, err
			},
			TLSHandshakeTimeout:   timeout,
			ResponseHeaderTimeout: timeout,
		},
	}
	defer client.CloseIdleConnections()
	notOurs := func(why string) error {
		return fmt.Errorf("status: %s is not a Hyperblow status server: %s (is it the --status address of a running mount?)", addr, why)
	}
	resp, err := client.Get(u)
	if err != nil {
		var ne net.Error
		timedOut := errors.As(err, &ne) && ne.Timeout()
		switch {
		case !connected.Load() && timedOut:
			return nil, fmt.Errorf("status: nothing answers at %s within %v (is a mount running with --status %s?)", u, timeout, addr)
		case !connected.Load():
			return nil, fmt.Errorf("status: nothing answers at %s: %v (is a mount running with --status %s?)", u, unwrapURLError(err), addr)
		case timedOut:
			return nil, notOurs(fmt.Sprintf("it accepted the connection but sent no HTTP answer within %v", timeout))
		case strings.Contains(err.Error(), "malformed HTTP"):
			// The error quotes what came back: never print it.
			return nil, notOurs("its answer is not HTTP")
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET),
			errors.Is(err, syscall.EPIPE), strings.Contains(err.Error(), "server closed idle connection"):
			return nil, notOurs("it closed the connection without an HTTP answer")
		}
		return nil, notOurs("no HTTP answer: " + safe(unwrapURLError(err).Error()))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("status: reading the answer of %s: %v", u, unwrapURLError(err))
	}
	if resp.StatusCode != http.StatusOK {
		return nil, notOurs(fmt.Sprintf("%s answered %s", u, resp.Status))
	}
	return body, nil
}

// statusURL turns the status command's ADDR into the URL of /status.
func statusURL(addr string) (string, error) {
	if strings.Contains(addr, "://") {
		u, err := url.Parse(addr)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "", usagef("status: %q is not an http:// URL", addr)
		}
		if u.Path == "" || u.Path == "/" {
			u.Path = "/status"
		}
		return u.String(), nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		host, port = "", addr
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", usagef("status: ADDR %q: want HOST:PORT, :PORT or an http:// URL", addr)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/status", nil
}

// unwrapURLError drops net/http's "Get URL:" prefix, already in our message.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// printStatus prints the status for people: a line per torrent, then magnets
// still resolving, then the cache. Names come from torrents and peers: they
// are quoted when they hold anything but printable characters.
func printStatus(w io.Writer, st statusJSON, peers bool) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(st.Torrents) > 0 {
		fmt.Fprintln(tw, "TORRENT\tSIZE\tPROGRESS\tDOWNLOAD\tUPLOAD\tPEERS\tREADERS\tWAITING\tSERVED")
	}
	for _, t := range st.Torrents {
		waiting := 0
		for _, p := range t.Waiting {
			waiting += p.Waiters
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s/s\t%s/s\t%d\t%d\t%d\t%s\n", safe(t.Name), humanSize(t.TotalLength),
			percent(t.PiecesHave, t.NumPieces), humanSize(int64(t.DownloadRate)), humanSize(int64(t.UploadRate)),
			len(t.Peers), len(t.Readers), waiting, humanSize(t.ServedToReadersBytes))
	}
	tw.Flush()
	for _, t := range st.Torrents {
		if len(t.Trackers) == 0 {
			continue
		}
		if len(st.Torrents) > 1 {
			fmt.Fprintf(w, "trackers of %s:\n", safe(t.Name))
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, tr := range t.Trackers {
			fmt.Fprintf(tw, "  tracker %s\ttier %d\t%s\n", safe(tr.URL), tr.Tier, trackerText(tr))
		}
		tw.Flush()
	}
	for _, t := range st.Torrents {
		for _, l := range webSeedLines(t.WebSeeds) {
			fmt.Fprintln(w, l)
		}
	}
	for _, m := range st.Magnets {
		fmt.Fprintf(w, "magnet %s (%s): %s for %.0fs; peers %d known, %d connected, %d offering metadata",
			safe(m.Name), m.InfoHash, m.State, m.ElapsedSeconds, m.PeersKnown, m.PeersConnected, m.PeersOffering)
		if m.MetadataPiecesTotal > 0 {
			fmt.Fprintf(w, "; metadata %d/%d pieces", m.MetadataPiecesHave, m.MetadataPiecesTotal)
		}
		if m.Error != "" {
			fmt.Fprintf(w, "; error: %s", safe(m.Error))
		}
		fmt.Fprintln(w)
	}
	if len(st.Torrents) == 0 && len(st.Magnets) == 0 {
		fmt.Fprintln(w, "no torrents")
	}
	if peers {
		for _, t := range st.Torrents {
			fmt.Fprintf(w, "\npeers of %s:\n", safe(t.Name))
			if len(t.Peers) == 0 {
				fmt.Fprintln(w, "  none")
				continue
			}
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "  ADDRESS\tCLIENT\tFLAGS\tPIECES\tDOWNLOAD\tUPLOAD")
			for _, p := range t.Peers {
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s/s\t%s/s\n", p.Address, safe(p.Client), peerFlags(p),
					percent(p.Pieces, t.NumPieces), humanSize(int64(p.DownloadRate)), humanSize(int64(p.UploadRate)))
			}
			tw.Flush()
		}
	}
	c := st.Cache
	fmt.Fprintf(w, "cache: %s held of %s; %d hits, %d misses, %d evictions, %d rejections\n",
		humanSize(c.HeldBytes), humanSize(c.MaxBytes), c.Hits, c.Misses, c.Evictions, c.Rejections)
	printNetwork(w, st.Network) // localnet.go
}

// peerFlags is the compact flag string of --peers (see statusUsage).
func peerFlags(p peerStatusJSON) string {
	var b []byte
	for _, f := range []struct {
		on bool
		c  byte
	}{
		{p.PeerChoking, 'C'}, {p.AmChoking, 'c'}, {p.PeerInterested, 'I'}, {p.AmInterested, 'i'},
		{p.Fast, 'F'}, {p.Incoming, 'E'}, {p.Optimistic, 'O'}, {p.Snubbed, 'S'}, {p.Encryption == "rc4", 'X'},
	} {
		if f.on {
			b = append(b, f.c)
		}
	}
	if len(b) == 0 {
		return "-"
	}
	return string(b)
}

// percent prints part/whole with one decimal; 100.0% only when complete.
func percent(part, whole int) string {
	if whole <= 0 || part >= whole {
		return "100.0%"
	}
	tenths := int64(part) * 1000 / int64(whole)
	return fmt.Sprintf("%d.%d%%", tenths/10, tenths%10)
}
