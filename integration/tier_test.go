package integration

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// logCounts reads key=integer pairs from the last log line of stderr whose
// message is msg (the engine's "tiers" line, the mount's "stopped" line).
func logCounts(t testing.TB, stderr, msg string) map[string]int64 {
	t.Helper()
	lines := regexp.MustCompile(`(?m)^.*msg=`+regexp.QuoteMeta(msg)+` .*$`).FindAllString(stderr, -1)
	if len(lines) == 0 {
		t.Fatalf("no %q log line in:\n%s", msg, tail(stderr, 4000))
	}
	out := map[string]int64{}
	for _, kv := range regexp.MustCompile(`(\w+)=(-?\d+)(?:\s|$)`).FindAllStringSubmatch(lines[len(lines)-1], -1) {
		n, _ := strconv.ParseInt(kv[2], 10, 64)
		out[kv[1]] = n
	}
	return out
}

// sha256Range hashes n bytes of a file from off, read in one pread with the
// kernel's readahead off (POSIX_FADV_RANDOM): a mount with no peer is asked
// for those bytes only, never for a neighbouring piece it does not hold.
func sha256Range(t testing.TB, path string, off, n int64) [32]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_RANDOM); err != nil {
		t.Fatalf("fadvise %s: %v", path, err)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(io.NewSectionReader(f, off, n), b); err != nil {
		t.Fatalf("reading %s [%d, +%d): %v", path, off, n, err)
	}
	return sha256.Sum256(b)
}

// TestDiskTierRemountFetchesNothing: a mount with --cache-dir reads 16 MiB
// from its seeder; a remount on the same cache folder, with no peer at all,
// reads the same bytes from disk: 0 bytes fetched, the right bytes.
func TestDiskTierRemountFetchesNothing(t *testing.T) {
	buildBinary(t)
	data := sharedData(t)
	tor := makeTorrent(t, data.Big, nil, 256<<10)
	seeder := seedLibtorrent(t, tor)
	cacheDir := filepath.Join(t.TempDir(), "pieces")
	const n = 16 << 20
	want := sha256Range(t, tor.Data, 0, n)

	m := mount(t, "--cache-dir", cacheDir, "--disk-cache", "256MiB", "--cache-size", "32MiB", "--peer", seeder, tor.Path)
	file := filepath.Join(m.Dir, filepath.Base(tor.Data))
	if got := sha256Range(t, file, 0, n); got != want {
		t.Fatal("first mount: bytes differ from the source")
	}
	m.Unmount(t)
	first := logCounts(t, m.Stderr(), "tiers")
	if first["disk_writes"] < n/(256<<10) {
		t.Fatalf("first mount wrote %d pieces to disk, want at least %d: %v", first["disk_writes"], n/(256<<10), first)
	}

	m2 := mount(t, "--cache-dir", cacheDir, "--disk-cache", "256MiB", "--cache-size", "32MiB", "--read-timeout", "20s", tor.Path) // no peer: a read of a piece not on disk fails
	file = filepath.Join(m2.Dir, filepath.Base(tor.Data))
	if got := sha256Range(t, file, 0, n); got != want {
		t.Fatal("remount: bytes differ from the source")
	}
	m2.Unmount(t)
	stopped := logCounts(t, m2.Stderr(), "stopped")
	tiers := logCounts(t, m2.Stderr(), "tiers")
	t.Logf("remount: %v; tiers %v", stopped, tiers)
	if stopped["downloaded"] != 0 || tiers["disk_hits"] < n/(256<<10) {
		t.Fatalf("remount downloaded %d bytes with %d disk hits; want 0 bytes, at least %d hits", stopped["downloaded"], tiers["disk_hits"], n/(256<<10))
	}
}

