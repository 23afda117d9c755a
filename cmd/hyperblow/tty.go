package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	stdlog "log"
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

	"github.com/hyperblow/hyperblow/cache"
	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/bt"
)

// The live status view of mount and demo (--view).
//
// On a terminal, a compact frame below the log lines is redrawn in place a few
// times a second: per torrent its progress, rates, peers, bytes served to
// readers and what reads wait for, and how its trackers stand (ok with their
// peer counts, or failing with the reason, and the next try); magnet links
// still resolving; the cache.
// Log lines go through the same writer (termOut), which lifts the frame, prints
// the line, and puts the frame back below it, so warnings scroll up and stay
// visible. No full-screen mode, no raw mode, no hidden cursor: whatever ends
// the process, the terminal is left as it was.
//
// The view only reads: Torrent.Inspect with a short timeout (a torrent whose
// owner does not answer in time keeps its last figures for that frame), the
// cache's counters, and the resolver's status. It never waits on the engine
// for longer than viewInspectWait per frame.

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

// viewFlag is --view: auto (a terminal and not --quiet), on or off.
type viewFlag string

func (v *viewFlag) String() string { return string(*v) }

func (v *viewFlag) Set(s string) error {
	switch s {
	case "auto", "on", "off":
		*v = viewFlag(s)
		return nil
	}
	return fmt.Errorf("want auto, on or off, got %q", s)
}

// viewOutput returns where mount's log lines go: stderr itself, or, when the
// view is on, a termOut on stderr that the view draws on too (kept in m.term
// for startView). Go's standard logger (go-fuse's --fuse-debug lines) is sent
// there as well, so nothing tears the frame.
func (m *mountFlags) viewOutput(stderr io.Writer) io.Writer {
	on := m.view == "on" || (m.view == "auto" && !m.quiet && isTerminalWriter(stderr))
	if !on {
		return stderr
	}
	if m.term == nil { // one termOut per mount, however many loggers write to it
		m.term = &termOut{w: stderr}
		stdlog.SetOutput(m.term)
	}
	return m.term
}

// startView starts the status view of a mount at mnt when it is on (see
// viewOutput): the client's torrents, and the magnet links that magnets lists
// (nil: none; see oneMagnet). A magnet whose torrent runs is not shown twice.
// stop draws a final frame and leaves it on screen; log lines after it print
// plainly below.
func (m *mountFlags) startView(mnt string, client *engine.Client, magnets func() []engine.ResolveStatus) (stop func()) {
	if m.term == nil {
		return func() {}
	}
	torrents := func() []*engine.Torrent { return torrentsWithInfo(client) }
	v := newStatusView(m.term, viewSource{torrents: torrents, magnets: magnets, cache: client.CacheStats}, mnt)
	v.start()
	return v.stop
}

// oneMagnet lists the status of one magnet's metadata fetch, for startView.
func oneMagnet(res *engine.Torrent) func() []engine.ResolveStatus {
	return func() []engine.ResolveStatus { return []engine.ResolveStatus{res.ResolveStatus()} }
}

// torrentsWithInfo lists the client's torrents that have their info: a
// magnet's torrent shows as a magnet (ResolveStatus) until then.
func torrentsWithInfo(client *engine.Client) []*engine.Torrent {
	var ts []*engine.Torrent
	for _, t := range client.Torrents() {
		if t.Info() != nil {
			ts = append(ts, t)
		}
	}
	return ts
}

// mountSignals are the signals that end a mount cleanly: Ctrl-C, SIGTERM, and
// SIGHUP (the terminal closed), unless the mount was started with SIGHUP
// ignored (nohup), which stays so.
func mountSignals() []os.Signal {
	sigs := []os.Signal{os.Interrupt, syscall.SIGTERM}
	if !signal.Ignored(syscall.SIGHUP) {
		sigs = append(sigs, syscall.SIGHUP)
	}
	return sigs
}

// termOut is stderr shared by the view's frame and log lines. The frame is the
// last thing on screen and the cursor rests at the start of the line below it.
// Safe for concurrent use.
type termOut struct {
	mu     sync.Mutex // guards w, widths, frame
	w      io.Writer
	widths []int  // columns of each line of the frame on screen; none when no frame
	frame  string // the frame as drawn, each line ending in "\x1b[K\n"
}

// up is how many rows the frame takes now. Its lines fitted the width they
// were drawn for; a terminal made narrower since has reflowed them (most do:
// VTE, kitty, iTerm2, tmux...) over more rows. Without this a shrink would
// leave pieces of the old frame above the new one.
func (o *termOut) up() int {
	width, _ := o.size()
	rows := 0
	for _, w := range o.widths {
		rows += max(1, (w+width-1)/width)
	}
	return rows
}

