package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/enginetest"
	"github.com/hyperblow/hyperblow/session"
)

// fakeStatus is a snapshot with one of everything, and a name that needs escaping.
func fakeStatus() statusJSON {
	return statusJSON{
		Time: "2025-01-02T03:04:05Z",
		Torrents: []torrentStatusJSON{{
			Name: "we\"ird\\na\nme", InfoHash: strings.Repeat("ab", 20),
			TotalLength: 8 << 20, PieceLength: 1 << 20, NumPieces: 8,
			PiecesHave: 3, PiecesVerified: 4, PiecesHeld: 3, PiecesWanted: 2, HeldBytes: 3 << 20,
			DownloadedBytes: 4 << 20, UploadedBytes: 1 << 20, ServedToReadersBytes: 3<<20 + 5, WastedBytes: 16384,
			HashFailures: 1, PeersBanned: 1, DownloadRate: 1.5e6, UploadRate: 0.25,
			Files:    []fileStatusJSON{{Path: "dir/file.bin", Length: 8 << 20}},
			Peers:    []peerStatusJSON{{Address: "127.0.0.1:6881", PeerID: "-LT2080-xxxxxxxxxxxx", Client: "libtorrent/2.0.8", Transport: "utp", IPVersion: 4, Fast: true, AmChoking: true, PeerInterested: true, Pieces: 8, Requests: 12, DownloadedBytes: 4 << 20, DownloadRate: 1.5e6}},
			Readers:  []readerStatusJSON{{ID: 1, Piece: 3, WindowBytes: 4 << 20, Rate: 2e6}},
			Waiting:  []waitingStatusJSON{{Piece: 3, Waiters: 2}},
			WebSeeds: []webSeedStatusJSON{{URL: "https://mirror.example/files/", State: "fetching", DownloadRate: 3 << 20, DownloadedBytes: 120 << 20}},
			Trackers: []trackerStatusJSON{
				{URL: "http://tracker.example/announce", Tier: 1, State: "ok", Peers: 12, Seeders: 2, Leechers: 10,
					LastOKSecondsAgo: ptr(30.0), NextAnnounceInSeconds: ptr(1770.0)},
				{URL: "udp://dead.example:6969/announce", Tier: 2, State: "failing", Error: "no answer within 1m0s",
					Failures: 3, NextAnnounceInSeconds: ptr(59.6)},
			},
		}},
		Magnets: []magnetStatusJSON{{Name: "pending", InfoHash: strings.Repeat("cd", 20), State: "resolving", ElapsedSeconds: 1.5, PeersKnown: 3, PeersConnected: 1}},
		Cache:   cacheStatusJSON{Hits: 10, Misses: 2, Evictions: 1, Rejections: 0, HeldBytes: 3 << 20, HotBytes: 3 << 20, MaxBytes: 512 << 20},
	}
}

func ptr[T any](v T) *T { return &v }

// promSample is one parsed sample line.
type promSample struct {
	name   string
	labels map[string]string
	value  float64
}

var (
	promHelp     = regexp.MustCompile(`^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$`)
	promType     = regexp.MustCompile(`^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge)$`)
	promSampleRe = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$`)
	promLabel    = regexp.MustCompile(`^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"`)
)

