package storage

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/hyperblow/hyperblow/engine/bt"
)

// Both records are read back after crashes and from folders anyone may write:
// they are untrusted input.

func FuzzParseHeader(f *testing.F) {
	h := header{InfoHash: bt.InfoHash{1, 2, 3}, Piece: 7, Length: 16 << 10, Sum: [20]byte{9}}
	b := h.marshal()
	f.Add(b[:])
	f.Add(b[:40])
	f.Add([]byte("HBPIECE1"))
	fixed := bytes.Clone(b[:])
	fixed[0] = 0xff
	f.Add(fixed)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) >= headerSize && b[0] == 0xff {
			// Fix the checksum, so that the fuzzer reaches the checks behind it.
			b[0] = 'H'
			binary.LittleEndian.PutUint32(b[56:60], crc32.Checksum(b[:56], crcTable))
		}
		h, err := parseHeader(b)
		if err != nil {
			return
		}
		if h.Length == 0 || h.Length > maxPieceLength {
			t.Fatalf("accepted length %d", h.Length)
		}
		m := h.marshal()
		if !bytes.Equal(m[:], b[:headerSize]) {
			t.Fatal("round trip differs")
		}
		// The whole-file check never panics and never accepts data of the wrong size.
		if d, err := checkPieceFile(b, h.InfoHash, int(h.Piece), int64(h.Length), nil); err == nil && len(d) != int(h.Length) {
			t.Fatalf("accepted %d bytes of data for a piece of %d", len(d), h.Length)
		}
	})
}

func FuzzParseResume(f *testing.F) {
	have := bt.NewBitfield(13)
	have.Set(0)
	have.Set(12)
	r := resumeRecord{InfoHash: bt.InfoHash{4}, Files: []fileStamp{{Size: 5, MTime: 6, Ino: 7}, {Size: 1 << 40}}, Have: have}
	b := r.marshal()
	f.Add(b)
	f.Add(b[:len(b)-1])
	f.Add(append(bytes.Clone(b[:36]), 0, 0, 0, 0))
	fixed := bytes.Clone(b)
	fixed[0] = 0xff
	f.Add(fixed)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) >= 4 && b[0] == 0xff {
			// Fix the checksum, so that the fuzzer reaches the checks behind it.
			b[0] = 'H'
			binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], crcTable))
		}
		r, err := parseResume(b)
		if err != nil {
			return
		}
		if r.Have.Len() == 0 || r.Have.Len() > maxPieces || len(r.Files) > maxResumeFiles {
			t.Fatalf("accepted %d pieces, %d files", r.Have.Len(), len(r.Files))
		}
		if !bytes.Equal(r.marshal(), b) {
			t.Fatal("round trip differs")
		}
	})
}
