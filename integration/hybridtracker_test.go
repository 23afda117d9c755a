package integration

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BEP 52 at the tracker: a tracker keeps a hybrid's v1 swarm (its SHA-1 info-hash)
// and its v2 swarm (the SHA-256 one truncated to 20 bytes) apart, so a hybrid
// announces under both and takes the peers of both, as libtorrent does.

// announcePeer announces a peer at 127.0.0.1:port for infohash (hex) to the
// opentracker over HTTP and returns the compact IPv4 peers it answers with.
func (tr *Tracker) announcePeer(infohash string, port int, left int64, event string) ([]netip.AddrPort, error) {
	raw, err := hex.DecodeString(infohash)
	if err != nil || len(raw) != 20 {
		return nil, fmt.Errorf("bad info-hash %q", infohash)
	}
	q := fmt.Sprintf("info_hash=%s&peer_id=-HBTEST-%012d&port=%d&uploaded=0&downloaded=0&left=%d&compact=1&numwant=50",
		pctEncode(raw), port, port, left)
	if event != "" {
		q += "&event=" + event
	}
	body, err := httpGet(tr.HTTP + "?" + q)
	if err != nil {
		return nil, err
	}
	return compactPeers(body)
}

// pctEncode escapes every byte as %XX: url.QueryEscape turns a space (0x20, in
// one info-hash of 13 on average) into '+', which opentracker reads as a '+'.
func pctEncode(b []byte) string {
	var s strings.Builder
	for _, c := range b {
		fmt.Fprintf(&s, "%%%02X", c)
	}
	return s.String()
}

// compactPeers finds the compact "peers" string of a tracker's bencoded reply.
func compactPeers(body []byte) ([]netip.AddrPort, error) {
	i := bytes.Index(body, []byte("5:peers"))
	if i < 0 {
		return nil, fmt.Errorf("no peers in %q", body)
	}
	rest := body[i+len("5:peers"):]
	colon := bytes.IndexByte(rest, ':')
	if colon < 0 {
		return nil, fmt.Errorf("bad peers in %q", body)
	}
	n, err := strconv.Atoi(string(rest[:colon]))
	if err != nil || n%6 != 0 || colon+1+n > len(rest) {
		return nil, fmt.Errorf("bad peers in %q", body)
	}
	raw := rest[colon+1 : colon+1+n]
	var ps []netip.AddrPort
	for ; len(raw) >= 6; raw = raw[6:] {
		ps = append(ps, netip.AddrPortFrom(netip.AddrFrom4([4]byte(raw[:4])), uint16(raw[4])<<8|uint16(raw[5])))
	}
	return ps, nil
}

