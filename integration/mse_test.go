package integration

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// seedLibtorrentForced seeds tor with python3-libtorrent that accepts and makes
// only RC4-encrypted (MSE) connections, and returns its peer address.
func seedLibtorrentForced(t testing.TB, tor *Torrent) string {
	t.Helper()
	requireLibtorrent(t)
	p := startProc(t, "libtorrent-seed-forced", procOpts{},
		python(), ltHelper(t), "seed", "--port", "0", "--encryption", "forced", tor.Path, tor.SaveDir)
	line := p.waitStdout(t, "READY ", 150*time.Second)
	port, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "READY ")))
	if err != nil {
		t.Fatalf("libtorrent seeder: bad READY line %q", line)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := waitTCP(addr, 10*time.Second); err != nil {
		t.Fatalf("libtorrent seeder: %v\n%s", err, p.describe())
	}
	return addr
}

// TestMSEMountFromForcedLibtorrent: a mount reads a torrent byte for byte from
// a libtorrent seeder that refuses plain handshakes. With the default policy
// the plain attempt is closed by the seeder and the retry is encrypted; with
// --encryption require the first attempt is. The debug log shows the
// connection was RC4-encrypted. The control, --encryption off, cannot read.
func TestMSEMountFromForcedLibtorrent(t *testing.T) {
	buildBinary(t)
	data := sharedData(t)
	tor := makeTorrent(t, data.Tree, nil, 32<<10)
	addr := seedLibtorrentForced(t, tor)
	t.Run("off fails", func(t *testing.T) {
		m := mount(t, "--encryption", "off", "--read-timeout", "3s", "--peer", addr, tor.Path)
		r := run(t, time.Minute, procOpts{}, "cat", filepath.Join(m.Dir, "one-byte.txt"))
		if r.code == 0 {
			t.Errorf("read %q from a seeder that requires encryption, without encryption", r.stdout)
		}
		m.Unmount(t)
	})
	for _, tc := range []struct {
		name string
		args []string
	}{{"default", nil}, {"require", []string{"--encryption", "require"}}} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(tc.args, "-v", "--read-timeout", "60s", "--status", "127.0.0.1:0", "--peer", addr, tor.Path)
			m := mount(t, args...)
			start := time.Now()
			checkMountedTorrent(t, m, tor)
			t.Logf("read the torrent through the mount in %v", time.Since(start).Round(time.Millisecond))
			st := getStatus(t, statusAddr(t, m))
			if len(st.Torrents) != 1 || len(st.Torrents[0].Peers) == 0 || st.Torrents[0].Peers[0].Encryption != "rc4" {
				t.Errorf("status JSON does not list the seeder as an RC4-encrypted peer: %+v", st.Torrents)
			}
			m.Unmount(t)
			logs := m.Stderr()
			if !strings.Contains(logs, "peer handshake done") || !strings.Contains(logs, "encryption=rc4") {
				t.Errorf("the debug log shows no RC4-encrypted handshake:\n%s", tail(logs, 4000))
			}
		})
	}
}

// TestMSESeedToForcedLibtorrent: a libtorrent leecher that only makes and
// accepts RC4-encrypted connections downloads a torrent completely from
// `hyperblow seed` (default policy: it accepts both), and reports the
// connection it downloaded over as RC4-encrypted. The control, a seeder with
// --encryption off, gets nothing to it.
func TestMSESeedToForcedLibtorrent(t *testing.T) {
	buildBinary(t)
	data := sharedData(t)
	single := makeTorrent(t, data.Big, nil, 256<<10)
	multi := makeTorrent(t, data.Tree, nil, 32<<10)
	t.Run("off fails", func(t *testing.T) {
		requireLibtorrent(t)
		s := startSeed(t, "--encryption", "off", multi.Path, multi.Data)
		r := run(t, time.Minute, procOpts{}, python(), ltHelper(t), "get", "--timeout", "5",
			"--encryption", "forced", "--peer", s.Addr, multi.Path, t.TempDir())
		if r.code == 0 {
			t.Errorf("a forced-encryption libtorrent downloaded from a seeder without encryption: %v", r)
		}
		s.Stop(t)
	})
	for _, tc := range []struct {
		name string
		tor  *Torrent
	}{{"single", single}, {"multi", multi}} {
		t.Run(tc.name, func(t *testing.T) {
			requireLibtorrent(t)
			s := startSeed(t, "-v", tc.tor.Path, tc.tor.Data)
			out := t.TempDir()
			start := time.Now()
			r := run(t, 3*time.Minute, procOpts{}, python(), ltHelper(t), "get", "--timeout", "90",
				"--encryption", "forced", "--peer", s.Addr, tc.tor.Path, out)
			if r.code != 0 || !strings.Contains(r.stdout, "DONE ") {
				t.Fatalf("forced-encryption libtorrent download of %s: %v\n--- seeder stderr:\n%s", tc.tor.Path, r, tail(s.p.Stderr.String(), 4000))
			}
			t.Logf("libtorrent downloaded %d bytes in %v", tc.tor.Info.TotalLength, time.Since(start).Round(time.Millisecond))
			if want := "PEER " + s.Addr + " rc4"; !strings.Contains(r.stdout, want) {
				t.Errorf("libtorrent's output lacks %q:\n%s", want, r.stdout)
			}
			_, want := sourceTree(t, tc.tor)
			compareHashes(t, "libtorrent download", want, downloaded(t, tc.tor, out))
			s.Stop(t)
			if logs := s.p.Stderr.String(); !strings.Contains(logs, "encryption=rc4") {
				t.Errorf("the seeder's debug log shows no RC4-encrypted handshake:\n%s", tail(logs, 4000))
			}
		})
	}
}
