package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// statusJSON is the part of `GET /status` these tests read.
type statusJSON struct {
	Torrents []struct {
		Name                 string `json:"name"`
		InfoHash             string `json:"info_hash"`
		State                string `json:"state"`
		NumPieces            int    `json:"num_pieces"`
		PiecesHave           int    `json:"pieces_have"`
		ServedToReadersBytes int64  `json:"served_to_readers_bytes"`
		DownloadedBytes      int64  `json:"downloaded_bytes"`
		Files                []struct {
			Path   string `json:"path"`
			Length int64  `json:"length"`
		} `json:"files"`
		Peers []struct {
			Address     string `json:"address"`
			Client      string `json:"client"`
			Incoming    bool   `json:"incoming"`
			PeerChoking bool   `json:"peer_choking"`
			Encryption  string `json:"encryption"`
		} `json:"peers"`
		Readers []struct {
			ID uint64 `json:"id"`
		} `json:"readers"`
		Waiting []struct {
			Piece   int `json:"piece"`
			Waiters int `json:"waiters"`
		} `json:"waiting"`
		Trackers []trackerJSON `json:"trackers"`
	} `json:"torrents"`
	Magnets []struct {
		InfoHash string        `json:"info_hash"`
		State    string        `json:"state"`
		Trackers []trackerJSON `json:"trackers"`
	} `json:"magnets"`
	Cache struct {
		Hits   int64 `json:"hits"`
		Misses int64 `json:"misses"`
	} `json:"cache"`
	Goroutines  int `json:"goroutines"`
	Connections int `json:"connections"`
}

// trackerJSON is one tracker of /status.
type trackerJSON struct {
	URL        string   `json:"url"`
	Tier       int      `json:"tier"`
	State      string   `json:"state"`
	Announcing bool     `json:"announcing"`
	Peers      int      `json:"peers"`
	Error      string   `json:"error"`
	Failures   int      `json:"failures"`
	Next       *float64 `json:"next_announce_in_seconds"`
}

var statusLine = regexp.MustCompile(`msg="status server" addr=(127\.0\.0\.1:\d+)`)

// statusAddr is the address the mount's status server listens on, from its
// `msg="status server" addr=...` log line (it was given port 0).
func statusAddr(t *testing.T, m *Mount) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if sm := statusLine.FindStringSubmatch(m.Stderr()); sm != nil {
			return sm[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no status server line on hyperblow's stderr:\n%s", tail(m.Stderr(), 4000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func statusGet(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v\n%s", url, resp.Status, err, b)
	}
	return string(b)
}

func getStatus(t *testing.T, addr string) statusJSON {
	t.Helper()
	body := statusGet(t, "http://"+addr+"/status")
	var st statusJSON
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("/status is not JSON: %v\n%s", err, body)
	}
	return st
}

// getfattr runs `getfattr -d -m user.hyperblow` on path and returns name -> value.
func getfattr(t *testing.T, path string) map[string]string {
	t.Helper()
	r := run(t, 10*time.Second, procOpts{}, "getfattr", "--absolute-names", "-d", "-e", "text", "-m", "user.hyperblow", path)
	if r.code != 0 {
		t.Fatalf("getfattr %s: %v", path, r)
	}
	out := map[string]string{}
	for _, line := range strings.Split(r.stdout, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, val, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("getfattr: odd line %q in\n%s", line, r.stdout)
		}
		out[name] = strings.Trim(val, `"`)
	}
	return out
}

func percentOf(t *testing.T, what, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil || !strings.HasSuffix(s, "%") {
		t.Fatalf("%s: %q is not a percentage", what, s)
	}
	return v
}

