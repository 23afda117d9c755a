package benc

import (
	"runtime"
	"strings"
	"testing"
)

// allocated returns the bytes f allocates. Tests that use it must not run in parallel.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Bounds on what decoding may allocate. zeebo builds Go maps and slices for `any`
// targets and for skipped keys (measured worst case ~70 bytes per input byte, `de`
// repeated); Value navigation allocates only the scanner's small stack.
const (
	slack          = 64 << 10
	zeeboPerByte   = 128
	parsePerByte   = 8
	rejectedAllocs = slack
)

func TestAllocRejectedInputs(t *testing.T) {
	for name, in := range map[string]string{
		"12-byte 2 GB string": "2000000000:x",
		"11-byte 2 GiB":       "2147483647:",
		"nested lists":        strings.Repeat("l", 100_000),
		"open dicts":          strings.Repeat("d1:a", 50_000),
		"long length":         strings.Repeat("9", 1_000_000) + ":",
		"long integer":        "i" + strings.Repeat("9", 1_000_000) + "e",
		"many tokens":         "l" + strings.Repeat("i1e", DefaultMaxTokens) + "e",
	} {
		data := []byte(in)
		var v any
		var s announce
		got := allocated(func() {
			if err := Unmarshal(data, &v); err == nil {
				t.Errorf("%s: accepted", name)
			}
			if err := Unmarshal(data, &s); err == nil {
				t.Errorf("%s: accepted into struct", name)
			}
			if _, err := Parse(data, Limits{}); err == nil {
				t.Errorf("%s: parsed", name)
			}
		})
		if got > rejectedAllocs {
			t.Errorf("%s (%d bytes): rejecting allocated %d bytes, want <= %d", name, len(data), got, rejectedAllocs)
		}
	}
}

func TestAllocAcceptedAdversarial(t *testing.T) {
	const n = 100_000
	nested := strings.Repeat("l", 63) + strings.Repeat("e", 63)
	var unsorted strings.Builder
	unsorted.WriteString("d")
	for i := n; i > 0; i-- {
		k := itoa(i)
		unsorted.WriteString(itoa(len(k)) + ":" + k + "0:")
	}
	unsorted.WriteString("e")
	for name, in := range map[string]string{
		"empty dicts":           "l" + strings.Repeat("de", n) + "e",
		"empty lists":           "l" + strings.Repeat("le", n) + "e",
		"empty strings":         "l" + strings.Repeat("0:", n) + "e",
		"small ints":            "l" + strings.Repeat("i1e", n) + "e",
		"big ints":              "l" + strings.Repeat("i-9223372036854775808e", n/10) + "e",
		"nested max depth":      "l" + strings.Repeat(nested, n/200) + "e",
		"skipped key of dicts":  "d7:unknownl" + strings.Repeat("de", n) + "ee",
		"skipped key of lists":  "d7:unknownl" + strings.Repeat("le", n) + "ee",
		"dict of one-key dicts": "l" + strings.Repeat("d0:dee", n) + "e",
		"unsorted big dict":     unsorted.String(),
	} {
		data := []byte(in)
		if err := Scan(data, Limits{}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		zeeboLimit := uint64(zeeboPerByte*len(data) + slack)
		var v any
		if got := allocated(func() { _ = Unmarshal(data, &v) }); got > zeeboLimit {
			t.Errorf("%s (%d bytes): Unmarshal into any allocated %d bytes (%.0f/byte), want <= %d", name, len(data), got, float64(got)/float64(len(data)), zeeboLimit)
		}
		var s announce
		if got := allocated(func() { _ = Unmarshal(data, &s) }); got > zeeboLimit {
			t.Errorf("%s (%d bytes): Unmarshal into struct allocated %d bytes, want <= %d", name, len(data), got, zeeboLimit)
		}
		parseLimit := uint64(parsePerByte*len(data) + slack)
		if got := allocated(func() { walk(t, data) }); got > parseLimit {
			t.Errorf("%s (%d bytes): Parse and full walk allocated %d bytes, want <= %d", name, len(data), got, parseLimit)
		}
	}
}

// walk parses data and visits every value without recursion limits mattering (depth is
// at most 64).
func walk(t *testing.T, data []byte) {
	v, err := Parse(data, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var visit func(Value)
	visit = func(v Value) {
		switch v.Kind() {
		case List:
			for it := range v.Items() {
				visit(it)
			}
		case Dict:
			for _, it := range v.Entries() {
				visit(it)
			}
		case Int:
			v.Int()
		case String:
			v.Bytes()
		}
	}
	visit(v)
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
