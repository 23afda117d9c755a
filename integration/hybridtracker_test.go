package integration

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
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