// TestStatusServerXattrs mounts a 64 MiB torrent seeded by python3-libtorrent
// with --status on a free loopback port: the xattrs tell the info-hash and a
// progress that rises after a read; after a cp of the file, /status says the
// readers got exactly the file's size and lists the seeder; /metrics is valid
// Prometheus text; and `hyperblow status` prints the torrent's name.
func TestStatusServerXattrs(t *testing.T) {
	bin := buildBinary(t)
	requireTool(t, "getfattr")
	data := sharedData(t)
	tor := makeTorrent(t, data.Big, nil, 256<<10)
	peer := seedLibtorrent(t, tor)
	m := mount(t, "--status", "127.0.0.1:0", "--peer", peer, tor.Path)
	addr := statusAddr(t, m)
	file := filepath.Join(m.Dir, filepath.Base(tor.Data))

	x := getfattr(t, file)
	if x["user.hyperblow.infohash"] != tor.InfoHash {
		t.Errorf("user.hyperblow.infohash = %q, want %s (all: %q)", x["user.hyperblow.infohash"], tor.InfoHash, x)
	}
	if p := x["user.hyperblow.progress"]; p != "0.0%" {
		t.Errorf("user.hyperblow.progress before any read = %q, want 0.0%%", p)
	}
	if pc := x["user.hyperblow.pieces"]; pc != strings.Repeat(".", tor.Info.NumPieces) {
		t.Errorf("user.hyperblow.pieces before any read = %q, want %d dots", pc, tor.Info.NumPieces)
	}
	if rx := getfattr(t, m.Dir); rx["user.hyperblow.infohash"] != tor.InfoHash || rx["user.hyperblow.progress"] != "0.0%" {
		t.Errorf("the root's xattrs: %q", rx)
	}
	if r := run(t, 10*time.Second, procOpts{}, "getfattr", "--absolute-names", "-n", "user.hyperblow.nope", file); r.code == 0 || !strings.Contains(r.stderr, "No such attribute") {
		t.Errorf("getfattr of an unknown name: want No such attribute (ENODATA), got %v", r)
	}

	dd := run(t, time.Minute, procOpts{}, "dd", "if="+file, "of=/dev/null", "bs=1M", "count=1")
	if dd.code != 0 {
		t.Fatalf("dd of the first MiB: %v\nhyperblow stderr:\n%s", dd, tail(m.Stderr(), 4000))
	}
	x = getfattr(t, file)
	if p := percentOf(t, "progress after dd", x["user.hyperblow.progress"]); p <= 0 || p >= 100 {
		t.Errorf("user.hyperblow.progress after reading the first MiB = %q, want above 0%% and below 100%%", x["user.hyperblow.progress"])
	}
	if pc := x["user.hyperblow.pieces"]; !strings.HasPrefix(pc, "####") || !strings.Contains(pc, ".") {
		t.Errorf("user.hyperblow.pieces after reading the first MiB (4 pieces) = %q", pc)
	}

	out := filepath.Join(t.TempDir(), "copy")
	if cp := run(t, 3*time.Minute, procOpts{}, "cp", file, out); cp.code != 0 {
		t.Fatalf("cp: %v\nhyperblow stderr:\n%s", cp, tail(m.Stderr(), 4000))
	}
	if got, want := hashFile(t, out), hashFile(t, tor.Data); got != want {
		t.Fatalf("the copy's SHA-256 %s differs from the source's %s", got, want)
	}

	st := getStatus(t, addr)
	if len(st.Torrents) != 1 {
		t.Fatalf("/status lists %d torrents, want 1: %+v", len(st.Torrents), st)
	}
	ts := st.Torrents[0]
	if ts.Name != tor.Info.Name || ts.InfoHash != tor.InfoHash || len(ts.Files) != 1 || ts.Files[0].Length != tor.Info.TotalLength {
		t.Errorf("/status torrent: %+v", ts)
	}
	// dd and cp each read through the kernel's page cache: every byte of the
	// file reached a reader, most of them once. (The kernel may read a page
	// again, if it dropped it before cp came to it: seen once, 64 KiB, on a
	// loaded machine.)
	if ts.ServedToReadersBytes < tor.Info.TotalLength || ts.ServedToReadersBytes > tor.Info.TotalLength+1<<20 {
		t.Errorf("served_to_readers_bytes = %d after a cp, want the file's size %d (and at most 1 MiB read again)", ts.ServedToReadersBytes, tor.Info.TotalLength)
	}
	if ts.PiecesHave != ts.NumPieces || ts.NumPieces != tor.Info.NumPieces || ts.DownloadedBytes < tor.Info.TotalLength {
		t.Errorf("/status after cp: pieces_have %d of %d (torrent: %d), downloaded %d", ts.PiecesHave, ts.NumPieces, tor.Info.NumPieces, ts.DownloadedBytes)
	}
	found := false
	for _, p := range ts.Peers {
		if p.Address == peer {
			found = true
			if !strings.Contains(p.Client, "lthelper") || p.Incoming || p.PeerChoking {
				t.Errorf("the seeder's entry: %+v, want client lthelper/..., outgoing, unchoking us", p)
			}
		}
	}
	if !found {
		t.Errorf("/status peers %+v do not list the seeder %s", ts.Peers, peer)
	}
	if x := getfattr(t, file); x["user.hyperblow.progress"] != "100.0%" || strings.Contains(x["user.hyperblow.pieces"], ".") {
		t.Errorf("xattrs after cp: %q", x)
	}

	metrics := statusGet(t, "http://"+addr+"/metrics")
	samples := parsePrometheus(t, metrics)
	labels := `{torrent="` + tor.Info.Name + `",info_hash="` + tor.InfoHash + `"}`
	for name, want := range map[string]float64{
		"hyperblow_served_bytes_total" + labels: float64(ts.ServedToReadersBytes),
		"hyperblow_pieces_have" + labels:        float64(tor.Info.NumPieces),
		"hyperblow_peers" + labels:              float64(len(ts.Peers)),
	} {
		if got, ok := samples[name]; !ok || got != want {
			t.Errorf("/metrics %s = %v (present: %v), want %v", name, got, ok, want)
		}
	}
	for _, name := range []string{"hyperblow_downloaded_bytes_total" + labels, "hyperblow_uploaded_bytes_total" + labels,
		"hyperblow_wasted_bytes_total" + labels, "hyperblow_cache_hits_total", "hyperblow_cache_misses_total"} {
		if _, ok := samples[name]; !ok {
			t.Errorf("/metrics has no %s:\n%s", name, metrics)
		}
	}

	r := run(t, 30*time.Second, procOpts{}, bin, "status", addr)
	if r.code != 0 || !strings.Contains(r.stdout, tor.Info.Name) || !strings.Contains(r.stdout, "100.0%") {
		t.Errorf("hyperblow status %s: %v", addr, r)
	}
	t.Logf("hyperblow status %s:\n%s", addr, r.stdout)
	m.Unmount(t)
}

