package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Seeder is a running `hyperblow seed` child process.
type Seeder struct {
	Addr string // 127.0.0.1:PORT, where it accepts peers
	Line string // its "seeding NAME (INFOHASH) on HOST:PORT" line
	p    *proc
}

var seedingRE = regexp.MustCompile(`^seeding (.+) \(([0-9a-f]{40})\) on (\S+)$`)

// startSeed runs `hyperblow seed --no-dht --no-lsd --no-upnp --listen 127.0.0.1:0 ARGS...` (ARGS: more
// flags, TORRENT and DATA) and waits until it prints its "seeding" line, which
// comes once DATA is verified and the listener is up. If the test ends with the
// seeder still running, it gets SIGTERM, then SIGKILL.
func startSeed(t testing.TB, args ...string) *Seeder {
	t.Helper()
	bin := buildBinary(t)
	argv := append([]string{bin, "seed", "--no-dht", "--no-lsd", "--no-upnp", "--listen", "127.0.0.1:0"}, args...)
	p := startProc(t, "hyperblow seed", procOpts{pdeathsig: syscall.SIGTERM}, argv...)
	t.Cleanup(func() { // runs before startProc's SIGKILL
		if !p.exited() {
			p.signal(syscall.SIGTERM)
			if !p.waitFor(exitTimeout) {
				t.Errorf("hyperblow seed did not exit within %v of SIGTERM: %s", exitTimeout, p.hung())
			}
		}
	})
	start := time.Now()
	line := p.waitStdout(t, "seeding ", 2*time.Minute)
	m := seedingRE.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("hyperblow seed: bad first line %q, want \"seeding NAME (INFOHASH) on HOST:PORT\"", line)
	}
	s := &Seeder{Addr: m[3], Line: line, p: p}
	if err := waitTCP(s.Addr, 10*time.Second); err != nil {
		t.Fatalf("hyperblow seed: %v\n%s", err, p.describe())
	}
	t.Logf("hyperblow seed ready on %s after %v", s.Addr, time.Since(start).Round(time.Millisecond))
	return s
}

// Stop sends SIGTERM and checks that the seeder exits 0, saying it stopped (a hang,
// past exitTimeout, fails with its goroutine dump).
func (s *Seeder) Stop(t testing.TB) {
	t.Helper()
	if s.p.exited() {
		t.Fatalf("hyperblow seed exited before Stop: %s", s.p.describe())
	}
	start := time.Now()
	if err := s.p.signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM to hyperblow seed: %v", err)
	}
	if !s.p.waitFor(exitTimeout) {
		t.Fatalf("hyperblow seed did not exit within %v of SIGTERM: %s", exitTimeout, s.p.hung())
	}
	t.Logf("hyperblow seed exited %d after %v: %s", s.p.exitCode(), time.Since(start).Round(time.Millisecond),
		strings.TrimSpace(tail(s.p.Stdout.String(), 200)))
	if code := s.p.exitCode(); code != 0 {
		t.Errorf("hyperblow seed exited with %d (%v), want 0: %s", code, s.p.err, s.p.describe())
	}
	if !strings.Contains(s.p.Stdout.String(), "stopped ") {
		t.Errorf("hyperblow seed did not print its \"stopped\" line: %s", s.p.describe())
	}
}

