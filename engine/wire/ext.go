package wire

import (
	"errors"
	"fmt"

	"github.com/hyperblow/hyperblow/engine/internal/benc"
)

// Extension payloads (BEP 10, 9, 11).
//
// An EXTENDED message carries an extension id and an opaque payload ([Message.ExtID],
// [Message.Payload]). The functions in the ext*.go files encode and decode those
// payloads and nothing else: the caller wraps them in Message{ID: Extended, ExtID: id}
// and keeps track of which id the peer assigned to which extension.
//
//   - id 0 is the BEP 10 extension handshake: [ExtHandshake].
//   - ut_metadata (BEP 9) fetches the info dictionary of a magnet link in 16 KiB
//     pieces: [MetadataMsg], and [MetadataAssembler] to put the pieces together and
//     check them against the info-hash.
//   - ut_pex (BEP 11) exchanges peer addresses: [PexMsg].
//
// Every parser reads its input with benc.Parse (no allocation for keys it skips) after
// checking the payload against a size cap, and allocates at most a small multiple of
// its input. Unknown keys are ignored. A known key of the wrong type is ignored too, as
// real clients do, unless the key is required (ut_metadata's msg_type and piece); a
// value of the right type that is out of range is an error when accepting it would be
// unsafe (a negative or huge metadata_size, a piece index past 16 MiB) and is dropped
// otherwise (a port of 70000). All such errors match [ErrBadExtPayload].

// Extension names that Hyperblow speaks, as they appear in the handshake's m dictionary.
const (
	ExtMetadata = "ut_metadata" // BEP 9
	ExtPex      = "ut_pex"      // BEP 11
)

// ExtHandshakeID is the extended message id of the BEP 10 handshake.
const ExtHandshakeID = 0

// ErrBadExtPayload is matched (errors.Is) by every error from the extension payload
// parsers except [ErrUnknownMetadataType]: the peer sent something malformed or over a
// limit, which is reason enough to drop it.
var ErrBadExtPayload = errors.New("malformed extension payload")

// extError is a parse error in the payload of extension ext.
type extError struct {
	ext string // "extension handshake", "ut_metadata", "ut_pex"
	msg string
	err error // a benc error, or nil
}

func (e *extError) Error() string {
	if e.err != nil {
		return "wire: " + e.ext + ": " + e.msg + ": " + e.err.Error()
	}
	return "wire: " + e.ext + ": " + e.msg
}

// Unwrap makes errors.Is match ErrBadExtPayload and the benc error, if any.
func (e *extError) Unwrap() []error {
	if e.err != nil {
		return []error{ErrBadExtPayload, e.err}
	}
	return []error{ErrBadExtPayload}
}

func extErrorf(ext, format string, args ...any) error {
	return &extError{ext: ext, msg: fmt.Sprintf(format, args...)}
}

// parseExtDict checks payload against max and parses it as one bencoded dictionary.
func parseExtDict(ext string, payload []byte, max int) (benc.Value, error) {
	if len(payload) > max {
		return benc.Value{}, extErrorf(ext, "payload of %d bytes, over the limit of %d", len(payload), max)
	}
	v, err := benc.Parse(payload, benc.Limits{MaxSize: max})
	if err != nil {
		return v, &extError{ext: ext, msg: "bad bencode", err: err}
	}
	if v.Kind() != benc.Dict {
		return v, extErrorf(ext, "want a dictionary, got %s", v.Kind())
	}
	return v, nil
}

// mustMarshal encodes one of this package's own payload structs. Their field types are
// all ones benc.Marshal encodes, so an error is a bug here, not bad input.
func mustMarshal(dst []byte, v any) []byte {
	b, err := benc.Marshal(v)
	if err != nil {
		panic("wire: encoding an extension payload: " + err.Error())
	}
	return append(dst, b...)
}
