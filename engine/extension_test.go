package engine_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/enginetest"
	"github.com/hyperblow/hyperblow/engine/wire"
)

// A peer speaking BEP 10 gets our extension handshake and can fetch the info
// dictionary from us with BEP 9 ut_metadata.
func TestExtensionHandshakeAndMetadataServing(t *testing.T) {
	var files []enginetest.File
	for i := 0; i < 800; i++ { // enough names for several metadata pieces
		files = append(files, enginetest.File{Path: []string{"dir", fmt.Sprintf("file-%04d.bin", i)}, Data: enginetest.RandomBytes(byte(i), 100)})
	}
	mt, all := enginetest.Torrent(t, "many", 16<<10, files)
	c, err := engine.NewClient(engine.Config{Listen: "127.0.0.1:0", CacheSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.AddTorrent(mt, engine.TorrentOptions{OpenTier: engine.ReaderTier(bytes.NewReader(all)), UploadOnly: true, NoTrackers: true}); err != nil {
		t.Fatal(err)
	}
	fp := enginetest.DialFake(t, c.ListenAddr(), mt, wire.Reserved{}.WithExtended())
	if !fp.Remote.Reserved.Extended() {
		t.Fatal("the client does not announce BEP 10")
	}
	msgs, ok := fp.Expect(5*time.Second, func(m wire.Message) bool { return m.ID == wire.Extended && m.ExtID == 0 })
	if !ok {
		t.Fatalf("no extension handshake in %v", msgs)
	}
	h, err := wire.ParseExtHandshake(msgs[len(msgs)-1].Payload)
	if err != nil {
		t.Fatal(err)
	}
	if h.MetadataSize != int64(len(mt.RawInfo)) || h.M[wire.ExtMetadata] == 0 || !h.UploadOnly {
		t.Fatalf("handshake %+v: want metadata_size %d, ut_metadata, upload_only (seeding)", h, len(mt.RawInfo))
	}
	const ours = 3 // the id we ask the client to use for ut_metadata towards us
	fp.Send(wire.Message{ID: wire.Extended, ExtID: 0, Payload: wire.AppendExtHandshake(nil, wire.ExtHandshake{M: map[string]uint8{wire.ExtMetadata: ours}})})
	pieces := wire.MetadataPieces(h.MetadataSize)
	if pieces < 2 {
		t.Fatalf("test wants several metadata pieces, got %d", pieces)
	}
	asm, err := wire.NewMetadataAssembler(h.MetadataSize, mt.InfoHash)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < pieces; i++ {
		fp.Send(wire.Message{ID: wire.Extended, ExtID: h.M[wire.ExtMetadata], Payload: wire.AppendMetadataMsg(nil, wire.MetadataMsg{Type: wire.MetadataRequest, Piece: i})})
		msgs, ok := fp.Expect(5*time.Second, func(m wire.Message) bool { return m.ID == wire.Extended && m.ExtID == ours })
		if !ok {
			t.Fatalf("no ut_metadata reply for piece %d", i)
		}
		mm, err := wire.ParseMetadataMsg(msgs[len(msgs)-1].Payload)
		if err != nil || mm.Type != wire.MetadataData || mm.Piece != i {
			t.Fatalf("reply for piece %d: %+v, %v", i, mm, err)
		}
		if err := asm.Add(mm.Piece, mm.Data); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := asm.Verify()
	if err != nil || !bytes.Equal(raw, mt.RawInfo) {
		t.Fatalf("assembled metadata: %v", err)
	}
	// Past the last piece: a reject.
	fp.Send(wire.Message{ID: wire.Extended, ExtID: h.M[wire.ExtMetadata], Payload: wire.AppendMetadataMsg(nil, wire.MetadataMsg{Type: wire.MetadataRequest, Piece: pieces})})
	msgs, ok = fp.Expect(5*time.Second, func(m wire.Message) bool { return m.ID == wire.Extended && m.ExtID == ours })
	if !ok {
		t.Fatal("no reply for a piece past the end")
	}
	if mm, err := wire.ParseMetadataMsg(msgs[len(msgs)-1].Payload); err != nil || mm.Type != wire.MetadataReject {
		t.Fatalf("piece past the end: %+v, %v; want a reject", mm, err)
	}
}
