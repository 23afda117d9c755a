package benc

import (
	"errors"
	"testing"
)

// TestTruncated: input that ends before its value does wraps ErrTruncated
// (and ErrSyntax); other syntax errors and limit errors do not.
func TestTruncated(t *testing.T) {
	whole := "d4:infod6:lengthi20000e4:name5:x.binee"
	for _, tc := range []struct {
		in    string
		short bool
	}{
		{"", true},
		{whole[:1], true},
		{whole[:3], true},  // inside a string length... string
		{whole[:17], true}, // inside an integer
		{whole[:len(whole)-1], true},
		{"5:ab", true},
		{"2000000000:x", true},
		{"x", false},
		{"i01e", false},
		{whole + "e", false},
		{"d1:a0:1:a0:e", false}, // a duplicate key
	} {
		_, err := Parse([]byte(tc.in), Limits{})
		if err == nil {
			t.Errorf("%q: no error", tc.in)
			continue
		}
		if errors.Is(err, ErrTruncated) != tc.short || !errors.Is(err, ErrSyntax) {
			t.Errorf("%q: %v: truncated %v, want %v (and a syntax error)", tc.in, err, errors.Is(err, ErrTruncated), tc.short)
		}
	}
	// Cut at the size limit, not at the real end: a limit error, not a truncation.
	_, err := Parse([]byte(whole), Limits{MaxSize: 10})
	if err == nil || errors.Is(err, ErrTruncated) {
		t.Errorf("over the size limit: %v, want a limit error that is not a truncation", err)
	}
}
