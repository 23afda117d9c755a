package benc

import "iter"

// Kind is the type of a bencoded value.
type Kind uint8

// The four bencode types, and Invalid for the zero Value.
const (
	Invalid Kind = iota
	Int
	String
	List
	Dict
)

// String names the kind for error messages ("want integer, got string").
func (k Kind) String() string {
	switch k {
	case Int:
		return "integer"
	case String:
		return "string"
	case List:
		return "list"
	case Dict:
		return "dictionary"
	}
	return "nothing"
}

// Value is one validated bencoded value: exactly its raw bytes, which alias the input.
// Values come only from Parse and ParsePrefix (or from navigating another Value), so
// their methods never meet malformed bytes and never fail. Navigating allocates
// nothing, which makes Value the cheap way to read a large untrusted input: keys a
// caller does not ask for are skipped, not decoded.
type Value struct{ raw []byte }

// Parse scans data within lim and returns it as a Value.
func Parse(data []byte, lim Limits) (Value, error) {
	if err := Scan(data, lim); err != nil {
		return Value{}, err
	}
	return Value{raw: data[:len(data):len(data)]}, nil
}

// ParsePrefix scans the value at the start of data (see ScanPrefix) and returns it and
// its length.
func ParsePrefix(data []byte, lim Limits) (Value, int, error) {
	n, err := ScanPrefix(data, lim)
	if err != nil {
		return Value{}, 0, err
	}
	return Value{raw: data[:n:n]}, n, nil
}

// Raw returns the exact input bytes of the value, for hashing (the info-hash is the
// SHA-1 of the raw info dictionary, never of a re-encoding). It aliases the input.
func (v Value) Raw() []byte { return v.raw }

// Kind reports the value's type; the zero Value is Invalid.
func (v Value) Kind() Kind {
	if len(v.raw) == 0 {
		return Invalid
	}
	switch c := v.raw[0]; {
	case c == 'i':
		return Int
	case c == 'l':
		return List
	case c == 'd':
		return Dict
	default:
		return String
	}
}

// Int returns the value of an integer; ok is false for other kinds.
func (v Value) Int() (n int64, ok bool) {
	if v.Kind() != Int {
		return 0, false
	}
	return parseInt(v.raw[1 : len(v.raw)-1]), true
}

// Bytes returns the contents of a string, aliasing the input; ok is false for other
// kinds.
func (v Value) Bytes() (b []byte, ok bool) {
	if v.Kind() != String {
		return nil, false
	}
	start, stop := parseLen(v.raw, 0)
	return v.raw[start:stop:stop], true
}

// Items yields the elements of a list in order; nothing for other kinds.
func (v Value) Items() iter.Seq[Value] {
	return func(yield func(Value) bool) {
		if v.Kind() != List {
			return
		}
		for i := 1; v.raw[i] != 'e'; {
			j := skip(v.raw, i)
			if !yield(Value{raw: v.raw[i:j:j]}) {
				return
			}
			i = j
		}
	}
}

// Entries yields the keys and values of a dictionary in input order (which may be
// unsorted; keys never repeat); nothing for other kinds. Keys alias the input.
func (v Value) Entries() iter.Seq2[[]byte, Value] {
	return func(yield func([]byte, Value) bool) {
		if v.Kind() != Dict {
			return
		}
		for i := 1; v.raw[i] != 'e'; {
			start, stop := parseLen(v.raw, i)
			j := skip(v.raw, stop)
			if !yield(v.raw[start:stop:stop], Value{raw: v.raw[stop:j:j]}) {
				return
			}
			i = j
		}
	}
}

// Get returns the value of key in a dictionary; ok is false if v is not a dictionary
// or lacks the key. It is a linear search: to read many keys, range over Entries.
func (v Value) Get(key string) (val Value, ok bool) {
	for k, val := range v.Entries() {
		if string(k) == key {
			return val, true
		}
	}
	return Value{}, false
}

// Len returns the number of elements of a list or entries of a dictionary, and 0 for
// other kinds. It walks the value, so callers can check a count before allocating.
func (v Value) Len() int {
	n := 0
	switch v.Kind() {
	case List:
		for range v.Items() {
			n++
		}
	case Dict:
		for range v.Entries() {
			n++
		}
	}
	return n
}

// skip returns the offset just after the value starting at raw[i]. raw has been
// scanned, so skip needs no checks; it counts depth instead of recursing.
func skip(raw []byte, i int) int {
	depth := 0
	for {
		switch c := raw[i]; c {
		case 'i':
			for raw[i] != 'e' {
				i++
			}
			i++
		case 'l', 'd':
			depth++
			i++
			continue
		case 'e':
			depth--
			i++
		default:
			_, i = parseLen(raw, i)
		}
		if depth == 0 {
			return i
		}
	}
}
