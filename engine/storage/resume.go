package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/hyperblow/hyperblow/engine/bt"
)

// The resume record of a Layout says which pieces were in the torrent's files
// when every file was last fsynced, and what each file looked like then:
//
//	0  "HBRESUM1"
//	8  info-hash              20 bytes
//	28 pieces                 uint32 little-endian
//	32 files                  uint32 (the torrent's non-empty, non-padding files, in order)
//	36 per file: size int64, mtime int64 (Unix ns), inode uint64 (24 bytes each)
//	.. bitfield               ceil(pieces/8) bytes, as in BEP 3 (spare bits clear)
//	.. CRC-32C of everything before
//
// It is read after crashes and may be torn or stale: parseResume checks the
// exact length before allocating and the checksum (FuzzParseResume).
var resumeMagic = [8]byte{'H', 'B', 'R', 'E', 'S', 'U', 'M', '1'}

const (
	resumeFixed    = 36
	resumeFileSize = 24
	maxResumeFiles = 1 << 20 // metainfo's bound on files
	maxPieces      = 1 << 21 // metainfo's bound on pieces
)

var errResume = errors.New("bad resume record")

// fileStamp is what a file looked like: a file whose stamp changed is hashed
// again.
type fileStamp struct {
	Size, MTime int64
	Ino         uint64
}

type resumeRecord struct {
	InfoHash bt.InfoHash
	Files    []fileStamp
	Have     bt.Bitfield
}

func (r *resumeRecord) marshal() []byte {
	n := r.Have.Len()
	b := make([]byte, 0, resumeFixed+resumeFileSize*len(r.Files)+(n+7)/8+4)
	b = append(b, resumeMagic[:]...)
	b = append(b, r.InfoHash[:]...)
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(r.Files)))
	for _, f := range r.Files {
		b = binary.LittleEndian.AppendUint64(b, uint64(f.Size))
		b = binary.LittleEndian.AppendUint64(b, uint64(f.MTime))
		b = binary.LittleEndian.AppendUint64(b, f.Ino)
	}
	b = append(b, r.Have.Bytes()...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

// parseResume decodes a resume record; it allocates no more than len(b).
func parseResume(b []byte) (*resumeRecord, error) {
	if len(b) < resumeFixed+4 {
		return nil, fmt.Errorf("%w: %d bytes", errResume, len(b))
	}
	if !bytes.Equal(b[:8], resumeMagic[:]) {
		return nil, fmt.Errorf("%w: wrong magic", errResume)
	}
	np := binary.LittleEndian.Uint32(b[28:32])
	nf := binary.LittleEndian.Uint32(b[32:36])
	if np == 0 || np > maxPieces || nf > maxResumeFiles {
		return nil, fmt.Errorf("%w: %d pieces, %d files", errResume, np, nf)
	}
	want := int64(resumeFixed) + resumeFileSize*int64(nf) + (int64(np)+7)/8 + 4
	if int64(len(b)) != want {
		return nil, fmt.Errorf("%w: %d bytes, want %d", errResume, len(b), want)
	}
	body := b[:len(b)-4]
	if got := binary.LittleEndian.Uint32(b[len(b)-4:]); got != crc32.Checksum(body, crcTable) {
		return nil, fmt.Errorf("%w: checksum mismatch", errResume)
	}
	r := &resumeRecord{Files: make([]fileStamp, nf)}
	copy(r.InfoHash[:], b[8:28])
	at := resumeFixed
	for k := range r.Files {
		r.Files[k] = fileStamp{
			Size:  int64(binary.LittleEndian.Uint64(b[at:])),
			MTime: int64(binary.LittleEndian.Uint64(b[at+8:])),
			Ino:   binary.LittleEndian.Uint64(b[at+16:]),
		}
		if r.Files[k].Size < 0 {
			return nil, fmt.Errorf("%w: file %d has size %d", errResume, k, r.Files[k].Size)
		}
		at += resumeFileSize
	}
	have, err := bt.BitfieldFromBytes(body[at:], int(np))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errResume, err)
	}
	r.Have = have
	return r, nil
}
