package benc

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func FuzzUnmarshal(f *testing.F) {
	for _, s := range []string{
		"i0e", "i-1e", "0:", "4:spam", "le", "de", "li1e4:spame", "d3:cow3:moo4:spam4:eggse",
		"d1:bi1e1:ai2ee", "d1:ai1e1:ai2ee", "i00e", "i-0e", "i+5e", "ie", "i1ei2e",
		"2000000000:x", "2147483647:", "01:a", strings.Repeat("l", 1000), strings.Repeat("d1:a", 200),
		"d8:announce9:udp://x:14:infod6:lengthi5e4:name1:a12:piece lengthi16384e6:pieces20:aaaaaaaaaaaaaaaaaaaaee",
		"d8:msg_typei1e5:piecei0eeRAW", "d4:infod1:bi1e1:ai1eee",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		scanErr := Scan(data, Limits{})
		if scanErr != nil {
			var e *Error
			if !errors.As(scanErr, &e) || e.Offset < 0 || e.Offset > len(data) {
				t.Fatalf("Scan error %v is not an *Error with an offset inside the input", scanErr)
			}
		}
		var v any
		var decodeErr error
		got := allocated(func() { decodeErr = Unmarshal(data, &v) })
		if limit := uint64(zeeboPerByte*len(data) + slack); got > limit {
			t.Fatalf("Unmarshal of %d bytes allocated %d, want <= %d", len(data), got, limit)
		}
		if (scanErr == nil) != (decodeErr == nil) {
			t.Fatalf("Scan = %v but Unmarshal = %v", scanErr, decodeErr)
		}
		var s announce
		_ = Unmarshal(data, &s) // must not panic

		pv, err := Parse(data, Limits{})
		if (err == nil) != (scanErr == nil) {
			t.Fatalf("Parse = %v, Scan = %v", err, scanErr)
		}
		if scanErr != nil {
			return
		}
		walk(t, data)
		if !bytes.Equal(pv.Raw(), data) {
			t.Fatal("Raw differs from input")
		}
		if n, err := ScanPrefix(append(bytes.Clone(data), "3:xyz"...), Limits{}); err != nil || n != len(data) {
			t.Fatalf("ScanPrefix = %d, %v; want %d", n, err, len(data))
		}

		// Round trip: what decodes must encode, and decode again to the same thing;
		// canonical input must encode to itself.
		out, err := Marshal(v)
		if err != nil {
			t.Fatalf("Marshal of decoded value: %v", err)
		}
		var v2 any
		if err := Unmarshal(out, &v2); err != nil || !reflect.DeepEqual(v, v2) {
			t.Fatalf("round trip: %v, %#v != %#v", err, v, v2)
		}
		if Scan(data, Limits{SortedKeys: true}) == nil && !bytes.Equal(out, data) {
			t.Fatalf("canonical input %q encoded as %q", data, out)
		}
	})
}