// TestStatusMagnetResolving: while a magnet's metadata has not come (no peer
// has it), /status lists it as resolving.
func TestStatusMagnetResolving(t *testing.T) {
	bin := buildBinary(t)
	hash := strings.Repeat("5a", 20)
	// Its tracker is a closed loopback port: /status shows it failing, with why.
	tr := fmt.Sprintf("http://127.0.0.1:%d/announce", freePort(t))
	m := mount(t, "--status", "127.0.0.1:0", "--metadata-timeout", "5m", "--peer", silentPeer(t), "magnet:?xt=urn:btih:"+hash+"&dn=pending&tr="+url.QueryEscape(tr))
	addr := statusAddr(t, m)
	st := getStatus(t, addr)
	if len(st.Torrents) != 0 || len(st.Magnets) != 1 || st.Magnets[0].InfoHash != hash || st.Magnets[0].State != "resolving" {
		t.Errorf("/status of a resolving magnet: %+v", st)
	}
	st = waitStatus(t, m, addr, 60*time.Second, "the magnet's tracker failing", func(st statusJSON) bool {
		return len(st.Magnets) == 1 && len(st.Magnets[0].Trackers) == 1 && st.Magnets[0].Trackers[0].State == "failing"
	})
	if tj := st.Magnets[0].Trackers[0]; tj.URL != tr || !strings.Contains(tj.Error, "refused") {
		t.Errorf("the magnet's tracker in /status: %+v, want %s failing with connection refused", tj, tr)
	}
	samples := parsePrometheus(t, statusGet(t, "http://"+addr+"/metrics"))
	if v, ok := samples[`hyperblow_magnet_resolving{torrent="pending",info_hash="`+hash+`"}`]; !ok || v != 1 {
		t.Errorf("/metrics hyperblow_magnet_resolving: %v %v", v, ok)
	}
	if r := run(t, 30*time.Second, procOpts{}, bin, "status", addr); r.code != 0 || !strings.Contains(r.stdout, "resolving") {
		t.Errorf("hyperblow status %s: %v", addr, r)
	}
	m.Unmount(t)
}

