package lsd

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/hyperblow/hyperblow/engine/bt"
)

// Message limits. BEP 14: a packet with several infohashes should stay under
// 1400 bytes; a longer datagram is refused, not read.
const (
	MaxMessage    = 1400
	maxHeaders    = 40 // lines after the request line
	maxCookie     = 64
	maxInfoHashes = 32
)

// Announce is one BT-SEARCH message: a peer listening on Port takes part in
// the swarms of InfoHashes. Cookie, when set, lets a sender recognise its own
// announces looped back to it.
type Announce struct {
	Host       string
	Port       uint16
	InfoHashes []bt.InfoHash
	Cookie     string
}

var errNotSearch = errors.New("not a BT-SEARCH message")

// Parse reads a BEP 14 announce. It accepts at most MaxMessage bytes, a
// bounded number of header lines, and ignores headers it does not know.
func Parse(b []byte) (Announce, error) {
	var a Announce
	if len(b) > MaxMessage {
		return a, fmt.Errorf("lsd message of %d bytes: over %d", len(b), MaxMessage)
	}
	line, rest, ok := bytes.Cut(b, []byte("\r\n"))
	if !ok || string(line) != "BT-SEARCH * HTTP/1.1" {
		return a, errNotSearch
	}
	havePort := false
	for n := 0; len(rest) > 0; n++ {
		if n >= maxHeaders {
			return a, fmt.Errorf("lsd message: over %d header lines", maxHeaders)
		}
		line, rest, ok = bytes.Cut(rest, []byte("\r\n"))
		if !ok {
			line, rest = rest, nil // tolerate a missing final CRLF
		}
		if len(line) == 0 {
			break // end of headers
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return a, fmt.Errorf("lsd message: header line %q has no colon", truncate(line))
		}
		v := strings.TrimSpace(string(value))
		switch strings.ToLower(strings.TrimSpace(string(name))) {
		case "host":
			a.Host = v
		case "port":
			p, err := strconv.ParseUint(v, 10, 16)
			if err != nil || p == 0 {
				return a, fmt.Errorf("lsd message: port %q: want 1-65535", truncate([]byte(v)))
			}
			a.Port, havePort = uint16(p), true
		case "infohash":
			if len(a.InfoHashes) >= maxInfoHashes {
				return a, fmt.Errorf("lsd message: over %d infohashes", maxInfoHashes)
			}
			ih, err := bt.ParseInfoHash(strings.ToLower(v))
			if err != nil {
				return a, fmt.Errorf("lsd message: %w", err)
			}
			a.InfoHashes = append(a.InfoHashes, ih)
		case "cookie":
			if len(v) > maxCookie {
				return a, fmt.Errorf("lsd message: cookie of %d bytes: over %d", len(v), maxCookie)
			}
			a.Cookie = v
		}
	}
	if !havePort {
		return a, errors.New("lsd message: no port")
	}
	if len(a.InfoHashes) == 0 {
		return a, errors.New("lsd message: no infohash")
	}
	return a, nil
}

func truncate(b []byte) string {
	if len(b) > 40 {
		b = b[:40]
	}
	return string(b)
}

// Encode writes announces of ihs, as many infohashes per message as fit in
// MaxMessage bytes; it returns one message per batch.
func Encode(host string, port uint16, ihs []bt.InfoHash, cookie string) [][]byte {
	head := fmt.Sprintf("BT-SEARCH * HTTP/1.1\r\nHost: %s\r\nPort: %d\r\n", host, port)
	tail := "\r\n\r\n"
	if cookie != "" {
		tail = "cookie: " + cookie + "\r\n\r\n\r\n"
	}
	const line = len("Infohash: ") + 40 + 2
	per := (MaxMessage - len(head) - len(tail)) / line
	per = max(1, min(per, maxInfoHashes))
	var out [][]byte
	for len(ihs) > 0 {
		n := min(per, len(ihs))
		var b bytes.Buffer
		b.WriteString(head)
		for _, ih := range ihs[:n] {
			b.WriteString("Infohash: " + ih.String() + "\r\n")
		}
		b.WriteString(tail)
		out = append(out, b.Bytes())
		ihs = ihs[n:]
	}
	return out
}