// TestPartialSeedHonestLibtorrent: a libtorrent leecher connected to a mount
// that reads 32 MiB through 8 MiB of RAM, uploading at most 512 KiB/s, so the
// leecher is told of pieces (HAVE) that are evicted before it can ask for
// them. RAM only: it is rejected, and its connection reset after 32 rejects
// (a loop made 3240 in 12 s). With a disk tier: it is told only of
// what is on disk, and nothing it asks for is refused.
func TestPartialSeedHonestLibtorrent(t *testing.T) {
	buildBinary(t)
	requireLibtorrent(t)
	data := sharedData(t)
	tor := makeTorrent(t, data.Big, nil, 256<<10)
	seeder := seedLibtorrent(t, tor)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"ram", []string{"--disk-cache", "0"}},
		{"disk", []string{"--cache-dir", filepath.Join(t.TempDir(), "pieces"), "--disk-cache", "256MiB"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
			args := append([]string{"-v", "--listen", listen, "--cache-size", "8MiB", "--max-upload-rate", "512KiB", "--peer", seeder}, tc.args...)
			m := mount(t, append(args, tor.Path)...)
			probe := startProc(t, "libtorrent probe", procOpts{}, python(), ltHelper(t), "probe", "--peer", listen,
				"--seconds", "12", "--want-bytes", fmt.Sprint(1<<40), tor.Path, t.TempDir())
			waitStderr(t, m, regexp.MustCompile(`msg="peer connected"[^\n]*incoming=true`), 30*time.Second, "the libtorrent leecher did not connect")
			file := filepath.Join(m.Dir, filepath.Base(tor.Data))
			if r := run(t, 60*time.Second, procOpts{}, "dd", "if="+file, "of=/dev/null", "bs=1M", "count=32", "status=none"); r.code != 0 {
				t.Fatalf("dd: %v", r)
			}
			if !probe.waitFor(60 * time.Second) {
				t.Fatalf("the probe did not end: %s", probe.describe())
			}
			var got struct {
				Pieces     int   `json:"pieces"`
				Downloaded int64 `json:"downloaded"`
			}
			if err := json.Unmarshal([]byte(strings.TrimSpace(probe.Stdout.String())), &got); err != nil {
				t.Fatalf("probe output %q: %v", probe.Stdout.String(), err)
			}
			m.Unmount(t)
			tiers := logCounts(t, m.Stderr(), "tiers")
			stopped := logCounts(t, m.Stderr(), "stopped")
			t.Logf("libtorrent: %+v; mount: tiers %v, uploaded %d", got, tiers, stopped["uploaded"])
			rejected, resets := tiers["rejected_unheld"], tiers["peers_reset"]
			switch tc.name {
			case "ram":
				if rejected > 32*(resets+1) {
					t.Errorf("%d requests for evicted pieces refused with %d connections reset: want at most 32 per connection (a loop)", rejected, resets)
				}
				if rejected == 0 {
					t.Errorf("no request for an evicted piece: the test did not make the leecher ask for one (tiers %v)", tiers)
				}
			case "disk":
				if rejected != 0 || resets != 0 {
					t.Errorf("with a disk tier, %d requests refused and %d connections reset; want none", rejected, resets)
				}
				if got.Downloaded == 0 {
					t.Errorf("libtorrent got nothing from a mount with pieces on disk: %+v", got)
				}
			}
			if stopped["uploaded"] > int64(got.Downloaded)+4<<20 {
				t.Errorf("the mount uploaded %d bytes, libtorrent received %d", stopped["uploaded"], got.Downloaded)
			}
		})
	}
}

// TestPartialSeedHonestTransmission: transmission-cli (which the mount dials:
// it takes no peer) is told of the pieces a mount reads through 8 MiB of RAM,
// most of them evicted before it asks. It still gets bytes from the mount (the
// field report: 0 bytes in 90 s), and the mount's refusals stay within the
// policy: RAM only, at most 32 per connection; with a disk tier, none.
func TestPartialSeedHonestTransmission(t *testing.T) {
	t.Parallel() // mostly waiting for transmission's 10 s decisions
	buildBinary(t)
	requireTool(t, "transmission-cli")
	data := sharedData(t)
	tor := makeTorrent(t, data.Big, nil, 256<<10)
	seeder := seedLibtorrent(t, tor)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"ram", []string{"--disk-cache", "0"}},
		{"disk", []string{"--cache-dir", filepath.Join(t.TempDir(), "pieces"), "--disk-cache", "256MiB"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tm := startTransmission(t, tor.Path, t.TempDir())
			args := append([]string{"--status", "127.0.0.1:0", "--cache-size", "8MiB", "--max-upload-rate", "512KiB",
				"--peer", seeder, "--peer", tm.Addr}, tc.args...)
			m := mount(t, append(args, tor.Path)...)
			addr := statusAddr(t, m)
			file := filepath.Join(m.Dir, filepath.Base(tor.Data))
			if r := run(t, 60*time.Second, procOpts{}, "dd", "if="+file, "of=/dev/null", "bs=1M", "count=32", "status=none"); r.code != 0 {
				t.Fatalf("dd: %v", r)
			}
			// Transmission decides what to ask for every 10 s: wait for 1 MiB.
			deadline := time.Now().Add(90 * time.Second)
			for uploaded(t, addr) < 1<<20 {
				if time.Now().After(deadline) {
					t.Fatalf("transmission got %d bytes from the mount in 90 s\n%s", uploaded(t, addr), tail(m.Stderr(), 4000))
				}
				time.Sleep(200 * time.Millisecond)
			}
			m.Unmount(t)
			tiers := logCounts(t, m.Stderr(), "tiers")
			t.Logf("mount: tiers %v", tiers)
			rejected, resets := tiers["rejected_unheld"], tiers["peers_reset"]
			if tc.name == "ram" && rejected > 32*(resets+1) {
				t.Errorf("%d requests for evicted pieces refused with %d connections reset: want at most 32 per connection", rejected, resets)
			}
			if tc.name == "disk" && (rejected != 0 || resets != 0) {
				t.Errorf("with a disk tier, %d requests refused and %d connections reset; want none", rejected, resets)
			}
		})
	}
}

