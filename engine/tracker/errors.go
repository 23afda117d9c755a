package tracker

import (
	"errors"
	"strings"
	"unicode"
)

var (
	// ErrUnsupportedScheme is returned for tracker URLs other than http, https and udp
	// (for example wss:// WebTorrent trackers).
	ErrUnsupportedScheme = errors.New("unsupported tracker URL scheme")
	// ErrReplyTooLarge is returned when an HTTP reply body exceeds MaxHTTPReply.
	ErrReplyTooLarge = errors.New("tracker reply too large")
	// ErrTimeout is returned when a UDP tracker did not answer any retransmission.
	ErrTimeout = errors.New("no reply from UDP tracker")
	// ErrClosed is returned by a Client after Close.
	ErrClosed = errors.New("tracker client closed")
	// ErrScrapeUnsupported is returned for an HTTP tracker whose URL has no scrape
	// counterpart (BEP 48: the last path component must start with "announce").
	ErrScrapeUnsupported = errors.New("tracker does not support scrape")
)

// FailureError is a tracker's refusal: the HTTP "failure reason" (BEP 3) or the message
// of a UDP error reply (BEP 15, action 3).
type FailureError struct {
	Reason string // sanitised: valid UTF-8, no control characters, bounded length
}

func (e *FailureError) Error() string { return "tracker failure: " + e.Reason }

// maxText bounds any text from a tracker that ends up in an error or a log.
const maxText = 512

// cleanText makes tracker-supplied text safe to print: at most maxText bytes, valid
// UTF-8, control characters replaced by '?'.
func cleanText(s string) string {
	if len(s) > maxText {
		s = s[:maxText] // a rune cut in half becomes U+FFFD below
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
}