// waitNoSeeders waits until the tracker counts no seeder for infohash: the seeders
// told it they stopped.
func (tr *Tracker) waitNoSeeders(t testing.TB, infohash string, timeout time.Duration) {
	t.Helper()
	raw, _ := hex.DecodeString(infohash)
	u := fmt.Sprintf("http://127.0.0.1:%d/scrape?info_hash=%s", tr.port, url.QueryEscape(string(raw)))
	deadline := time.Now().Add(timeout)
	for {
		body, err := httpGet(u)
		if m := completeRE.FindSubmatch(body); err == nil && m != nil && string(m[1]) == "0" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("tracker still counts seeders for %s %v after the seeder stopped: %v %q", infohash, timeout, err, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// downloaded returns the SHA-256 of the files a client saved for tor under outDir
// (outDir/NAME is the file, or the folder of a multi-file torrent).
func downloaded(t testing.TB, tor *Torrent, outDir string) map[string]string {
	t.Helper()
	p := filepath.Join(outDir, tor.Info.Name)
	if !tor.Info.MultiFile {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("the download is missing: %v", err)
		}
		return map[string]string{tor.Info.Name: hashFile(t, p)}
	}
	return hashTree(t, p)
}

var emptySHA256 = hex.EncodeToString(func() []byte { h := sha256.Sum256(nil); return h[:] }())

// withoutEmpty drops empty files: transmission-cli 3.00 does not create them.
func withoutEmpty(hashes map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range hashes {
		if v != emptySHA256 {
			out[k] = v
		}
	}
	return out
}

// TestSeedToAria2: aria2c finds `hyperblow seed` through opentracker's HTTP
// announce and downloads everything from it alone: a 64 MiB file (DATA is the
// file) and the multi-file tree (DATA is the folder holding the torrent's folder).
// When the seeder stops, the tracker no longer counts it.
func TestSeedToAria2(t *testing.T) {
	buildBinary(t)
	requireTool(t, "aria2c")
	data := sharedData(t)
	tr := startOpentracker(t)
	single := makeTorrent(t, data.Big, []string{tr.HTTP}, 256<<10)
	multi := makeTorrent(t, data.Tree, []string{tr.HTTP}, 64<<10)
	tr.Allow(t, single.InfoHash, multi.InfoHash)
	for _, tc := range []struct {
		name string
		tor  *Torrent
		data string
	}{
		{"single", single, single.Data},
		{"multi-parent-folder", multi, multi.SaveDir},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startSeed(t, tc.tor.Path, tc.data)
			if !strings.Contains(s.Line, tc.tor.InfoHash) {
				t.Errorf("seeding line %q does not name the info-hash %s", s.Line, tc.tor.InfoHash)
			}
			tr.WaitSeeders(t, tc.tor.InfoHash, 1)
			out := t.TempDir()
			start := time.Now()
			getAria2(t, tc.tor, out)
			t.Logf("aria2c downloaded %d bytes in %v", tc.tor.Info.TotalLength, time.Since(start).Round(time.Millisecond))
			_, want := sourceTree(t, tc.tor)
			compareHashes(t, "aria2c download", want, downloaded(t, tc.tor, out))
			s.Stop(t)
			tr.waitNoSeeders(t, tc.tor.InfoHash, 10*time.Second)
		})
	}
}

// TestSeedToLibtorrentOrTransmission: with no tracker, Debian's transmission-cli
// 3.00 and python3-libtorrent each download the 64 MiB file and the multi-file
// tree from `hyperblow seed` alone, byte for byte.
//
// transmission-cli cannot be given a peer, and it drops 127.0.0.0/8 addresses
// from trackers and PEX as "martian"; it does accept incoming connections from
// 127.0.0.1. So the seeder dials it (--peer). libtorrent dials the seeder.
//
// transmission-cli decides what it wants from a peer every 10 s, so each of its
// downloads waits about that long: the test runs in parallel with the other
// waiting tests, and its two transmission downloads run in parallel too.
func TestSeedToLibtorrentOrTransmission(t *testing.T) {
	t.Parallel()
	buildBinary(t)
	data := sharedData(t)
	single := makeTorrent(t, data.Big, nil, 128<<10)
	multi := makeTorrent(t, data.Tree, nil, 32<<10)
	t.Run("transmission", func(t *testing.T) {
		requireTool(t, "transmission-cli")
		for _, tc := range []struct {
			name string
			tor  *Torrent
		}{{"single", single}, {"multi", multi}} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				out := t.TempDir()
				tm := startTransmission(t, tc.tor.Path, out)
				s := startSeed(t, "--peer", tm.Addr, tc.tor.Path, tc.tor.Data)
				start := time.Now()
				tm.WaitFinished(t, 3*time.Minute)
				t.Logf("transmission-cli downloaded %d bytes in %v", tc.tor.Info.TotalLength, time.Since(start).Round(time.Millisecond))
				tm.Stop(t)
				_, want := sourceTree(t, tc.tor)
				compareHashes(t, "transmission-cli download", withoutEmpty(want), withoutEmpty(downloaded(t, tc.tor, out)))
				s.Stop(t)
			})
		}
	})
	t.Run("libtorrent", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			tor  *Torrent
		}{{"single", single}, {"multi", multi}} {
			t.Run(tc.name, func(t *testing.T) {
				s := startSeed(t, tc.tor.Path, tc.tor.Data)
				out := t.TempDir()
				start := time.Now()
				getLibtorrent(t, tc.tor, out, s.Addr)
				t.Logf("libtorrent downloaded %d bytes in %v", tc.tor.Info.TotalLength, time.Since(start).Round(time.Millisecond))
				_, want := sourceTree(t, tc.tor)
				compareHashes(t, "libtorrent download", want, downloaded(t, tc.tor, out))
				s.Stop(t)
			})
		}
	})
}

