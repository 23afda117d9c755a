package termview

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"

	"golang.org/x/sys/unix"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/session"
)

// Package termview is the live status view of a mount (--view): it draws
// session.Snapshot, and gathers nothing itself.
//
// On a terminal, a compact frame below the log lines is redrawn in place a few
// times a second: per torrent its progress, rates, peers, bytes served to
// readers and what reads wait for, and how its trackers stand (ok with their
// peer counts, or failing with the reason, and the next try); magnet links
// still resolving; the cache.
// Log lines go through the same writer (Out), which lifts the frame, prints
// the line, and puts the frame back below it, so warnings scroll up and stay
// visible. No full-screen mode, no raw mode, no hidden cursor: whatever ends
// the process, the terminal is left as it was.
//
// The view only reads the session's snapshot, taken with a short wait (a
// torrent whose owner does not answer in time keeps its last figures for that
// frame). It never waits on the engine for longer than viewInspectWait per
// frame.

const (
	viewEvery       = 250 * time.Millisecond // redraw interval (~4 Hz)
	viewInspectWait = 150 * time.Millisecond // longest wait for the owners, per frame
	viewRateTau     = 2 * time.Second        // smoothing of the rates (EWMA time constant)
	viewBarMax      = 30                     // widest progress bar, inside the brackets
	viewBarMin      = 10
	// viewTrackerLines is how many lines a torrent's trackers take at most; more
	// trackers are summed up in the last one.
	viewTrackerLines = 3
)

// Out is stderr shared by the view's frame and log lines (NewOut). The frame is the
// last thing on screen and the cursor rests at the start of the line below it.
// Safe for concurrent use.
type Out struct {
	mu     sync.Mutex // guards w, widths, frame
	w      io.Writer
	widths []int  // columns of each line of the frame on screen; none when no frame
	frame  string // the frame as drawn, each line ending in "\x1b[K\n"
}

// up is how many rows the frame takes now. Its lines fitted the width they
// were drawn for; a terminal made narrower since has reflowed them (most do:
// VTE, kitty, iTerm2, tmux...) over more rows. Without this a shrink would
// leave pieces of the old frame above the new one.
func (o *Out) up() int {
	width, _ := o.size()
	rows := 0
	for _, w := range o.widths {
		rows += max(1, (w+width-1)/width)
	}
	return rows
}

// Write prints log output above the frame.
func (o *Out) Write(b []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.widths) == 0 {
		return o.w.Write(b)
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "\r\x1b[%dA\x1b[J", o.up()) // up to the frame's first line, clear to the end
	buf.Write(b)
	if len(b) > 0 && b[len(b)-1] != '\n' {
		buf.WriteByte('\n')
	}
	buf.WriteString(o.frame)
	if _, err := o.w.Write(buf.Bytes()); err != nil {
		return 0, err
	}
	return len(b), nil
}

// draw replaces the frame. Lines must fit the terminal's width (a wrapped line
// would throw the count of rows off).
func (o *Out) draw(lines []string) {
	var frame strings.Builder
	widths := make([]int, len(lines))
	for i, l := range lines {
		frame.WriteString(l)
		frame.WriteString("\x1b[K\n") // overwrite in place: no blank moment, no flicker
		widths[i] = dispWidth(l)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	var buf strings.Builder
	if len(o.widths) > 0 {
		fmt.Fprintf(&buf, "\r\x1b[%dA", o.up())
	}
	buf.WriteString(frame.String())
	buf.WriteString("\x1b[J") // what is left of a taller frame
	io.WriteString(o.w, buf.String())
	o.widths, o.frame = widths, frame.String()
}

// end leaves the frame on screen as it is; later writes go below it.
func (o *Out) end() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.widths, o.frame = nil, ""
}

// size is the terminal's width and height; COLUMNS and LINES, or 80x24, when
// w is not a terminal (--view on).
func (o *Out) size() (width, height int) {
	width, height = envInt("COLUMNS", 80), envInt("LINES", 24)
	if f, ok := o.w.(*os.File); ok {
		if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil && ws.Col > 0 && ws.Row > 0 {
			width, height = int(ws.Col), int(ws.Row)
		}
	}
	return width, height
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 && n < 10000 {
		return n
	}
	return def
}

