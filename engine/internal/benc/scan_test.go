package benc

import (
	"errors"
	"strings"
	"testing"
)

func TestScanAccepts(t *testing.T) {
	for _, in := range []string{
		"i0e", "i7e", "i-7e", "i9223372036854775807e", "i-9223372036854775808e",
		"0:", "3:abc", "le", "de", "li1e3:abce", "d1:ai1e1:bi2ee",
		"d1:bi1e1:ai2ee",        // unsorted keys are tolerated
		"d0:i1e1:ai2ee",         // empty key
		"d1:ad1:bl1:xeee",       // nesting
		"d2:bbi1e1:ai2e1:ci3ee", // unsorted, no duplicates
		"d1:a1:51:b1:6e",        // a key after a string ending in a digit
		strings.Repeat("l", 64) + strings.Repeat("e", 64),
	} {
		if err := Scan([]byte(in), Limits{}); err != nil {
			t.Errorf("Scan(%q) = %v, want nil", in, err)
		}
	}
}

func TestScanRejects(t *testing.T) {
	deep := strings.Repeat("l", 65) + strings.Repeat("e", 65)
	for _, tc := range []struct {
		in     string
		lim    Limits
		offset int
		msg    string
		kind   error
	}{
		{"", Limits{}, 0, "unexpected end of input, want a value", ErrSyntax},
		{"2000000000:x", Limits{}, 0, "string length 2000000000 exceeds 1 remaining bytes", ErrSyntax},
		{"d1:ai1e1:b2000000000:abce", Limits{}, 10, "string length 2000000000 exceeds 4 remaining bytes", ErrSyntax},
		{"2147483647:", Limits{}, 0, "string length 2147483647 exceeds 0 remaining bytes", ErrSyntax},
		{"99999999999999999999999:", Limits{}, 0, "more than 18 digits", ErrSyntax},
		{"01:a", Limits{}, 0, "leading zero", ErrSyntax},
		{"-1:a", Limits{}, 0, "unexpected byte '-'", ErrSyntax},
		{"3abc", Limits{}, 1, "unexpected byte 'a', want ':'", ErrSyntax},
		{"3", Limits{}, 1, "unexpected end of input in string length", ErrSyntax},
		{"i00e", Limits{}, 0, "leading zero", ErrSyntax},
		{"i01e", Limits{}, 0, "leading zero", ErrSyntax},
		{"i-0e", Limits{}, 0, "negative zero", ErrSyntax},
		{"i-01e", Limits{}, 0, "leading zero", ErrSyntax},
		{"i+5e", Limits{}, 1, "unexpected byte '+'", ErrSyntax},
		{"ie", Limits{}, 0, "no digits", ErrSyntax},
		{"i-e", Limits{}, 0, "no digits", ErrSyntax},
		{"i1.5e", Limits{}, 2, "unexpected byte '.'", ErrSyntax},
		{"i 1e", Limits{}, 1, "unexpected byte ' '", ErrSyntax},
		{"i12", Limits{}, 3, "unexpected end of input in integer", ErrSyntax},
		{"i9223372036854775808e", Limits{}, 0, "overflows int64", ErrSyntax},
		{"i-9223372036854775809e", Limits{}, 0, "overflows int64", ErrSyntax},
		{"i99999999999999999999999e", Limits{}, 0, "overflows int64", ErrSyntax},
		{"i1ei2e", Limits{}, 3, "3 trailing bytes", ErrSyntax},
		{"dei", Limits{}, 2, "1 trailing bytes", ErrSyntax},
		{"l", Limits{}, 1, "end of input in list opened at offset 0", ErrSyntax},
		{"d1:a", Limits{}, 4, "end of input in dictionary opened at offset 0", ErrSyntax},
		{"d1:ae", Limits{}, 4, `dictionary key "a" has no value`, ErrSyntax},
		{"di1ei2ee", Limits{}, 1, "key must be a string, got 'i'", ErrSyntax},
		{"dlei1ee", Limits{}, 1, "key must be a string, got 'l'", ErrSyntax},
		{"d1:ai1e1:ai2ee", Limits{}, 7, `duplicate dictionary key "a"`, ErrSyntax},
		{"d1:bi1e1:ai2e1:bi3ee", Limits{}, 13, `duplicate dictionary key "b"`, ErrSyntax},
		{"d1:ai1e1:ci1e1:bi1e1:ai1ee", Limits{}, 19, `duplicate dictionary key "a"`, ErrSyntax},
		{"d1:bd1:xi1e1:wi1e1:xi1ee1:ai2ee", Limits{}, 17, `duplicate dictionary key "x"`, ErrSyntax},
		{"d1:bd1:yi1e1:xi1ee1:ad1:ai1e1:ai1eee", Limits{}, 28, `duplicate dictionary key "a"`, ErrSyntax},
		{"d1:bi1e1:ai2ee", Limits{SortedKeys: true}, 7, `key "a" is out of order`, ErrSyntax},
		{"e", Limits{}, 0, "unexpected byte 'e'", ErrSyntax},
		{"x", Limits{}, 0, "unexpected byte 'x'", ErrSyntax},
		{"l\x00e", Limits{}, 1, `unexpected byte '\x00'`, ErrSyntax},
		{deep, Limits{}, 64, "nesting deeper than 64", ErrLimit},
		{"lllleeee", Limits{MaxDepth: 3}, 3, "nesting deeper than 3", ErrLimit},
		{"li1ei2ei3ee", Limits{MaxTokens: 3}, 7, "more than 3 tokens", ErrLimit},
		{"d1:ai1ee", Limits{MaxTokens: 2}, 4, "more than 2 tokens", ErrLimit},
		{"4:abcd", Limits{MaxSize: 5}, 0, "input is 6 bytes, over the 5-byte size limit", ErrLimit},
	} {
		err := Scan([]byte(tc.in), tc.lim)
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("Scan(%q) = %v, want *Error", tc.in, err)
			continue
		}
		if e.Offset != tc.offset || !strings.Contains(e.Msg, tc.msg) || !errors.Is(err, tc.kind) {
			t.Errorf("Scan(%q) = %q (offset %d, is %v), want offset %d, %q, %v",
				tc.in, err, e.Offset, errors.Is(err, tc.kind), tc.offset, tc.msg, tc.kind)
		}
	}
}

