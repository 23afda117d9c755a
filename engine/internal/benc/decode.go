package benc

import (
	"fmt"

	"github.com/zeebo/bencode"
)

// RawMessage holds a value's raw bencode when decoding and is written out verbatim when
// encoding. It is zeebo's type, re-exported so that no other package imports zeebo.
type RawMessage = bencode.RawMessage

// Marshaler is implemented by types that encode themselves (zeebo's interface).
type Marshaler = bencode.Marshaler

// Unmarshaler is implemented by types that decode themselves (zeebo's interface). The
// bytes they get have passed the pre-scan.
type Unmarshaler = bencode.Unmarshaler

// Unmarshal scans data with the default limits and then decodes it into v (a non-nil
// pointer) with zeebo's rules: struct fields by `bencode:"key"` tag, unknown keys
// ignored, integers into int/uint/bool kinds, strings into string or []byte.
func Unmarshal(data []byte, v any) error {
	return UnmarshalLimits(data, v, Limits{})
}

// UnmarshalLimits is Unmarshal with explicit limits.
func UnmarshalLimits(data []byte, v any, lim Limits) error {
	if err := Scan(data, lim); err != nil {
		return err
	}
	return decode(data, v)
}

// DecodePrefix decodes the bencoded value at the start of data into v, with the default
// limits, and returns its length; what follows is left to the caller (BEP 9 ut_metadata
// data messages carry raw piece bytes after the dictionary).
func DecodePrefix(data []byte, v any) (n int, err error) {
	n, err = ScanPrefix(data, Limits{})
	if err != nil {
		return 0, err
	}
	if err := decode(data[:n], v); err != nil {
		return 0, err
	}
	return n, nil
}

// decode hands scanned bytes to zeebo. It turns a panic into an error: zeebo panics on
// some type mismatches (a list longer than a Go array target), and a message from a peer
// must not be able to crash the process.
func decode(data []byte, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("benc: decode into %T: %v", v, r)
		}
	}()
	if err := bencode.DecodeBytes(data, v); err != nil {
		return fmt.Errorf("benc: decode into %T: %w", v, err)
	}
	return nil
}
