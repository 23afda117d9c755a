package benc

import (
	"errors"
	"fmt"
)

// ErrSyntax is wrapped by every Error that reports malformed or non-canonical input.
var ErrSyntax = errors.New("invalid bencode")

// ErrLimit is wrapped by every Error that reports input over one of the Limits, so a
// caller can tell "too big" from "broken" with errors.Is.
var ErrLimit = errors.New("bencode limit exceeded")

// ErrTruncated is wrapped (with ErrSyntax) by every Error that reports input
// ending before its value does: a file cut short, as an unfinished download is.
var ErrTruncated = errors.New("input ends early")

// ErrNoKey is returned by RawValue when the dictionary lacks the key.
var ErrNoKey = errors.New("key not found")

// Error is a problem in bencoded input at a byte offset. Its message reads like
// "benc: offset 17: string length 2000000000 exceeds 3 remaining bytes".
type Error struct {
	Offset int    // byte offset in the input where the problem was found
	Msg    string // what is wrong there
	kind   error  // ErrSyntax or ErrLimit
	short  bool   // the input ends early: ErrTruncated too
}

func (e *Error) Error() string { return fmt.Sprintf("benc: offset %d: %s", e.Offset, e.Msg) }

// Unwrap returns ErrSyntax or ErrLimit, and ErrTruncated when the input ends
// early.
func (e *Error) Unwrap() []error {
	if e.short {
		return []error{e.kind, ErrTruncated}
	}
	return []error{e.kind}
}

func syntaxErr(off int, format string, args ...any) error {
	return &Error{Offset: off, Msg: fmt.Sprintf(format, args...), kind: ErrSyntax}
}

// endErr reports input that ends before its value does.
func endErr(off int, format string, args ...any) error {
	return &Error{Offset: off, Msg: fmt.Sprintf(format, args...), kind: ErrSyntax, short: true}
}

func limitErr(off int, format string, args ...any) error {
	return &Error{Offset: off, Msg: fmt.Sprintf(format, args...), kind: ErrLimit}
}

// quoteKey shortens a dictionary key for an error message.
func quoteKey(k []byte) string {
	const max = 40
	if len(k) > max {
		return fmt.Sprintf("%q...", k[:max])
	}
	return fmt.Sprintf("%q", k)
}
