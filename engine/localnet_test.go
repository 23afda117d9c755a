package engine

import (
	"net/netip"
	"testing"

	"github.com/hyperblow/hyperblow/engine/metainfo"
)

func localNetTorrent(t *testing.T, name string, private bool) *metainfo.Torrent {
	t.Helper()
	raw, err := metainfo.CreateFromFiles(name, []metainfo.InputFile{metainfo.FileBytes(make([]byte, 100<<10))},
		metainfo.CreateOptions{PieceLength: 16 << 10, Private: private})
	if err != nil {
		t.Fatal(err)
	}
	mt, err := metainfo.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return mt
}

// TestLSDSkipsPrivate: a private torrent (BEP 27) is never announced on the
// local network, nor given peers heard of there.
func TestLSDSkipsPrivate(t *testing.T) {
	c, err := NewClient(Config{Listen: "127.0.0.1:0", CacheSize: 4 << 20, LSD: true, PortMap: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pub, priv := localNetTorrent(t, "public", false), localNetTorrent(t, "private", true)
	for _, mt := range []*metainfo.Torrent{pub, priv} {
		if _, err := c.AddTorrent(mt, TorrentOptions{NoTrackers: true}); err != nil {
			t.Fatal(err)
		}
	}
	if got := c.lsdTorrents(); len(got) != 1 || got[0] != pub.InfoHash {
		t.Fatalf("LSD announces %v, want only the public %s", got, pub.InfoHash)
	}
	peer := netip.MustParseAddrPort("10.0.0.9:6881")
	if c.lsdPeer(priv.InfoHash, peer) {
		t.Error("a local peer was given to a private torrent")
	}
	if !c.lsdPeer(pub.InfoHash, peer) {
		t.Error("a local peer was not given to the public torrent")
	}
	// Listening on loopback, neither LSD nor port mapping starts.
	if s := c.LocalNet(); s.LSD != "off" || s.PortMap != "off" {
		t.Errorf("on loopback: %+v, want both off", s)
	}
}