// Source takes the snapshot a frame shows, waiting for the owners no
// longer than ctx allows.
type Source func(ctx context.Context) session.Snapshot

// NewOut returns an Out on w, the terminal log lines and the view share.
func NewOut(w io.Writer) *Out { return &Out{w: w} }

// Start draws frames of src on out, titled with the mount point, until stop;
// stop draws a final frame and leaves it on screen; log lines after it print
// plainly below.
func Start(out *Out, src Source, title string) (stop func()) {
	v := newStatusView(out, src, title)
	v.start()
	return v.stop
}

// statusView draws frames on a Out from its own goroutine.
type statusView struct {
	out   *Out
	src   Source
	title string
	size  func() (width, height int)
	every time.Duration

	quit chan struct{}
	done chan struct{}
	once sync.Once

	// Owned by the draw goroutine, then by stop.
	state map[string]*viewState // by info-hash
}

// viewState is what the view remembers of a torrent between frames.
type viewState struct {
	row   viewTorrent
	at    time.Time // when the counters below were read; zero before the first snapshot
	down  int64
	up    int64
	serve int64
	rated bool // the rates have a first value
}

func newStatusView(out *Out, src Source, title string) *statusView {
	return &statusView{
		out: out, src: src, title: title, size: out.size, every: viewEvery,
		quit: make(chan struct{}), done: make(chan struct{}),
		state: map[string]*viewState{},
	}
}

func (v *statusView) start() { go v.run() }

func (v *statusView) run() {
	defer close(v.done)
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH) // redraw at once for the new width
	defer signal.Stop(winch)
	tick := time.NewTicker(v.every)
	defer tick.Stop()
	v.frame(false)
	for {
		select {
		case <-v.quit:
			return
		case <-tick.C:
		case <-winch:
		}
		v.frame(false)
	}
}

// stop ends the drawing, draws the final frame and leaves it on screen.
// Safe to call more than once.
func (v *statusView) stop() {
	v.once.Do(func() {
		close(v.quit)
		<-v.done
		v.frame(true)
		v.out.end()
	})
}

func (v *statusView) frame(final bool) {
	f := v.collect(time.Now(), final)
	width, height := v.size()
	v.out.draw(renderFrame(f, width, height))
}

// collect takes a snapshot, waiting for the owners at most
// viewInspectWait; a torrent that does not answer keeps its last figures.
func (v *statusView) collect(now time.Time, final bool) viewFrame {
	ctx, cancel := context.WithTimeout(context.Background(), viewInspectWait)
	snap := v.src(ctx)
	cancel()
	f := viewFrame{Title: v.title, Final: final, Cache: snap.Cache, Magnets: snap.Magnets}
	running := make(map[string]bool, len(snap.Torrents))
	for _, ts := range snap.Torrents {
		running[ts.InfoHash] = true
		st := v.state[ts.InfoHash]
		if st == nil {
			st = &viewState{row: viewTorrent{Name: ts.Name, NumPieces: ts.NumPieces}}
			v.state[ts.InfoHash] = st
		}
		switch {
		case ts.Stopped:
			st.row.Stopped = true
			st.row.Down, st.row.Up, st.row.ServeRate = 0, 0, 0
		case !ts.Unanswered:
			st.update(ts, now)
		}
		f.Torrents = append(f.Torrents, st.row)
	}
	for ih := range v.state {
		if !running[ih] {
			delete(v.state, ih)
		}
	}
	return f
}