// TestSeedBadData: seed serves partial data (a changed byte, a file cut
// short), saying which piece is not offered; data that is not there fails.
func TestSeedBadData(t *testing.T) {
	bin := buildBinary(t)
	data := sharedData(t)
	const pieceLength = 32 << 10
	tor := makeTorrent(t, data.Tree, nil, pieceLength)

	// A copy of the tree with one byte changed in a/b/c/three-mib.bin.
	bad := filepath.Join(t.TempDir(), "tree")
	mustRun(t, time.Minute, "cp", "-r", data.Tree, bad)
	const target, pos = "a/b/c/three-mib.bin", 1_000_003
	var off int64 = -1
	var sum int64
	for _, f := range tor.Info.Files {
		if f.Path == target {
			off = sum + pos
		}
		sum += f.Length
	}
	if off < 0 {
		t.Fatalf("%s is not in the torrent", target)
	}
	flipByte(t, filepath.Join(bad, filepath.FromSlash(target)), pos)
	wantPiece := fmt.Sprintf("piece %d ", off/pieceLength)

	short := filepath.Join(t.TempDir(), "tree")
	mustRun(t, time.Minute, "cp", "-r", data.Tree, short)
	shortFile := filepath.Join(short, "a", "b", "odd.bin")
	if err := os.Truncate(shortFile, 100000); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "no-such-folder")

	// Partial data is seeded: the pieces that match, with a warning naming
	// the first that does not.
	shortPiece := -1
	sum = 0
	for _, f := range tor.Info.Files {
		if f.Path == "a/b/odd.bin" {
			shortPiece = int((sum + 100000) / pieceLength)
		}
		sum += f.Length
	}
	for _, tc := range []struct {
		name, data string
		want       []string
	}{
		{"one byte changed", bad, []string{wantPiece, "missing or does not match", "missing_pieces=1 "}},
		{"file too short", short, []string{fmt.Sprintf("piece %d ", shortPiece), "odd.bin", "missing or does not match"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startSeed(t, tor.Path, tc.data)
			for _, w := range tc.want {
				if !strings.Contains(s.p.Stderr.String(), w) {
					t.Errorf("stderr does not say %q: %s", w, s.p.describe())
				}
			}
			s.Stop(t)
		})
	}
	t.Run("missing", func(t *testing.T) {
		r := run(t, 2*time.Minute, procOpts{}, bin, "seed", "--no-dht", "--no-lsd", "--no-upnp", "--listen", "127.0.0.1:0", tor.Path, missing)
		if r.code != 1 || !strings.Contains(r.stderr, missing) || !strings.Contains(r.stderr, "no such file") || strings.Contains(r.stdout, "seeding ") {
			t.Errorf("seed of missing data: want exit 1 naming it: %v", r)
		}
	})
}

