package storage

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/hyperblow/hyperblow/engine/bt"
)

// A piece file of the DiskCache is a 64-byte header followed by the piece:
//
//	0  "HBPIECE1"           magic and version
//	8  info-hash            20 bytes
//	28 piece index          uint32 little-endian
//	32 piece length         uint32 little-endian
//	36 SHA-1 of the piece   20 bytes (for BitTorrent v1, the torrent's own piece hash)
//	56 CRC-32C of bytes 0..56
//	60 zero                 4 bytes
//
// The header is read back from files a crash may have torn or someone may have
// changed: ParseHeader trusts nothing in it (FuzzParseHeader).
const headerSize = 64

var headerMagic = [8]byte{'H', 'B', 'P', 'I', 'E', 'C', 'E', '1'}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// maxPieceLength is the largest piece the stores accept (metainfo's limit).
const maxPieceLength = 64 << 20

// header describes the piece stored in a piece file.
type header struct {
	InfoHash bt.InfoHash
	Piece    uint32
	Length   uint32
	Sum      [20]byte // SHA-1 of the piece bytes
}

var errHeader = errors.New("bad piece file header")

func (h header) marshal() [headerSize]byte {
	var b [headerSize]byte
	copy(b[0:8], headerMagic[:])
	copy(b[8:28], h.InfoHash[:])
	binary.LittleEndian.PutUint32(b[28:32], h.Piece)
	binary.LittleEndian.PutUint32(b[32:36], h.Length)
	copy(b[36:56], h.Sum[:])
	binary.LittleEndian.PutUint32(b[56:60], crc32.Checksum(b[:56], crcTable))
	return b
}

// parseHeader decodes and checks a piece file header.
func parseHeader(b []byte) (header, error) {
	if len(b) < headerSize {
		return header{}, fmt.Errorf("%w: %d bytes, want %d", errHeader, len(b), headerSize)
	}
	if !bytes.Equal(b[0:8], headerMagic[:]) {
		return header{}, fmt.Errorf("%w: wrong magic", errHeader)
	}
	if got, want := binary.LittleEndian.Uint32(b[56:60]), crc32.Checksum(b[:56], crcTable); got != want {
		return header{}, fmt.Errorf("%w: checksum %08x, want %08x", errHeader, got, want)
	}
	if binary.LittleEndian.Uint32(b[60:64]) != 0 {
		return header{}, fmt.Errorf("%w: reserved bytes set", errHeader)
	}
	var h header
	copy(h.InfoHash[:], b[8:28])
	h.Piece = binary.LittleEndian.Uint32(b[28:32])
	h.Length = binary.LittleEndian.Uint32(b[32:36])
	copy(h.Sum[:], b[36:56])
	if h.Length == 0 || h.Length > maxPieceLength {
		return header{}, fmt.Errorf("%w: piece length %d", errHeader, h.Length)
	}
	return h, nil
}

// checkPieceFile checks a whole piece file's bytes (header and data) against
// the piece it should hold, and returns the data.
func checkPieceFile(b []byte, ih bt.InfoHash, piece int, length int64, want *[20]byte) ([]byte, error) {
	h, err := parseHeader(b)
	if err != nil {
		return nil, err
	}
	if h.InfoHash != ih || int64(h.Piece) != int64(piece) || int64(h.Length) != length {
		return nil, fmt.Errorf("%w: holds piece %d (%d bytes) of %s, want piece %d (%d bytes) of %s",
			errHeader, h.Piece, h.Length, h.InfoHash, piece, length, ih)
	}
	if want != nil && h.Sum != *want {
		return nil, fmt.Errorf("%w: recorded hash is not the torrent's", errHeader)
	}
	data := b[headerSize:]
	if int64(len(data)) != length {
		return nil, fmt.Errorf("piece data is %d bytes, want %d (torn write or truncated)", len(data), length)
	}
	if sha1.Sum(data) != h.Sum {
		return nil, errors.New("piece data does not match its SHA-1")
	}
	return data, nil
}
