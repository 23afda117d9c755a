package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMagnetThroughTracker mounts a magnet link carrying only the info-hash and
// an http:// tracker, before anyone seeds it: the mount is there at once with a
// status file that says it is resolving. Then a real seeder (python3-libtorrent)
// announces; it learns our address from the tracker and connects, the metadata
// arrives (BEP 9), the files appear, and cp is byte-identical.
func TestMagnetThroughTracker(t *testing.T) {
	buildBinary(t)
	data := sharedData(t)
	tr := startOpentracker(t)
	tor := makeTorrent(t, data.Tree, []string{tr.HTTP}, 64<<10)
	tr.Allow(t, tor.InfoHash)
	magnet := "magnet:?xt=urn:btih:" + tor.InfoHash + "&dn=tree&tr=" + tr.HTTP

	m := mount(t, "--metadata-timeout", "2m", magnet)
	status := filepath.Join(m.Dir, ".hyperblow-status")
	b, err := os.ReadFile(status)
	if err != nil {
		t.Fatalf("status file of a resolving magnet: %v", err)
	}
	if !strings.Contains(string(b), "resolving") || !strings.Contains(string(b), tor.InfoHash) {
		t.Fatalf("status file says:\n%s\nwant it resolving %s", b, tor.InfoHash)
	}
	if ls := run(t, 5*time.Second, procOpts{}, "ls", "-la", m.Dir); ls.code != 0 || !strings.Contains(ls.stdout, ".hyperblow-status") {
		t.Fatalf("ls -la of a resolving magnet mount: %v", ls)
	}

	seedLibtorrent(t, tor)
	deadline := time.Now().Add(90 * time.Second)
	for {
		if _, err := os.Stat(status); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(status)
			t.Fatalf("metadata did not arrive; status:\n%s\nhyperblow stderr:\n%s", b, tail(m.Stderr(), 4000))
		}
		time.Sleep(200 * time.Millisecond)
	}
	checkMountedTorrent(t, m, tor)
	m.Unmount(t)
}

// TestMagnetWithPeer resolves a bare info-hash given as SOURCE from a peer named
// with --peer (an aria2c seeder), and `hyperblow info` does the same.
func TestMagnetWithPeer(t *testing.T) {
	bin := buildBinary(t)
	data := sharedData(t)
	tr := startOpentracker(t)
	tor := makeTorrent(t, data.Big, []string{tr.HTTP}, 256<<10)
	tr.Allow(t, tor.InfoHash)
	peer := seedLibtorrent(t, tor)

	info := run(t, 60*time.Second, procOpts{}, bin, "info", "--no-dht", "--json", "--peer", peer, tor.InfoHash)
	if info.code != 0 || !strings.Contains(info.stdout, `"info_hash": "`+tor.InfoHash+`"`) {
		t.Fatalf("hyperblow info --peer %s %s: %v", peer, tor.InfoHash, info)
	}
	m := mount(t, "--peer", peer, tor.InfoHash)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(m.Dir, ".hyperblow-status")); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metadata did not arrive:\n%s", tail(m.Stderr(), 4000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	checkMountedTorrent(t, m, tor)
	m.Unmount(t)
}

// TestMagnetThroughDHT: a python3-libtorrent session on 127.0.0.1 with its DHT on
// seeds a torrent; Hyperblow mounts a magnet carrying only the info-hash, its DHT
// bootstrapped from that libtorrent node (no tracker, no x.pe, no --peer). The
// metadata arrives, the files are listed, and cp is byte-identical.
func TestMagnetThroughDHT(t *testing.T) {
	buildBinary(t)
	requireLibtorrent(t)
	data := sharedData(t)
	tor := makeTorrent(t, data.Tree, nil, 64<<10)
	p := startProc(t, "libtorrent-dht-seed", procOpts{}, python(), ltHelper(t), "seed", "--dht", "--port", "0", tor.Path, tor.SaveDir)
	line := p.waitStdout(t, "READY ", 150*time.Second)
	port := strings.TrimSpace(strings.TrimPrefix(line, "READY "))
	node := "127.0.0.1:" + port

	m := startMount(t, mountOpts{dht: true}, "--dht-bootstrap", node, "--metadata-timeout", "2m", "magnet:?xt=urn:btih:"+tor.InfoHash)
	status := filepath.Join(m.Dir, ".hyperblow-status")
	deadline := time.Now().Add(100 * time.Second)
	for {
		if _, err := os.Stat(status); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(status)
			t.Fatalf("metadata did not arrive through the DHT; status:\n%s\nhyperblow stderr:\n%s\nlibtorrent:\n%s", b, tail(m.Stderr(), 4000), p.describe())
		}
		time.Sleep(200 * time.Millisecond)
	}
	checkMountedTorrent(t, m, tor)
	m.Unmount(t)
}