// update takes a fresh snapshot: the figures, and the rates from the counters'
// change since the last one, smoothed.
func (st *viewState) update(s session.TorrentStatus, now time.Time) {
	r := &st.row
	r.PiecesHave, r.Downloaded, r.Uploaded, r.Served = s.PiecesHave, s.DownloadedBytes, s.UploadedBytes, s.ServedToReadersBytes
	r.State = s.State
	r.Peers, r.Seeds = len(s.Peers), 0
	for _, p := range s.Peers {
		if r.NumPieces > 0 && p.Pieces >= r.NumPieces {
			r.Seeds++
		}
	}
	r.Readers = len(s.Readers)
	r.Waiting = s.Waiting
	r.Trackers = s.Trackers
	r.WebSeeds = s.WebSeeds
	if !st.at.IsZero() {
		if dt := now.Sub(st.at).Seconds(); dt > 0 {
			a := 1 - math.Exp(-dt/viewRateTau.Seconds())
			if !st.rated {
				a, st.rated = 1, true
			}
			ewma := func(old float64, delta int64) float64 {
				return old + a*(float64(max(delta, 0))/dt-old)
			}
			r.Down = ewma(r.Down, s.DownloadedBytes-st.down)
			r.Up = ewma(r.Up, s.UploadedBytes-st.up)
			r.ServeRate = ewma(r.ServeRate, s.ServedToReadersBytes-st.serve)
		}
	}
	st.at, st.down, st.up, st.serve = now, s.DownloadedBytes, s.UploadedBytes, s.ServedToReadersBytes
}

// viewFrame is everything one frame shows.
type viewFrame struct {
	Title    string // the mount point
	Final    bool   // the last frame: the mount has ended
	Torrents []viewTorrent
	Magnets  []session.MagnetStatus
	Cache    session.CacheStatus // HeldBytes: exact at every frame (see cache.Stats)
}

// viewTorrent is one torrent's figures in a frame.
type viewTorrent struct {
	Name                  string
	NumPieces, PiecesHave int
	Downloaded, Uploaded  int64
	Served                int64   // bytes returned to readers of the mount
	Down, Up, ServeRate   float64 // bytes per second, smoothed
	Peers, Seeds          int
	Readers               int
	Waiting               []session.WaitingStatus
	Trackers              []session.TrackerStatus
	WebSeeds              []session.WebSeedStatus
	State                 string // active, sleeping, seeding...
	Stopped               bool
}

// renderFrame lays a frame out in lines that fit width-1 columns (never the
// last column: some terminals wrap there) and height-1 rows. Three lines per
// torrent when they fit, else one; the list is cut with "... and N more" when
// even that does not fit.
func renderFrame(f viewFrame, width, height int) []string {
	cut, rows := max(width-1, 1), max(height-1, 1) // what the terminal takes without wrapping or scrolling the frame
	avail := max(width, 20) - 1                    // laid out for at least 20 columns, then cut
	budget := max(rows, 3)

	header := "hyperblow  " + session.Safe(f.Title) + "  (Ctrl-C to unmount)"
	if f.Final {
		header = "hyperblow  " + session.Safe(f.Title) + "  stopped"
	}
	var items [][]string
	for _, t := range f.Torrents {
		items = append(items, torrentLines(t, f.Final, avail))
	}
	for _, m := range f.Magnets {
		items = append(items, magnetLines(m, avail))
	}
	full := 2
	for _, it := range items {
		full += len(it)
	}
	if full > budget {
		for i, t := range f.Torrents {
			items[i] = []string{torrentLine(t, f.Final, avail)}
		}
		for i, m := range f.Magnets {
			items[len(f.Torrents)+i] = []string{magnetLine(m, avail)}
		}
		if 2+len(items) > budget {
			keep := max(budget-3, 0)
			more := len(items) - keep
			items = append(items[:keep:keep], []string{fmt.Sprintf("... and %d more", more)})
		}
	}
	lines := []string{header}
	for _, it := range items {
		lines = append(lines, it...)
	}
	if len(items) == 0 {
		lines = append(lines, "no torrents")
	}
	lines = append(lines, cacheLine(f.Cache))
	lines = lines[:min(len(lines), rows)]
	for i, l := range lines {
		lines[i] = truncWidth(l, cut)
	}
	return lines
}

