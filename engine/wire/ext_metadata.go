package wire

import (
	"errors"
	"fmt"

	"github.com/hyperblow/hyperblow/engine/internal/benc"
)

// BEP 9 limits (LIMITS.md: metadata_size 1 B..16 MiB, each ut_metadata message at
// most 16 KiB plus its header).
const (
	// MetadataPieceLen is the size of every metadata piece but the last (BEP 9).
	MetadataPieceLen = 16 << 10
	// MaxMetadataSize is the largest info dictionary fetched from peers (as
	// anacrolix/torrent; metainfo.MaxInfoSize is the same limit).
	MaxMetadataSize = 16 << 20
	// MaxMetadataPieces is the number of pieces of a MaxMetadataSize info dictionary.
	MaxMetadataPieces = MaxMetadataSize / MetadataPieceLen
	// MaxMetadataMsgLen caps a ut_metadata payload: a 16 KiB piece and 1 KiB for the
	// dictionary in front of it (libtorrent allows 17 KiB too).
	MaxMetadataMsgLen = MetadataPieceLen + 1<<10
)

// ut_metadata message types (BEP 9 msg_type).
const (
	MetadataRequest = 0
	MetadataData    = 1
	MetadataReject  = 2
)

// ErrUnknownMetadataType is returned by [ParseMetadataMsg] for a msg_type other than
// request, data or reject. BEP 9 says to ignore such messages, so the caller should
// drop the message, not the peer; it does not match [ErrBadExtPayload].
var ErrUnknownMetadataType = errors.New("wire: ut_metadata: unknown msg_type")

// MetadataMsg is one BEP 9 ut_metadata message.
type MetadataMsg struct {
	Type  int // MetadataRequest, MetadataData or MetadataReject
	Piece int // 0..MaxMetadataPieces-1
	// TotalSize is the size of the whole info dictionary; data messages only.
	TotalSize int64
	// Data is the piece; data messages only. After parsing it aliases the payload.
	Data []byte
}

type metadataDict struct {
	MsgType   int64 `bencode:"msg_type"`
	Piece     int64 `bencode:"piece"`
	TotalSize int64 `bencode:"total_size,omitempty"`
}

// AppendMetadataMsg appends the payload of m to dst: a bencoded dictionary and, for a
// data message, the piece bytes after it. total_size is written for data messages only.
func AppendMetadataMsg(dst []byte, m MetadataMsg) []byte {
	d := metadataDict{MsgType: int64(m.Type), Piece: int64(m.Piece)}
	if m.Type == MetadataData {
		d.TotalSize = m.TotalSize
	}
	dst = mustMarshal(dst, d)
	if m.Type == MetadataData {
		dst = append(dst, m.Data...)
	}
	return dst
}

// ParseMetadataMsg decodes a ut_metadata payload. The payload may be at most
// MaxMetadataMsgLen bytes; msg_type and piece are required integers, piece in
// 0..MaxMetadataPieces-1. A data message needs total_size in 1..MaxMetadataSize, a
// piece inside that size and exactly that piece's bytes after the dictionary
// (MetadataPieceLen, less for the last piece); request and reject messages have
// nothing after it. Other keys are ignored. Whether total_size matches the peer's
// metadata_size is for the caller to check.
func ParseMetadataMsg(payload []byte) (MetadataMsg, error) {
	const ext = "ut_metadata"
	var m MetadataMsg
	if len(payload) > MaxMetadataMsgLen {
		return m, extErrorf(ext, "message of %d bytes, over the limit of %d", len(payload), MaxMetadataMsgLen)
	}
	v, n, err := benc.ParsePrefix(payload, benc.Limits{MaxSize: MaxMetadataMsgLen})
	if err != nil {
		return m, &extError{ext: ext, msg: "bad bencode", err: err}
	}
	if v.Kind() != benc.Dict {
		return m, extErrorf(ext, "want a dictionary, got %s", v.Kind())
	}
	var typ, piece, total benc.Value
	for k, val := range v.Entries() {
		switch string(k) {
		case "msg_type":
			typ = val
		case "piece":
			piece = val
		case "total_size":
			total = val
		}
	}
	t, ok := typ.Int()
	if !ok {
		return m, extErrorf(ext, "msg_type missing or not an integer")
	}
	if t < MetadataRequest || t > MetadataReject {
		return m, fmt.Errorf("%w %d", ErrUnknownMetadataType, t)
	}
	p, ok := piece.Int()
	if !ok {
		return m, extErrorf(ext, "piece missing or not an integer")
	}
	if p < 0 || p >= MaxMetadataPieces {
		return m, extErrorf(ext, "piece %d is not in 0..%d", p, MaxMetadataPieces-1)
	}
	m.Type, m.Piece = int(t), int(p)
	rest := payload[n:]
	if m.Type != MetadataData {
		if len(rest) != 0 {
			return MetadataMsg{}, extErrorf(ext, "%d bytes after a message without data", len(rest))
		}
		return m, nil
	}
	size, ok := total.Int()
	if !ok {
		return MetadataMsg{}, extErrorf(ext, "data message without an integer total_size")
	}
	if size < 1 || size > MaxMetadataSize {
		return MetadataMsg{}, extErrorf(ext, "total_size %d is not in 1..%d", size, MaxMetadataSize)
	}
	if np := MetadataPieces(size); m.Piece >= np {
		return MetadataMsg{}, extErrorf(ext, "piece %d is past the end of %d bytes (%d pieces)", m.Piece, size, np)
	}
	if want := MetadataPieceSize(size, m.Piece); len(rest) != want {
		return MetadataMsg{}, extErrorf(ext, "piece %d of %d bytes has %d bytes of data, want %d", m.Piece, size, len(rest), want)
	}
	m.TotalSize, m.Data = size, rest
	return m, nil
}

// MetadataPieces returns the number of BEP 9 pieces of an info dictionary of size
// bytes (size in 1..MaxMetadataSize).
func MetadataPieces(size int64) int {
	return int((size + MetadataPieceLen - 1) / MetadataPieceLen)
}

// MetadataPieceSize returns the length of piece of an info dictionary of size bytes:
// MetadataPieceLen except for a shorter last piece.
func MetadataPieceSize(size int64, piece int) int {
	return int(min(size-int64(piece)*MetadataPieceLen, MetadataPieceLen))
}
