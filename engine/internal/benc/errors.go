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

// ErrNoKey is returned by RawValue when the dictionary lacks the key.
var ErrNoKey = errors.New("key not found")

// Error is a problem in bencoded input at a byte offset. Its message reads like
// "benc: offset 17: string length 2000000000 exceeds 3 remaining bytes".
type Error struct {
	Offset int    // byte offset in the input where the problem was found
	Msg    string // what is wrong there
	kind   error  // ErrSyntax or ErrLimit
}

func (e *Error) Error() string { return fmt.Sprintf("benc: offset %d: %s", e.Offset, e.Msg) }

// Unwrap returns ErrSyntax or ErrLimit.
func (e *Error) Unwrap() error { return e.kind }

func syntaxErr(off int, format string, args ...any) error {
	return &Error{Offset: off, Msg: fmt.Sprintf(format, args...), kind: ErrSyntax}
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
