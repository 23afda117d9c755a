package engine

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

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

// TestPortMapWithClient: a client with PortMap asks the gateway it is given
// (a fake NAT-PMP server on loopback) to map its listen port on TCP and UDP,
// reports the mapping in LocalNet, and removes both when it closes.
func TestPortMapWithClient(t *testing.T) {
	gw, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	type req struct {
		op       byte
		port     uint16
		lifetime uint32
	}
	reqs := make(chan req, 100)
	go func() {
		buf := make([]byte, 64)
		for {
			n, from, err := gw.ReadFrom(buf)
			if err != nil {
				return
			}
			b := buf[:n]
			if n == 2 {
				gw.WriteTo([]byte{0, 128, 0, 0, 0, 0, 0, 1, 192, 0, 2, 44}, from)
				continue
			}
			if n != 12 {
				continue
			}
			r := req{b[1], binary.BigEndian.Uint16(b[4:6]), binary.BigEndian.Uint32(b[8:12])}
			reqs <- r
			out := make([]byte, 16)
			out[1] = 128 + b[1]
			copy(out[8:10], b[4:6])
			copy(out[10:12], b[4:6])
			copy(out[12:16], b[8:12])
			gw.WriteTo(out, from)
		}
	}()
	c, err := NewClient(Config{Listen: "127.0.0.1:0", CacheSize: 4 << 20, PortMap: true,
		PortMapGateway: gw.LocalAddr().(*net.UDPAddr).AddrPort()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	port := c.ListenAddr().Port()
	next := func(what string) req {
		select {
		case r := <-reqs:
			return r
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: no request", what)
		}
		return req{}
	}
	if tcp, udp := next("TCP map"), next("UDP map"); tcp.op != 2 || udp.op != 1 || tcp.port != port || udp.port != port || tcp.lifetime == 0 {
		t.Fatalf("requests %+v %+v, want TCP then UDP mappings of port %d", tcp, udp, port)
	}
	deadline := time.Now().Add(20 * time.Second)
	for c.LocalNet().PortMap != "nat-pmp" {
		if time.Now().After(deadline) {
			t.Fatalf("LocalNet %+v, want nat-pmp", c.LocalNet())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if s := c.LocalNet(); s.Mapped != netip.AddrPortFrom(netip.MustParseAddr("192.0.2.44"), port) || s.LSD != "off" {
		t.Fatalf("LocalNet %+v, want mapped at 192.0.2.44:%d and LSD off", s, port)
	}
	c.Close()
	for range 2 {
		if r := next("removal"); r.lifetime != 0 || r.port != port {
			t.Fatalf("request after Close %+v, want a removal (lifetime 0) of port %d", r, port)
		}
	}
}
