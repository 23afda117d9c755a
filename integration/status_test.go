package integration

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// statusJSON is the part of `GET /status` these tests read.
type statusJSON struct {
	Torrents []struct {
		Name                 string `json:"name"`
		InfoHash             string `json:"info_hash"`
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
	} `json:"torrents"`
	Magnets []struct {
		InfoHash string `json:"info_hash"`
		State    string `json:"state"`
	} `json:"magnets"`
	Cache struct {
		Hits   int64 `json:"hits"`
		Misses int64 `json:"misses"`
	} `json:"cache"`
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
	// file reached a reader once.
	if ts.ServedToReadersBytes != tor.Info.TotalLength {
		t.Errorf("served_to_readers_bytes = %d after a cp, want the file's size %d", ts.ServedToReadersBytes, tor.Info.TotalLength)
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
		"hyperblow_served_bytes_total" + labels: float64(tor.Info.TotalLength),
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
	m := mount(t, "--status", "127.0.0.1:0", "--metadata-timeout", "5m", "--peer", silentPeer(t), "magnet:?xt=urn:btih:"+hash+"&dn=pending")
	addr := statusAddr(t, m)
	st := getStatus(t, addr)
	if len(st.Torrents) != 0 || len(st.Magnets) != 1 || st.Magnets[0].InfoHash != hash || st.Magnets[0].State != "resolving" {
		t.Errorf("/status of a resolving magnet: %+v", st)
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
