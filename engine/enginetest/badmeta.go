package enginetest

import (
	"bufio"
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/metainfo"
	"github.com/hyperblow/hyperblow/engine/wire"
)

// BadMetadataPeer offers the info dictionary of a torrent (BEP 9) but sends
// bytes that do not match its info-hash.
type BadMetadataPeer struct{ Addr netip.AddrPort }

// StartBadMetadataPeer starts one on 127.0.0.1; it stops in t.Cleanup.
func StartBadMetadataPeer(t testing.TB, mt *metainfo.Torrent) *BadMetadataPeer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	size := int64(len(mt.RawInfo))
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
				serveBadMetadata(c, mt, size)
			}()
		}
	}()
	return &BadMetadataPeer{Addr: netip.MustParseAddrPort(ln.Addr().String())}
}

func serveBadMetadata(c net.Conn, mt *metainfo.Torrent, size int64) {
	r := wire.NewReader(c, wire.Limits{})
	if _, err := r.ReadHandshake(); err != nil {
		return
	}
	w := bufio.NewWriter(c)
	w.Write(wire.AppendHandshake(nil, wire.Handshake{Reserved: wire.Reserved{}.WithExtended(), InfoHash: mt.InfoHash, PeerID: bt.NewPeerID()}))
	const ourID = 7
	w.Write(wire.AppendMessage(nil, wire.Message{ID: wire.Extended, ExtID: 0,
		Payload: wire.AppendExtHandshake(nil, wire.ExtHandshake{M: map[string]uint8{wire.ExtMetadata: ourID}, MetadataSize: size})}))
	if w.Flush() != nil {
		return
	}
	var theirID uint8
	for {
		m, err := r.ReadMessage()
		if err != nil {
			return
		}
		if m.Keepalive || m.ID != wire.Extended {
			continue
		}
		if m.ExtID == 0 {
			if h, err := wire.ParseExtHandshake(m.Payload); err == nil {
				theirID = h.M[wire.ExtMetadata]
			}
			continue
		}
		mm, err := wire.ParseMetadataMsg(m.Payload)
		if err != nil || mm.Type != wire.MetadataRequest || theirID == 0 {
			continue
		}
		junk := make([]byte, wire.MetadataPieceSize(size, mm.Piece))
		for i := range junk {
			junk[i] = byte(i)
		}
		w.Write(wire.AppendMessage(nil, wire.Message{ID: wire.Extended, ExtID: theirID,
			Payload: wire.AppendMetadataMsg(nil, wire.MetadataMsg{Type: wire.MetadataData, Piece: mm.Piece, TotalSize: size, Data: junk})}))
		if w.Flush() != nil {
			return
		}
	}
}
