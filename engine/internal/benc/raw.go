package benc

import "fmt"

// RawValue returns the exact bytes of the value of key in the dictionary data, which
// is scanned with the default limits first. The result aliases data. metainfo uses it
// for the raw info dictionary: the info-hash must be computed over those bytes as they
// are, since decoding and re-encoding would sort keys and drop unknown ones.
func RawValue(data []byte, key string) ([]byte, error) {
	v, err := Parse(data, Limits{})
	if err != nil {
		return nil, err
	}
	if v.Kind() != Dict {
		return nil, fmt.Errorf("benc: want a dictionary, got %s", v.Kind())
	}
	val, ok := v.Get(key)
	if !ok {
		return nil, fmt.Errorf("benc: key %q: %w", key, ErrNoKey)
	}
	return val.Raw(), nil
}
