package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"
	"time"
)

// Magnets whose metadata (the info dictionary) takes several BEP 9 pieces of
// 16 KiB, fetched from real clients: rTorrent stops reading its socket when it
// is asked two pieces in one packet, so Hyperblow asks each peer one piece at
// a time. `hyperblow info` shows the torrent, and `hyperblow get` downloads it
// on the same connections.

// bigInfoTorrent makes a torrent of 600 small files with 16 KiB pieces: its
// info dictionary is over 40 KiB, 3 metadata pieces or more. It names a
// tracker that is never there (rTorrent refuses a torrent without one).
func bigInfoTorrent(t testing.TB) *Torrent {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "many-files")
	for i := range 600 {
		writeRandomFile(t, filepath.Join(dir, fmt.Sprintf("file-with-a-rather-long-name-number-%03d.bin", i)), int64(1000+i), uint64(5000+i))
	}
	tor := makeTorrent(t, dir, []string{"http://127.0.0.1:9/announce"}, 16<<10)
	st, err := os.Stat(tor.Path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() <= 2*16<<10 {
		t.Fatalf("%s is %d bytes: want an info dictionary of 3 metadata pieces or more", tor.Path, st.Size())
	}
	return tor
}

// seedRTorrent seeds tor with rTorrent 0.9.8 on 127.0.0.1, headless in a
// tmux pane, with a generated rtorrent.rc (no DHT, no PEX, no XML-RPC), and
// returns its peer address once its hash check is done. It is stopped by its
// PID (SIGTERM) when the test ends.
func seedRTorrent(t testing.TB, tor *Torrent) string {
	t.Helper()
	requireTool(t, "rtorrent", "tmux")
	dir := t.TempDir()
	session := filepath.Join(dir, "session")
	ready := filepath.Join(dir, "ready")
	if err := os.Mkdir(session, 0o755); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	rc := fmt.Sprintf(`directory.default.set = %s
session.path.set = %s
network.port_range.set = %d-%d
network.port_random.set = no
network.bind_address.set = 127.0.0.1
network.local_address.set = 127.0.0.1
dht.mode.set = disable
protocol.pex.set = no
trackers.use_udp.set = no
method.set_key = event.download.hash_done, ready, "execute.nothrow = touch, %s"
`, tor.SaveDir, session, port, port, ready)
	rcPath := filepath.Join(dir, "rtorrent.rc")
	if err := os.WriteFile(rcPath, []byte(rc), 0o644); err != nil {
		t.Fatal(err)
	}
	tp := startTmux(t, 120, 30, "env", "HOME="+dir, "rtorrent", "-n", "-o", "import="+rcPath, tor.Path)
	pid, _, _ := tp.state(t)
	t.Cleanup(func() { // before the tmux server is killed
		if pid > 0 && syscall.Kill(pid, syscall.SIGTERM) == nil {
			if _, ok := tp.waitDead(t, 10*time.Second); !ok {
				t.Errorf("rtorrent (pid %d) did not stop on SIGTERM", pid)
			}
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		if _, dead, _ := tp.state(t); dead || time.Now().After(deadline) {
			t.Fatalf("rtorrent did not finish checking %s (dead %v); its screen:\n%s", tor.Path, dead, tp.screen(t, true))
		}
		time.Sleep(50 * time.Millisecond)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := waitTCP(addr, 10*time.Second); err != nil {
		t.Fatalf("rtorrent: %v; its screen:\n%s", err, tp.screen(t, true))
	}
	return addr
}

// checkMagnetFromPeer fetches tor's metadata by a bare magnet from peer alone
// with `hyperblow info`, then downloads it with `hyperblow get` and compares
// the files.
func checkMagnetFromPeer(t *testing.T, tor *Torrent, peer string) {
	bin := buildBinary(t)
	magnet := "magnet:?xt=urn:btih:" + tor.InfoHash
	r := run(t, 60*time.Second, procOpts{}, bin, "info", "--no-dht", "--json", "--metadata-timeout", "40s", "--peer", peer, magnet)
	if r.code != 0 {
		t.Fatalf("hyperblow info --peer %s MAGNET: %v", peer, r)
	}
	var got infoJSON
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("info --json: %v\n%s", err, r.stdout)
	}
	want := wantInfo(tor.Info)
	want.Trackers = [][]string{} // the magnet names none
	sortFiles(got.Files)
	sortFiles(want.Files)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("info --json of the magnet disagrees with libtorrent:\n got %+v\nwant %+v", got, want)
	}
	out := t.TempDir()
	hyperblowGet(t, "--metadata-timeout", "40s", "--peer", peer, magnet, out)
	checkGetTree(t, tor, out)
}

// TestMagnetBigInfoFromRTorrent: a magnet whose metadata takes 3 or more
// pieces, from rTorrent alone (it never resolved when asked two pieces at once).
func TestMagnetBigInfoFromRTorrent(t *testing.T) {
	tor := bigInfoTorrent(t)
	checkMagnetFromPeer(t, tor, seedRTorrent(t, tor))
}

// TestMagnetBigInfoFromLibtorrent: the same from python3-libtorrent alone.
func TestMagnetBigInfoFromLibtorrent(t *testing.T) {
	tor := bigInfoTorrent(t)
	checkMagnetFromPeer(t, tor, seedLibtorrent(t, tor))
}
