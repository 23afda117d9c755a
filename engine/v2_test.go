package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/enginetest"
	"github.com/hyperblow/hyperblow/engine/metainfo"
	"github.com/hyperblow/hyperblow/engine/wire"
)

// v2Torrent builds a BEP 52 torrent (v2-only or hybrid) of files and returns it with its
// data as the engine lays it out: each file on a piece boundary, zeros between.
func v2Torrent(t *testing.T, format metainfo.Format, files []enginetest.File) (*metainfo.Torrent, []byte) {
	t.Helper()
	var in []metainfo.InputFile
	for _, f := range files {
		in = append(in, metainfo.FileBytes(f.Data, f.Path...))
	}
	raw, err := metainfo.CreateFromFiles("v2", in, metainfo.CreateOptions{PieceLength: 32 << 10, Format: format})
	if err != nil {
		t.Fatal(err)
	}
	mt, err := metainfo.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	all := make([]byte, mt.Info.TotalLength)
	for _, f := range mt.Info.Files {
		for _, src := range files {
			if !f.Padding && strings.Join(src.Path, "/") == strings.Join(f.Path, "/") {
				copy(all[f.Offset:], src.Data)
			}
		}
	}
	return mt, all
}

func v2Files() []enginetest.File {
	return []enginetest.File{
		{Path: []string{"big.bin"}, Data: enginetest.RandomBytes(1, 300<<10+17)},
		{Path: []string{"d", "small.txt"}, Data: []byte("a small file, shorter than a block")},
		{Path: []string{"d", "empty"}, Data: nil},
		{Path: []string{"exact.bin"}, Data: enginetest.RandomBytes(2, 64<<10)},
	}
}

// TestReadV2FromSeeder: a v2-only and a hybrid torrent, seeded by Hyperblow (its storage
// verified against the merkle trees) and read whole by another client.
func TestReadV2FromSeeder(t *testing.T) {
	for _, format := range []metainfo.Format{metainfo.FormatV2, metainfo.FormatHybrid} {
		mt, all := v2Torrent(t, format, v2Files())
		if mt.Info.HasV1() != (format == metainfo.FormatHybrid) || !mt.Info.HasV2() {
			t.Fatalf("format %d: HasV1 %v HasV2 %v", format, mt.Info.HasV1(), mt.Info.HasV2())
		}
		seeder := enginetest.Seed(t, mt, all)
		_, tor := enginetest.Leecher(t, mt, engine.Config{}, seeder)
		for _, f := range mt.Info.VisibleFiles() {
			got := readAll(t, tor, f, 64<<10)
			if !bytes.Equal(got, all[f.Offset:f.Offset+f.Length]) {
				t.Fatalf("format %d: %v: read %d bytes, differing from the source", format, f.Path, len(got))
			}
		}
	}
}

