package wire

import (
	"encoding/binary"
	"fmt"
	"math/bits"
)

// BEP 52 hash messages: a peer asks for a range of one layer of a file's merkle tree
// (the file named by its pieces root), with the uncle hashes that prove the range up
// to a given layer; the answer repeats the request and appends the hashes; a refusal
// repeats the request alone. The ids are outside idNames, so Parse frames them as it
// frames any unknown id (payload raw, bounded by the message cap); ParseHashRequest and
// ParseHashes read those payloads.
const (
	HashRequest ID = 21
	Hashes      ID = 22
	HashReject  ID = 23
)

// Bounds on a hash request.
const (
	// HashRequestLen is the payload length of a hash request or a hash reject.
	HashRequestLen = 32 + 4*4
	// MaxHashesPerRequest is the most base-layer hashes one request may ask for
	// (libtorrent's bound: a piece layer of 8192 pieces fits in 256 KiB).
	MaxHashesPerRequest = 8192
	// MaxTreeLayers bounds the layer numbers: a tree of 16 KiB blocks over the
	// largest torrent (128 TiB) is 33 layers high.
	MaxTreeLayers = 64
)

// HashReq is a hash request (or, echoed, the head of a hashes or hash reject message).
type HashReq struct {
	Root        [32]byte // the file's pieces root
	BaseLayer   uint32   // 0 is the 16 KiB blocks' layer
	Index       uint32   // first hash of the base layer, a multiple of Length
	Length      uint32   // how many base-layer hashes: a power of two, 1..MaxHashesPerRequest
	ProofLayers uint32   // uncle hashes wanted above the range, up to this many layers
}

// HashesMsg is a hashes message: the request it answers, then Length base-layer
// hashes and the uncle hashes, 32 bytes each.
type HashesMsg struct {
	HashReq
	Hashes []byte // aliases the parsed payload
}

// Check reports a request no honest peer sends.
func (r HashReq) Check() error {
	switch {
	case r.Length == 0 || r.Length > MaxHashesPerRequest || bits.OnesCount32(r.Length) != 1:
		return fmt.Errorf("wire: hash request of %d hashes: want a power of two in 1..%d", r.Length, MaxHashesPerRequest)
	case r.Index%r.Length != 0:
		return fmt.Errorf("wire: hash request at index %d is not a multiple of its length %d", r.Index, r.Length)
	case r.BaseLayer >= MaxTreeLayers || r.ProofLayers >= MaxTreeLayers:
		return fmt.Errorf("wire: hash request for layer %d with %d proof layers: over %d", r.BaseLayer, r.ProofLayers, MaxTreeLayers)
	}
	return nil
}

// ParseHashRequest reads the payload of a hash request or hash reject message.
func ParseHashRequest(p []byte) (HashReq, error) {
	if len(p) != HashRequestLen {
		return HashReq{}, fmt.Errorf("wire: hash request payload of %d bytes, want %d", len(p), HashRequestLen)
	}
	r := HashReq{
		Root:        [32]byte(p[:32]),
		BaseLayer:   binary.BigEndian.Uint32(p[32:]),
		Index:       binary.BigEndian.Uint32(p[36:]),
		Length:      binary.BigEndian.Uint32(p[40:]),
		ProofLayers: binary.BigEndian.Uint32(p[44:]),
	}
	return r, r.Check()
}

// ParseHashes reads the payload of a hashes message: a valid request, then at least its
// Length hashes and at most one uncle per proof layer more.
func ParseHashes(p []byte) (HashesMsg, error) {
	if len(p) < HashRequestLen {
		return HashesMsg{}, fmt.Errorf("wire: hashes payload of %d bytes, shorter than its %d-byte head", len(p), HashRequestLen)
	}
	r, err := ParseHashRequest(p[:HashRequestLen])
	if err != nil {
		return HashesMsg{}, err
	}
	h := p[HashRequestLen:]
	n := len(h) / 32
	switch {
	case len(h)%32 != 0:
		return HashesMsg{}, fmt.Errorf("wire: hashes: %d bytes of hashes is not a multiple of 32", len(h))
	case n < int(r.Length) || n > int(r.Length)+int(r.ProofLayers):
		return HashesMsg{}, fmt.Errorf("wire: hashes: %d hashes for %d asked with %d proof layers", n, r.Length, r.ProofLayers)
	}
	return HashesMsg{HashReq: r, Hashes: h}, nil
}

// AppendPayload appends the request's 48-byte payload.
func (r HashReq) AppendPayload(dst []byte) []byte {
	dst = append(dst, r.Root[:]...)
	dst = binary.BigEndian.AppendUint32(dst, r.BaseLayer)
	dst = binary.BigEndian.AppendUint32(dst, r.Index)
	dst = binary.BigEndian.AppendUint32(dst, r.Length)
	return binary.BigEndian.AppendUint32(dst, r.ProofLayers)
}

// Message returns r as a message of id HashRequest or HashReject.
func (r HashReq) Message(id ID) Message {
	return Message{ID: id, Payload: r.AppendPayload(nil)}
}

// Message returns h as a hashes message.
func (h HashesMsg) Message() Message {
	return Message{ID: Hashes, Payload: append(h.AppendPayload(nil), h.Hashes...)}
}

// IsHashMessage reports the BEP 52 hash message ids, which a connection passes on
// although Known is false for them.
func IsHashMessage(id ID) bool { return id == HashRequest || id == Hashes || id == HashReject }
