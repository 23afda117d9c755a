package termview

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/enginetest"
	"github.com/hyperblow/hyperblow/engine/metainfo"
	"github.com/hyperblow/hyperblow/session"
)

// sampleFrame is a frame with one torrent in the middle of a read.
func sampleFrame() viewFrame {
	return viewFrame{
		Title: "/mnt/t",
		Torrents: []viewTorrent{{
			Name: "movie.mkv", NumPieces: 640, PiecesHave: 192,
			Downloaded: 48 << 20, Uploaded: 1 << 20, Served: 60 << 20,
			Down: 12.5 * (1 << 20), Up: 0, ServeRate: 2 << 20,
			Peers: 3, Seeds: 1, Readers: 1,
			Waiting: []session.WaitingStatus{{Piece: 120, Waiters: 2}, {Piece: 121, Waiters: 1}, {Piece: 122, Waiters: 1}, {Piece: 123, Waiters: 1}},
		}},
		Cache: session.CacheStatus{Hits: 10, Misses: 2, HeldBytes: 48 << 20, HotBytes: 16 << 20, MaxBytes: 512 << 20},
	}
}

func checkLines(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("frame:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestRenderFrame(t *testing.T) {
	checkLines(t, renderFrame(sampleFrame(), 100, 30), []string{
		"hyperblow  /mnt/t  (Ctrl-C to unmount)",
		"movie.mkv  [#########.....................]  30.0%  192/640 pieces",
		"  down 12.5 MiB/s  up 0 B/s  peers 3 (1 seed)  served 60.0 MiB (2.0 MiB/s)",
		"  waiting: 5 reads on pieces 120-123",
		"cache 48.0 MiB held of 512.0 MiB  10 hits  2 misses",
	})

	f := sampleFrame()
	f.Final = true
	checkLines(t, renderFrame(f, 100, 30), []string{
		"hyperblow  /mnt/t  stopped",
		"movie.mkv  [#########.....................]  30.0%  192/640 pieces",
		"  downloaded 48.0 MiB  uploaded 1.0 MiB  served 60.0 MiB",
		"cache 48.0 MiB held of 512.0 MiB  10 hits  2 misses",
	})

	f = viewFrame{Title: "/mnt/t", Cache: session.CacheStatus{MaxBytes: 1 << 20}}
	checkLines(t, renderFrame(f, 80, 24), []string{
		"hyperblow  /mnt/t  (Ctrl-C to unmount)",
		"no torrents",
		"cache 0 B held of 1.0 MiB  0 hits  0 misses",
	})
}

// A sleeping torrent says so, and what wakes it.
func TestRenderSleeping(t *testing.T) {
	f := sampleFrame()
	f.Torrents[0].State, f.Torrents[0].Waiting, f.Torrents[0].Readers = "sleeping", nil, 0
	if got, want := renderFrame(f, 100, 30)[3], "  sleeping: nothing read for --idle; the next read wakes it"; got != want {
		t.Errorf("line %q, want %q", got, want)
	}
	if got := torrentLine(f.Torrents[0], false, 100); !strings.Contains(got, "peers 3  sleeping") {
		t.Errorf("one-line torrent %q lacks sleeping", got)
	}
}

// TestRenderTrackers: each tracker's state shows under its torrent, ok with its
// peers or failing with the reason, and the next try; many are summed up.
func TestRenderTrackers(t *testing.T) {
	f := sampleFrame()
	f.Torrents[0].Peers, f.Torrents[0].Seeds = 0, 0
	f.Torrents[0].Trackers = []session.TrackerStatus{
		{URL: "http://127.0.0.1:1/announce", Tier: 1, State: "failing", Error: "connection refused", Failures: 2, NextAnnounceInSeconds: ptr(29.6)},
		{URL: "udp://127.0.0.1:2/announce", Tier: 2, State: "failing", Announcing: true, Error: "no answer after 15s, still trying", Failures: 0},
		{URL: "udp://tracker.invalid:6969/announce", Tier: 3, State: "failing", Error: "cannot resolve tracker.invalid: no such host", Failures: 1, NextAnnounceInSeconds: ptr(15.0)},
	}
	checkLines(t, renderFrame(f, 120, 30), []string{
		"hyperblow  /mnt/t  (Ctrl-C to unmount)",
		"movie.mkv  [#########.....................]  30.0%  192/640 pieces",
		"  down 12.5 MiB/s  up 0 B/s  peers 0  served 60.0 MiB (2.0 MiB/s)",
		"  waiting: 5 reads on pieces 120-123",
		"  tracker http://127.0.0.1:1/announce  failing: connection refused (2 times); next try in 30s",
		"  tracker udp://127.0.0.1:2/announce  failing: no answer after 15s, still trying",
		"  tracker udp://tracker.invalid:6969/announce  failing: cannot resolve tracker.invalid: no such host; next try in 15s",
		"cache 48.0 MiB held of 512.0 MiB  10 hits  2 misses",
	})

	f.Torrents[0].Trackers = append(f.Torrents[0].Trackers,
		session.TrackerStatus{URL: "http://ok.example/announce", Tier: 4, State: "ok", Peers: 7, NextAnnounceInSeconds: ptr(1800.0)},
		session.TrackerStatus{URL: "http://backup.example/announce", Tier: 4, State: "waiting"})
	lines := renderFrame(f, 120, 30)
	checkLines(t, lines[4:7], []string{
		"  tracker http://127.0.0.1:1/announce  failing: connection refused (2 times); next try in 30s",
		"  tracker udp://127.0.0.1:2/announce  failing: no answer after 15s, still trying",
		"  and 3 more trackers: 1 ok (7 peers), 1 failing, 1 waiting",
	})

	// Many torrents on a small screen: one line each, trackers summed up.
	lines = renderFrame(f, 120, 5)
	if !strings.Contains(lines[1], "trackers 1/5 ok") {
		t.Errorf("one-line torrent lacks its trackers: %q", lines[1])
	}
}

func TestTrackerText(t *testing.T) {
	for _, c := range []struct {
		tr   session.TrackerStatus
		want string
	}{
		{session.TrackerStatus{State: "ok", Peers: 1, NextAnnounceInSeconds: ptr(90.0)}, "ok: 1 peer; next announce in 1m30s"},
		{session.TrackerStatus{State: "ok", Peers: 3, Announcing: true}, "ok: 3 peers; announcing"},
		{session.TrackerStatus{State: "announcing", Announcing: true}, "announcing"},
		{session.TrackerStatus{State: "waiting"}, "backup: asked if the trackers before it in its tier fail"},
		{session.TrackerStatus{State: "failing", Error: "HTTP status 404", Failures: 1, Announcing: true}, "failing: HTTP status 404; trying again"},
		{session.TrackerStatus{State: "failing", Error: "bad\x1bthing", Failures: 1, NextAnnounceInSeconds: ptr(0.0)}, `failing: bad\x1bthing; next try in 0s`},
	} {
		if got := TrackerText(c.tr); got != c.want {
			t.Errorf("TrackerText(%+v) = %q, want %q", c.tr, got, c.want)
		}
	}
}

func TestRenderMagnetPending(t *testing.T) {
	f := viewFrame{
		Title: "/mnt/m",
		Magnets: []session.MagnetStatus{{
			Name: "ubuntu.iso", InfoHash: strings.Repeat("ab", 20), State: "resolving", ElapsedSeconds: 12.4,
			PeersKnown: 3, PeersTried: 2, PeersConnected: 1, PeersOffering: 1,
			MetadataSize: 40000, MetadataPiecesHave: 1, MetadataPiecesTotal: 3,
		}},
		Cache: session.CacheStatus{MaxBytes: 512 << 20},
	}
	checkLines(t, renderFrame(f, 120, 30), []string{
		"hyperblow  /mnt/m  (Ctrl-C to unmount)",
		"ubuntu.iso  magnet: fetching metadata for 12s",
		"  peers 3 known, 2 tried, 1 connected, 1 offering metadata  metadata 1/3 pieces",
		"cache 0 B held of 512.0 MiB  0 hits  0 misses",
	})

	f.Magnets[0] = session.MagnetStatus{Name: "x\x1b[2Jy", State: "failed", ElapsedSeconds: 300, Error: "no peer\nanswered"}
	lines := renderFrame(f, 120, 30)
	checkLines(t, lines[1:4], []string{
		`x\x1b[2Jy  magnet: metadata not fetched after 5m0s`,
		"  peers 0 known, 0 tried, 0 connected, 0 offering metadata  metadata size not known yet",
		`  error: no peer\nanswered`,
	})
}

func TestProgressBarText(t *testing.T) {
	for _, c := range []struct {
		inner, have, total int
		want               string
	}{
		{10, 0, 100, "[..........]"},
		{10, 1, 100, "[..........]"},  // rounded down: not a cell yet
		{10, 55, 100, "[#####.....]"}, // partial
		{10, 99, 100, "[#########.]"}, // full only when complete
		{10, 100, 100, "[##########]"},
		{10, 120, 100, "[##########]"},
		{3, 1, 3, "[#..]"},
		{10, 0, 0, "[##########]"}, // nothing to fetch
	} {
		if got := progressBarText(c.inner, c.have, c.total); got != c.want {
			t.Errorf("progressBarText(%d, %d, %d) = %q, want %q", c.inner, c.have, c.total, got, c.want)
		}
	}
	for _, c := range []struct {
		have, total int
		want        string
	}{{0, 640, "0.0%"}, {192, 640, "30.0%"}, {639, 640, "99.8%"}, {640, 640, "100.0%"}} {
		if got := Percent(c.have, c.total); got != c.want {
			t.Errorf("Percent(%d, %d) = %q, want %q", c.have, c.total, got, c.want)
		}
	}
}

func TestRenderWidth(t *testing.T) {
	long := "A.Very.Long.Torrent.Name.With.Many.Dots.And.Words.2026.1080p.WEB-DL.x264-GROUP.mkv"
	wide := "映画のタイトルはとても長いのでここで切られるはずです映画のタイトル.mkv"
	for _, width := range []int{20, 30, 40, 60, 80, 100, 200} {
		for _, name := range []string{long, wide} {
			f := sampleFrame()
			f.Torrents[0].Name = name
			f.Magnets = []session.MagnetStatus{{Name: name, State: "resolving"}}
			lines := renderFrame(f, width, 40)
			for _, l := range lines {
				if w := dispWidth(l); w > width-1 {
					t.Errorf("width %d: line of %d columns: %q", width, w, l)
				}
			}
			first := lines[1]
			switch {
			case width == 200:
				if !strings.HasPrefix(first, name+"  [") {
					t.Errorf("width %d: the whole name and a bar should fit: %q", width, first)
				}
			case width >= 60:
				if !strings.Contains(first, "~  [") || !strings.Contains(first, "30.0%") {
					t.Errorf("width %d: want the name cut (~), a bar and the percentage: %q", width, first)
				}
			case width == 40:
				if strings.Contains(first, "[") || !strings.Contains(first, "30.0%") {
					t.Errorf("width %d: want no bar but the percentage: %q", width, first)
				}
			}
		}
	}
	if got := truncWidth("abcdef", 4); got != "abc~" {
		t.Errorf("truncWidth: %q", got)
	}
	if got := truncWidth("日本語", 4); got != "日~" {
		t.Errorf("truncWidth wide: %q", got)
	}
	if got := dispWidth("e\u0301日"); got != 3 {
		t.Errorf("dispWidth with a combining accent: %d", got)
	}
}

// TestRenderManyTorrents: when three lines each do not fit the height, one
// line each; when even that does not fit, "... and N more".
func TestRenderManyTorrents(t *testing.T) {
	f := sampleFrame()
	for i := range 9 {
		tt := f.Torrents[0]
		tt.Name = fmt.Sprintf("t%d", i)
		f.Torrents = append(f.Torrents, tt)
	}
	lines := renderFrame(f, 100, 30) // 10 torrents x 3 + 2 > 29
	if len(lines) != 12 {
		t.Fatalf("want 12 lines (one per torrent), got %d:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	if want := "t0  [###.......]  30.0%  down 12.5 MiB/s  up 0 B/s  peers 3  waiting 5"; lines[2] != want {
		t.Errorf("compact line:\n%q\nwant\n%q", lines[2], want)
	}
	lines = renderFrame(f, 100, 8)
	if len(lines) != 7 || lines[5] != "... and 6 more" || !strings.HasPrefix(lines[6], "cache ") {
		t.Errorf("height 8:\n%s", strings.Join(lines, "\n"))
	}
	// A tiny terminal: never more rows than it has less one, never a wrapped line.
	for _, size := range [][2]int{{10, 3}, {5, 2}, {1, 1}, {0, 0}} {
		lines = renderFrame(f, size[0], size[1])
		if len(lines) > max(size[1]-1, 1) {
			t.Errorf("%dx%d: %d lines", size[0], size[1], len(lines))
		}
		for _, l := range lines {
			if dispWidth(l) > max(size[0]-1, 1) {
				t.Errorf("%dx%d: line %q too wide", size[0], size[1], l)
			}
		}
	}
}

func TestWaitingText(t *testing.T) {
	w := func(pieces ...int) []session.WaitingStatus {
		var out []session.WaitingStatus
		for _, p := range pieces {
			out = append(out, session.WaitingStatus{Piece: p, Waiters: 1})
		}
		return out
	}
	for _, c := range []struct {
		w       []session.WaitingStatus
		readers int
		want    string
	}{
		{nil, 0, "idle"},
		{nil, 1, "reading: 1 open file, none waiting"},
		{nil, 2, "reading: 2 open files, none waiting"},
		{w(7), 1, "waiting: 1 read on piece 7"},
		{w(120, 121, 122, 123), 3, "waiting: 4 reads on pieces 120-123"},
		{w(1, 3, 4, 9, 11, 12, 13, 20), 3, "waiting: 8 reads on pieces 1, 3-4, 9, 11-13, ..."},
	} {
		if got := waitingText(c.w, c.readers); got != c.want {
			t.Errorf("waitingText(%v, %d) = %q, want %q", c.w, c.readers, got, c.want)
		}
	}
}

// screen is a tiny terminal: it understands what Out writes (text, \r,
// \n, cursor up, erase line, erase below) and keeps every row, scrollback
// included.
type screen struct {
	rows     [][]rune
	row, col int
}

func (s *screen) Write(b []byte) (int, error) {
	str := string(b)
	for i := 0; i < len(str); {
		if strings.HasPrefix(str[i:], "\x1b[") {
			j := i + 2
			for j < len(str) && str[j] >= '0' && str[j] <= '9' {
				j++
			}
			n, _ := strconv.Atoi(str[i+2 : j])
			s.ensure()
			switch str[j] {
			case 'A':
				s.row = max(s.row-max(n, 1), 0)
			case 'K':
				s.rows[s.row] = s.rows[s.row][:min(s.col, len(s.rows[s.row]))]
			case 'J':
				s.rows[s.row] = s.rows[s.row][:min(s.col, len(s.rows[s.row]))]
				s.rows = s.rows[:s.row+1]
			default:
				return 0, fmt.Errorf("screen: unknown sequence %q", str[i:j+1])
			}
			i = j + 1
			continue
		}
		r := []rune(str[i:])[0]
		i += len(string(r))
		switch r {
		case '\r':
			s.col = 0
		case '\n':
			s.row, s.col = s.row+1, 0
			s.ensure()
		default:
			s.ensure()
			for len(s.rows[s.row]) < s.col {
				s.rows[s.row] = append(s.rows[s.row], ' ')
			}
			if s.col < len(s.rows[s.row]) {
				s.rows[s.row][s.col] = r
			} else {
				s.rows[s.row] = append(s.rows[s.row], r)
			}
			s.col++
		}
	}
	return len(b), nil
}

func (s *screen) ensure() {
	for len(s.rows) <= s.row {
		s.rows = append(s.rows, nil)
	}
}

func (s *screen) String() string {
	var lines []string
	for _, r := range s.rows {
		lines = append(lines, string(r))
	}
	return strings.TrimRight(strings.Join(lines, "\n"), "\n")
}

// TestTermOut: log lines land above the frame, a redraw replaces the frame
// (a shorter one leaves nothing behind), and after end the frame stays and
// writes go below it.
func TestTermOut(t *testing.T) {
	var scr screen
	o := &Out{w: &scr}
	log := slog.New(slog.NewTextHandler(o, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	log.Info("before")
	o.draw([]string{"frame 1 line a", "frame 1 line b", "frame 1 line c"})
	log.Warn("a warning", "n", 1)
	o.draw([]string{"frame 2 long line", "b"})
	o.Write([]byte("no newline"))
	o.draw([]string{"frame 3"})
	o.end()
	log.Info("after")
	want := strings.Join([]string{
		"level=INFO msg=before",
		`level=WARN msg="a warning" n=1`,
		"no newline",
		"frame 3",
		"level=INFO msg=after",
	}, "\n")
	if got := scr.String(); got != want {
		t.Errorf("screen:\n%s\nwant:\n%s", got, want)
	}

	// A terminal made narrower reflows the frame's lines over more rows.
	t.Setenv("COLUMNS", "80")
	o.draw([]string{strings.Repeat("x", 30), "short"})
	if got := o.up(); got != 2 {
		t.Errorf("frame rows at 80 columns: %d, want 2", got)
	}
	t.Setenv("COLUMNS", "20")
	if got := o.up(); got != 3 {
		t.Errorf("frame rows at 20 columns: %d, want 3 (the 30-column line on two)", got)
	}
}

// TestStatusViewEngine draws frames of a real engine client reading from an
// in-process seeder: figures from Inspect, rates from the counters' change,
// and a final frame once the client is closed.
func TestStatusViewEngine(t *testing.T) {
	data := enginetest.RandomBytes(5, 1<<20+77)
	mt, all := enginetest.Torrent(t, "view.bin", 64<<10, []enginetest.File{{Data: data}})
	seeder := enginetest.Seed(t, mt, all)
	s, tor := leecher(t, mt, 0, seeder)
	var scr screen
	out := &Out{w: &scr}
	v := newStatusView(out, snapshots(s), "/mnt/view")
	v.size = func() (int, int) { return 120, 30 }

	t0 := time.Now()
	f := v.collect(t0, false)
	if len(f.Torrents) != 1 || f.Torrents[0].Name != "view.bin" || f.Torrents[0].NumPieces != mt.Info.NumPieces {
		t.Fatalf("first frame: %+v", f)
	}
	r := tor.NewReader(mt.Info.Files[0])
	buf := make([]byte, len(data))
	if n, err := r.ReadAt(t.Context(), buf, 0); n != len(data) || err != nil {
		t.Fatalf("ReadAt: %d, %v", n, err)
	}
	f = v.collect(t0.Add(time.Second), false)
	tv := f.Torrents[0]
	if tv.PiecesHave != tv.NumPieces || tv.Served != int64(len(data)) || tv.Readers != 1 {
		t.Errorf("after reading everything: %+v", tv)
	}
	// The first rate is the change over the one second between the frames.
	if tv.ServeRate != float64(len(data)) || tv.Down < float64(len(data)) {
		t.Errorf("rates: served %.0f B/s, down %.0f B/s; want %d and at least that", tv.ServeRate, tv.Down, len(data))
	}
	// The cache figure is exact at once: no lag behind what was just read.
	if f.Cache.HeldBytes != mt.Info.TotalLength || f.Cache.MaxBytes == 0 {
		t.Errorf("cache: held %d, want %d; %+v", f.Cache.HeldBytes, mt.Info.TotalLength, f.Cache)
	}
	// Nothing new in the next second: the rate decays, smoothed, towards 0.
	f = v.collect(t0.Add(2*time.Second), false)
	if got := f.Torrents[0].ServeRate; got <= 0 || got >= float64(len(data)) {
		t.Errorf("served rate a second later: %.0f, want between 0 and %d", got, len(data))
	}
	r.Close()

	v.start()
	time.Sleep(3 * viewEvery)
	screenNow := scr.String // read only after stop: the view goroutine writes
	s.Close()
	v.stop()
	v.stop() // twice is fine
	got := screenNow()
	for _, want := range []string{"hyperblow  /mnt/view  stopped", "view.bin  [", "100.0%  17/17 pieces", "served 1.0 MiB", "cache "} {
		if !strings.Contains(got, want) {
			t.Errorf("final frame lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "Ctrl-C") {
		t.Errorf("an earlier frame was left on screen:\n%s", got)
	}
}

// TestViewCacheHeldAtOnce: a frame drawn right after a read shows the pieces
// just read as held (it once showed "cache 0 B held" for up to a second, and
// the final frame kept the figure of the last count).
func TestViewCacheHeldAtOnce(t *testing.T) {
	data := enginetest.RandomBytes(6, 2<<20)
	mt, all := enginetest.Torrent(t, "held.bin", 64<<10, []enginetest.File{{Data: data}})
	seeder := enginetest.Seed(t, mt, all)
	s, tor := leecher(t, mt, 4<<20, seeder)
	v := newStatusView(&Out{w: &screen{}}, snapshots(s), "/mnt/held")
	t0 := time.Now()
	if f := v.collect(t0, false); f.Cache.HeldBytes != 0 {
		t.Fatalf("held %d before any read", f.Cache.HeldBytes)
	}
	r := tor.NewReader(mt.Info.Files[0])
	defer r.Close()
	buf := make([]byte, len(data))
	if n, err := r.ReadAt(t.Context(), buf, 0); n != len(data) || err != nil {
		t.Fatalf("ReadAt: %d, %v", n, err)
	}
	f := v.collect(t0.Add(10*time.Millisecond), false) // the next frame, at once
	if f.Cache.HeldBytes != int64(len(data)) {
		t.Errorf("a frame right after reading %d bytes shows %d held", len(data), f.Cache.HeldBytes)
	}
	if line := cacheLine(f.Cache); !strings.HasPrefix(line, "cache 2.0 MiB held of 4.0 MiB") {
		t.Errorf("cache line %q", line)
	}
	if f := v.collect(t0.Add(20*time.Millisecond), true); f.Cache.HeldBytes != int64(len(data)) {
		t.Errorf("the final frame shows %d held, want %d", f.Cache.HeldBytes, len(data))
	}
}

// A magnet link still resolving shows its trackers' states too: they are how
// it finds peers.
func TestRenderMagnetTrackers(t *testing.T) {
	m := session.MagnetStatus{Name: "film", State: "resolving", ElapsedSeconds: 12,
		Trackers: []session.TrackerStatus{{URL: "http://127.0.0.1:1/announce", Tier: 1, State: "failing", Error: "connection refused", Failures: 1, NextAnnounceInSeconds: ptr(15.0)}}}
	lines := magnetLines(m, 120)
	if got, want := lines[len(lines)-1], "  tracker http://127.0.0.1:1/announce  failing: connection refused; next try in 15s"; got != want {
		t.Errorf("magnet's last line %q, want %q", got, want)
	}
}

func ptr[T any](v T) *T { return &v }

// leecher is a session on loopback with mt's torrent, fetching from seeder.
func leecher(t *testing.T, mt *metainfo.Torrent, cacheSize int64, seeder netip.AddrPort) (*session.Session, *engine.Torrent) {
	t.Helper()
	if cacheSize == 0 {
		cacheSize = 64 << 20
	}
	s, err := session.New(session.Config{Engine: engine.Config{Listen: "127.0.0.1:0"}, CacheSize: cacheSize, Readahead: 4 << 20,
		Peers: []netip.AddrPort{seeder}, NoTrackers: true, Logger: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	e, err := s.Start(t.Context(), session.Source{Torrent: mt}, session.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s, e.Torrent()
}

func snapshots(s *session.Session) Source {
	return func(ctx context.Context) session.Snapshot {
		return s.Snapshot(ctx, session.SnapshotOptions{Light: true})
	}
}