// TestHybridTrackerV2Hash: a libtorrent seeder of a hybrid that is in the
// opentracker's v2 swarm only (the test announces it there; libtorrent itself has
// no tracker) is found by a mount of the hybrid, which reads the whole torrent
// from it; the mount is then in both of the tracker's swarms, v1 and v2, at one
// address. Before the mount announced the truncated v2 hash it found no peer here.
func TestHybridTrackerV2Hash(t *testing.T) {
	buildBinary(t)
	data := sharedData(t)
	trk := startOpentracker(t)
	torLt := makeTorrentOpts(t, data.Tree, nil, 32<<10, torrentOpts{format: "hybrid"})
	tor := makeTorrentOpts(t, data.Tree, []string{trk.HTTP}, 32<<10, torrentOpts{format: "hybrid"})
	if tor.InfoHash != torLt.InfoHash || tor.Info.InfoHashV2 != torLt.Info.InfoHashV2 || len(tor.Info.InfoHashV2) != 64 {
		t.Fatalf("the two hybrids differ: %s %s / %s %s", tor.InfoHash, tor.Info.InfoHashV2, torLt.InfoHash, torLt.Info.InfoHashV2)
	}
	v1, v2 := tor.InfoHash, tor.Info.InfoHashV2[:40]
	t.Logf("v1 %s, truncated v2 %s", v1, v2)
	trk.Allow(t, v1, v2)

	ltAddr := netip.MustParseAddrPort(seedLibtorrent(t, torLt))
	if _, err := trk.announcePeer(v2, int(ltAddr.Port()), 0, "started"); err != nil {
		t.Fatalf("announcing libtorrent under the v2 hash: %v", err)
	}

	m := mount(t, tor.Path) // no --peer: only the tracker can name libtorrent
	checkMountedTorrent(t, m, tor)

	// The mount's address is the one peer of the v1 swarm; it is in the v2 swarm too.
	const probe = 9 // the discard port: never dialled here
	deadline := time.Now().Add(30 * time.Second)
	for {
		p1, err1 := trk.announcePeer(v1, probe, 1, "")
		p2, err2 := trk.announcePeer(v2, probe, 1, "")
		if err1 != nil || err2 != nil {
			t.Fatalf("asking the tracker: %v %v", err1, err2)
		}
		var mine []netip.AddrPort
		for _, p := range p1 {
			if p.Port() != probe && p != ltAddr {
				mine = append(mine, p)
			}
		}
		inV2 := false
		for _, p := range p2 {
			inV2 = inV2 || (len(mine) == 1 && p == mine[0])
		}
		if len(mine) == 1 && inV2 {
			t.Logf("the mount at %s is in both swarms; v2 swarm %v", mine[0], p2)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30s the tracker's v1 swarm is %v and its v2 swarm %v; want the mount in both (libtorrent at %s)", p1, p2, ltAddr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	m.Unmount(t)
}

// TestHybridSeedV2HandshakeToLibtorrent: libtorrent, given only the hybrid's v2
// info-hash (a magnet with xt=urn:btmh:), knows the torrent by its truncated v2
// hash alone, and connects to `hyperblow seed` with it (plain or MSE, as
// libtorrent chooses); the seed, which keys the torrent by its v1 hash, answers
// it, and libtorrent downloads the whole torrent.
func TestHybridSeedV2HandshakeToLibtorrent(t *testing.T) {
	bin := buildBinary(t)
	data := sharedData(t)
	path := filepath.Join(t.TempDir(), "tree.torrent")
	mustRun(t, time.Minute, bin, "create", "--hybrid", "--piece-length", "32KiB", "-o", path, data.Tree)
	tor := &Torrent{Path: path, Data: data.Tree, SaveDir: filepath.Dir(data.Tree), Info: readLtInfo(t, path)}
	tor.InfoHash = tor.Info.InfoHash
	s := startSeed(t, path, data.Tree)
	byMagnet := *tor
	byMagnet.Path = "magnet:?xt=urn:btmh:1220" + tor.Info.InfoHashV2
	out := t.TempDir()
	getLibtorrent(t, &byMagnet, out, s.Addr)
	_, want := sourceTree(t, tor)
	compareHashes(t, "libtorrent download of the hybrid by its v2 hash", want, downloaded(t, tor, out))
	s.Stop(t)
}

// TestHybridV1OnlyClient: a hybrid works in a v1-only swarm. rTorrent 0.9.8
// (BitTorrent v1 only: it reads a hybrid's v1 half, and takes its BEP 47 padding
// files for files) downloads a hybrid made by `hyperblow create --hybrid` from
// `hyperblow seed`, found through opentracker; then a mount reads the same hybrid
// from an rTorrent seeder alone. (Debian's aria2c 1.36 computes a wrong v1
// info-hash for any hybrid, aria2 issue 1927, and transmission-cli 3.00 cannot
// parse one, so neither can be that v1-only client.)
func TestHybridV1OnlyClient(t *testing.T) {
	bin := buildBinary(t)
	requireTool(t, "rtorrent", "tmux")
	data := sharedData(t)
	tr := startOpentracker(t)
	path := filepath.Join(t.TempDir(), "tree.torrent")
	mustRun(t, time.Minute, bin, "create", "--hybrid", "--tracker", tr.HTTP, "--piece-length", "32KiB", "-o", path, data.Tree)
	lt := readLtInfo(t, path)
	tor := &Torrent{Path: path, InfoHash: lt.InfoHash, Data: data.Tree, SaveDir: filepath.Dir(data.Tree), Info: lt}
	pads := map[string]int64{}
	for _, f := range lt.Files {
		if f.Pad {
			pads[f.Path] = f.Length
		}
	}
	if len(lt.InfoHashV2) != 64 || len(pads) == 0 {
		t.Fatalf("not a hybrid with padding files: v2 %q, %d pads", lt.InfoHashV2, len(pads))
	}
	tr.Allow(t, tor.InfoHash, lt.InfoHashV2[:40])
	_, want := sourceTree(t, tor)

	t.Run("rtorrent downloads from hyperblow seed", func(t *testing.T) {
		out := t.TempDir()
		addr, wait := startRTorrentGet(t, tor, out)
		// rTorrent has the tracker, and the seed dials it too: either way.
		s := startSeed(t, "--peer", addr, path, data.Tree)
		wait()
		got := downloaded(t, tor, out)
		for p, n := range pads { // written as files: zeros
			if h, ok := got[p]; ok && h != zerosSHA256(n) {
				t.Errorf("rtorrent's padding file %s: sha256 %q, want %d zeros", p, h, n)
			}
			delete(got, p)
		}
		compareHashes(t, "rtorrent download of the hybrid", want, got)
		s.Stop(t)
		tr.waitNoSeeders(t, tor.InfoHash, 10*time.Second)
	})

	t.Run("mount reads from an rtorrent seeder", func(t *testing.T) {
		// rTorrent seeds what it would have downloaded: the files and the padding files.
		dir := t.TempDir()
		mustRun(t, time.Minute, "cp", "-r", data.Tree, dir)
		for p, n := range pads {
			f := filepath.Join(dir, lt.Name, filepath.FromSlash(p))
			if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(f, make([]byte, n), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		seeder := *tor
		seeder.SaveDir = dir
		peer := seedRTorrent(t, &seeder)
		m := mount(t, "--peer", peer, path)
		checkMountedTorrent(t, m, tor)
		m.Unmount(t)
	})
}

// startRTorrentGet starts downloading tor into outDir with rTorrent 0.9.8
// (headless in a tmux pane, no DHT, no PEX; it announces to tor's HTTP
// trackers) and returns its peer address, and a function that waits for the
// download to finish and fails the test unless it does within two minutes.
func startRTorrentGet(t testing.TB, tor *Torrent, outDir string) (string, func()) {
	t.Helper()
	requireTool(t, "rtorrent", "tmux")
	dir := t.TempDir()
	session := filepath.Join(dir, "session")
	done := filepath.Join(dir, "done")
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
method.set_key = event.download.finished, done, "execute.nothrow = touch, %s"
`, outDir, session, port, port, done)
	rcPath := filepath.Join(dir, "rtorrent.rc")
	if err := os.WriteFile(rcPath, []byte(rc), 0o644); err != nil {
		t.Fatal(err)
	}
	tp := startTmux(t, 120, 30, "env", "HOME="+dir, "rtorrent", "-n", "-o", "import="+rcPath, tor.Path)
	pid, _, _ := tp.state(t)
	stop := func() {
		if pid > 0 && syscall.Kill(pid, syscall.SIGTERM) == nil {
			if _, ok := tp.waitDead(t, 10*time.Second); !ok {
				t.Errorf("rtorrent (pid %d) did not stop on SIGTERM", pid)
			}
			pid = 0
		}
	}
	t.Cleanup(stop) // before the tmux server is killed
	return fmt.Sprintf("127.0.0.1:%d", port), func() {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for {
			if _, err := os.Stat(done); err == nil {
				break
			}
			if _, dead, _ := tp.state(t); dead || time.Now().After(deadline) {
				t.Fatalf("rtorrent did not finish downloading %s (dead %v); its screen:\n%s", tor.Path, dead, tp.screen(t, true))
			}
			time.Sleep(50 * time.Millisecond)
		}
		stop()
	}
}

func zerosSHA256(n int64) string {
	h := sha256.Sum256(make([]byte, n))
	return hex.EncodeToString(h[:])
}

// TestV2OnlyTracker: a v2-only torrent is known to a tracker by its v2 info-hash
// truncated to 20 bytes (the only hash the opentracker here accepts): a mount
// finds a libtorrent seeder, which announced under that hash, through the
// tracker alone and reads the whole torrent.
func TestV2OnlyTracker(t *testing.T) {
	buildBinary(t)
	data := sharedData(t)
	trk := startOpentracker(t)
	tor := makeTorrentOpts(t, data.Tree, []string{trk.HTTP}, 32<<10, torrentOpts{format: "v2"})
	if len(tor.Info.InfoHashV2) != 64 || tor.InfoHash != tor.Info.InfoHashV2[:40] {
		t.Fatalf("info-hash %s, v2 %s: want the truncated v2 hash", tor.InfoHash, tor.Info.InfoHashV2)
	}
	trk.Allow(t, tor.InfoHash)
	seedLibtorrent(t, tor)
	trk.WaitSeeders(t, tor.InfoHash, 1)
	m := mount(t, tor.Path) // no --peer: only the tracker can name libtorrent
	checkMountedTorrent(t, m, tor)
	m.Unmount(t)
}