// torrentLines is a torrent in three lines (two in the final frame), and its
// trackers below (at most viewTrackerLines):
//
//	movie.mkv  [#########.....................]  30.0%  192/640 pieces
//	  down 12.3 MiB/s  up 0 B/s  peers 3 (1 seed)  served 60.0 MiB (12.0 MiB/s)
//	  waiting: 3 reads on pieces 120-123
//	  tracker udp://tracker.example:6969  failing: no answer after 15s, still trying
//	  tracker http://other.example/announce  ok: 12 peers; next announce in 29m
func torrentLines(t viewTorrent, final bool, avail int) []string {
	first := barLine(session.Safe(t.Name), t.PiecesHave, t.NumPieces,
		fmt.Sprintf("%s  %d/%d pieces", Percent(t.PiecesHave, t.NumPieces), t.PiecesHave, t.NumPieces), viewBarMax, avail)
	if final || t.Stopped {
		return []string{first, fmt.Sprintf("  downloaded %s  uploaded %s  served %s",
			HumanSize(t.Downloaded), HumanSize(t.Uploaded), HumanSize(t.Served))}
	}
	second := fmt.Sprintf("  down %s  up %s  peers %s  served %s (%s)",
		viewRate(t.Down), viewRate(t.Up), peersText(t.Peers, t.Seeds), HumanSize(t.Served), viewRate(t.ServeRate))
	third := "  " + waitingText(t.Waiting, t.Readers)
	if t.State == "sleeping" {
		third = "  sleeping: nothing read for --idle; the next read wakes it"
	}
	lines := append([]string{first, second, third}, trackerLines(t.Trackers, avail)...)
	return append(lines, WebSeedLines(t.WebSeeds)...)
}

// trackerLines is a line per tracker, in tier order; when there are more than
// viewTrackerLines, the last line sums up the rest. The URL is cut first, so
// that the state fits.
func trackerLines(trs []session.TrackerStatus, avail int) []string {
	show := trs
	if len(trs) > viewTrackerLines {
		show = trs[:viewTrackerLines-1]
	}
	var lines []string
	for _, tr := range show {
		text := TrackerText(tr)
		url := truncWidth(session.Safe(tr.URL), max(avail-dispWidth(text)-12, 24))
		lines = append(lines, "  tracker "+url+"  "+text)
	}
	if len(show) < len(trs) {
		lines = append(lines, fmt.Sprintf("  and %d more trackers: %s", len(trs)-len(show), trackerCounts(trs[len(show):])))
	}
	return lines
}

// trackerCounts sums trackers up by state: "1 ok (12 peers), 2 failing".
func trackerCounts(trs []session.TrackerStatus) string {
	var n [4]int
	peers := 0
	for _, tr := range trs {
		switch tr.State {
		case "ok":
			n[0]++
			peers += tr.Peers
		case "failing":
			n[1]++
		case "announcing":
			n[2]++
		default:
			n[3]++
		}
	}
	var parts []string
	if n[0] > 0 {
		parts = append(parts, fmt.Sprintf("%d ok (%d peers)", n[0], peers))
	}
	for i, name := range []string{"", "failing", "announcing", "waiting"} {
		if i > 0 && n[i] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[i], name))
		}
	}
	return strings.Join(parts, ", ")
}

// torrentLine is a torrent in one line, when many share the screen.
func torrentLine(t viewTorrent, final bool, avail int) string {
	rest := Percent(t.PiecesHave, t.NumPieces)
	if final || t.Stopped {
		rest += "  served " + HumanSize(t.Served)
	} else {
		waiting := "idle"
		if t.State == "sleeping" {
			waiting = "sleeping"
		}
		if n := waiters(t.Waiting); n > 0 {
			waiting = fmt.Sprintf("waiting %d", n)
		} else if t.Readers > 0 {
			waiting = "reading"
		}
		rest += fmt.Sprintf("  down %s  up %s  peers %d  %s", viewRate(t.Down), viewRate(t.Up), t.Peers, waiting)
		if len(t.Trackers) > 0 {
			ok := 0
			for _, tr := range t.Trackers {
				if tr.State == "ok" {
					ok++
				}
			}
			rest += fmt.Sprintf("  trackers %d/%d ok", ok, len(t.Trackers))
		}
	}
	return barLine(session.Safe(t.Name), t.PiecesHave, t.NumPieces, rest, viewBarMin, avail)
}

