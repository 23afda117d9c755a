package benc

import (
	"fmt"
	"math"

	"github.com/zeebo/bencode"
)

// marshalLimits checks Marshal's output for well-formedness only: our own output may
// be large (a .torrent with many files) but must never be deeper than a peer accepts.
var marshalLimits = Limits{MaxSize: math.MaxInt, MaxTokens: math.MaxInt}

// Marshal encodes v with zeebo: dictionaries (maps and structs) with sorted keys,
// `bencode:"key,omitempty"` tags, []byte as strings, bool as i0e/i1e, nil pointers
// omitted. The result is scanned before it is returned, so a type zeebo encodes wrongly
// (a map with non-string keys) is an error rather than bad bytes on the wire. Note that
// zeebo encodes byte arrays ([20]byte) as lists of integers: use []byte for strings.
// zeebo panics on some values (a nil interface); Marshal returns an error instead.
func Marshal(v any) (b []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("benc: encode %T: %v", v, r)
		}
	}()
	b, err = bencode.EncodeBytes(v)
	if err != nil {
		return nil, fmt.Errorf("benc: encode %T: %w", v, err)
	}
	if err := Scan(b, marshalLimits); err != nil {
		return nil, fmt.Errorf("benc: encode %T: produced invalid bencode: %w", v, err)
	}
	return b, nil
}
