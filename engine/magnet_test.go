package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/enginetest"
	"github.com/hyperblow/hyperblow/engine/metainfo"
	"github.com/hyperblow/hyperblow/engine/wire"
)

// bigInfoTorrent makes a torrent whose info dictionary takes at least 3
// metadata pieces (BEP 9: 16 KiB each), and its data.
func bigInfoTorrent(t *testing.T) (*metainfo.Torrent, []byte, []enginetest.File) {
	t.Helper()
	var files []enginetest.File
	for i := 0; i < 700; i++ {
		files = append(files, enginetest.File{Path: []string{"d", fmt.Sprintf("%s-%04d", strings.Repeat("n", 40), i)}, Data: enginetest.RandomBytes(byte(i), 700+i%50)})
	}
	mt, all := enginetest.Torrent(t, "big-info", 16<<10, files)
	if n := wire.MetadataPieces(int64(len(mt.RawInfo))); n < 3 {
		t.Fatalf("info of %d bytes: %d metadata pieces, want >= 3", len(mt.RawInfo), n)
	}
	return mt, all, files
}

func magnetOf(t *testing.T, mt *metainfo.Torrent) *metainfo.Magnet {
	t.Helper()
	m, err := metainfo.ParseMagnet("magnet:?xt=urn:btih:" + mt.InfoHash.String())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func waitInfo(t *testing.T, tor *engine.Torrent) *metainfo.Torrent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mt, err := tor.WaitInfo(ctx)
	if err != nil {
		t.Fatalf("WaitInfo: %v (status %+v)", err, tor.ResolveStatus())
	}
	return mt
}