// TestStatusMultiMagnets: in a mount of several torrents, /status lists the
// magnets still resolving beside the torrents (magnets[] was empty there),
// each torrent's state, and the process's goroutines.
func TestStatusMultiMagnets(t *testing.T) {
	file := filepath.Join(t.TempDir(), "here.bin")
	writeRandomFile(t, file, 1<<20, 79)
	tor := makeTorrent(t, file, nil, 64<<10)
	hash := strings.Repeat("6b", 20)
	m := mount(t, "--status", "127.0.0.1:0", "--no-dht", "--metadata-timeout", "5m", "--peer", silentPeer(t),
		tor.Path, "magnet:?xt=urn:btih:"+hash+"&dn=pending")
	addr := statusAddr(t, m)
	st := getStatus(t, addr)
	if len(st.Torrents) != 1 || st.Torrents[0].State != "active" || len(st.Magnets) != 1 ||
		st.Magnets[0].InfoHash != hash || st.Magnets[0].State != "resolving" || st.Goroutines <= 0 {
		t.Errorf("/status of a torrent and a resolving magnet: %+v", st)
	}
	samples := parsePrometheus(t, statusGet(t, "http://"+addr+"/metrics"))
	if v, ok := samples[`hyperblow_magnet_resolving{torrent="pending",info_hash="`+hash+`"}`]; !ok || v != 1 {
		t.Errorf("/metrics hyperblow_magnet_resolving: %v %v", v, ok)
	}
	if v, ok := samples["hyperblow_goroutines"]; !ok || v <= 0 {
		t.Errorf("/metrics hyperblow_goroutines: %v %v", v, ok)
	}
	m.Unmount(t)
}

var (
	promHelpLine   = regexp.MustCompile(`^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) [^\n]*$`)
	promTypeLine   = regexp.MustCompile(`^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge)$`)
	promSampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*)?\})? ([^ ]+)$`)
)

// parsePrometheus is a strict parser of the Prometheus text format: every line
// is `# HELP name text`, `# TYPE name counter|gauge` or `name{labels} value`;
// a family's TYPE comes once, before its samples, which are not split up; a
// sample's value is a float. It returns "name{labels}" -> value.
func parsePrometheus(t *testing.T, text string) map[string]float64 {
	t.Helper()
	if !strings.HasSuffix(text, "\n") {
		t.Fatalf("/metrics does not end with a line feed")
	}
	samples := map[string]float64{}
	typed := map[string]bool{}
	done := map[string]bool{} // families whose samples are over
	current := ""
	for n, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		fail := func(why string) { t.Fatalf("/metrics line %d: %s: %q", n+1, why, line) }
		switch {
		case strings.HasPrefix(line, "# HELP "):
			if promHelpLine.FindStringSubmatch(line) == nil {
				fail("bad HELP")
			}
		case strings.HasPrefix(line, "# TYPE "):
			sm := promTypeLine.FindStringSubmatch(line)
			if sm == nil {
				fail("bad TYPE")
			}
			if typed[sm[1]] {
				fail("second TYPE of a family")
			}
			if current != "" {
				done[current] = true
			}
			typed[sm[1]], current = true, sm[1]
		case strings.HasPrefix(line, "#"):
			fail("a comment that is neither HELP nor TYPE")
		default:
			sm := promSampleLine.FindStringSubmatch(line)
			if sm == nil {
				fail("not a sample line")
			}
			if sm[1] != current || done[sm[1]] {
				fail("a sample outside its family's block")
			}
			v, err := strconv.ParseFloat(sm[3], 64)
			if err != nil {
				fail("bad value")
			}
			key := sm[1] + sm[2]
			if _, dup := samples[key]; dup {
				fail("duplicate sample")
			}
			samples[key] = v
		}
	}
	if len(samples) == 0 {
		t.Fatalf("/metrics has no samples:\n%s", text)
	}
	return samples
}

