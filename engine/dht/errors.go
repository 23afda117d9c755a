package dht

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

var (
	// ErrClosed is returned by a Node's methods after Close.
	ErrClosed = errors.New("dht node closed")
	// ErrTimeout is returned when a queried node does not answer within
	// Config.QueryTimeout.
	ErrTimeout = errors.New("no reply in time")
	// ErrNoNodes is returned by a lookup (and Bootstrap) when there is no node to ask
	// or none of those asked answered.
	ErrNoNodes = errors.New("no node answered")
	// ErrNotAnnounced is returned by Announce when no node accepted announce_peer.
	ErrNotAnnounced = errors.New("no node accepted the announcement")
)

// Error is a KRPC error reply (BEP 5): a code (201 generic, 202 server, 203 protocol,
// 204 method unknown) and a message, sanitised for printing.
type Error struct {
	Code int
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("KRPC error %d: %s", e.Code, e.Msg) }

// cleanText makes remote text safe to print: at most maxErrorText bytes, valid UTF-8,
// control characters replaced by '?'.
func cleanText(b []byte) string {
	if len(b) > maxErrorText {
		b = b[:maxErrorText] // a rune cut in half becomes U+FFFD below
	}
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
}
