package integration

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/netem"
)

// The link of issue 11's streaming scenario: each seeder gives 2 MB/s, 40 ± 10
// ms away each way (about 80 ms round trip).
var wanLink = netem.Shape{Delay: 40 * time.Millisecond, Jitter: 10 * time.Millisecond, Rate: 2 << 20}

// wanPeers starts n libtorrent seeders of tor, each behind its own emulated
// link, and returns the links' addresses (what a mount is given as --peer).
func wanPeers(t testing.TB, tor *Torrent, n int, shape netem.Shape) []string {
	t.Helper()
	back := shape
	back.Rate = 0 // requests: only the delay applies
	var addrs []string
	for range n {
		s := startLibtorrentSeeder(t, tor)
		r, err := netem.Config{Up: back, Down: shape}.ListenTCP(context.Background(), "127.0.0.1:0", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		addrs = append(addrs, r.Addr().String())
	}
	return addrs
}

// mpv's own account of its playback: the first frame, and each time its
// cache ran dry and playback paused to buffer.
var (
	mpvFirstFrame = regexp.MustCompile(`\[\s*([0-9.]+)\]\[v\]\[cplayer\] first video frame after restart shown`)
	mpvBuffering  = regexp.MustCompile(`\[\s*([0-9.]+)\]\[v\]\[cplayer\] Enter buffering \(buffer went from ([0-9]+)% -> ([0-9]+)%\)`)
)

// TestPlayerStartsWithoutFreezeOnWAN is the regression test of issue 11's
// freeze: mpv, playing an 8 Mbit/s MP4 (its index, moov, at the end of the
// file) from three libtorrent seeders that give 2 MB/s each over an 80 ms
// round trip, paused to buffer just after its first frame in 4 of 5 runs
// (the head of the file was fetched only as far as mpv had read, and the
// pipelines, sized from a rate that was still ramping up, held the ramp
// back). Each of three cold starts, on a fresh mount, must play on from its
// first frame without buffering again. mpv, not a model of it, says so: its
// log records every pause for the cache.
func TestPlayerStartsWithoutFreezeOnWAN(t *testing.T) {
	requireTool(t, "mpv")
	buildBinary(t)
	v := streamVideo(t)
	tor := makeTorrent(t, v.Path, nil, 1<<20)
	peers := wanPeers(t, tor, 3, wanLink)
	var args []string
	for _, p := range peers {
		args = append(args, "--peer", p)
	}
	for run := range 3 {
		m := mount(t, append(args, tor.Path)...)
		file := filepath.Join(m.Dir, filepath.Base(v.Path))
		logFile := filepath.Join(t.TempDir(), "mpv.log")
		// 6 s of playback in real time: the freeze came within 1.5 s of the first frame.
		r := runMpv(t, file, logFile, 6)
		log, err := os.ReadFile(logFile)
		if err != nil {
			t.Fatal(err)
		}
		m.Unmount(t)
		if r.code != 0 {
			t.Fatalf("run %d: mpv: %v\nmpv log:\n%s\nhyperblow stderr:\n%s", run, r, tail(string(log), 3000), tail(m.Stderr(), 3000))
		}
		first := mpvFirstFrame.FindSubmatchIndex(log)
		if first == nil {
			t.Fatalf("run %d: mpv showed no first frame:\n%s", run, tail(string(log), 3000))
		}
		after := string(log[first[1]:])
		for _, b := range mpvBuffering.FindAllStringSubmatch(after, -1) {
			t.Errorf("run %d: mpv paused to buffer at %s s (first frame at %s s), buffer %s%% -> %s%%",
				run, b[1], string(log[first[2]:first[3]]), b[2], b[3])
		}
		if t.Failed() {
			t.Logf("run %d: mpv log after the first frame:\n%s\nhyperblow stderr:\n%s", run, head(grepLines(after, "cplayer"), 3000), tail(m.Stderr(), 2000))
			return
		}
	}
}

// runMpv plays file in real time for secs seconds with no audio or video
// output, logging to logFile.
func runMpv(t testing.TB, file, logFile string, secs int) result {
	t.Helper()
	return run(t, time.Duration(secs)*time.Second+90*time.Second, procOpts{}, "mpv", "--no-config", "--vo=null", "--ao=null",
		"--no-audio", "--really-quiet", "--length="+strconv.Itoa(secs), "--log-file="+logFile, file)
}
