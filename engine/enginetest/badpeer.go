package enginetest

import (
	"bufio"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/metainfo"
	"github.com/hyperblow/hyperblow/engine/wire"
)

// BadPeer is a peer on 127.0.0.1 that claims every piece, unchokes everyone and
// answers requests with corrupted data (every byte flipped), or not at all when
// Silent is set. It speaks the wire protocol directly, so it can do what a real
// client never would.
type BadPeer struct {
	Addr   netip.AddrPort
	Silent bool
	// Served counts blocks sent.
	Served atomic.Int64
	// Conns counts connections accepted.
	Conns atomic.Int64
}

// StartBadPeer starts a BadPeer for mt with data (the true content, which it
// corrupts). It stops in t.Cleanup.
func StartBadPeer(t testing.TB, mt *metainfo.Torrent, data []byte, silent bool) *BadPeer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bp := &BadPeer{Addr: netip.MustParseAddrPort(ln.Addr().String()), Silent: silent}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			bp.Conns.Add(1)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				bp.serve(c, mt, data)
			}()
		}
	}()
	return bp
}

func (bp *BadPeer) serve(c net.Conn, mt *metainfo.Torrent, data []byte) {
	info := mt.Info
	r := wire.NewReader(c, wire.Limits{NumPieces: info.NumPieces})
	if _, err := r.ReadHandshake(); err != nil {
		return
	}
	w := bufio.NewWriter(c)
	id := bt.NewPeerID()
	w.Write(wire.AppendHandshake(nil, wire.Handshake{InfoHash: mt.InfoHash, PeerID: id}))
	bf := bt.NewBitfield(info.NumPieces)
	bf.SetAll()
	w.Write(wire.AppendMessage(nil, wire.Message{ID: wire.Bitfield, Payload: bf.Bytes()}))
	w.Write(wire.AppendMessage(nil, wire.Message{ID: wire.Unchoke}))
	if w.Flush() != nil {
		return
	}
	for {
		m, err := r.ReadMessage()
		if err != nil {
			return
		}
		if m.Keepalive || m.ID != wire.Request || bp.Silent {
			continue
		}
		off := info.PieceOffset(int(m.Index)) + int64(m.Begin)
		if off+int64(m.Length) > int64(len(data)) {
			return
		}
		block := make([]byte, m.Length)
		for i := range block {
			block[i] = ^data[off+int64(i)]
		}
		w.Write(wire.AppendMessage(nil, wire.Message{ID: wire.Piece, Index: m.Index, Begin: m.Begin, Payload: block}))
		if w.Flush() != nil {
			return
		}
		bp.Served.Add(1)
	}
}