// uploaded is the mount's uploaded_bytes from /status.
func uploaded(t *testing.T, addr string) int64 {
	t.Helper()
	var st struct {
		Torrents []struct {
			UploadedBytes int64 `json:"uploaded_bytes"`
		} `json:"torrents"`
	}
	body := statusGet(t, "http://"+addr+"/status")
	if err := json.Unmarshal([]byte(body), &st); err != nil || len(st.Torrents) == 0 {
		t.Fatalf("/status: %v\n%s", err, body)
	}
	return st.Torrents[0].UploadedBytes
}

// storedPieces lists the pieces a disk cache folder holds for a torrent: the
// files named by a piece index (not the lock, not a .tmp- file being written).
func storedPieces(t testing.TB, dir string) []int {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []int
	for _, e := range ents {
		if i, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, i)
		}
	}
	return out
}

// TestDiskTierKill9Resume: hyperblow is killed with SIGKILL while a cp reads
// the file and its pieces are being written to the disk cache. A remount on
// the same folder, with no peer, serves every piece the folder lists, right
// byte for byte, and fetches 0 bytes: a piece file is there whole or not at
// all, and what is there is verified before it is served.
func TestDiskTierKill9Resume(t *testing.T) {
	buildBinary(t)
	data := sharedData(t)
	const plen = 256 << 10
	tor := makeTorrent(t, data.Big, nil, plen)
	seeder := seedLibtorrent(t, tor)
	cacheDir := filepath.Join(t.TempDir(), "pieces")
	pieceDir := filepath.Join(cacheDir, tor.InfoHash)
	m := mount(t, "--cache-dir", cacheDir, "--disk-cache", "256MiB", "--cache-size", "32MiB", "--peer", seeder, tor.Path)
	cp := startProc(t, "cp", procOpts{}, "cp", filepath.Join(m.Dir, filepath.Base(tor.Data)), filepath.Join(t.TempDir(), "copy"))
	deadline := time.Now().Add(60 * time.Second)
	for len(storedPieces(t, pieceDir)) < 16 {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than 16 pieces on disk after 60 s: %v\n%s", storedPieces(t, pieceDir), tail(m.Stderr(), 4000))
		}
		time.Sleep(10 * time.Millisecond)
	}
	m.p.kill() // SIGKILL: no flush, no unmount
	if !m.p.waitFor(10 * time.Second) {
		t.Fatal("hyperblow did not die of SIGKILL")
	}
	m.stopped = true
	lazyUnmount(t, m.Dir)
	cp.waitFor(30 * time.Second)
	stored := storedPieces(t, pieceDir)
	t.Logf("%d pieces on disk after kill -9 (cp exited: %v)", len(stored), cp.exited())

	m2 := mount(t, "--cache-dir", cacheDir, "--disk-cache", "256MiB", "--cache-size", "32MiB", "--read-timeout", "20s", tor.Path) // no peer: a read of a piece not on disk fails
	file := filepath.Join(m2.Dir, filepath.Base(tor.Data))
	for _, i := range stored {
		off := int64(i) * plen
		if sha256Range(t, file, off, plen) != sha256Range(t, tor.Data, off, plen) {
			t.Fatalf("piece %d read back from the disk cache differs from the source", i)
		}
	}
	m2.Unmount(t)
	stopped, tiers := logCounts(t, m2.Stderr(), "stopped"), logCounts(t, m2.Stderr(), "tiers")
	if stopped["downloaded"] != 0 || tiers["disk_hits"] < int64(len(stored)) || tiers["disk_corrupt"] != 0 {
		t.Fatalf("remount after kill -9: downloaded %d, %d disk hits, %d corrupt; want 0, at least %d, 0", stopped["downloaded"], tiers["disk_hits"], tiers["disk_corrupt"], len(stored))
	}
}
