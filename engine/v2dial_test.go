package engine_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/enginetest"
	"github.com/hyperblow/hyperblow/engine/metainfo"
)

// handshakeCatcher listens on 127.0.0.1 and reports the info-hash of every
// BitTorrent handshake it gets, then hangs up.
func handshakeCatcher(t *testing.T) (netip.AddrPort, <-chan bt.InfoHash) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan bt.InfoHash, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				var hs [68]byte
				if _, err := io.ReadFull(c, hs[:]); err == nil && hs[0] == 19 {
					select {
					case got <- bt.InfoHash(hs[28:48]):
					default:
					}
				}
			}()
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String()), got
}

// TestHybridDialsV2PeersWithV2Hash: a hybrid announces under both hashes to an
// HTTP tracker that keeps the swarms apart; the peer it names under the
// truncated v2 hash is dialled with that hash (all it may know the torrent by),
// the peer named under the v1 hash with the v1 hash.
func TestHybridDialsV2PeersWithV2Hash(t *testing.T) {
	mt, _ := v2Torrent(t, metainfo.FormatHybrid, v2Files())
	v1, v2 := mt.InfoHash, bt.InfoHash(mt.InfoHashV2[:20])
	peerV1, gotV1 := handshakeCatcher(t)
	peerV2, gotV2 := handshakeCatcher(t)
	compact := func(a netip.AddrPort) string {
		ip := a.Addr().As4()
		return string(ip[:]) + string([]byte{byte(a.Port() >> 8), byte(a.Port())})
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peers := ""
		switch bt.InfoHash([]byte(r.URL.Query().Get("info_hash"))) {
		case v1:
			peers = compact(peerV1)
		case v2:
			peers = compact(peerV2)
		}
		fmt.Fprintf(w, "d8:intervali1800e5:peers%d:%se", len(peers), peers)
	}))
	defer ts.Close()
	withTracker := *mt
	withTracker.AnnounceList = [][]string{{ts.URL + "/announce"}}
	c, err := engine.NewClient(engine.Config{Listen: "127.0.0.1:0", Logger: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.AddTorrent(&withTracker, engine.TorrentOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct {
		name string
		got  <-chan bt.InfoHash
		want bt.InfoHash
	}{{"v1", gotV1, v1}, {"v2", gotV2, v2}} {
		select {
		case h := <-w.got:
			if h != w.want {
				t.Errorf("the peer named under the %s hash was dialled with %s, want %s", w.name, h, w.want)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("the peer named under the %s hash was not dialled", w.name)
		}
	}
}
