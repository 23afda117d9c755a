package session

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/hyperblow/hyperblow/engine"
)

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

// WriteMetrics renders st in the Prometheus text exposition format. Per-torrent
// metrics carry the labels torrent (its name) and info_hash.
func WriteMetrics(w io.Writer, st Snapshot) error {
	var fams []*metricFamily
	family := func(name, typ, help string) *metricFamily {
		f := &metricFamily{name: name, typ: typ, help: help}
		fams = append(fams, f)
		return f
	}
	perTorrent := []struct {
		name, typ, help string
		value           func(t TorrentStatus) float64
	}{
		{"hyperblow_downloaded_bytes_total", "counter", "Piece payload bytes received from peers.", func(t TorrentStatus) float64 { return float64(t.DownloadedBytes) }},
		{"hyperblow_uploaded_bytes_total", "counter", "Piece payload bytes sent to peers.", func(t TorrentStatus) float64 { return float64(t.UploadedBytes) }},
		{"hyperblow_served_bytes_total", "counter", "Bytes returned to reads of the mount's files.", func(t TorrentStatus) float64 { return float64(t.ServedToReadersBytes) }},
		{"hyperblow_wasted_bytes_total", "counter", "Duplicate, unrequested or hash-failed piece payload bytes.", func(t TorrentStatus) float64 { return float64(t.WastedBytes) }},
		{"hyperblow_pieces_verified_total", "counter", "Pieces whose hash matched (a piece fetched twice counts twice).", func(t TorrentStatus) float64 { return float64(t.PiecesVerified) }},
		{"hyperblow_hash_failures_total", "counter", "Pieces that failed their hash check.", func(t TorrentStatus) float64 { return float64(t.HashFailures) }},
		{"hyperblow_peers_banned_total", "counter", "Peers banned for sending bad data.", func(t TorrentStatus) float64 { return float64(t.PeersBanned) }},
		{"hyperblow_size_bytes", "gauge", "Bytes in the torrent.", func(t TorrentStatus) float64 { return float64(t.TotalLength) }},
		{"hyperblow_pieces", "gauge", "Pieces in the torrent.", func(t TorrentStatus) float64 { return float64(t.NumPieces) }},
		{"hyperblow_pieces_have", "gauge", "Distinct pieces verified at least once.", func(t TorrentStatus) float64 { return float64(t.PiecesHave) }},
		{"hyperblow_pieces_held", "gauge", "Pieces verified and still held, in memory or on disk.", func(t TorrentStatus) float64 { return float64(t.PiecesHeld) }},
		{"hyperblow_pieces_wanted", "gauge", "Pieces readers wait for or read ahead.", func(t TorrentStatus) float64 { return float64(t.PiecesWanted) }},
		{"hyperblow_held_bytes", "gauge", "Bytes of the pieces held, in memory or on disk.", func(t TorrentStatus) float64 { return float64(t.HeldBytes) }},
		{"hyperblow_peers", "gauge", "Connected peers.", func(t TorrentStatus) float64 { return float64(len(t.Peers)) }},
		{"hyperblow_readers", "gauge", "Open files being read.", func(t TorrentStatus) float64 { return float64(len(t.Readers)) }},
		{"hyperblow_waiting_pieces", "gauge", "Pieces blocked reads wait for.", func(t TorrentStatus) float64 { return float64(len(t.Waiting)) }},
		{"hyperblow_download_rate_bytes", "gauge", "Download rate from peers, bytes per second.", func(t TorrentStatus) float64 { return t.DownloadRate }},
		{"hyperblow_upload_rate_bytes", "gauge", "Upload rate to peers, bytes per second.", func(t TorrentStatus) float64 { return t.UploadRate }},
	}
	for _, m := range append(perTorrent, tierMetrics...) { // tierMetrics: tierstatus.go
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
	for _, m := range []struct {
		name, help string
		value      int
	}{
		{"hyperblow_goroutines", "Goroutines of the process.", st.Goroutines},
		{"hyperblow_connections", "Open peer connections, all torrents.", st.Connections},
	} {
		f := family(m.name, "gauge", m.help)
		f.samples = []metricSample{{nil, float64(m.value)}}
	}
	sleeping := family("hyperblow_sleeping", "gauge", "1 while the torrent sleeps (nothing read for --idle: no connections), else 0.")
	for _, t := range st.Torrents {
		v := 0.0
		if t.State == engine.StateSleeping.String() {
			v = 1
		}
		sleeping.samples = append(sleeping.samples, metricSample{[][2]string{{"torrent", t.Name}, {"info_hash", t.InfoHash}}, v})
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

// Handler serves the session's status: GET /status (and /) as JSON (see
// Snapshot; compact, indented with ?pretty), GET /metrics in the Prometheus text format (0.0.4). A torrent
// whose owner does not answer within 5 s fails the request (503).
func (s *Session) Handler() http.Handler {
	mux := http.NewServeMux()
	status := func(w http.ResponseWriter, r *http.Request) {
		st, err := s.statusSnapshot(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		if r.URL.Query().Has("pretty") {
			// Indenting the whole document costs about three times the encoding
			// itself (200 torrents: 2.2 MB of garbage a query, most of the CPU):
			// only on request.
			enc.SetIndent("", "  ")
		}
		enc.Encode(st)
	}
	mux.HandleFunc("GET /{$}", status)
	mux.HandleFunc("GET /status", status)
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		st, err := s.statusSnapshot(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		WriteMetrics(w, st)
	})
	return mux
}

// statusSnapshot is the snapshot /status and /metrics serve: the torrents
// that are stopping are left out; one that does not answer is an error.
func (s *Session) statusSnapshot(ctx context.Context) (Snapshot, error) {
	st := s.Snapshot(ctx, SnapshotOptions{})
	kept := st.Torrents[:0]
	for _, t := range st.Torrents {
		if t.Unanswered {
			return Snapshot{}, fmt.Errorf("torrent %s: no snapshot: %w", t.Name, context.DeadlineExceeded)
		}
		if !t.Stopped {
			kept = append(kept, t)
		}
	}
	st.Torrents = kept
	return st, nil
}