// magnetLines is a magnet link still resolving (or failed), in two or three
// lines, and its trackers' (as a torrent's).
func magnetLines(m session.MagnetStatus, avail int) []string {
	lines := []string{
		truncWidth(session.Safe(m.Name), max(avail-len(magnetState(m))-2, 8)) + "  " + magnetState(m),
		fmt.Sprintf("  peers %d known, %d tried, %d connected, %d offering metadata  %s",
			m.PeersKnown, m.PeersTried, m.PeersConnected, m.PeersOffering, metadataText(m)),
	}
	if m.Error != "" {
		lines = append(lines, "  error: "+session.Safe(m.Error))
	}
	return append(lines, trackerLines(m.Trackers, avail)...)
}

func magnetLine(m session.MagnetStatus, avail int) string {
	rest := fmt.Sprintf("%s  peers %d  %s", magnetState(m), m.PeersConnected, metadataText(m))
	return truncWidth(session.Safe(m.Name), max(avail-dispWidth(rest)-2, 8)) + "  " + rest
}

func magnetState(m session.MagnetStatus) string {
	el := time.Duration(m.ElapsedSeconds * float64(time.Second)).Round(time.Second)
	switch m.State {
	case engine.ResolveFailed.String():
		return fmt.Sprintf("magnet: metadata not fetched after %v", el)
	case engine.Resolved.String():
		return "magnet: metadata fetched, starting"
	}
	return fmt.Sprintf("magnet: fetching metadata for %v", el)
}

func metadataText(m session.MagnetStatus) string {
	if m.MetadataPiecesTotal > 0 {
		return fmt.Sprintf("metadata %d/%d pieces", m.MetadataPiecesHave, m.MetadataPiecesTotal)
	}
	return "metadata size not known yet"
}

func cacheLine(c session.CacheStatus) string {
	return fmt.Sprintf("cache %s held of %s  %d hits  %d misses", HumanSize(c.HeldBytes), HumanSize(c.MaxBytes), c.Hits, c.Misses)
}

// barLine is "NAME  [####....]  REST" in avail columns. The bar keeps at
// least viewBarMin cells while the name is cut; it grows to barMax when the
// name fits; it goes when not even a short name fits beside it.
func barLine(name string, have, total int, rest string, barMax, avail int) string {
	room := avail - dispWidth(rest) - 2 // for the name, the bar and their gaps
	nameW := dispWidth(name)
	const minName = 8
	switch {
	case room >= nameW+2+viewBarMin+2:
		inner := min(barMax, room-nameW-4)
		return name + "  " + progressBarText(inner, have, total) + "  " + rest
	case room >= minName+2+viewBarMin+2:
		return truncWidth(name, room-viewBarMin-4) + "  " + progressBarText(viewBarMin, have, total) + "  " + rest
	}
	return truncWidth(name, max(room, minName)) + "  " + rest
}

// progressBarText is "[####......]" with inner cells, filled in proportion to
// have/total (rounded down: full only when complete).
func progressBarText(inner, have, total int) string {
	fill := inner
	if total > 0 && have < total {
		fill = int(int64(max(have, 0)) * int64(inner) / int64(total))
	}
	return "[" + strings.Repeat("#", fill) + strings.Repeat(".", inner-fill) + "]"
}

func viewRate(r float64) string {
	if r < 1 {
		return "0 B/s"
	}
	return HumanSize(int64(r)) + "/s"
}

func peersText(peers, seeds int) string {
	switch seeds {
	case 0:
		return strconv.Itoa(peers)
	case 1:
		return fmt.Sprintf("%d (1 seed)", peers)
	}
	return fmt.Sprintf("%d (%d seeds)", peers, seeds)
}

func waiters(w []session.WaitingStatus) int {
	n := 0
	for _, p := range w {
		n += p.Waiters
	}
	return n
}

