package engine

import (
	"errors"
	"time"

	"github.com/hyperblow/hyperblow/engine/wire"
)

// Our BEP 10 extended message ids: peers send us ut_metadata messages with this
// id. (Ids are chosen by the receiver; each peer tells us its own in M.)
const ourMetadataID = 1

// clientName is what we announce in the extension handshake (v).
const clientName = "Hyperblow 0.1"

// sendExtHandshake sends our BEP 10 handshake: the extensions we speak, our
// listen port, the request queue we accept, the metadata size (BEP 9) so peers
// can fetch the info dictionary from us, and BEP 21 upload_only when we do not
// intend to complete the torrent (see wantUploadOnly). It is sent again when
// upload_only changes for the peer (BEP 10 allows later handshakes).
//
// Before the info (a magnet) it offers ut_metadata only, so that peers can
// send us the metadata, and no metadata_size; gotMetadata sends it again with
// the size and, unless the torrent is private, ut_pex.
func (t *Torrent) sendExtHandshake(p *peer) {
	m := map[string]uint8{wire.ExtMetadata: ourMetadataID}
	h := wire.ExtHandshake{M: m, V: clientName, ReqQ: maxIncomingRequests, Port: t.c.ListenAddr().Port()}
	if t.info != nil {
		if !t.info.Private {
			m[wire.ExtPex] = ourPexID
		}
		h.MetadataSize = int64(len(t.mt.RawInfo))
		h.UploadOnly = t.wantUploadOnly(p)
	}
	p.extSent, p.sentUploadOnly = true, h.UploadOnly
	p.conn.Send(wire.Message{ID: wire.Extended, ExtID: wire.ExtHandshakeID, Payload: wire.AppendExtHandshake(nil, h)})
}

// wantUploadOnly says whether we announce BEP 21 upload_only to peer p. A seed
// (or TorrentOptions.UploadOnly) announces it to everyone. A mount that fetches
// only what is read (--fetch lazy or file) does not intend to complete the
// torrent, so it is a partial seed, and says so to every peer that is not a
// seed itself. Not to seeds: a seed drops a connection on which both sides are
// upload-only (libtorrent does, measured), and the seeds are what a reader's
// next read needs at once; a reconnect would cost it seconds.
func (t *Torrent) wantUploadOnly(p *peer) bool {
	if t.opts.UploadOnly {
		return true
	}
	if t.c.cfg.Fetch == FetchAll || t.have.Count() == t.info.NumPieces {
		return false
	}
	return p.gotBitfield && p.bf.Count() < t.info.NumPieces
}

// updateUploadOnly re-announces upload_only to p when what we want to say has
// changed since our last extension handshake: the peer's pieces are known now,
// or it became a seed.
func (t *Torrent) updateUploadOnly(p *peer) {
	if t.info == nil || !p.extSent || p.closing || t.wantUploadOnly(p) == p.sentUploadOnly {
		return
	}
	t.sendExtHandshake(p)
}

// maxIncomingRequests is the request queue we accept from one peer (reqq).
// Some clients (Transmission) top up their queue about once a second, so this
// bounds their rate from us to reqq blocks a second: 4000 blocks is 64 MiB/s.
// Requests wait as requests (peer.upPending); only upQueueBytes of them are
// read into the send queue at a time, so what one peer makes us hold is small.
const maxIncomingRequests = 4000

func (t *Torrent) handleExtended(p *peer, m wire.Message, now time.Time) error {
	switch m.ExtID {
	case wire.ExtHandshakeID:
		h, err := wire.ParseExtHandshake(m.Payload)
		if err != nil {
			return err
		}
		p.ext = h
		t.claimListenAddr(p)
		if h.ReqQ > 0 {
			p.reqq = h.ReqQ
		}
		t.log.Debug("extension handshake", "addr", p.addr, "client", h.V, "reqq", h.ReqQ, "upload_only", h.UploadOnly)
		if t.meta != nil {
			t.metaExtHandshake(p, now) // magnet.go
		}
		return nil
	case ourMetadataID:
		if t.info == nil {
			return t.metaMessage(p, m.Payload) // magnet.go: what we fetch
		}
		return t.handleMetadataMsg(p, m.Payload)
	case ourPexID:
		if t.info == nil {
			return nil // not offered yet
		}
		return t.handlePex(p, m.Payload, now)
	}
	return nil // an extension we did not offer: ignored
}

// handleMetadataMsg serves BEP 9 requests for our info dictionary.
func (t *Torrent) handleMetadataMsg(p *peer, payload []byte) error {
	mm, err := wire.ParseMetadataMsg(payload)
	if errors.Is(err, wire.ErrUnknownMetadataType) {
		return nil // BEP 9: ignore
	}
	if err != nil {
		return err
	}
	id, ok := p.ext.M[wire.ExtMetadata]
	if !ok || id == 0 || mm.Type != wire.MetadataRequest {
		return nil
	}
	raw := t.mt.RawInfo
	reply := wire.MetadataMsg{Type: wire.MetadataReject, Piece: mm.Piece}
	if mm.Piece < wire.MetadataPieces(int64(len(raw))) {
		size := wire.MetadataPieceSize(int64(len(raw)), mm.Piece)
		start := mm.Piece * wire.MetadataPieceLen
		reply = wire.MetadataMsg{Type: wire.MetadataData, Piece: mm.Piece, TotalSize: int64(len(raw)), Data: raw[start : start+size]}
	}
	p.conn.Send(wire.Message{ID: wire.Extended, ExtID: id, Payload: wire.AppendMetadataMsg(nil, reply)})
	return nil
}
