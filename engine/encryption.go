package engine

import (
	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/peerconn"
)

// Encryption is the policy for Message Stream Encryption (MSE/PE, the obfuscated
// handshake of Vuze, uTorrent and libtorrent), see Config.Encryption.
type Encryption = peerconn.Encryption

// Encryption policies.
const (
	// EncryptionPreferPlain (the default) dials plain, the quickest to the
	// first byte, retries once encrypted when a peer closes a plain handshake,
	// and accepts both.
	EncryptionPreferPlain = peerconn.EncryptionPreferPlain
	// EncryptionPrefer dials encrypted, retries once plain, and accepts both.
	EncryptionPrefer = peerconn.EncryptionPrefer
	// EncryptionRequire dials and accepts only RC4-encrypted connections.
	EncryptionRequire = peerconn.EncryptionRequire
	// EncryptionDisable dials and accepts only plain connections.
	EncryptionDisable = peerconn.EncryptionDisable
)

// ParseEncryption parses "prefer-plain", "prefer", "require" or "off".
func ParseEncryption(s string) (Encryption, error) { return peerconn.ParseEncryption(s) }

// servedInfoHashes lists the torrents and magnets an incoming peer may ask for,
// for the MSE handshake, which names its torrent only hashed.
func (c *Client) servedInfoHashes() []bt.InfoHash {
	c.mu.Lock()
	defer c.mu.Unlock()
	hs := make([]bt.InfoHash, 0, len(c.torrents))
	for h := range c.torrents { // magnets included
		hs = append(hs, h)
	}
	hs = append(hs, c.hybridV2Hashes()...)
	return hs
}