// waitFor polls cond, which watches for an event, until it holds (or 20 s).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestMagnetSameConnections: a magnet's metadata comes from its own peers,
// and the same connections then send the pieces: each peer is dialled exactly
// once, and a peer that connected to us before the info is kept.
func TestMagnetSameConnections(t *testing.T) {
	mt, all, files := bigInfoTorrent(t)
	seed := []wire.Message{{ID: wire.HaveAll}}
	a := enginetest.StartMetaPeer(t, mt, enginetest.MetaPeerConfig{Data: all, Early: seed})
	b := enginetest.StartMetaPeer(t, mt, enginetest.MetaPeerConfig{Data: all, Early: seed})
	c, err := engine.NewClient(engine.Config{Listen: "127.0.0.1:0", NoUTP: true, CacheSize: 16 << 20, Logger: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tor, err := c.AddMagnet(magnetOf(t, mt), engine.TorrentOptions{NoTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	if tor.Info() != nil || tor.Metainfo() != nil || tor.State() != engine.StateResolving || tor.InfoHash() != mt.InfoHash {
		t.Fatalf("before the info: info %v, state %v", tor.Info() != nil, tor.State())
	}
	if s := tor.Stats(); s.NumPieces != 0 || s.PiecesHave != 0 {
		t.Fatalf("stats before the info: %+v", s)
	}
	if snap, err := tor.Inspect(context.Background()); err != nil || snap.NumPieces != 0 {
		t.Fatalf("inspect before the info: %v", err)
	}
	early := tor.NewReader(metainfo.File{Length: 100})
	if _, err := early.ReadAt(context.Background(), make([]byte, 10), 0); !errors.Is(err, engine.ErrNoInfo) {
		t.Fatalf("a reader made before the info: %v, want ErrNoInfo", err)
	}
	early.Close()
	if tor.PieceHeld(0) || len(tor.Mirrors()) != 0 {
		t.Fatal("pieces or mirrors before the info")
	}
	// An incoming peer: its handshake for the magnet's info-hash is answered
	// (DialFake fails otherwise).
	in := enginetest.DialFake(t, c.ListenAddr(), mt, wire.Reserved{}.WithFast())
	tor.AddPeers([]netip.AddrPort{a.Addr, b.Addr})
	got := waitInfo(t, tor)
	if !bytes.Equal(got.RawInfo, mt.RawInfo) || tor.Info() == nil || tor.State() != engine.StateActive {
		t.Fatalf("after the info: state %v", tor.State())
	}
	for i, f := range tor.Info().VisibleFiles() {
		if data := readAll(t, tor, f, 4096); !bytes.Equal(data, files[i].Data) {
			t.Fatalf("file %d differs", i)
		}
	}
	if a.Accepts() != 1 || b.Accepts() != 1 {
		t.Errorf("dials: %d and %d, want each peer dialled once", a.Accepts(), b.Accepts())
	}
	snap, err := tor.Inspect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	incoming := 0
	for _, p := range snap.Peers {
		if p.Incoming {
			incoming++
		}
	}
	if len(snap.Peers) != 3 || incoming != 1 {
		t.Fatalf("%d peers, %d incoming; want the 2 dialled and the incoming one", len(snap.Peers), incoming)
	}
	if snap.Downloaded < int64(len(all)) {
		t.Fatalf("downloaded %d of %d", snap.Downloaded, len(all))
	}
	in.Conn.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	if _, err := in.Conn.Read(make([]byte, 1)); err != nil && !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("the incoming peer's connection: %v", err)
	}
}

// TestMagnetSilentPeer: a peer that answers one metadata piece and then goes
// silent is given up for metadata (not dropped), and another peer supplies
// the rest.
func TestMagnetSilentPeer(t *testing.T) {
	mt, all, _ := bigInfoTorrent(t)
	silent := enginetest.StartMetaPeer(t, mt, enginetest.MetaPeerConfig{AnswerPieces: 1})
	cfg := engine.Config{NoUTP: true, CacheSize: 8 << 20, Logger: enginetest.Logger(t)}
	engine.SetMetadataPieceTimeout(&cfg, 300*time.Millisecond)
	c, err := engine.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tor, err := c.AddMagnet(magnetOf(t, mt), engine.TorrentOptions{Peers: []netip.AddrPort{silent.Addr}, NoTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-silent.Silent:
	case <-time.After(20 * time.Second):
		t.Fatal("the silent peer was not asked a second piece")
	}
	if st := tor.ResolveStatus(); st.State != engine.Resolving || tor.Info() != nil {
		t.Fatalf("resolved from a peer that sent one piece: %+v", st)
	}
	tor.AddPeers([]netip.AddrPort{enginetest.Seed(t, mt, all)})
	if got := waitInfo(t, tor); !bytes.Equal(got.RawInfo, mt.RawInfo) {
		t.Fatal("info differs")
	}
	if silent.Connected() != 1 || silent.Accepts() != 1 {
		t.Fatalf("silent peer: %d connected, %d dials; want kept", silent.Connected(), silent.Accepts())
	}
}

// TestMagnetOneRequestPerPeer: a peer is never asked a second metadata piece
// before it answered the first (rTorrent stops reading when it is).
func TestMagnetOneRequestPerPeer(t *testing.T) {
	mt, _, _ := bigInfoTorrent(t)
	p := enginetest.StartMetaPeer(t, mt, enginetest.MetaPeerConfig{Delay: 30 * time.Millisecond})
	c, err := engine.NewClient(engine.Config{NoUTP: true, CacheSize: 8 << 20, Logger: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tor, err := c.AddMagnet(magnetOf(t, mt), engine.TorrentOptions{Peers: []netip.AddrPort{p.Addr}, NoTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	waitInfo(t, tor)
	if n := p.MaxOutstanding(); n != 1 {
		t.Fatalf("%d metadata requests outstanding at once, want 1", n)
	}
}

// TestMagnetEarlyBitfield: a BITFIELD and a HAVE received before the info are
// applied once it comes; a peer whose early BITFIELD has the wrong length is
// dropped then, alone.
func TestMagnetEarlyBitfield(t *testing.T) {
	mt, all, _ := bigInfoTorrent(t)
	n := mt.Info.NumPieces
	bf := bt.NewBitfield(n)
	bf.Set(0)
	bf.Set(2)
	good := enginetest.StartMetaPeer(t, mt, enginetest.MetaPeerConfig{Data: all, Early: []wire.Message{
		{ID: wire.Bitfield, Payload: bf.Bytes()}, {ID: wire.Have, Index: 3}}})
	bad := enginetest.StartMetaPeer(t, mt, enginetest.MetaPeerConfig{Early: []wire.Message{
		{ID: wire.Bitfield, Payload: make([]byte, (n+7)/8+3)}}})
	c, err := engine.NewClient(engine.Config{NoUTP: true, CacheSize: 8 << 20, Logger: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tor, err := c.AddMagnet(magnetOf(t, mt), engine.TorrentOptions{Peers: []netip.AddrPort{good.Addr, bad.Addr}, NoTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	waitInfo(t, tor)
	waitFor(t, "the peer with a wrong BITFIELD dropped", func() bool { return bad.Connected() == 0 })
	snap, err := tor.Inspect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Peers) != 1 || snap.Peers[0].Pieces != 3 {
		t.Fatalf("peers %+v, want the good one with pieces 0, 2 and 3", snap.Peers)
	}
	f := metainfo.File{Offset: mt.Info.PieceOffset(2), Length: mt.Info.PieceLen(2)}
	if got := readAll(t, tor, f, 4096); !bytes.Equal(got, all[f.Offset:f.Offset+f.Length]) {
		t.Fatal("piece 2 differs")
	}
	if good.Accepts() != 1 || bad.Accepts() > 1 {
		t.Fatalf("dials %d and %d", good.Accepts(), bad.Accepts())
	}
}

// TestMagnetLyingSizeSilentPeer: the first peer to offer metadata announces a
// wrong size and never answers; once it is given up, the fetch starts again
// with the size the other peer says, and succeeds.
func TestMagnetLyingSizeSilentPeer(t *testing.T) {
	mt, all, _ := bigInfoTorrent(t)
	liar := enginetest.StartMetaPeer(t, mt, enginetest.MetaPeerConfig{Mute: true, MetadataSize: int64(len(mt.RawInfo)) + 1000})
	cfg := engine.Config{NoUTP: true, CacheSize: 8 << 20, Logger: enginetest.Logger(t)}
	engine.SetMetadataPieceTimeout(&cfg, 300*time.Millisecond)
	c, err := engine.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tor, err := c.AddMagnet(magnetOf(t, mt), engine.TorrentOptions{Peers: []netip.AddrPort{liar.Addr}, NoTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-liar.Silent: // asked: its size is the one being assembled
	case <-time.After(20 * time.Second):
		t.Fatal("the lying peer was not asked")
	}
	tor.AddPeers([]netip.AddrPort{enginetest.Seed(t, mt, all)})
	if got := waitInfo(t, tor); !bytes.Equal(got.RawInfo, mt.RawInfo) {
		t.Fatal("info differs")
	}
}

// TestMagnetRejectingPeer: a peer that rejects every metadata request is not
// asked those pieces again; alone, the fetch fails at its timeout saying so,
// and with another peer it succeeds.
func TestMagnetRejectingPeer(t *testing.T) {
	mt, all, _ := bigInfoTorrent(t)
	rej := enginetest.StartMetaPeer(t, mt, enginetest.MetaPeerConfig{Reject: true})
	c, err := engine.NewClient(engine.Config{NoUTP: true, CacheSize: 8 << 20, Logger: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m := magnetOf(t, mt)
	tor, _, err := addMagnet(c, m, engine.TorrentOptions{Peers: []netip.AddrPort{rej.Addr}, NoTrackers: true, MetadataTimeout: time.Second})
	if err == nil || !strings.Contains(err.Error(), "it rejected our metadata requests") {
		t.Fatalf("from a peer that rejects: %v", err)
	}
	if n := wire.MetadataPieces(int64(len(mt.RawInfo))); rej.MaxOutstanding() != 1 {
		t.Fatalf("%d requests outstanding at once (of %d pieces)", rej.MaxOutstanding(), n)
	}
	c.RemoveTorrent(tor)
	tor, _, err = addMagnet(c, m, engine.TorrentOptions{Peers: []netip.AddrPort{rej.Addr, enginetest.Seed(t, mt, all)}, NoTrackers: true, MetadataTimeout: 20 * time.Second})
	if err != nil || tor.Info() == nil {
		t.Fatalf("with an honest peer too: %v", err)
	}
}