// flipByte inverts the byte at pos of the file at path.
func flipByte(t testing.TB, path string, pos int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, pos); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, pos); err != nil {
		t.Fatal(err)
	}
}

// Transmission is a running transmission-cli downloading one torrent.
type Transmission struct {
	Addr     string // 127.0.0.1:PORT, where it accepts peers
	p        *proc
	finished string // its --finish script creates this file
}

// startTransmission starts Debian's transmission-cli 3.00 downloading torrentPath
// into outDir, confined to 127.0.0.1: a settings.json in a fresh config folder
// turns off DHT, LPD, PEX, uTP, port mapping, RPC and the blocklist and binds its
// peer sockets to loopback; -et takes plain (unencrypted) handshakes. It returns
// once transmission listens for peers.
func startTransmission(t testing.TB, torrentPath, outDir string) *Transmission {
	t.Helper()
	return startTransmissionWith(t, torrentPath, outDir, false)
}

// startTransmissionWith is startTransmission with uTP on or off.
func startTransmissionWith(t testing.TB, torrentPath, outDir string, utp bool) *Transmission {
	t.Helper()
	requireTool(t, "transmission-cli")
	var lastErr string
	for attempt := range 3 {
		cfg := t.TempDir()
		port := freePort(t)
		settings := fmt.Sprintf(`{
  "dht-enabled": false, "lpd-enabled": false, "pex-enabled": false, "utp-enabled": %t,
  "port-forwarding-enabled": false, "rpc-enabled": false, "blocklist-enabled": false,
  "bind-address-ipv4": "127.0.0.1", "bind-address-ipv6": "::1",
  "peer-port": %d, "peer-port-random-on-start": false,
  "encryption": 0, "message-level": 3, "start-added-torrents": true
}
`, utp, port)
		if err := os.WriteFile(filepath.Join(cfg, "settings.json"), []byte(settings), 0o644); err != nil {
			t.Fatal(err)
		}
		finished := filepath.Join(cfg, "finished")
		script := filepath.Join(cfg, "finished.sh")
		if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$TR_TORRENT_NAME\" > '"+finished+"'\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		p := startProc(t, fmt.Sprintf("transmission-cli#%d", attempt), procOpts{},
			"transmission-cli", "-g", cfg, "-w", outDir, "-p", strconv.Itoa(port), "-et", "-M", "-D", "-U",
			"-f", script, torrentPath)
		bound := fmt.Sprintf("to port %d on 127.0.0.1", port)
		deadline := time.Now().Add(time.Minute)
		for !strings.Contains(p.Stderr.String(), bound) && !p.exited() && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if strings.Contains(p.Stderr.String(), bound) {
			return &Transmission{Addr: fmt.Sprintf("127.0.0.1:%d", port), p: p, finished: finished}
		}
		lastErr = p.describe()
		p.kill()
		p.waitFor(5 * time.Second)
	}
	t.Fatalf("transmission-cli did not listen on 127.0.0.1: %s", lastErr)
	return nil
}

// WaitFinished waits until transmission has the whole torrent (its --finish script
// ran); transmission-cli then goes on seeding.
func (tm *Transmission) WaitFinished(t testing.TB, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Stat(tm.finished); err == nil {
			return
		}
		if tm.p.exited() {
			t.Fatalf("transmission-cli exited before finishing: %s", tm.p.describe())
		}
		if time.Now().After(deadline) {
			t.Fatalf("transmission-cli did not finish within %v: %s", timeout, tm.p.describe())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop ends transmission-cli with SIGINT (it saves its state and closes its files)
// and waits for it to exit.
func (tm *Transmission) Stop(t testing.TB) {
	t.Helper()
	if err := tm.p.signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if !tm.p.waitFor(exitTimeout) {
		t.Fatalf("transmission-cli did not exit within %v of SIGINT: %s", exitTimeout, tm.p.describe())
	}
}
