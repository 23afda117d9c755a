package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// progressOut is stderr shared by a progress line and log lines. On a terminal
// the progress line is the last line on screen: a log line clears it, is
// written, and the progress line is drawn again below it. Elsewhere it is a
// plain writer. Safe for concurrent use.
type progressOut struct {
	mu   sync.Mutex // guards w and line
	w    io.Writer
	tty  bool
	line string // the progress line on screen, "" when none
}

// newProgressOut wraps w; tty says whether a progress line may be redrawn on it.
func newProgressOut(w io.Writer, tty bool) *progressOut { return &progressOut{w: w, tty: tty} }

// Write writes log output above the progress line.
func (o *progressOut) Write(b []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.line != "" {
		io.WriteString(o.w, "\r\x1b[K")
	}
	n, err := o.w.Write(b)
	if o.line != "" {
		io.WriteString(o.w, o.line)
	}
	return n, err
}

// draw replaces the progress line.
func (o *progressOut) draw(line string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if line == o.line {
		return // nothing changed: a stalled download does not redraw
	}
	o.line = line
	io.WriteString(o.w, "\r"+line+"\x1b[K")
}

// end leaves the progress line on screen as it is and moves below it.
func (o *progressOut) end() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.line != "" {
		io.WriteString(o.w, "\n")
		o.line = ""
	}
}

// progressBar shows how far a long job (hashing, downloading) has come. On a
// terminal it redraws one line in place a few times a second; elsewhere it hands
// a snapshot to Plain every PlainEvery, for a log line. It only reads counters
// (Done, Extra) from its own ticker goroutine, so the job never waits for it.
type progressBar struct {
	opts progressOptions
	out  *progressOut

	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once

	samples []progressSample // the last few seconds, for the rate; owned by the ticker, then Stop
}

// progressOptions configure a progressBar.
type progressOptions struct {
	Label string       // first word of the line: "hashing", the torrent's name...
	Total int64        // bytes
	Done  func() int64 // bytes done so far; called from the ticker
	// Extra, if set, adds fields to the line (e.g. "peers 3"); called from the ticker.
	Extra func() string
	// Plain, if set, receives a snapshot every PlainEvery when not on a terminal.
	Plain      func(s progressStat)
	PlainEvery time.Duration
	// Every is the terminal redraw interval (default 200 ms).
	Every time.Duration
	// Width, if set, is the terminal width; by default it is asked of the terminal.
	Width func() int
}

// progressStat is one snapshot: bytes done of total, the recent rate in bytes
// per second (0 when not known yet) and the estimated time left (-1 when not known).
type progressStat struct {
	Done, Total int64
	Rate        float64
	ETA         time.Duration
	Extra       string
}

type progressSample struct {
	at   time.Time
	done int64
}

// rateWindow is how far back the rate looks: long enough to be steady, short
// enough to follow a change of pace.
const rateWindow = 5 * time.Second

// startProgress starts drawing on out: a redrawn line on a terminal, plain
// snapshots elsewhere.
func startProgress(out *progressOut, opts progressOptions) *progressBar {
	if opts.Every <= 0 {
		opts.Every = 200 * time.Millisecond
	}
	if opts.PlainEvery <= 0 {
		opts.PlainEvery = 10 * time.Second
	}
	if opts.Width == nil {
		opts.Width = func() int { return terminalWidth(out.w) }
	}
	p := &progressBar{opts: opts, out: out, stop: make(chan struct{})}
	p.sample(time.Now())
	p.wg.Add(1)
	go p.run()
	return p
}

func (p *progressBar) run() {
	defer p.wg.Done()
	every := p.opts.Every
	if !p.out.tty {
		every = p.opts.PlainEvery
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case now := <-tick.C:
			p.show(p.sample(now))
		}
	}
}

// Stop stops the ticker; on a terminal it draws the line one last time and ends
// it (elsewhere the caller prints its own summary). Safe to call more than once.
func (p *progressBar) Stop() {
	p.once.Do(func() {
		close(p.stop)
		p.wg.Wait()
		if p.out.tty {
			p.show(p.sample(time.Now()))
			p.out.end()
		}
	})
}

