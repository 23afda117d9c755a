package wire

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
)

// WantV2 makes the assembler check the metadata against a BEP 52 v2 info-hash (the
// SHA-256 of the info dictionary), for a torrent known only by its v2 hash (a magnet
// with xt=urn:btmh: alone).
func (a *MetadataAssembler) WantV2(h [32]byte) { a.v2 = h }

// matches hashes the assembled metadata and reports whether it is the wanted one.
func (a *MetadataAssembler) matches() ([]byte, bool) {
	if a.v2 != [32]byte{} {
		got := sha256.Sum256(a.buf)
		return got[:], got == a.v2
	}
	got := sha1.Sum(a.buf)
	return got[:], got == a.hash
}

func (a *MetadataAssembler) want() string {
	if a.v2 != [32]byte{} {
		return hex.EncodeToString(a.v2[:])
	}
	return a.hash.String()
}