// waitingText says what readers wait for: "waiting: 3 reads on pieces
// 120-123", "reading: 2 open files, none waiting", or "idle". Waiting is in
// piece order.
func waitingText(w []session.WaitingStatus, readers int) string {
	if n := waiters(w); n > 0 {
		reads := "reads"
		if n == 1 {
			reads = "read"
		}
		on := "pieces"
		if len(w) == 1 {
			on = "piece"
		}
		return fmt.Sprintf("waiting: %d %s on %s %s", n, reads, on, pieceRanges(w, 4))
	}
	switch readers {
	case 0:
		return "idle"
	case 1:
		return "reading: 1 open file, none waiting"
	}
	return fmt.Sprintf("reading: %d open files, none waiting", readers)
}

// pieceRanges prints sorted pieces as ranges, "12, 120-123", at most max of
// them and then "...".
func pieceRanges(w []session.WaitingStatus, maxRanges int) string {
	var parts []string
	for i := 0; i < len(w); {
		j := i
		for j+1 < len(w) && w[j+1].Piece == w[j].Piece+1 {
			j++
		}
		if len(parts) == maxRanges {
			parts = append(parts, "...")
			break
		}
		if j == i {
			parts = append(parts, strconv.Itoa(w[i].Piece))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", w[i].Piece, w[j].Piece))
		}
		i = j + 1
	}
	return strings.Join(parts, ", ")
}

// runeWidth is the columns a printable rune takes on a terminal: 0 for
// combining marks, 2 for East Asian wide and fullwidth letters and most emoji,
// else 1. An approximation of Unicode's East Asian Width, good enough to keep
// a line from wrapping.
func runeWidth(r rune) int {
	switch {
	case unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf):
		return 0
	case r >= 0x1100 && r <= 0x115F, r >= 0x2E80 && r <= 0x303E, r >= 0x3041 && r <= 0x33FF,
		r >= 0x3400 && r <= 0x4DBF, r >= 0x4E00 && r <= 0x9FFF, r >= 0xA000 && r <= 0xA4CF,
		r >= 0xAC00 && r <= 0xD7A3, r >= 0xF900 && r <= 0xFAFF, r >= 0xFE30 && r <= 0xFE4F,
		r >= 0xFF00 && r <= 0xFF60, r >= 0xFFE0 && r <= 0xFFE6, r >= 0x1F300 && r <= 0x1F64F,
		r >= 0x1F900 && r <= 0x1F9FF, r >= 0x20000 && r <= 0x3FFFD:
		return 2
	}
	return 1
}

// dispWidth is the columns s takes (s holds no control characters: names go
// through safe first).
func dispWidth(s string) int {
	w := 0
	for _, r := range s {
		w += runeWidth(r)
	}
	return w
}

// truncWidth cuts s to at most n columns, ending in "~" when cut.
func truncWidth(s string, n int) string {
	if dispWidth(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	w := 0
	for i, r := range s {
		if w+runeWidth(r) > n-1 {
			return s[:i] + "~"
		}
		w += runeWidth(r)
	}
	return s
}

// TrackerText says how a tracker stands, in a few words: "ok: 12 peers; next
// announce in 29m0s", "failing: connection refused (3 times); next try in 30s".
func TrackerText(tr session.TrackerStatus) string {
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
		s := "failing: " + session.Safe(tr.Error)
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

// WebSeedLines is a line per web seed, for the status text and the view:
//
//	web seed https://mirror.example/files/  fetching  3.2 MiB/s  120.0 MiB
func WebSeedLines(ws []session.WebSeedStatus) []string {
	var lines []string
	for _, w := range ws {
		l := fmt.Sprintf("  web seed %s  %s  %s/s  %s", session.Safe(w.URL), w.State, HumanSize(int64(w.DownloadRate)), HumanSize(w.DownloadedBytes))
		if w.Error != "" {
			l += ": " + session.Safe(w.Error)
		}
		lines = append(lines, l)
	}
	return lines
}

// HumanSize prints a size for people: 1.5 MiB.
func HumanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Percent prints part/whole with one decimal; 100.0% only when complete.
func Percent(part, whole int) string {
	if whole <= 0 || part >= whole {
		return "100.0%"
	}
	tenths := int64(part) * 1000 / int64(whole)
	return fmt.Sprintf("%d.%d%%", tenths/10, tenths%10)
}