// waitStatus polls /status until cond holds, for at most d: it waits for an
// event inside the mount (an announce answered or failed, a read withdrawn),
// and d only bounds a test that would otherwise hang.
func waitStatus(t *testing.T, m *Mount, addr string, d time.Duration, what string, cond func(statusJSON) bool) statusJSON {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		st := getStatus(t, addr)
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v; /status: %+v\nhyperblow stderr:\n%s", what, d, st, tail(m.Stderr(), 4000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestStatusTrackerStates: a torrent with three trackers, each in its own tier,
// as in the field report: a UDP tracker on a closed loopback port (never
// answers), one whose host name does not resolve (.invalid never leaves the
// machine) and a working opentracker. /status tells each one's state: the bad
// host failing with why at once, opentracker ok with its peer, the silent one
// failing after BEP 15's first retransmission time (15 s), not after 60 s. The
// first failure of each is logged at info (the mount runs without -v), and
// /metrics and `hyperblow status` show the same.
func TestStatusTrackerStates(t *testing.T) {
	bin := buildBinary(t)
	file := filepath.Join(t.TempDir(), "tracked.bin")
	writeRandomFile(t, file, 1<<20, 77)
	tr := startOpentracker(t)
	silent := fmt.Sprintf("udp://127.0.0.1:%d/announce", freePort(t))
	badHost := "udp://hyperblow-test.invalid:6969/announce"
	tor := makeTorrent(t, file, []string{silent, badHost, tr.HTTP}, 64<<10)
	tr.Allow(t, tor.InfoHash)
	// A peer the tracker hands out: nothing listens on its port, which is fine.
	if _, err := tr.announce(tor.InfoHash, "started"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	m := mount(t, "--status", "127.0.0.1:0", tor.Path)
	addr := statusAddr(t, m)
	byURL := func(st statusJSON) map[string]trackerJSON {
		out := map[string]trackerJSON{}
		if len(st.Torrents) == 1 {
			for _, x := range st.Torrents[0].Trackers {
				out[x.URL] = x
			}
		}
		return out
	}

	st := waitStatus(t, m, addr, 30*time.Second, "the bad host fails and opentracker answers", func(st statusJSON) bool {
		trs := byURL(st)
		return trs[badHost].State == "failing" && trs[tr.HTTP].State == "ok" && trs[tr.HTTP].Next != nil
	})
	trs := byURL(st)
	if len(trs) != 3 {
		t.Fatalf("/status lists trackers %+v, want the torrent's 3", st.Torrents[0].Trackers)
	}
	if x := trs[badHost]; x.Tier != 2 || !strings.Contains(x.Error, "cannot resolve hyperblow-test.invalid") || x.Failures < 1 {
		t.Errorf("the bad host: %+v", x)
	}
	// The peers it knows: the test's, and Hyperblow itself.
	if x := trs[tr.HTTP]; x.Tier != 3 || x.Peers < 1 || x.Error != "" || *x.Next < 60 {
		t.Errorf("opentracker: %+v, want ok with the peers it knows, next announce at its interval", x)
	}
	if x := trs[silent]; x.State != "announcing" && x.State != "failing" {
		t.Errorf("the silent tracker while its first announce is under way: %+v", x)
	}
	logs := m.Stderr()
	for _, want := range []string{
		`level=INFO msg="tracker: announce failed"`,
		`tracker=` + badHost + ` event=started reason="cannot resolve hyperblow-test.invalid`,
		`level=INFO msg="tracker: first answer"`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %q:\n%s", want, tail(logs, 4000))
		}
	}

	st = waitStatus(t, m, addr, 45*time.Second, "the silent UDP tracker is reported", func(st statusJSON) bool {
		return byURL(st)[silent].State == "failing"
	})
	took := time.Since(start)
	if x := byURL(st)[silent]; !x.Announcing || !strings.Contains(x.Error, "no answer after 15s") {
		t.Errorf("the silent tracker: %+v", x)
	}
	if took > 40*time.Second {
		t.Errorf("the silent tracker was reported after %v, want about 15 s", took)
	}
	if !strings.Contains(m.Stderr(), `level=INFO msg="tracker: no answer yet, still trying"`) ||
		!strings.Contains(m.Stderr(), "tracker="+silent) {
		t.Errorf("the silent tracker is not in the log:\n%s", tail(m.Stderr(), 4000))
	}

	samples := parsePrometheus(t, statusGet(t, "http://"+addr+"/metrics"))
	labels := func(u string) string {
		return `{torrent="` + tor.Info.Name + `",info_hash="` + tor.InfoHash + `",tracker="` + u + `"}`
	}
	for name, want := range map[string]float64{
		"hyperblow_tracker_up" + labels(tr.HTTP):    1,
		"hyperblow_tracker_peers" + labels(tr.HTTP): float64(trs[tr.HTTP].Peers),
		"hyperblow_tracker_up" + labels(badHost):    0,
		"hyperblow_tracker_up" + labels(silent):     0,
	} {
		if got, ok := samples[name]; !ok || got != want {
			t.Errorf("/metrics %s = %v (present: %v), want %v", name, got, ok, want)
		}
	}
	r := run(t, 30*time.Second, procOpts{}, bin, "status", addr)
	for _, want := range []string{
		"tracker " + tr.HTTP, fmt.Sprintf("ok: %d peer", trs[tr.HTTP].Peers), "; next announce in",
		"tracker " + badHost, "failing: cannot resolve hyperblow-test.invalid",
		"tracker " + silent, "failing: no answer after 15s, still trying",
	} {
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Errorf("hyperblow status lacks %q: %v", want, r)
		}
	}
	m.Unmount(t)
}

