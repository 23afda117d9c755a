package integration

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// freePort returns a port on 127.0.0.1 that was free for both TCP and UDP a
// moment ago. Callers retry with another port if starting a server on it fails.
func freePort(t testing.TB) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		return port
	}
	t.Fatal("no free port on 127.0.0.1")
	return 0
}

// waitTCP waits until something accepts TCP connections on addr.
func waitTCP(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing accepts TCP on %s after %v: %v", addr, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Tracker is a running opentracker on 127.0.0.1 serving HTTP and UDP on one port.
type Tracker struct {
	HTTP string // http://127.0.0.1:PORT/announce
	UDP  string // udp://127.0.0.1:PORT/announce
	port int
	dir  string
	p    *proc
}

// startOpentracker starts Debian's opentracker on a free loopback port, with an
// info-hash whitelist holding infohashes (more can be added with Allow), and
// waits until it answers on HTTP and UDP. It is killed when the test ends.
func startOpentracker(t testing.TB, infohashes ...string) *Tracker {
	t.Helper()
	requireTool(t, "opentracker")
	// opentracker chroots into -d (when root) and drops to "nobody" before it reads
	// the whitelist, so the list is named relative to the directory and is world-readable.
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tr := &Tracker{dir: dir}
	// A placeholder keeps the list non-empty: opentracker warns about an empty one.
	tr.writeWhitelist(t, append([]string{strings.Repeat("0", 40)}, infohashes...))
	var lastErr string
	for attempt := range 5 {
		port := freePort(t)
		p := startProc(t, fmt.Sprintf("opentracker#%d", attempt), procOpts{dir: dir},
			"opentracker", "-i", "127.0.0.1", "-p", strconv.Itoa(port), "-P", strconv.Itoa(port),
			"-d", dir, "-w", "whitelist")
		err := waitTracker(p, port, 10*time.Second)
		if err == nil {
			tr.port, tr.p = port, p
			tr.HTTP = fmt.Sprintf("http://127.0.0.1:%d/announce", port)
			tr.UDP = fmt.Sprintf("udp://127.0.0.1:%d/announce", port)
			return tr
		}
		lastErr = err.Error() + "\n" + p.describe()
		p.kill()
		p.waitFor(5 * time.Second)
	}
	t.Fatalf("opentracker did not start: %s", lastErr)
	return nil
}

func waitTracker(p *proc, port int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	var err error
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("opentracker exited")
		}
		var resp *http.Response
		resp, err = client.Get(fmt.Sprintf("http://127.0.0.1:%d/scrape", port))
		if err == nil {
			resp.Body.Close()
			if err = udpConnect(port); err == nil {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("opentracker on port %d did not answer HTTP and UDP within %v: %v", port, timeout, err)
}

// udpConnect sends a BEP 15 connect request and waits for the matching reply.
func udpConnect(port int) error {
	c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return err
	}
	defer c.Close()
	req := make([]byte, 16)
	binary.BigEndian.PutUint64(req[0:], 0x41727101980) // protocol id
	binary.BigEndian.PutUint32(req[8:], 0)             // action: connect
	rand.Read(req[12:])                                // transaction id
	if _, err := c.Write(req); err != nil {
		return err
	}
	c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	resp := make([]byte, 64)
	n, err := c.Read(resp)
	if err != nil {
		return err
	}
	if n < 16 || binary.BigEndian.Uint32(resp[0:]) != 0 || !bytes.Equal(resp[4:8], req[12:16]) {
		return fmt.Errorf("bad UDP connect reply % x", resp[:n])
	}
	return nil
}

func (tr *Tracker) writeWhitelist(t testing.TB, hashes []string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(tr.dir, "whitelist"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hashes {
		if _, err := hex.DecodeString(h); err != nil || len(h) != 40 {
			t.Fatalf("whitelist: %q is not a 40-hex info-hash", h)
		}
		fmt.Fprintln(f, strings.ToLower(h))
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// Allow adds info-hashes to the whitelist (opentracker rereads it on SIGHUP) and
// waits until the tracker accepts announces for them.
func (tr *Tracker) Allow(t testing.TB, infohashes ...string) {
	t.Helper()
	tr.writeWhitelist(t, infohashes)
	if err := tr.p.signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for _, h := range infohashes {
		deadline := time.Now().Add(10 * time.Second)
		for {
			// A leecher on the discard port, removed again at once.
			body, err := tr.announce(h, "started")
			if err == nil && !bytes.Contains(body, []byte("failure reason")) {
				tr.announce(h, "stopped")
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("opentracker does not accept %s after SIGHUP: %v %q", h, err, body)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func (tr *Tracker) announce(infohash, event string) ([]byte, error) {
	raw, _ := hex.DecodeString(infohash)
	q := "info_hash=" + pctEncode(raw) + "&peer_id=-HBTEST-000000000000&port=9&uploaded=0&downloaded=0&left=1&compact=1&numwant=0&event=" + event
	return httpGet(tr.HTTP + "?" + q)
}

var completeRE = regexp.MustCompile(`8:completei(\d+)e`)

// WaitSeeders waits until the tracker counts at least n seeders for infohash.
func (tr *Tracker) WaitSeeders(t testing.TB, infohash string, n int) {
	t.Helper()
	raw, _ := hex.DecodeString(infohash)
	u := fmt.Sprintf("http://127.0.0.1:%d/scrape?info_hash=%s", tr.port, pctEncode(raw))
	deadline := time.Now().Add(30 * time.Second)
	for {
		body, err := httpGet(u)
		if m := completeRE.FindSubmatch(body); err == nil && m != nil {
			if c, _ := strconv.Atoi(string(m[1])); c >= n {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("tracker has not %d seeder(s) for %s after 30s: %v %q", n, infohash, err, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func httpGet(u string) ([]byte, error) {
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(io.LimitReader(resp.Body, 1<<20))
}
