// Package progress draws how far a long job (hashing, downloading) has come:
// on a terminal one line redrawn in place below the log lines, elsewhere a
// snapshot now and then for the caller to log.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Out is stderr shared by a progress line and log lines. On a terminal
// the progress line is the last line on screen: a log line clears it, is
// written, and the progress line is drawn again below it. Elsewhere it is a
// plain writer. Safe for concurrent use.
type Out struct {
	mu   sync.Mutex // guards w and line
	w    io.Writer
	tty  bool
	line string // the progress line on screen, "" when none
}

// NewOut wraps w; tty says whether a progress line may be redrawn on it.
func NewOut(w io.Writer, tty bool) *Out { return &Out{w: w, tty: tty} }

// Write writes log output above the progress line.
func (o *Out) Write(b []byte) (int, error) {
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
func (o *Out) draw(line string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if line == o.line {
		return // nothing changed: a stalled download does not redraw
	}
	o.line = line
	io.WriteString(o.w, "\r"+line+"\x1b[K")
}

// end leaves the progress line on screen as it is and moves below it.
func (o *Out) end() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.line != "" {
		io.WriteString(o.w, "\n")
		o.line = ""
	}
}

// Bar shows how far a long job (hashing, downloading) has come. On a
// terminal it redraws one line in place a few times a second; elsewhere it hands
// a snapshot to Plain every PlainEvery, for a log line. It only reads counters
// (Done, Extra) from its own ticker goroutine, so the job never waits for it.
type Bar struct {
	opts Options
	out  *Out

	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once

	samples []point // the last few seconds, for the rate; owned by the ticker, then Stop
}

// Options configure a Bar.
type Options struct {
	Label string       // first word of the line: "hashing", the torrent's name...
	Total int64        // bytes
	Done  func() int64 // bytes done so far; called from the ticker
	// Extra, if set, adds fields to the line (e.g. "peers 3"); called from the ticker.
	Extra func() string
	// Plain, if set, receives a snapshot every PlainEvery when not on a terminal.
	Plain      func(s Stat)
	PlainEvery time.Duration
	// Every is the terminal redraw interval (default 200 ms).
	Every time.Duration
	// Width, if set, is the terminal width; by default it is asked of the terminal.
	Width func() int
}

// Stat is one snapshot: bytes done of total, the recent rate in bytes
// per second (0 when not known yet) and the estimated time left (-1 when not known).
type Stat struct {
	Done, Total int64
	Rate        float64
	ETA         time.Duration
	Extra       string
}

type point struct {
	at   time.Time
	done int64
}

// rateWindow is how far back the rate looks: long enough to be steady, short
// enough to follow a change of pace.
const rateWindow = 5 * time.Second

// Start starts drawing on out: a redrawn line on a terminal, plain
// snapshots elsewhere.
func Start(out *Out, opts Options) *Bar {
	if opts.Every <= 0 {
		opts.Every = 200 * time.Millisecond
	}
	if opts.PlainEvery <= 0 {
		opts.PlainEvery = 10 * time.Second
	}
	if opts.Width == nil {
		opts.Width = func() int { return TerminalWidth(out.w) }
	}
	p := &Bar{opts: opts, out: out, stop: make(chan struct{})}
	p.sample(time.Now())
	p.wg.Add(1)
	go p.run()
	return p
}

func (p *Bar) run() {
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
func (p *Bar) Stop() {
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
func (p *Bar) sample(now time.Time) Stat {
	done := p.opts.Done()
	p.samples = append(p.samples, point{now, done})
	k := 0
	for k < len(p.samples)-2 && now.Sub(p.samples[k+1].at) >= rateWindow {
		k++
	}
	p.samples = p.samples[k:]
	s := Stat{Done: done, Total: p.opts.Total, ETA: -1}
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

func (p *Bar) show(s Stat) {
	if !p.out.tty {
		if p.opts.Plain != nil {
			p.opts.Plain(s)
		}
		return
	}
	p.out.draw(FormatLine(p.opts.Label, s, p.opts.Width()))
}

// FormatLine renders a snapshot to fit width columns:
//
//	label [#########.........]  45.2% 290.0 MiB/640.0 MiB 12.3 MiB/s peers 3 ETA 0:28
//
// A long label is shortened; the bar shrinks, then goes; then the label goes.
func FormatLine(label string, s Stat, width int) string {
	pct := 100.0
	if s.Total > 0 {
		pct = 100 * float64(s.Done) / float64(s.Total)
	}
	fields := []string{
		fmt.Sprintf("%5.1f%%", pct),
		Size(s.Done) + "/" + Size(s.Total),
		FormatRate(s.Rate),
	}
	if s.Extra != "" {
		fields = append(fields, s.Extra)
	}
	fields = append(fields, "ETA "+FormatETA(s.ETA))
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

// FormatRate prints bytes per second for people: 12.3 MiB/s; "-- B/s" when unknown.
func FormatRate(r float64) string {
	if r <= 0 {
		return "-- B/s"
	}
	return Size(int64(r)) + "/s"
}

// FormatETA prints a duration as 0:28, 12:05 or 3:04:05; "--:--" when unknown.
func FormatETA(d time.Duration) string {
	if d < 0 || d > 100*time.Hour {
		return "--:--"
	}
	s := int64(d.Round(time.Second) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// IsTerminal reports whether w is a terminal (a progress bar may redraw on it).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// TerminalWidth is w's width in columns, or 80 when it cannot be asked.
func TerminalWidth(w io.Writer) int {
	if f, ok := w.(*os.File); ok {
		if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil && ws.Col > 0 {
			return int(ws.Col)
		}
	}
	return 80
}

// Size prints a size for people: 1.5 MiB.
func Size(n int64) string {
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
