package progress

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestFormatProgressLine(t *testing.T) {
	s := Stat{Done: 45 << 20, Total: 100 << 20, Rate: 12 << 20, ETA: 28 * time.Second, Extra: "peers 3"}
	for _, width := range []int{200, 80, 60, 30, 5} {
		line := FormatLine("ubuntu-24.04-desktop-amd64.iso", s, width)
		if n := len([]rune(line)); n > width-1 {
			t.Errorf("width %d: %d columns: %q", width, n, line)
		}
		if width >= 80 {
			for _, want := range []string{"45.0%", "45.0 MiB/100.0 MiB", "12.0 MiB/s", "peers 3", "ETA 0:28", "[##"} {
				if !strings.Contains(line, want) {
					t.Errorf("width %d: %q lacks %q", width, line, want)
				}
			}
		}
	}
	if got := FormatETA(-1); got != "--:--" {
		t.Errorf("unknown ETA: %q", got)
	}
	if got := FormatETA(3*time.Hour + 4*time.Minute + 5*time.Second); got != "3:04:05" {
		t.Errorf("ETA: %q", got)
	}
}

// TestProgressPlain: off a terminal, snapshots go to Plain at its interval and
// nothing is drawn; Done grows and reaches the total.
func TestProgressPlain(t *testing.T) {
	var out bytes.Buffer
	var done atomic.Int64
	var mu sync.Mutex
	var got []Stat
	bar := Start(NewOut(&out, false), Options{
		Total: 1000, Done: done.Load, PlainEvery: 5 * time.Millisecond,
		Plain: func(s Stat) { mu.Lock(); got = append(got, s); mu.Unlock() },
	})
	// Each value is waited for in a snapshot, not given a time to show up: a
	// loaded machine may run the ticker late.
	for i := 1; i <= 10; i++ {
		done.Store(int64(100 * i))
		eventually(t, 10*time.Second, fmt.Sprintf("a snapshot with %d done", 100*i), func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(got) > 0 && got[len(got)-1].Done == int64(100*i)
		})
	}
	bar.Stop()
	bar.Stop()
	mu.Lock()
	defer mu.Unlock()
	if len(got) < 3 {
		t.Fatalf("%d snapshots, want several", len(got))
	}
	for k := 1; k < len(got); k++ {
		if got[k].Done < got[k-1].Done {
			t.Errorf("snapshot %d went back: %d after %d", k, got[k].Done, got[k-1].Done)
		}
	}
	if last := got[len(got)-1]; last.Done != 1000 || last.ETA != 0 {
		t.Errorf("last snapshot %+v, want done 1000, ETA 0", last)
	}
	if out.Len() != 0 {
		t.Errorf("drew on a non-terminal: %q", out.String())
	}
}

// TestProgressTerminal: on a terminal the line is redrawn in place, a log line
// goes above it and the line is drawn again, and Stop ends the line.
func TestProgressTerminal(t *testing.T) {
	var out bytes.Buffer // written under o's lock, read after Stop
	o := NewOut(&out, true)
	var done atomic.Int64
	bar := Start(o, Options{Label: "hashing", Total: 1 << 20, Done: done.Load, Every: 5 * time.Millisecond, Width: func() int { return 100 }})
	done.Store(1 << 19)
	// The bar is on screen at 50% before the log line is written (waited for).
	eventually(t, 10*time.Second, "the bar at 50%", func() bool {
		o.mu.Lock()
		defer o.mu.Unlock()
		return strings.Contains(out.String(), "50.0%")
	})
	o.Write([]byte("a log line\n"))
	done.Store(1 << 20)
	bar.Stop()
	s := out.String()
	if !strings.Contains(s, "\rhashing [") || !strings.Contains(s, "50.0%") {
		t.Errorf("no redrawn bar at 50%%: %q", s)
	}
	if !strings.Contains(s, "\r\x1b[Ka log line\nhashing [") {
		t.Errorf("log line not written above the bar: %q", s)
	}
	if !strings.HasSuffix(s, "\n") || !strings.Contains(s, "100.0%") {
		t.Errorf("Stop did not draw 100%% and end the line: %q", s)
	}
}

// eventually polls cond, a condition that only becomes true, until it holds; it
// fails the test after timeout, which bounds a hang.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, timeout)
		}
		time.Sleep(time.Millisecond)
	}
}