// sample reads the counters and returns a snapshot with the rate over the last
// rateWindow.
func (p *progressBar) sample(now time.Time) progressStat {
	done := p.opts.Done()
	p.samples = append(p.samples, progressSample{now, done})
	k := 0
	for k < len(p.samples)-2 && now.Sub(p.samples[k+1].at) >= rateWindow {
		k++
	}
	p.samples = p.samples[k:]
	s := progressStat{Done: done, Total: p.opts.Total, ETA: -1}
	if first := p.samples[0]; len(p.samples) > 1 {
		if el := now.Sub(first.at).Seconds(); el > 0 {
			s.Rate = float64(done-first.done) / el
		}
	}
	if s.Rate > 0 {
		s.ETA = time.Duration(float64(p.opts.Total-done) / s.Rate * float64(time.Second))
	}
	if done >= p.opts.Total {
		s.ETA = 0
	}
	if p.opts.Extra != nil {
		s.Extra = p.opts.Extra()
	}
	return s
}

func (p *progressBar) show(s progressStat) {
	if !p.out.tty {
		if p.opts.Plain != nil {
			p.opts.Plain(s)
		}
		return
	}
	p.out.draw(formatProgressLine(p.opts.Label, s, p.opts.Width()))
}

// formatProgressLine renders a snapshot to fit width columns:
//
//	label [#########.........]  45.2% 290.0 MiB/640.0 MiB 12.3 MiB/s peers 3 ETA 0:28
//
// A long label is shortened; the bar shrinks, then goes; then the label goes.
func formatProgressLine(label string, s progressStat, width int) string {
	pct := 100.0
	if s.Total > 0 {
		pct = 100 * float64(s.Done) / float64(s.Total)
	}
	fields := []string{
		fmt.Sprintf("%5.1f%%", pct),
		humanSize(s.Done) + "/" + humanSize(s.Total),
		formatRate(s.Rate),
	}
	if s.Extra != "" {
		fields = append(fields, s.Extra)
	}
	fields = append(fields, "ETA "+formatETA(s.ETA))
	rest := strings.Join(fields, " ")
	if width <= 0 {
		width = 80
	}
	avail := width - 1 // never the last column: some terminals wrap there
	restW := len([]rune(rest))
	lbl := []rune(label)
	if len(lbl) > 24 {
		lbl = append(lbl[:23], '…')
	}
	const minBar, minLabel = 10, 8
	barW := avail - restW - len(lbl) - 5 // "label [bar]  rest"
	if barW < minBar && len(lbl) > minLabel {
		// Shorten the label, down to minLabel, to make room for the bar.
		keep := max(minLabel, avail-restW-minBar-5)
		if keep < len(lbl) {
			lbl = append(lbl[:keep-1], '…')
		}
		barW = avail - restW - len(lbl) - 5
	}
	if barW < minBar {
		barW = 0
		if room := avail - restW - 2; len(lbl) > room {
			lbl = lbl[:max(0, room)]
		}
	}
	head := string(lbl)
	if head != "" {
		head += " "
	}
	if barW > 0 {
		barW = min(barW, 40)
		fill := min(max(int(float64(barW)*pct/100), 0), barW)
		head += "[" + strings.Repeat("#", fill) + strings.Repeat(".", barW-fill) + "]  "
	}
	line := []rune(head + rest)
	if len(line) > avail {
		line = line[:max(0, avail)]
	}
	return string(line)
}

// formatRate prints bytes per second for people: 12.3 MiB/s; "-- B/s" when unknown.
func formatRate(r float64) string {
	if r <= 0 {
		return "-- B/s"
	}
	return humanSize(int64(r)) + "/s"
}

// formatETA prints a duration as 0:28, 12:05 or 3:04:05; "--:--" when unknown.
func formatETA(d time.Duration) string {
	if d < 0 || d > 100*time.Hour {
		return "--:--"
	}
	s := int64(d.Round(time.Second) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// isTerminalWriter reports whether w is a terminal (a progress bar may redraw on it).
func isTerminalWriter(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// terminalWidth is w's width in columns, or 80 when it cannot be asked.
func terminalWidth(w io.Writer) int {
	if f, ok := w.(*os.File); ok {
		if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil && ws.Col > 0 {
			return int(ws.Col)
		}
	}
	return 80
}