// TestStatusReadersGone: Ctrl-C on a cp blocked on data no peer sends (the
// torrent has no peer at all) leaves no reader and no waiting read in /status,
// though the kernel's readahead READs it caused get no INTERRUPT. And `status`
// pointed at the mount's BitTorrent port, which answers HTTP with handshake
// bytes, says it is not a status server and prints none of them.
func TestStatusReadersGone(t *testing.T) {
	bin := buildBinary(t)
	file := filepath.Join(t.TempDir(), "nobody-has-it.bin")
	writeRandomFile(t, file, 4<<20, 78)
	tor := makeTorrent(t, file, nil, 64<<10)
	m := mount(t, "--status", "127.0.0.1:0", tor.Path)
	addr := statusAddr(t, m)

	cp := startProc(t, "cp", procOpts{}, "cp", filepath.Join(m.Dir, filepath.Base(file)), filepath.Join(t.TempDir(), "copy"))
	waitStatus(t, m, addr, 30*time.Second, "cp blocks on the missing data", func(st statusJSON) bool {
		return len(st.Torrents) == 1 && len(st.Torrents[0].Readers) == 1 && len(st.Torrents[0].Waiting) > 0
	})
	if err := cp.signal(syscall.SIGINT); err != nil { // Ctrl-C
		t.Fatal(err)
	}
	if !cp.waitFor(30 * time.Second) {
		t.Fatalf("cp did not end on SIGINT: %s", cp.describe())
	}
	st := waitStatus(t, m, addr, 30*time.Second, "the reader and its waits leave the status", func(st statusJSON) bool {
		return len(st.Torrents) == 1 && len(st.Torrents[0].Readers) == 0 && len(st.Torrents[0].Waiting) == 0
	})
	if st.Torrents[0].PiecesHave != 0 {
		t.Errorf("pieces_have %d with no peer", st.Torrents[0].PiecesHave)
	}

	listen := regexp.MustCompile(`msg=mounted .*listen=(127\.0\.0\.1:\d+)`).FindStringSubmatch(m.Stderr())
	if listen == nil {
		t.Fatalf("no listen address in the mounted line:\n%s", m.Stderr())
	}
	r := run(t, 30*time.Second, procOpts{}, bin, "status", "--timeout", "5s", listen[1])
	if r.code != 1 || !strings.Contains(r.stderr, listen[1]+" is not a Hyperblow status server") {
		t.Errorf("status on the BitTorrent port: %v", r)
	}
	for _, c := range r.stdout + r.stderr {
		if c != '\n' && (c < 0x20 || c > 0x7e) {
			t.Errorf("status on the BitTorrent port printed %q: %v", c, r)
			break
		}
	}
	m.Unmount(t)
}