// TestV2SeedRefusesWrongData: storage that differs from the merkle trees is refused.
func TestV2SeedRefusesWrongData(t *testing.T) {
	mt, all := v2Torrent(t, metainfo.FormatV2, v2Files())
	all[len(all)-1] ^= 1
	c, err := engine.NewClient(engine.Config{Listen: "127.0.0.1:0", CacheSize: 8 << 20, Logger: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.AddTorrent(mt, engine.TorrentOptions{OpenTier: engine.ReaderTier(bytes.NewReader(all)), UploadOnly: true, NoTrackers: true})
	if err == nil || !strings.Contains(err.Error(), "does not match its hash") {
		t.Fatalf("got %v, want a hash mismatch", err)
	}
}

// TestV2BadPeerServesNothing: wrong bytes for a v2-only torrent fail the merkle check and
// never reach a reader; the honest seeder's do, and the liar is banned.
func TestV2BadPeerServesNothing(t *testing.T) {
	mt, all := v2Torrent(t, metainfo.FormatV2, v2Files())
	bad := enginetest.StartBadPeer(t, mt, all, false)
	_, tor := enginetest.Leecher(t, mt, engine.Config{}, bad.Addr)
	f := mt.Info.VisibleFiles()[0]
	r := tor.NewReader(f)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_, err := r.ReadAt(ctx, make([]byte, 100), 0)
	cancel()
	r.Close()
	if err == nil {
		t.Fatal("read succeeded with only a corrupting peer")
	}
	if st := tor.Stats(); st.HashFailures == 0 || st.ServedToReaders != 0 {
		t.Fatalf("%d hash failures, %d bytes served: want failures and nothing served", st.HashFailures, st.ServedToReaders)
	}
	good := enginetest.Seed(t, mt, all)
	tor.AddPeers([]netip.AddrPort{good})
	if got := readAll(t, tor, f, 64<<10); !bytes.Equal(got, all[:f.Length]) {
		t.Fatal("content differs with a corrupting peer present")
	}
	if st := tor.Stats(); st.PeersBanned != 1 {
		t.Fatalf("banned %d peers, want the corrupting one", st.PeersBanned)
	}
}

// TestHybridAnswersV2Handshake: a peer that names a hybrid by its truncated v2 hash (as
// a v2 client does) is answered with that hash.
func TestHybridAnswersV2Handshake(t *testing.T) {
	mt, all := v2Torrent(t, metainfo.FormatHybrid, v2Files())
	seeder := enginetest.Seed(t, mt, all)
	asV2 := *mt
	asV2.InfoHash = bt.InfoHash(mt.InfoHashV2[:20])
	fp := enginetest.DialFake(t, seeder, &asV2, wire.Reserved{})
	if fp.Remote.InfoHash != asV2.InfoHash {
		t.Fatalf("answered %s, want the truncated v2 hash %s", fp.Remote.InfoHash, asV2.InfoHash)
	}
}

// TestV2WithoutLayersRefused: a v2-only torrent whose piece layers are unknown (its info
// alone, as from a magnet) cannot be verified, so it is refused with a clear error.
func TestV2WithoutLayersRefused(t *testing.T) {
	mt, _ := v2Torrent(t, metainfo.FormatV2, v2Files())
	info, err := metainfo.ParseInfo(mt.RawInfo)
	if err != nil {
		t.Fatal(err)
	}
	bare := *mt
	bare.Info = info
	c, err := engine.NewClient(engine.Config{Listen: "127.0.0.1:0", CacheSize: 8 << 20, Logger: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.AddTorrent(&bare, engine.TorrentOptions{NoTrackers: true})
	if err == nil || !strings.Contains(err.Error(), "piece layers of 2 files are not known") {
		t.Fatalf("got %v", err)
	}
}

// TestV2MagnetLayersFromHyperblow: a magnet with only the v2 hash of a v2-only torrent
// resolves from a Hyperblow seeder: the metadata, then the piece layers by BEP 52 hash
// requests, which the seeder answers; the torrent then reads byte for byte.
func TestV2MagnetLayersFromHyperblow(t *testing.T) {
	mt, all := v2Torrent(t, metainfo.FormatV2, v2Files())
	seeder := enginetest.Seed(t, mt, all)
	c, err := engine.NewClient(engine.Config{CacheSize: 8 << 20, Logger: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m, err := metainfo.ParseMagnet(fmt.Sprintf("magnet:?xt=urn:btmh:1220%x", mt.InfoHashV2))
	if err != nil {
		t.Fatal(err)
	}
	tor, got, err := addMagnet(c, m, engine.TorrentOptions{Peers: []netip.AddrPort{seeder}, NoTrackers: true, MetadataTimeout: 20 * time.Second})
	if err != nil {
		t.Fatalf("resolve: %v", err)
	}
	if got.InfoHash != mt.InfoHash || got.InfoHashV2 != mt.InfoHashV2 || got.Info.MissingPieceLayers() != 0 {
		t.Fatalf("resolved %s (v2 %x), %d layers missing", got.InfoHash, got.InfoHashV2, got.Info.MissingPieceLayers())
	}
	for _, f := range tor.Info().VisibleFiles() {
		if data := readAll(t, tor, f, 64<<10); !bytes.Equal(data, all[f.Offset:f.Offset+f.Length]) {
			t.Fatalf("%v differs", f.Path)
		}
	}
}

// TestHybridFoundByV2HashInDHT: a hybrid seeder announces its truncated v2 hash in the
// DHT too, so a magnet with only xt=urn:btmh: finds it there (a loopback DHT of three
// nodes: the seeder and the resolver join through the third; each on its own loopback
// address, since a DHT node limits the packets it takes from one IP).
func TestHybridFoundByV2HashInDHT(t *testing.T) {
	mt, all := v2Torrent(t, metainfo.FormatHybrid, v2Files())
	node, err := engine.NewClient(engine.Config{Listen: "127.0.0.1:0", CacheSize: 1 << 20, DHT: true, Logger: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	boot := []string{node.DHTAddr().String()}
	seeder, err := engine.NewClient(engine.Config{Listen: "127.0.0.2:0", CacheSize: 8 << 20, DHT: true, DHTBootstrap: boot, Logger: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer seeder.Close()
	if _, err := seeder.AddTorrent(mt, engine.TorrentOptions{OpenTier: engine.ReaderTier(bytes.NewReader(all)), UploadOnly: true, NoTrackers: true}); err != nil {
		t.Fatal(err)
	}
	c, err := engine.NewClient(engine.Config{Listen: "127.0.0.3:0", CacheSize: 8 << 20, DHT: true,
		DHTBootstrap: boot, Logger: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m, err := metainfo.ParseMagnet(fmt.Sprintf("magnet:?xt=urn:btmh:1220%x", mt.InfoHashV2))
	if err != nil {
		t.Fatal(err)
	}
	_, got, err := addMagnet(c, m, engine.TorrentOptions{NoTrackers: true, MetadataTimeout: 20 * time.Second})
	if err != nil {
		t.Fatalf("resolve by v2 hash through the DHT: %v", err)
	}
	if got.InfoHash != mt.InfoHash || got.InfoHashV2 != mt.InfoHashV2 {
		t.Fatalf("resolved %s (v2 %x)", got.InfoHash, got.InfoHashV2)
	}
}

// startLyingLayerPeer serves mt's metadata truthfully (BEP 9) and answers BEP 52 hash
// requests with a corrupted piece layer.
func startLyingLayerPeer(t *testing.T, mt *metainfo.Torrent) netip.AddrPort {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serveLyingLayers(c, mt)
			}()
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String())
}

func serveLyingLayers(c net.Conn, mt *metainfo.Torrent) {
	size := int64(len(mt.RawInfo))
	r := wire.NewReader(c, wire.Limits{})
	if _, err := r.ReadHandshake(); err != nil {
		return
	}
	send := func(m wire.Message) bool { _, err := c.Write(wire.AppendMessage(nil, m)); return err == nil }
	c.Write(wire.AppendHandshake(nil, wire.Handshake{Reserved: wire.Reserved{}.WithExtended(), InfoHash: mt.InfoHash, PeerID: bt.NewPeerID()}))
	send(wire.Message{ID: wire.Extended, Payload: wire.AppendExtHandshake(nil, wire.ExtHandshake{M: map[string]uint8{wire.ExtMetadata: 7}, MetadataSize: size})})
	var theirID uint8
	for {
		m, err := r.ReadMessage()
		if err != nil {
			return
		}
		switch {
		case m.Keepalive:
		case m.ID == wire.HashRequest:
			req, err := wire.ParseHashRequest(m.Payload)
			if err != nil {
				return
			}
			hashes := bytes.Repeat([]byte{0x5a}, 32*int(req.Length))
			send(wire.HashesMsg{HashReq: req, Hashes: hashes}.Message())
		case m.ID == wire.Extended && m.ExtID == 0:
			if h, err := wire.ParseExtHandshake(m.Payload); err == nil {
				theirID = h.M[wire.ExtMetadata]
			}
		case m.ID == wire.Extended && theirID != 0:
			mm, err := wire.ParseMetadataMsg(m.Payload)
			if err != nil || mm.Type != wire.MetadataRequest {
				continue
			}
			off := mm.Piece * wire.MetadataPieceLen
			data := mt.RawInfo[off : off+wire.MetadataPieceSize(size, mm.Piece)]
			send(wire.Message{ID: wire.Extended, ExtID: theirID,
				Payload: wire.AppendMetadataMsg(nil, wire.MetadataMsg{Type: wire.MetadataData, Piece: mm.Piece, TotalSize: size, Data: data})})
		}
	}
}

// TestV2MagnetLyingLayers: a peer whose piece layer does not hash to the file's root is
// not believed; the layer comes from an honest seeder instead.
func TestV2MagnetLyingLayers(t *testing.T) {
	mt, all := v2Torrent(t, metainfo.FormatV2, v2Files())
	liar := startLyingLayerPeer(t, mt)
	c, err := engine.NewClient(engine.Config{CacheSize: 8 << 20, Logger: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m, err := metainfo.ParseMagnet(fmt.Sprintf("magnet:?xt=urn:btmh:1220%x", mt.InfoHashV2))
	if err != nil {
		t.Fatal(err)
	}
	tor, got, err := addMagnet(c, m, engine.TorrentOptions{Peers: []netip.AddrPort{liar}, NoTrackers: true, MetadataTimeout: 3 * time.Second})
	if err == nil {
		t.Fatalf("resolved from a liar alone: %d layers missing", got.Info.MissingPieceLayers())
	} else if !strings.Contains(err.Error(), "piece layers of 2 of its 2 larger files did not") {
		t.Fatalf("from the liar alone: %v; want the missing piece layers named", err)
	}
	c.RemoveTorrent(tor) // failed: it stays until removed
	honest := enginetest.Seed(t, mt, all)
	_, got, err = addMagnet(c, m, engine.TorrentOptions{Peers: []netip.AddrPort{liar, honest}, NoTrackers: true, MetadataTimeout: 20 * time.Second})
	if err != nil {
		t.Fatalf("resolve with an honest seeder too: %v", err)
	}
	if got.Info.MissingPieceLayers() != 0 {
		t.Fatal("layers missing")
	}
}

// TestReadV2SingleFile: a single-file v2-only torrent (laid out with a padding file after
// the file, as libtorrent does, so its last piece is whole) seeds and reads back.
func TestReadV2SingleFile(t *testing.T) {
	data := enginetest.RandomBytes(9, 200<<10+5)
	raw, err := metainfo.CreateFromFiles("one.bin", []metainfo.InputFile{metainfo.FileBytes(data)}, metainfo.CreateOptions{PieceLength: 32 << 10, Format: metainfo.FormatV2})
	if err != nil {
		t.Fatal(err)
	}
	mt, err := metainfo.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if mt.Info.MultiFile || len(mt.Info.VisibleFiles()) != 1 || mt.Info.TotalLength%(32<<10) != 0 {
		t.Fatalf("layout: multi %v, %d files, total %d", mt.Info.MultiFile, len(mt.Info.VisibleFiles()), mt.Info.TotalLength)
	}
	all := make([]byte, mt.Info.TotalLength)
	copy(all, data)
	seeder := enginetest.Seed(t, mt, all)
	_, tor := enginetest.Leecher(t, mt, engine.Config{}, seeder)
	if got := readAll(t, tor, mt.Info.VisibleFiles()[0], 64<<10); !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
}

// TestHybridMagnetByV2TakesV1Peers: a hybrid torrent added by a magnet with only
// its v2 hash is keyed by the truncated v2 hash; once its info is known, a peer
// that connects with the v1 hash reaches it too.
func TestHybridMagnetByV2TakesV1Peers(t *testing.T) {
	mt, all := v2Torrent(t, metainfo.FormatHybrid, v2Files())
	seeder := enginetest.Seed(t, mt, all)
	c, err := engine.NewClient(engine.Config{Listen: "127.0.0.1:0", NoUTP: true, CacheSize: 8 << 20, Logger: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m, err := metainfo.ParseMagnet(fmt.Sprintf("magnet:?xt=urn:btmh:1220%x", mt.InfoHashV2))
	if err != nil {
		t.Fatal(err)
	}
	tor, got, err := addMagnet(c, m, engine.TorrentOptions{Peers: []netip.AddrPort{seeder}, NoTrackers: true, MetadataTimeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if got.InfoHash != mt.InfoHash || tor.InfoHash() == mt.InfoHash {
		t.Fatalf("keyed by %s, info-hash %s: want the truncated v2 hash and the v1 hash", tor.InfoHash(), got.InfoHash)
	}
	v1 := enginetest.DialFake(t, c.ListenAddr(), mt, wire.Reserved{}.WithFast()) // fails unless answered
	if v1.Remote.InfoHash != mt.InfoHash {
		t.Fatalf("answered for %s, want the v1 hash %s", v1.Remote.InfoHash, mt.InfoHash)
	}
}

// TestHybridV2HashEncrypted: a leecher that knows a hybrid by its truncated v2
// hash only, and requires MSE (which names the torrent hashed, so the seeder
// must try its hybrids' other hashes), reads it whole from a seeder that keys
// it by its v1 hash.
func TestHybridV2HashEncrypted(t *testing.T) {
	mt, all := v2Torrent(t, metainfo.FormatHybrid, v2Files())
	seeder := enginetest.Seed(t, mt, all)
	asV2 := *mt
	asV2.InfoHash = bt.InfoHash(mt.InfoHashV2[:20])
	_, tor := enginetest.Leecher(t, &asV2, engine.Config{Encryption: engine.EncryptionRequire}, seeder)
	for _, f := range mt.Info.VisibleFiles() {
		if got := readAll(t, tor, f, 64<<10); !bytes.Equal(got, all[f.Offset:f.Offset+f.Length]) {
			t.Fatalf("%v: content differs", f.Path)
		}
	}
	s, err := tor.Inspect(context.Background())
	if err != nil || len(s.Peers) != 1 || s.Peers[0].Encryption != "rc4" {
		t.Fatalf("peers %+v (%v), want one over rc4", s.Peers, err)
	}
}
