package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const hangGuard = 60 * time.Second

// report is what the tests read back from the JSON lines.
type report struct {
	Event   string     `json:"event"`
	Control string     `json:"control"`
	Links   []linkJSON `json:"links"`
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--listen", "127.0.0.1:0"},
		{"--delay", "40ms", "--link", "127.0.0.1:0=127.0.0.1:1"},
		{"--listen", "0.0.0.0:7001", "--to", "127.0.0.1:1"},
		{"--link", "127.0.0.1:0=10.1.1.1:6881"},
		{"--link", "127.0.0.1:0=127.0.0.1:1", "--control", "0.0.0.0:0"},
		{"--link", "127.0.0.1:0=127.0.0.1:1,rate=0"},
		{"--link", "127.0.0.1:0=127.0.0.1:1,from=10.0.0.1"},
		{"--bogus"},
		{"--link", "127.0.0.1:0=127.0.0.1:1", "extra"},
		{"--tun", "hbl0"},
		{"--tun", "hbl0", "--far-netns", "1", "--udp"},
		{"--far-netns", "1", "--link", "127.0.0.1:0=127.0.0.1:1"},
		{"--tun", "hbl0,proto=tcp", "--far-netns", "1"},
		{"--tun", "hbl0", "--far-netns", "1", "--rate", "0"},
	} {
		var stderr bytes.Buffer
		if code := run(context.Background(), args, io.Discard, &stderr, nil); code != 2 {
			t.Errorf("%q: exit %d, want 2 (stderr %q)", args, code, stderr.String())
		}
		if stderr.Len() == 0 {
			t.Errorf("%q: no message", args)
		}
	}
}

func TestListenFailureIsRuntime(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var stderr bytes.Buffer
	args := []string{"--link", ln.Addr().String() + "=127.0.0.1:1"} // the port is taken
	if code := run(context.Background(), args, io.Discard, &stderr, nil); code != 1 {
		t.Errorf("exit %d, want 1 (stderr %q)", code, stderr.String())
	}
}

// TestRun drives hblink as the benchmark will: start two links, read the
// ready line, move data through one, stall and resume it over the
// control endpoint, dump the stats, and stop.
func TestRun(t *testing.T) {
	target, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	payload := bytes.Repeat([]byte("hyperblow "), 10_000)
	go func() {
		for {
			c, err := target.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.Write(payload)
				c.(*net.TCPConn).CloseWrite()
				io.Copy(io.Discard, c)
			}()
		}
	}()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	outR, outW := io.Pipe()
	dump := make(chan struct{})
	exited := make(chan int, 1)
	statsFile := filepath.Join(t.TempDir(), "links.json")
	go func() {
		exited <- run(ctx, []string{
			"--control", "127.0.0.1:0", "--stats", statsFile,
			"--listen", "127.0.0.1:0", "--to", target.Addr().String(), "--delay", "5ms", "--rate", "4MB/s",
			"--link", "127.0.0.1:0=127.0.0.1:1,proto=udp",
		}, outW, io.Discard, dump)
		outW.Close()
	}()
	next := reportReader(t, outR)
	ready := next()
	if ready.Event != "ready" || len(ready.Links) != 2 || ready.Links[0].Proto != "tcp" || ready.Links[1].Proto != "udp" ||
		ready.Links[0].Down.Rate != 4_000_000 || ready.Links[0].Down.Delay != "5ms" {
		t.Fatalf("ready line %+v", ready)
	}
	ctl := "http://" + ready.Control

	post := func(path string) linkJSON {
		t.Helper()
		resp, err := http.Post(ctl+path, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("POST %s: %s: %s", path, resp.Status, b)
		}
		var l linkJSON
		if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
			t.Fatal(err)
		}
		return l
	}
	if l := post("/link/0?down.stall=1"); !l.Down.Stall || l.Up.Stall || l.Down.Rate != 4_000_000 {
		t.Fatalf("after down.stall=1: %+v", l)
	}
	for path, code := range map[string]int{"/link/2?stall=1": 404, "/link/0?rate=0": 400, "/link/0": 400, "/link/0?proto=udp": 400} {
		resp, err := http.Post(ctl+path, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != code {
			t.Errorf("POST %s: %s, want %d", path, resp.Status, code)
		}
	}

	c, err := net.Dial("tcp", ready.Links[0].Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(hangGuard))
	// Stalled: the relay takes what fits in its window and delivers nothing.
	waitControl(t, ctl, func(l linkJSON) bool { return l.TCP.Down.In > 0 })
	if l := get(t, ctl); l.DownBytes != 0 {
		t.Fatalf("a stalled link delivered %d bytes", l.DownBytes)
	}
	post("/links?stall=0")
	got, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("read %d bytes (%v), want the %d-byte payload", len(got), err, len(payload))
	}

	dump <- struct{}{}
	if r := next(); r.Event != "stats" || r.Links[0].DownBytes != int64(len(payload)) {
		t.Fatalf("stats line %+v, want %d bytes down", r, len(payload))
	}
	cancel()
	if r := next(); r.Event != "exit" || r.Links[0].DownBytes != int64(len(payload)) || r.Links[0].TCP.Conns != 1 {
		t.Fatalf("exit line %+v", r)
	}
	if code := <-exited; code != 0 {
		t.Fatalf("exit code %d", code)
	}
	b, err := os.ReadFile(statsFile)
	if err != nil {
		t.Fatal(err)
	}
	var r report
	if err := json.Unmarshal(b, &r); err != nil || r.Event != "exit" || r.Links[0].DownBytes != int64(len(payload)) {
		t.Fatalf("--stats file %s: %v", b, err)
	}
}

func get(t *testing.T, ctl string) linkJSON {
	t.Helper()
	resp, err := http.Get(ctl + "/link/0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var l linkJSON
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
		t.Fatal(err)
	}
	return l
}

// waitControl polls link 0 until cond holds.
func waitControl(t *testing.T, ctl string, cond func(linkJSON) bool) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for !cond(get(t, ctl)) {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestQueryKeys(t *testing.T) {
	kvs, err := queryKeys("rate=2MB%2Fs&down.stall=1")
	if err != nil || strings.Join(kvs, " ") != "rate=2MB/s down.stall=1" {
		t.Errorf("got %q, %v", kvs, err)
	}
}

// reportReader returns a function that reads hblink's next JSON line from r
// (its stdout); the test fails when there is none or it does not parse.
func reportReader(t *testing.T, r io.Reader) func() report {
	lines := bufio.NewScanner(r)
	lines.Buffer(nil, 1<<20)
	return func() report {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("no more output: %v", lines.Err())
		}
		var rep report
		if err := json.Unmarshal(lines.Bytes(), &rep); err != nil {
			t.Fatalf("output %q: %v", lines.Text(), err)
		}
		return rep
	}
}