func TestErrorMessage(t *testing.T) {
	err := Scan([]byte("d8:announce2000000000:abce"), Limits{})
	want := "benc: offset 11: string length 2000000000 exceeds 4 remaining bytes"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}

func TestScanPrefix(t *testing.T) {
	for _, tc := range []struct {
		in   string
		lim  Limits
		n    int
		fail string
	}{
		{"d8:msg_typei1e5:piecei0eeRAWDATA", Limits{}, 25, ""},
		{"i1e", Limits{}, 3, ""},
		{"3:abcdef", Limits{}, 5, ""},
		{"d8:msg_typei1e", Limits{}, 0, "unexpected end of input"},
		{"d1:ai1ee" + strings.Repeat("x", 100), Limits{MaxSize: 8}, 8, ""},
		{"d1:ai1ee" + strings.Repeat("x", 100), Limits{MaxSize: 7}, 0, "reaches past the 7-byte size limit"},
		{"10:abcdefghij", Limits{MaxSize: 8}, 0, "string length 10 reaches past the 8-byte size limit"},
		{"i12345e", Limits{MaxSize: 4}, 0, "integer reaches past the 4-byte size limit"},
	} {
		n, err := ScanPrefix([]byte(tc.in), tc.lim)
		if tc.fail != "" {
			if err == nil || !strings.Contains(err.Error(), tc.fail) {
				t.Errorf("ScanPrefix(%q) = %d, %v; want error %q", tc.in, n, err, tc.fail)
			}
			if strings.Contains(tc.fail, "limit") && !errors.Is(err, ErrLimit) {
				t.Errorf("ScanPrefix(%q) = %v, want ErrLimit", tc.in, err)
			}
			continue
		}
		if err != nil || n != tc.n {
			t.Errorf("ScanPrefix(%q) = %d, %v; want %d", tc.in, n, err, tc.n)
		}
	}
}

// TestScanDeepIsIterative checks that nesting far past what a recursive scanner's
// stack survives is handled by the explicit stack, and that the default depth limit
// stops 10 million '[' at once.
func TestScanDeepIsIterative(t *testing.T) {
	in := []byte(strings.Repeat("l", 10_000_000))
	if err := Scan(in, Limits{MaxSize: len(in)}); !errors.Is(err, ErrLimit) {
		t.Fatalf("default depth: got %v, want ErrLimit", err)
	}
	const n = 200_000
	in = []byte(strings.Repeat("l", n) + strings.Repeat("e", n))
	if err := Scan(in, Limits{MaxDepth: n}); err != nil {
		t.Fatalf("depth %d: %v", n, err)
	}
}
