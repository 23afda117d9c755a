// Package bt is the shared vocabulary of Hyperblow's BitTorrent engine: info-hashes,
// peer ids, block geometry, bitfields and compact peer lists (BEP 23, BEP 7).
//
// It imports only the standard library so that every leaf package can use it.
package bt

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// BlockSize is the size of one request on the wire (BEP 3 convention: 16 KiB).
const BlockSize = 16 * 1024

// InfoHash is the SHA-1 of a torrent's bencoded info dictionary (BEP 3).
type InfoHash [20]byte

// String returns the info-hash as 40 lower-case hex digits.
func (h InfoHash) String() string { return hex.EncodeToString(h[:]) }

// ParseInfoHash parses 40 hex digits.
func ParseInfoHash(s string) (InfoHash, error) {
	var h InfoHash
	if len(s) != 40 {
		return h, fmt.Errorf("info-hash %q: want 40 hex digits, got %d characters", s, len(s))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("info-hash %q: %w", s, err)
	}
	return h, nil
}

// PeerID identifies a client in handshakes and announces (BEP 20 style).
type PeerID [20]byte

// PeerIDPrefix is Hyperblow's Azureus-style client prefix (BEP 20).
const PeerIDPrefix = "-HB0001-"

// NewPeerID returns PeerIDPrefix followed by 12 random bytes.
func NewPeerID() PeerID {
	var id PeerID
	copy(id[:], PeerIDPrefix)
	if _, err := rand.Read(id[len(PeerIDPrefix):]); err != nil {
		panic(fmt.Sprintf("bt: crypto/rand failed: %v", err)) // crypto/rand never fails on Linux
	}
	return id
}

// String prints a peer id safely: printable ASCII as is, other bytes escaped.
func (id PeerID) String() string {
	var b strings.Builder
	for _, c := range id {
		if c >= 0x20 && c < 0x7f {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "\\x%02x", c)
		}
	}
	return b.String()
}

// ErrBitfield reports a bitfield of the wrong length or with spare bits set.
var ErrBitfield = errors.New("invalid bitfield")