// parseProm is a strict parser of the text format as Hyperblow writes it: HELP
// then TYPE before a family's samples, each family once, valid label syntax.
func parseProm(t *testing.T, text string) (types map[string]string, samples []promSample) {
	t.Helper()
	types = map[string]string{}
	helped := map[string]bool{}
	current := ""
	if !strings.HasSuffix(text, "\n") {
		t.Fatalf("metrics do not end with a newline")
	}
	for n, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		switch {
		case strings.HasPrefix(line, "# HELP "):
			m := promHelp.FindStringSubmatch(line)
			if m == nil || helped[m[1]] {
				t.Fatalf("line %d: bad or repeated HELP: %q", n+1, line)
			}
			helped[m[1]], current = true, m[1]
		case strings.HasPrefix(line, "# TYPE "):
			m := promType.FindStringSubmatch(line)
			if m == nil || types[m[1]] != "" || m[1] != current {
				t.Fatalf("line %d: bad, repeated or misplaced TYPE: %q", n+1, line)
			}
			types[m[1]] = m[2]
		case strings.HasPrefix(line, "#"):
			t.Fatalf("line %d: unexpected comment %q", n+1, line)
		default:
			m := promSampleRe.FindStringSubmatch(line)
			if m == nil || m[1] != current || types[current] == "" {
				t.Fatalf("line %d: bad sample, or outside its family: %q", n+1, line)
			}
			s := promSample{name: m[1], labels: map[string]string{}}
			if ls := m[2]; ls != "" {
				rest := ls[1 : len(ls)-1]
				for rest != "" {
					lm := promLabel.FindStringSubmatch(rest)
					if lm == nil {
						t.Fatalf("line %d: bad labels %q", n+1, ls)
					}
					s.labels[lm[1]] = strings.NewReplacer(`\\`, `\`, `\"`, `"`, `\n`, "\n").Replace(lm[2])
					rest = strings.TrimPrefix(rest[len(lm[0]):], ",")
				}
			}
			v, err := strconv.ParseFloat(m[3], 64)
			if err != nil {
				t.Fatalf("line %d: bad value %q", n+1, m[3])
			}
			s.value = v
			if strings.HasSuffix(s.name, "_total") != (types[current] == "counter") {
				t.Errorf("line %d: counters end in _total, gauges do not: %q is a %s", n+1, s.name, types[current])
			}
			samples = append(samples, s)
		}
	}
	return types, samples
}

func findSample(samples []promSample, name string) (promSample, bool) {
	for _, s := range samples {
		if s.name == name {
			return s, true
		}
	}
	return promSample{}, false
}

func TestWriteMetrics(t *testing.T) {
	st := fakeStatus()
	var b bytes.Buffer
	if err := session.WriteMetrics(&b, st); err != nil {
		t.Fatal(err)
	}
	text := b.String()
	if !strings.Contains(text, `torrent="we\"ird\\na\nme"`) {
		t.Errorf("label not escaped as the format wants:\n%s", text)
	}
	types, samples := parseProm(t, text)
	want := map[string]float64{
		"hyperblow_downloaded_bytes_total": 4 << 20,
		"hyperblow_uploaded_bytes_total":   1 << 20,
		"hyperblow_served_bytes_total":     3<<20 + 5,
		"hyperblow_wasted_bytes_total":     16384,
		"hyperblow_hash_failures_total":    1,
		"hyperblow_peers_banned_total":     1,
		"hyperblow_pieces_verified_total":  4,
		"hyperblow_peers":                  1,
		"hyperblow_pieces":                 8,
		"hyperblow_pieces_have":            3,
		"hyperblow_pieces_held":            3,
		"hyperblow_readers":                1,
		"hyperblow_waiting_pieces":         1,
		"hyperblow_download_rate_bytes":    1.5e6,
		"hyperblow_upload_rate_bytes":      0.25,
		"hyperblow_cache_hits_total":       10,
		"hyperblow_cache_misses_total":     2,
		"hyperblow_cache_evictions_total":  1,
		"hyperblow_cache_rejections_total": 0,
		"hyperblow_cache_held_bytes":       3 << 20,
		"hyperblow_cache_max_bytes":        512 << 20,
		"hyperblow_magnet_resolving":       1,
		"hyperblow_tracker_up":             1,
		"hyperblow_tracker_peers":          12,
		"hyperblow_tracker_failures":       0,
	}
	for name, v := range want {
		s, ok := findSample(samples, name)
		if !ok {
			t.Errorf("no sample of %s", name)
			continue
		}
		if s.value != v {
			t.Errorf("%s = %v, want %v", name, s.value, v)
		}
		if strings.HasPrefix(name, "hyperblow_cache_") {
			continue
		}
		wantName := st.Torrents[0].Name
		if strings.HasPrefix(name, "hyperblow_magnet_") {
			wantName = "pending"
		}
		if s.labels["torrent"] != wantName || len(s.labels["info_hash"]) != 40 {
			t.Errorf("%s labels = %q", name, s.labels)
		}
		if strings.HasPrefix(name, "hyperblow_tracker_") && s.labels["tracker"] != "http://tracker.example/announce" {
			t.Errorf("%s labels = %q", name, s.labels)
		}
	}
	var dead []promSample
	for _, s := range samples {
		if s.labels["tracker"] == "udp://dead.example:6969/announce" {
			dead = append(dead, s)
		}
	}
	if len(dead) != 3 || dead[0].value != 0 || dead[2].value != 3 {
		t.Errorf("failing tracker's samples %+v, want up 0, peers 0, failures 3", dead)
	}
	if types["hyperblow_peers"] != "gauge" || types["hyperblow_served_bytes_total"] != "counter" {
		t.Errorf("types: %v", types)
	}
	if strings.Contains(text, "e+") {
		t.Errorf("whole numbers should print without an exponent:\n%s", text)
	}

	// No torrents: every family still has its HELP and TYPE, and parses.
	b.Reset()
	session.WriteMetrics(&b, statusJSON{})
	types, _ = parseProm(t, b.String())
	if types["hyperblow_downloaded_bytes_total"] != "counter" {
		t.Errorf("empty status: %q", b.String())
	}
}

// keys returns the sorted keys of a JSON object.
func keys(t *testing.T, v any) []string {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("not an object: %v", v)
	}
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func checkKeys(t *testing.T, what string, v any, want ...string) {
	t.Helper()
	slices.Sort(want)
	if got := keys(t, v); !slices.Equal(got, want) {
		t.Errorf("%s: keys %q, want %q", what, got, want)
	}
}

// TestStatusJSONShape pins the JSON field names: they are a contract.
func TestStatusJSONShape(t *testing.T) {
	raw, err := json.Marshal(fakeStatus())
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	checkKeys(t, "status", v, "time", "torrents", "magnets", "cache", "goroutines", "connections")
	tor := v["torrents"].([]any)[0]
	checkKeys(t, "torrent", tor, "name", "info_hash", "state", "total_length", "piece_length", "num_pieces",
		"pieces_have", "pieces_verified", "pieces_held", "pieces_wanted", "held_bytes",
		"downloaded_bytes", "uploaded_bytes", "served_to_readers_bytes", "wasted_bytes",
		"duplicate_bytes", "hash_failures", "peers_banned",
		"dials", "dial_failures", "refused_per_ip", "peers_replaced", "download_rate", "upload_rate",
		"files", "peers", "readers", "waiting", "trackers", "web_seeds", "tier")
	tm := tor.(map[string]any)
	checkKeys(t, "tier", tm["tier"], "ram_bytes", "ram_hits", "disk", "disk_bytes", "disk_hits", "disk_misses",
		"disk_writes", "disk_queued_bytes", "disk_dropped", "disk_write_errors", "disk_evictions", "disk_corrupt",
		"disk_degraded", "advertised", "rejected_requests", "peers_reset")
	var disk any
	if raw, err := json.Marshal(session.DiskStatus{Error: "x"}); err != nil || json.Unmarshal(raw, &disk) != nil {
		t.Fatal(err)
	}
	checkKeys(t, "disk", disk, "held_bytes", "max_bytes", "queued_bytes", "hits", "misses", "writes", "write_errors",
		"dropped", "evictions", "corrupt", "degraded", "error")
	checkKeys(t, "web seed", tm["web_seeds"].([]any)[0], "url", "state", "download_rate", "downloaded_bytes")
	checkKeys(t, "file", tm["files"].([]any)[0], "path", "length")
	checkKeys(t, "peer", tm["peers"].([]any)[0], "address", "peer_id", "client", "transport", "ip_version", "incoming", "fast",
		"am_choking", "am_interested", "peer_choking", "peer_interested", "optimistic", "snubbed",
		"pieces", "requests", "depth", "rtt_ms", "downloaded_bytes", "uploaded_bytes", "download_rate", "upload_rate")
	checkKeys(t, "reader", tm["readers"].([]any)[0], "id", "piece", "window_bytes", "rate")
	checkKeys(t, "waiting", tm["waiting"].([]any)[0], "piece", "waiters")
	checkKeys(t, "tracker", tm["trackers"].([]any)[0], "url", "tier", "state", "announcing", "peers", "seeders",
		"leechers", "failures", "last_ok_seconds_ago", "next_announce_in_seconds")
	checkKeys(t, "failing tracker", tm["trackers"].([]any)[1], "url", "tier", "state", "announcing", "peers", "seeders",
		"leechers", "error", "failures", "next_announce_in_seconds")
	checkKeys(t, "magnet", v["magnets"].([]any)[0], "name", "info_hash", "state", "elapsed_seconds",
		"peers_known", "peers_tried", "peers_connected", "peers_offering", "metadata_size",
		"metadata_pieces_have", "metadata_pieces_total", "trackers")
	checkKeys(t, "cache", v["cache"], "hits", "misses", "evictions", "rejections", "held_bytes", "hot_bytes", "max_bytes")
}

func TestStatusListenAddr(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{":9100", "127.0.0.1:9100", true},
		{"9100", "127.0.0.1:9100", true},
		{":0", "127.0.0.1:0", true},
		{"127.0.0.1:9100", "127.0.0.1:9100", true},
		{"[::1]:9100", "[::1]:9100", true},
		{"localhost:9100", "localhost:9100", true},
		{"0.0.0.0:9100", "0.0.0.0:9100", true}, // explicit: taken as given
		{"example.org:9100", "", false},        // a name is never resolved to a public address
		{"127.0.0.1", "", false},
		{":http", "", false},
		{"", "", false},
	}
	for _, c := range cases {
		got, err := statusListenAddr(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("statusListenAddr(%q) = %q, %v; want %q, ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}

func TestStatusURL(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{":9100", "http://127.0.0.1:9100/status", true},
		{"127.0.0.1:9100", "http://127.0.0.1:9100/status", true},
		{"[::1]:9100", "http://[::1]:9100/status", true},
		{"http://127.0.0.1:9100", "http://127.0.0.1:9100/status", true},
		{"http://127.0.0.1:9100/status", "http://127.0.0.1:9100/status", true},
		{"ftp://x", "", false},
		{"nope", "", false},
	}
	for _, c := range cases {
		got, err := statusURL(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("statusURL(%q) = %q, %v; want %q, ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}

func TestPrintStatus(t *testing.T) {
	var b bytes.Buffer
	printStatus(&b, fakeStatus(), true)
	out := b.String()
	for _, want := range []string{`we\"ird\\na\nme`, "37.5%", "1.4 MiB/s", "magnet pending", "resolving", "libtorrent/2.0.8", "utp/v4", "cIF", "cache: 3.0 MiB held of 512.0 MiB",
		"tracker http://tracker.example/announce   tier 1  ok: 12 peers; next announce in 29m30s",
		"tracker udp://dead.example:6969/announce  tier 2  failing: no answer within 1m0s (3 times); next try in 1m0s"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "\n") < 4 {
		t.Errorf("output:\n%s", out)
	}
}

func TestRunStatusNothingAnswers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var out, errOut bytes.Buffer
	if code := run([]string{"status", addr}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "nothing answers at http://"+addr+"/status") {
		t.Errorf("exit %d, stderr %q", code, errOut.String())
	}
	if code := run([]string{"status"}, &out, &errOut); code != 2 {
		t.Errorf("status without ADDR: exit %d", code)
	}
}

// TestRunStatusNotOurs: pointed at something that is not Hyperblow's status
// server (a BitTorrent port answers with binary handshake bytes, another port
// stays silent or hangs up, an HTTP server answers 404 or other JSON), status
// fails with exit 1 and says so, and never prints what came back.
func TestRunStatusNotOurs(t *testing.T) {
	binary := make([]byte, 96) // what an MSE peer sends back: its DH public key
	for i := range binary {
		binary[i] = byte(0x80 + i*7)
	}
	binary[5], binary[9] = 0x1b, '\n' // an escape sequence and a line break among them
	serveTCP := func(answer func(net.Conn)) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go answer(c)
			}
		}()
		return ln.Addr().String()
	}
	held := make(chan net.Conn, 4)
	t.Cleanup(func() {
		for len(held) > 0 {
			(<-held).Close()
		}
	})
	httpSrv := func(h http.HandlerFunc) string {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		return strings.TrimPrefix(srv.URL, "http://")
	}
	cases := []struct {
		name, addr, want string
	}{
		{"binary answer", serveTCP(func(c net.Conn) {
			buf := make([]byte, 512)
			c.Read(buf)
			c.Write(binary)
			c.Close()
		}), "its answer is not HTTP"},
		{"silent", serveTCP(func(c net.Conn) { held <- c }), "sent no HTTP answer within 300ms"},
		{"hangs up", serveTCP(func(c net.Conn) { c.Close() }), "closed the connection without an HTTP answer"},
		{"404", httpSrv(http.NotFound), "answered 404 Not Found"},
		{"other JSON", httpSrv(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"hello":"world"}`)) }), "not with Hyperblow's status JSON"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run([]string{"status", "--timeout", "300ms", c.addr}, &out, &errOut)
			msg := errOut.String()
			if code != 1 || !strings.Contains(msg, c.addr+" is not a Hyperblow status server") || !strings.Contains(msg, c.want) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", code, msg, c.want)
			}
			if out.Len() != 0 {
				t.Errorf("stdout %q", out.String())
			}
			for _, r := range strings.TrimSuffix(msg, "\n") {
				if r < 0x20 || r > 0x7e {
					t.Fatalf("stderr holds %q: %q", r, msg)
				}
			}
			if strings.Contains(msg, `\x`) {
				t.Errorf("stderr quotes the bytes that came back: %q", msg)
			}
		})
	}
}

// TestStatusServer runs the server over a real engine client reading from an
// in-process seeder, and the status command against it.
func TestStatusServer(t *testing.T) {
	data := enginetest.RandomBytes(3, 1<<20+77)
	mt, all := enginetest.Torrent(t, "status.bin", 64<<10, []enginetest.File{{Data: data}})
	seeder := enginetest.Seed(t, mt, all)
	s, err := session.New(session.Config{Engine: engine.Config{Listen: "127.0.0.1:0"}, CacheSize: 64 << 20, Readahead: 4 << 20,
		Peers: []netip.AddrPort{seeder}, NoTrackers: true, Logger: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	e, err := s.Start(t.Context(), session.Source{Torrent: mt}, session.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tor := e.Torrent()
	var logs syncBuf
	stop, err := startStatus(slog.New(slog.NewTextHandler(&logs, nil)), "127.0.0.1:0", s)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	m := regexp.MustCompile(`msg="status server" addr=(127\.0\.0\.1:\d+)`).FindStringSubmatch(logs.String())
	if m == nil {
		t.Fatalf("no status server line in the log: %q", logs.String())
	}
	base := "http://" + m[1]

	r := tor.NewReader(mt.Info.Files[0])
	buf := make([]byte, len(data))
	if n, err := r.ReadAt(t.Context(), buf, 0); n != len(data) || err != nil {
		t.Fatalf("ReadAt: %d, %v", n, err)
	}

	var st statusJSON
	deadline := time.Now().Add(10 * time.Second)
	for {
		body := get(t, base+"/status")
		if err := json.Unmarshal([]byte(body), &st); err != nil {
			t.Fatalf("/status: %v\n%s", err, body)
		}
		if len(st.Torrents) == 1 && len(st.Torrents[0].Peers) == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(st.Torrents) != 1 {
		t.Fatalf("torrents: %+v", st.Torrents)
	}
	ts := st.Torrents[0]
	if ts.Name != "status.bin" || ts.InfoHash != mt.InfoHash.String() || ts.ServedToReadersBytes != int64(len(data)) ||
		ts.PiecesHave != ts.NumPieces || ts.PiecesHeld != ts.NumPieces || len(ts.Files) != 1 || len(ts.Readers) != 1 {
		t.Errorf("torrent status: %+v", ts)
	}
	if len(ts.Peers) != 1 || ts.Peers[0].Address != seeder.String() {
		t.Errorf("peers: %+v, want the seeder %v", ts.Peers, seeder)
	}
	r.Close()

	_, samples := parseProm(t, get(t, base+"/metrics"))
	if s, ok := findSample(samples, "hyperblow_served_bytes_total"); !ok || s.value != float64(len(data)) || s.labels["torrent"] != "status.bin" {
		t.Errorf("served metric: %+v", s)
	}
	if root := get(t, base+"/"); !strings.Contains(root, `"torrents"`) {
		t.Errorf("/: %s", root)
	}
	if resp, err := http.Get(base + "/nope"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("/nope: %v %v", resp, err)
	}

	var out, errOut bytes.Buffer
	if code := run([]string{"status", m[1]}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "status.bin") || !strings.Contains(out.String(), "100.0%") {
		t.Errorf("hyperblow status: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	out.Reset()
	if code := run([]string{"status", "--json", m[1]}, &out, &errOut); code != 0 || !json.Valid(out.Bytes()) {
		t.Errorf("hyperblow status --json: exit %d\n%s%s", code, out.String(), errOut.String())
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %v %v: %s", url, resp.Status, err, b)
	}
	return string(b)
}

// syncBuf is a bytes.Buffer safe for the logger and the test at once.
type syncBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