// Write prints log output above the frame.
func (o *termOut) Write(b []byte) (int, error) {
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
func (o *termOut) draw(lines []string) {
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
func (o *termOut) end() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.widths, o.frame = nil, ""
}

// size is the terminal's width and height; COLUMNS and LINES, or 80x24, when
// w is not a terminal (--view on).
func (o *termOut) size() (width, height int) {
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

// viewSource is what the view reads. torrents and cache are required.
type viewSource struct {
	torrents func() []*engine.Torrent
	magnets  func() []engine.ResolveStatus // nil: none
	cache    func() cache.Stats
}

// statusView draws frames on a termOut from its own goroutine.
type statusView struct {
	out   *termOut
	src   viewSource
	title string
	size  func() (width, height int)
	every time.Duration

	quit chan struct{}
	done chan struct{}
	once sync.Once

	// Owned by the draw goroutine, then by stop.
	state map[bt.InfoHash]*viewState
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

func newStatusView(out *termOut, src viewSource, title string) *statusView {
	return &statusView{
		out: out, src: src, title: title, size: out.size, every: viewEvery,
		quit: make(chan struct{}), done: make(chan struct{}),
		state: map[bt.InfoHash]*viewState{},
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

// collect reads the sources. Owners are asked in parallel and waited for at
// most viewInspectWait; a torrent that does not answer keeps its last figures.
func (v *statusView) collect(now time.Time, final bool) viewFrame {
	ts := v.src.torrents()
	snaps := make([]engine.Snapshot, len(ts))
	errs := make([]error, len(ts))
	ctx, cancel := context.WithTimeout(context.Background(), viewInspectWait)
	var wg sync.WaitGroup
	for i, t := range ts {
		wg.Go(func() { snaps[i], errs[i] = t.Inspect(ctx) })
	}
	wg.Wait()
	cancel()

	f := viewFrame{Title: v.title, Final: final, Cache: v.src.cache()}
	running := make(map[bt.InfoHash]bool, len(ts))
	for i, t := range ts {
		ih := t.InfoHash()
		running[ih] = true
		st := v.state[ih]
		if st == nil {
			info := t.Info()
			st = &viewState{row: viewTorrent{Name: info.Name, NumPieces: info.NumPieces}}
			v.state[ih] = st
		}
		switch {
		case errs[i] == nil:
			st.update(snaps[i], now)
		case errors.Is(errs[i], engine.ErrClosed):
			st.row.Stopped = true
			st.row.Down, st.row.Up, st.row.ServeRate = 0, 0, 0
		}
		f.Torrents = append(f.Torrents, st.row)
	}
	for ih := range v.state {
		if !running[ih] {
			delete(v.state, ih)
		}
	}
	if v.src.magnets != nil {
		for _, rs := range v.src.magnets() {
			if !running[rs.InfoHash] {
				f.Magnets = append(f.Magnets, magnetStatus(rs))
			}
		}
	}
	return f
}

// update takes a fresh snapshot: the figures, and the rates from the counters'
// change since the last one, smoothed.
func (st *viewState) update(s engine.Snapshot, now time.Time) {
	r := &st.row
	r.PiecesHave, r.Downloaded, r.Uploaded, r.Served = s.PiecesHave, s.Downloaded, s.Uploaded, s.ServedToReaders
	r.Peers, r.Seeds = len(s.Peers), 0
	for _, p := range s.Peers {
		if r.NumPieces > 0 && p.Pieces >= r.NumPieces {
			r.Seeds++
		}
	}
	r.Readers = len(s.Readers)
	r.Waiting = s.Waiting
	r.Trackers = trackerStatuses(s.Trackers, now)
	r.WebSeeds = webSeedStatuses(s.Mirrors)
	if !st.at.IsZero() {
		if dt := now.Sub(st.at).Seconds(); dt > 0 {
			a := 1 - math.Exp(-dt/viewRateTau.Seconds())
			if !st.rated {
				a, st.rated = 1, true
			}
			ewma := func(old float64, delta int64) float64 {
				return old + a*(float64(max(delta, 0))/dt-old)
			}
			r.Down = ewma(r.Down, s.Downloaded-st.down)
			r.Up = ewma(r.Up, s.Uploaded-st.up)
			r.ServeRate = ewma(r.ServeRate, s.ServedToReaders-st.serve)
		}
	}
	st.at, st.down, st.up, st.serve = now, s.Downloaded, s.Uploaded, s.ServedToReaders
}

// viewFrame is everything one frame shows.
type viewFrame struct {
	Title    string // the mount point
	Final    bool   // the last frame: the mount has ended
	Torrents []viewTorrent
	Magnets  []magnetStatusJSON
	Cache    cache.Stats // HeldBytes: exact at every frame (see cache.Stats)
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
	Waiting               []engine.WaitingPiece
	Trackers              []trackerStatusJSON
	WebSeeds              []webSeedStatusJSON
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

	header := "hyperblow  " + safe(f.Title) + "  (Ctrl-C to unmount)"
	if f.Final {
		header = "hyperblow  " + safe(f.Title) + "  stopped"
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
	first := barLine(safe(t.Name), t.PiecesHave, t.NumPieces,
		fmt.Sprintf("%s  %d/%d pieces", percent(t.PiecesHave, t.NumPieces), t.PiecesHave, t.NumPieces), viewBarMax, avail)
	if final || t.Stopped {
		return []string{first, fmt.Sprintf("  downloaded %s  uploaded %s  served %s",
			humanSize(t.Downloaded), humanSize(t.Uploaded), humanSize(t.Served))}
	}
	second := fmt.Sprintf("  down %s  up %s  peers %s  served %s (%s)",
		viewRate(t.Down), viewRate(t.Up), peersText(t.Peers, t.Seeds), humanSize(t.Served), viewRate(t.ServeRate))
	lines := append([]string{first, second, "  " + waitingText(t.Waiting, t.Readers)}, trackerLines(t.Trackers, avail)...)
	return append(lines, webSeedLines(t.WebSeeds)...)
}

// trackerLines is a line per tracker, in tier order; when there are more than
// viewTrackerLines, the last line sums up the rest. The URL is cut first, so
// that the state fits.
func trackerLines(trs []trackerStatusJSON, avail int) []string {
	show := trs
	if len(trs) > viewTrackerLines {
		show = trs[:viewTrackerLines-1]
	}
	var lines []string
	for _, tr := range show {
		text := trackerText(tr)
		url := truncWidth(safe(tr.URL), max(avail-dispWidth(text)-12, 24))
		lines = append(lines, "  tracker "+url+"  "+text)
	}
	if len(show) < len(trs) {
		lines = append(lines, fmt.Sprintf("  and %d more trackers: %s", len(trs)-len(show), trackerCounts(trs[len(show):])))
	}
	return lines
}

// trackerCounts sums trackers up by state: "1 ok (12 peers), 2 failing".
func trackerCounts(trs []trackerStatusJSON) string {
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
	rest := percent(t.PiecesHave, t.NumPieces)
	if final || t.Stopped {
		rest += "  served " + humanSize(t.Served)
	} else {
		waiting := "idle"
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
	return barLine(safe(t.Name), t.PiecesHave, t.NumPieces, rest, viewBarMin, avail)
}

// magnetLines is a magnet link still resolving (or failed), in two or three
// lines, and its trackers' (as a torrent's).
func magnetLines(m magnetStatusJSON, avail int) []string {
	lines := []string{
		truncWidth(safe(m.Name), max(avail-len(magnetState(m))-2, 8)) + "  " + magnetState(m),
		fmt.Sprintf("  peers %d known, %d tried, %d connected, %d offering metadata  %s",
			m.PeersKnown, m.PeersTried, m.PeersConnected, m.PeersOffering, metadataText(m)),
	}
	if m.Error != "" {
		lines = append(lines, "  error: "+safe(m.Error))
	}
	return append(lines, trackerLines(m.Trackers, avail)...)
}

func magnetLine(m magnetStatusJSON, avail int) string {
	rest := fmt.Sprintf("%s  peers %d  %s", magnetState(m), m.PeersConnected, metadataText(m))
	return truncWidth(safe(m.Name), max(avail-dispWidth(rest)-2, 8)) + "  " + rest
}

func magnetState(m magnetStatusJSON) string {
	el := time.Duration(m.ElapsedSeconds * float64(time.Second)).Round(time.Second)
	switch m.State {
	case engine.ResolveFailed.String():
		return fmt.Sprintf("magnet: metadata not fetched after %v", el)
	case engine.Resolved.String():
		return "magnet: metadata fetched, starting"
	}
	return fmt.Sprintf("magnet: fetching metadata for %v", el)
}

func metadataText(m magnetStatusJSON) string {
	if m.MetadataPiecesTotal > 0 {
		return fmt.Sprintf("metadata %d/%d pieces", m.MetadataPiecesHave, m.MetadataPiecesTotal)
	}
	return "metadata size not known yet"
}

func cacheLine(c cache.Stats) string {
	return fmt.Sprintf("cache %s held of %s  %d hits  %d misses", humanSize(c.HeldBytes), humanSize(c.MaxBytes), c.Hits, c.Misses)
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
	return humanSize(int64(r)) + "/s"
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

func waiters(w []engine.WaitingPiece) int {
	n := 0
	for _, p := range w {
		n += p.Waiters
	}
	return n
}

// waitingText says what readers wait for: "waiting: 3 reads on pieces
// 120-123", "reading: 2 open files, none waiting", or "idle". Waiting is in
// piece order.
func waitingText(w []engine.WaitingPiece, readers int) string {
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
func pieceRanges(w []engine.WaitingPiece, maxRanges int) string {
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
