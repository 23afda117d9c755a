package enginetest

import (
	"bufio"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/metainfo"
	"github.com/hyperblow/hyperblow/engine/wire"
)

// MetaPeerConfig scripts a MetaPeer.
type MetaPeerConfig struct {
	// Early messages are sent right after the handshake, before the
	// extension handshake: what a magnet receives before it has the info.
	Early []wire.Message
	// AnswerPieces is how many metadata requests are answered before the
	// peer goes silent (it reads on but answers nothing more); 0: all.
	AnswerPieces int
	// Delay holds each metadata answer this long, so that a client that
	// pipelines its requests shows it.
	Delay time.Duration
	// Mute answers no metadata request (Silent is closed at the first);
	// MetadataSize, when not 0, is the size announced instead of the real one.
	Mute         bool
	MetadataSize int64
	// Reject answers every metadata request with a reject.
	Reject bool
	// Data is the torrent's content; with it, requested blocks are served
	// (after an UNCHOKE sent on INTERESTED).
	Data []byte
}

// MetaPeer is a scripted peer on 127.0.0.1 that holds a torrent's info
// dictionary (BEP 9) and, optionally, its data. It counts the connections it
// accepts and the most ut_metadata requests it had outstanding at once.
type MetaPeer struct {
	Addr netip.AddrPort
	// Silent is closed when the peer has gone silent (AnswerPieces answered,
	// and a further request came).
	Silent chan struct{}
	// Gone is closed when its first connection has ended.
	Gone chan struct{}

	cfg      MetaPeerConfig
	mt       *metainfo.Torrent
	once     sync.Once
	goneOnce sync.Once
	mu       sync.Mutex
	accepts  int
	maxOut   int
	conns    int
}

// StartMetaPeer starts one for mt; it stops in t.Cleanup.
func StartMetaPeer(t testing.TB, mt *metainfo.Torrent, cfg MetaPeerConfig) *MetaPeer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mp := &MetaPeer{Addr: netip.MustParseAddrPort(ln.Addr().String()), Silent: make(chan struct{}), Gone: make(chan struct{}), cfg: cfg, mt: mt}
	var wg sync.WaitGroup
	var cmu sync.Mutex
	var open []net.Conn
	t.Cleanup(func() {
		ln.Close()
		cmu.Lock()
		for _, c := range open {
			c.Close()
		}
		cmu.Unlock()
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
			mp.mu.Lock()
			mp.accepts++
			mp.mu.Unlock()
			cmu.Lock()
			open = append(open, c)
			cmu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				mp.serve(c)
			}()
		}
	}()
	return mp
}

// Accepts returns how many connections the peer accepted (our dials).
func (mp *MetaPeer) Accepts() int {
	mp.mu.Lock()
	defer mp.mu.Unlock()
	return mp.accepts
}

// MaxOutstanding returns the most metadata requests it held unanswered at once.
func (mp *MetaPeer) MaxOutstanding() int {
	mp.mu.Lock()
	defer mp.mu.Unlock()
	return mp.maxOut
}

// Connected returns the connections open now.
func (mp *MetaPeer) Connected() int {
	mp.mu.Lock()
	defer mp.mu.Unlock()
	return mp.conns
}

func (mp *MetaPeer) serve(c net.Conn) {
	mp.mu.Lock()
	mp.conns++
	mp.mu.Unlock()
	defer func() {
		mp.mu.Lock()
		mp.conns--
		mp.mu.Unlock()
		mp.goneOnce.Do(func() { close(mp.Gone) })
	}()
	raw := mp.mt.RawInfo
	size := int64(len(raw))
	announced := size
	if mp.cfg.MetadataSize != 0 {
		announced = mp.cfg.MetadataSize
	}
	r := wire.NewReader(c, wire.Limits{NumPieces: mp.mt.Info.NumPieces})
	if _, err := r.ReadHandshake(); err != nil {
		return
	}
	var wmu sync.Mutex
	w := bufio.NewWriter(c)
	send := func(ms ...wire.Message) bool {
		wmu.Lock()
		defer wmu.Unlock()
		for _, m := range ms {
			w.Write(wire.AppendMessage(nil, m))
		}
		return w.Flush() == nil
	}
	wmu.Lock()
	w.Write(wire.AppendHandshake(nil, wire.Handshake{Reserved: wire.Reserved{}.WithExtended().WithFast(), InfoHash: mp.mt.InfoHash, PeerID: bt.NewPeerID()}))
	wmu.Unlock()
	const ourID = 3
	ext := wire.Message{ID: wire.Extended, ExtID: wire.ExtHandshakeID,
		Payload: wire.AppendExtHandshake(nil, wire.ExtHandshake{M: map[string]uint8{wire.ExtMetadata: ourID}, MetadataSize: announced})}
	if !send(append(append([]wire.Message(nil), mp.cfg.Early...), ext)...) {
		return
	}
	var theirID uint8
	outstanding, answered := 0, 0
	var pending sync.WaitGroup
	defer pending.Wait()
	for {
		m, err := r.ReadMessage()
		if err != nil {
			return
		}
		switch {
		case m.Keepalive:
		case m.ID == wire.Interested && mp.cfg.Data != nil:
			send(wire.Message{ID: wire.Unchoke})
		case m.ID == wire.Request && mp.cfg.Data != nil:
			off := mp.mt.Info.PieceOffset(int(m.Index)) + int64(m.Begin)
			if off+int64(m.Length) <= int64(len(mp.cfg.Data)) {
				send(wire.Message{ID: wire.Piece, Index: m.Index, Begin: m.Begin, Payload: mp.cfg.Data[off : off+int64(m.Length)]})
			}
		case m.ID == wire.Extended && m.ExtID == wire.ExtHandshakeID:
			if h, err := wire.ParseExtHandshake(m.Payload); err == nil {
				theirID = h.M[wire.ExtMetadata]
			}
		case m.ID == wire.Extended && m.ExtID == ourID:
			mm, err := wire.ParseMetadataMsg(m.Payload)
			if err != nil || mm.Type != wire.MetadataRequest || theirID == 0 {
				continue
			}
			mp.mu.Lock()
			outstanding++
			mp.maxOut = max(mp.maxOut, outstanding)
			mp.mu.Unlock()
			if mp.cfg.Mute || mp.cfg.AnswerPieces > 0 && answered >= mp.cfg.AnswerPieces {
				mp.once.Do(func() { close(mp.Silent) })
				continue
			}
			answered++
			var reply wire.Message
			switch {
			case mp.cfg.Reject || mm.Piece < 0 || mm.Piece >= wire.MetadataPieces(size):
				reply = wire.Message{ID: wire.Extended, ExtID: theirID, Payload: wire.AppendMetadataMsg(nil, wire.MetadataMsg{
					Type: wire.MetadataReject, Piece: mm.Piece})}
			default:
				start := mm.Piece * wire.MetadataPieceLen
				reply = wire.Message{ID: wire.Extended, ExtID: theirID, Payload: wire.AppendMetadataMsg(nil, wire.MetadataMsg{
					Type: wire.MetadataData, Piece: mm.Piece, TotalSize: size, Data: raw[start : start+wire.MetadataPieceSize(size, mm.Piece)]})}
			}
			pending.Add(1)
			go func() {
				defer pending.Done()
				if mp.cfg.Delay > 0 {
					time.Sleep(mp.cfg.Delay)
				}
				// Counted answered before it is on the wire: the next
				// request may come as soon as the client reads it.
				mp.mu.Lock()
				outstanding--
				mp.mu.Unlock()
				send(reply)
			}()
		}
	}
}
