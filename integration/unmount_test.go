package integration

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Stopping a mount while reads wait for data that never comes: `hyperblow
// unmount`, SIGTERM, a magnet whose metadata is not found, a read that times
// out. The torrents here have no peer at all (or one that never answers), so
// a read blocks until the mount lets it go.

// noPeerTorrent is a small torrent nobody seeds, and the name of its file.
func noPeerTorrent(t *testing.T) (*Torrent, string) {
	t.Helper()
	data := filepath.Join(t.TempDir(), "nobody-seeds.bin")
	writeRandomFile(t, data, 1<<20, 7)
	return makeTorrent(t, data, nil, 64<<10), filepath.Base(data)
}

// waitBlockedRead waits until the mount's status (--status 127.0.0.1:0) shows a
// read waiting for a piece, which is where reader's read(2) blocks.
func waitBlockedRead(t *testing.T, m *Mount, reader *proc) {
	t.Helper()
	addr := statusAddr(t, m)
	deadline := time.Now().Add(60 * time.Second)
	for {
		var st struct {
			Torrents []struct {
				Waiting []struct {
					Waiters int `json:"waiters"`
				} `json:"waiting"`
			} `json:"torrents"`
		}
		body := statusGet(t, "http://"+addr+"/status")
		if err := json.Unmarshal([]byte(body), &st); err != nil {
			t.Fatalf("/status is not JSON: %v\n%s", err, body)
		}
		if len(st.Torrents) > 0 && len(st.Torrents[0].Waiting) > 0 {
			return
		}
		if reader.exited() {
			t.Fatalf("%s ended before its read blocked: %s", reader.name, reader.describe())
		}
		if time.Now().After(deadline) {
			t.Fatalf("no read waiting after 60 s; status:\n%s", body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkReaderFailed waits for a reader released by the stop: it must end, with
// an error.
func checkReaderFailed(t *testing.T, reader *proc) {
	t.Helper()
	if !reader.waitFor(20 * time.Second) {
		t.Fatalf("%s is still blocked 20 s after the mount stopped: %s", reader.name, reader.describe())
	}
	if reader.exitCode() == 0 {
		t.Fatalf("%s succeeded reading data nobody has: %s", reader.name, reader.describe())
	}
	if !strings.Contains(reader.Stderr.String(), "Input/output error") {
		t.Errorf("%s failed without an I/O error: %s", reader.name, reader.describe())
	}
}

// TestUnmountCommandBlockedReader: `hyperblow unmount MNT` while cat waits for
// a piece nobody has: cat ends with an I/O error, the mount process exits 0,
// nothing is left mounted, and the command says so and exits 0.
func TestUnmountCommandBlockedReader(t *testing.T) {
	bin := buildBinary(t)
	tor, name := noPeerTorrent(t)
	m := mount(t, "--status", "127.0.0.1:0", tor.Path)
	cat := startProc(t, "cat", procOpts{}, "cat", filepath.Join(m.Dir, name))
	waitBlockedRead(t, m, cat)

	// fusermount3 -u is refused while the read waits, as for any filesystem.
	if r := run(t, 30*time.Second, procOpts{}, "fusermount3", "-u", m.Dir); r.code == 0 {
		t.Fatalf("fusermount3 -u succeeded while a read was blocked (the test's premise is wrong): %v", r)
	}

	r := run(t, 60*time.Second, procOpts{}, bin, "unmount", m.Dir)
	if r.code != 0 || !strings.Contains(r.stdout, "unmounted "+m.Dir) {
		t.Fatalf("hyperblow unmount %s: %v\nmount's stderr:\n%s", m.Dir, r, tail(m.Stderr(), 4000))
	}
	checkReaderFailed(t, cat)
	m.WaitExit(t, 20*time.Second) // exit 0, nothing mounted
	if !strings.Contains(m.Stderr(), "unmount requested") {
		t.Errorf("the mount's log does not say an unmount was requested:\n%s", tail(m.Stderr(), 4000))
	}

	// Not mounted any more: a clear error, exit 1.
	r = run(t, 30*time.Second, procOpts{}, bin, "unmount", m.Dir)
	if r.code != 1 || !strings.Contains(r.stderr, "not mounted") {
		t.Errorf("hyperblow unmount of a folder that is not mounted: %v, want exit 1 saying not mounted", r)
	}
}

// TestUnmountCommandDeadMount: after kill -9 the mount is dead ("Transport
// endpoint is not connected"); `hyperblow unmount` removes it.
func TestUnmountCommandDeadMount(t *testing.T) {
	bin := buildBinary(t)
	tor, _ := noPeerTorrent(t)
	m := mount(t, tor.Path)
	m.p.kill()
	// Killed in its first milliseconds, a mount process can stay a zombie
	// with one thread waiting in the kernel on a request to its own mount,
	// which no one will answer (seen under load: a close() on the mount, in
	// fuse_flush). Then the mount is not dead but stuck, and hyperblow unmount
	// must free it all the same, by aborting the FUSE connection.
	died := m.p.waitFor(20 * time.Second)
	if died {
		m.stopped = true
		if _, err := os.ReadDir(m.Dir); err == nil {
			t.Fatalf("the mount of a killed process still answers")
		}
	}
	r := run(t, 60*time.Second, procOpts{}, bin, "unmount", m.Dir)
	if r.code != 0 || (died && !strings.Contains(r.stderr, "dead mount")) {
		t.Fatalf("hyperblow unmount of a dead mount (process gone: %v): %v", died, r)
	}
	if !died {
		if !m.p.waitFor(20 * time.Second) {
			t.Fatalf("hyperblow unmount did not free the killed process stuck on its own mount: %s", m.p.describe())
		}
		m.stopped = true
	}
	if isMounted(m.Dir) {
		t.Fatalf("%s is still mounted after hyperblow unmount", m.Dir)
	}
}

// TestSIGTERMBlockedReader: SIGTERM while cat waits for a piece nobody has:
// cat ends with an I/O error, hyperblow exits 0 and nothing is left mounted.
func TestSIGTERMBlockedReader(t *testing.T) {
	buildBinary(t)
	tor, name := noPeerTorrent(t)
	m := mount(t, "--status", "127.0.0.1:0", tor.Path)
	cat := startProc(t, "cat", procOpts{}, "cat", filepath.Join(m.Dir, name))
	waitBlockedRead(t, m, cat)
	m.Unmount(t) // SIGTERM; exit 0 within 20 s; nothing mounted
	checkReaderFailed(t, cat)
}

// silentPeer listens on loopback and accepts connections that it never
// answers: a peer that is there but sends no metadata.
func silentPeer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return ln.Addr().String()
}

// TestMagnetMetadataTimeout: a magnet whose only peer never answers: once
// --metadata-timeout passes the mount logs why, unmounts and exits 1.
func TestMagnetMetadataTimeout(t *testing.T) {
	buildBinary(t)
	peer := silentPeer(t)
	magnet := "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&dn=nobody"
	m := startMount(t, mountOpts{noWait: true}, "--metadata-timeout", "3s", "--peer", peer, magnet)
	m.stopped = true
	if !m.p.waitFor(60 * time.Second) {
		t.Fatalf("hyperblow did not exit within 60 s of a 3 s metadata timeout: %s", m.p.describe())
	}
	if code := m.p.exitCode(); code != 1 {
		t.Errorf("hyperblow exited %d after the metadata timeout, want 1: %s", code, m.p.describe())
	}
	stderr := m.Stderr()
	for _, want := range []string{"mounted; fetching metadata", "metadata not fetched; stopping", "not found in 3s"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("hyperblow's stderr lacks %q:\n%s", want, tail(stderr, 4000))
		}
	}
	if isMounted(m.Dir) {
		t.Errorf("%s is still mounted after the metadata timeout", m.Dir)
	}
}

// TestMultiMagnetMetadataTimeout: in a mount of several torrents a magnet
// whose metadata is not found keeps its folder, whose .hyperblow-status says
// it failed and why, as the log does; the other torrent stays mounted.
func TestMultiMagnetMetadataTimeout(t *testing.T) {
	buildBinary(t)
	tor, name := noPeerTorrent(t)
	peer := silentPeer(t)
	magnet := "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&dn=nobody"
	m := mount(t, "--metadata-timeout", "3s", "--peer", peer, tor.Path, magnet)
	status := filepath.Join(m.Dir, "nobody", ".hyperblow-status")
	deadline := time.Now().Add(60 * time.Second)
	var text string
	for {
		b, err := os.ReadFile(status)
		if err != nil {
			t.Fatalf("status file of the magnet's folder: %v", err)
		}
		text = string(b)
		if strings.Contains(text, "state:     failed") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failure 60 s into a 3 s metadata timeout; status:\n%s", text)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if strings.Contains(text, "is fetching") || !strings.Contains(text, "could not fetch") {
		t.Errorf("the status of a failed magnet does not say it failed:\n%s", text)
	}
	_, why, ok := strings.Cut(text, "error:")
	why = strings.TrimSpace(why)
	if !ok || !strings.Contains(why, "not found in 3s") {
		t.Fatalf("the status of a failed magnet does not say why:\n%s", text)
	}
	// The log says the same, once it is written (it comes just after).
	for !strings.Contains(m.Stderr(), "metadata not fetched") {
		if time.Now().After(deadline) {
			t.Fatalf("the log does not say the metadata was not fetched:\n%s", tail(m.Stderr(), 4000))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(m.Stderr(), why) {
		t.Errorf("the log does not give the status file's reason %q:\n%s", why, tail(m.Stderr(), 4000))
	}
	if m.p.exited() {
		t.Fatalf("a failed magnet ended the mount of several torrents: %s", m.p.describe())
	}
	if _, err := os.Stat(filepath.Join(m.Dir, name, name)); err != nil {
		t.Errorf("the other torrent's file: %v", err)
	}
	m.Unmount(t)
}

// TestNoPeerSource: a magnet with no tracker, no peer and the DHT off cannot
// resolve; info and mount say so at once (not after a timeout) and exit 1.
func TestNoPeerSource(t *testing.T) {
	bin := buildBinary(t)
	const hash = "0123456789abcdef0123456789abcdef01234567"
	// The default --metadata-timeout is minutes: the bound shows it did not wait.
	r := run(t, 30*time.Second, procOpts{}, bin, "info", "--no-dht", hash)
	if r.timeout || r.code != 1 || !strings.Contains(r.stderr, "no way to find peers") || !strings.Contains(r.stderr, "--peer") {
		t.Errorf("hyperblow info --no-dht on a bare info-hash: %v, want exit 1 at once saying there is no way to find peers", r)
	}
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	r = run(t, 30*time.Second, procOpts{}, bin, "mount", "--no-dht", "--no-lsd", "--no-upnp", "--listen", "127.0.0.1:0", "magnet:?xt=urn:btih:"+hash, mnt)
	if isMounted(mnt) {
		lazyUnmount(t, mnt)
		t.Fatalf("a magnet with no way to find peers was mounted")
	}
	if r.timeout || r.code != 1 || !strings.Contains(r.stderr, "no way to find peers") {
		t.Errorf("hyperblow mount --no-dht of a bare magnet: %v, want exit 1 at once saying there is no way to find peers", r)
	}
}

// TestReadTimeoutLogged: with --read-timeout 3s a read of data nobody has fails with
// EIO, and the mount logs a warning naming the file, the offset and what it
// waited for. It fails after the timeout, not twice it: the kernel retries a
// failed buffered read once, and that retry must not wait again.
func TestReadTimeoutLogged(t *testing.T) {
	buildBinary(t)
	tor, name := noPeerTorrent(t)
	m := mount(t, "--read-timeout", "3s", tor.Path)
	r := run(t, 60*time.Second, procOpts{}, "cat", filepath.Join(m.Dir, name))
	if r.code == 0 || !strings.Contains(r.stderr, "Input/output error") {
		t.Fatalf("cat of data nobody has with --read-timeout 3s: %v, want an I/O error", r)
	}
	// A generous bound: the bug this guards against took 6 s.
	if r.elapsed > 5*time.Second {
		t.Errorf("the read failed after %v, want about 3 s", r.elapsed.Round(time.Millisecond))
	}
	t.Logf("the read failed after %v", r.elapsed.Round(time.Millisecond))
	deadline := time.Now().Add(20 * time.Second)
	var line string
	for line == "" {
		for _, l := range strings.Split(m.Stderr(), "\n") {
			if strings.Contains(l, "level=WARN") && strings.Contains(l, "read failed") {
				line = l
				break
			}
		}
		if line == "" && time.Now().After(deadline) {
			t.Fatalf("no warning about the failed read in the log:\n%s", tail(m.Stderr(), 4000))
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []string{"file=" + name, "offset=0", "waiting_for=", "not verified"} {
		if !strings.Contains(line, want) {
			t.Errorf("the warning about the failed read lacks %q: %s", want, line)
		}
	}
	m.Unmount(t)
}
