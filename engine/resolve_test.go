package engine_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/enginetest"
	"github.com/hyperblow/hyperblow/engine/metainfo"
)

// A magnet with only the info-hash and a peer resolves to the same torrent, which
// then reads like one from a .torrent file.
func TestResolveMagnetFromPeer(t *testing.T) {
	var files []enginetest.File
	for i := 0; i < 300; i++ {
		files = append(files, enginetest.File{Path: []string{"d", strings.Repeat("n", 40) + string(rune('A'+i%26)) + string(rune('A'+i/26))}, Data: enginetest.RandomBytes(byte(i), 1000+i)})
	}
	mt, all := enginetest.Torrent(t, "magnet-test", 16<<10, files)
	seeder := enginetest.Seed(t, mt, all)
	c, err := engine.NewClient(engine.Config{CacheSize: 8 << 20, Logger: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m, err := metainfo.ParseMagnet("magnet:?xt=urn:btih:" + mt.InfoHash.String())
	if err != nil {
		t.Fatal(err)
	}
	tor, got, err := addMagnet(c, m, engine.TorrentOptions{Peers: []netip.AddrPort{seeder}, NoTrackers: true, MetadataTimeout: 20 * time.Second})
	if err != nil {
		t.Fatalf("resolve: %v (status %+v)", err, tor.ResolveStatus())
	}
	if got.InfoHash != mt.InfoHash || !bytes.Equal(got.RawInfo, mt.RawInfo) || len(got.Info.Files) != len(files) {
		t.Fatalf("resolved torrent differs")
	}
	if st := tor.ResolveStatus(); st.State != engine.Resolved || st.PiecesHave != st.PiecesTotal || st.PiecesTotal < 2 {
		t.Fatalf("status %+v", st)
	}
	if tor.State() != engine.StateActive || tor.Info() == nil || tor.Err() != nil {
		t.Fatalf("state %v, info %v, err %v", tor.State(), tor.Info() != nil, tor.Err())
	}
	f := tor.Info().VisibleFiles()[7]
	if data := readAll(t, tor, f, 4096); !bytes.Equal(data, files[7].Data) {
		t.Fatal("content differs")
	}
}

// With no peer at all the resolution fails after its timeout and says why. (A
// client that listens may get a peer that connects on its own; without a
// listener it would fail at once: TestResolveNoPeerSource.)
func TestResolveTimeoutSaysWhy(t *testing.T) {
	c, err := engine.NewClient(engine.Config{Listen: "127.0.0.1:0", CacheSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m, _ := metainfo.ParseMagnet("magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567")
	tor, _, err := addMagnet(c, m, engine.TorrentOptions{NoTrackers: true, MetadataTimeout: 300 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "no peers found") {
		t.Fatalf("err %v, want a timeout that says no peers were found", err)
	}
	if tor.ResolveStatus().State != engine.ResolveFailed || tor.State() != engine.StateFailed || tor.Err() == nil {
		t.Fatalf("status %v, state %v, err %v", tor.ResolveStatus().State, tor.State(), tor.Err())
	}
}

// A peer that sends metadata not matching the info-hash is dropped; the honest
// peer's metadata wins.
func TestResolveDropsPeerWithWrongMetadata(t *testing.T) {
	mt, all := enginetest.Torrent(t, "real", 16<<10, []enginetest.File{{Data: enginetest.RandomBytes(1, 100000)}})
	// A different torrent under the same info-hash: a seeder of "fake" whose
	// handshake claims mt's info-hash is not something our seeder does, so use a
	// seeder of mt (honest) and check the result against mt.
	honest := enginetest.Seed(t, mt, all)
	c, err := engine.NewClient(engine.Config{CacheSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m, _ := metainfo.ParseMagnet("magnet:?xt=urn:btih:" + mt.InfoHash.String())
	bad := enginetest.StartBadMetadataPeer(t, mt)
	_, got, err := addMagnet(c, m, engine.TorrentOptions{Peers: []netip.AddrPort{bad.Addr, honest}, NoTrackers: true, MetadataTimeout: 20 * time.Second})
	if err != nil || got.InfoHash != mt.InfoHash {
		t.Fatalf("resolve with a lying peer: %v", err)
	}
}

// A peer that connects to us while we resolve (it found us through a tracker)
// is asked for the metadata too.
func TestResolveFromIncomingPeer(t *testing.T) {
	mt, all := enginetest.Torrent(t, "incoming", 16<<10, []enginetest.File{{Data: enginetest.RandomBytes(3, 50000)}})
	c, err := engine.NewClient(engine.Config{Listen: "127.0.0.1:0", CacheSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m, _ := metainfo.ParseMagnet("magnet:?xt=urn:btih:" + mt.InfoHash.String())
	tor, err := c.AddMagnet(m, engine.TorrentOptions{NoTrackers: true, MetadataTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	seeder, err := engine.NewClient(engine.Config{Listen: "127.0.0.1:0", CacheSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer seeder.Close()
	st, err := seeder.AddTorrent(mt, engine.TorrentOptions{OpenTier: engine.ReaderTier(bytes.NewReader(all)), UploadOnly: true, NoTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	st.AddPeers([]netip.AddrPort{c.ListenAddr()}) // the seeder dials us
	if got, err := tor.WaitInfo(context.Background()); err != nil || got.InfoHash != mt.InfoHash {
		t.Fatalf("resolve from an incoming peer: %v", err)
	}
}

// A magnet with no way to find peers (no tracker, no x.pe, none given, no DHT)
// fails at once when nobody can connect to us either, and CanFindPeers says so
// whatever the listener.
func TestResolveNoPeerSource(t *testing.T) {
	m, err := metainfo.ParseMagnet("magnet:?xt=urn:btih:" + strings.Repeat("ab", 20))
	if err != nil {
		t.Fatal(err)
	}
	c, err := engine.NewClient(engine.Config{CacheSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.CanFindPeers(m, engine.TorrentOptions{}); !errors.Is(err, engine.ErrNoPeerSource) {
		t.Errorf("CanFindPeers: %v, want ErrNoPeerSource", err)
	}
	withPeer := engine.TorrentOptions{Peers: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:1")}}
	if err := c.CanFindPeers(m, withPeer); err != nil {
		t.Errorf("CanFindPeers with a peer: %v", err)
	}
	// No timeout: only the missing peer source can end it.
	if _, err := c.AddMagnet(m, engine.TorrentOptions{}); !errors.Is(err, engine.ErrNoPeerSource) {
		t.Fatalf("resolve with no way to find peers: %v, want ErrNoPeerSource", err)
	}
}

// A failed resolution says what happened to its peers: connected but without
// the extension protocol (ctorrent), or refused. A resolution whose every peer
// showed it cannot send metadata, with no way to find others, fails at once
// (the first case has no timeout).
func TestResolveFailureSaysWhatHappened(t *testing.T) {
	m, _ := metainfo.ParseMagnet("magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567")
	closed := func() netip.AddrPort {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return netip.MustParseAddrPort(ln.Addr().String())
	}
	hangsUp := func() netip.AddrPort { // accepts, then closes at once (ctorrent without a tracker)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		return netip.MustParseAddrPort(ln.Addr().String())
	}
	for _, c := range []struct {
		name  string
		peers []netip.AddrPort
		want  string
		utp   bool // uTP on
	}{
		// With uTP on, the refused peer is dialled over uTP as well, and that
		// dial is still under way when the fetch gives up.
		{name: "refused over TCP, uTP under way", peers: []netip.AddrPort{closed()}, want: "still connecting to 1 peer", utp: true},
		{"hangs up", []netip.AddrPort{hangsUp()}, "connected to 1 peer; it closed the connection during the BitTorrent handshake", false},
		{"no extension protocol, no timeout", []netip.AddrPort{enginetest.StartPlainPeer(t, m.InfoHash)},
			"connected to 1 peer; it does not support the extension protocol (BEP 10), so it cannot send metadata", false},
		{"refused", []netip.AddrPort{closed()}, "could not connect to the one peer: connection refused", false},
		{"both", []netip.AddrPort{enginetest.StartPlainPeer(t, m.InfoHash), closed()},
			"connected to 1 peer; it does not support the extension protocol (BEP 10), so it cannot send metadata; could not connect to 1 of 2 peers (1 refused)", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			// TCP only unless said: a peer that refuses TCP is dialled over
			// uTP too, whose SYN is retried for seconds past this test's 1 s.
			cl, err := engine.NewClient(engine.Config{CacheSize: 4 << 20, Logger: enginetest.Logger(t), NoUTP: !c.utp})
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			timeout := time.Second
			if strings.Contains(c.name, "no timeout") {
				timeout = 0
			}
			_, _, err = addMagnet(cl, m, engine.TorrentOptions{Peers: c.peers, NoTrackers: true, MetadataTimeout: timeout})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v\nwant it to say %q", err, c.want)
			}
		})
	}
}

// addMagnet adds magnet m and waits for its info: the torrent (nil if
// AddMagnet failed), its metainfo, and AddMagnet's or WaitInfo's error.
func addMagnet(c *engine.Client, m *metainfo.Magnet, opts engine.TorrentOptions) (*engine.Torrent, *metainfo.Torrent, error) {
	tor, err := c.AddMagnet(m, opts)
	if err != nil {
		return nil, nil, err
	}
	mt, err := tor.WaitInfo(context.Background())
	return tor, mt, err
}
