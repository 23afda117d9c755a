package metainfo

import (
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"strings"
)

// hashPieces reads the files in order as one stream and returns the SHA-1 of each
// piece, concatenated. It holds one piece in memory. progress, if not nil, is called
// after each piece with the bytes hashed so far.
func hashPieces(files []InputFile, pl, total int64, progress func(done, total int64)) ([]byte, error) {
	numPieces := (total + pl - 1) / pl
	pieces := make([]byte, 0, 20*numPieces)
	buf := make([]byte, min(pl, total))
	fill := 0
	var done int64
	for i, f := range files {
		if err := f.readInto(func(r io.Reader) error {
			for left := f.Length; left > 0; {
				n := int(min(left, int64(len(buf)-fill)))
				if _, err := io.ReadFull(r, buf[fill:fill+n]); err != nil {
					if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
						return fmt.Errorf("shorter than its length %d", f.Length)
					}
					return err
				}
				fill += n
				left -= int64(n)
				if fill == len(buf) {
					sum := sha1.Sum(buf)
					pieces = append(pieces, sum[:]...)
					done += int64(fill)
					fill = 0
					if progress != nil {
						progress(done, total)
					}
				}
			}
			return nil
		}); err != nil {
			return nil, fmt.Errorf("file %d (%s): %w", i, strings.Join(f.Path, "/"), err)
		}
	}
	if fill > 0 {
		sum := sha1.Sum(buf[:fill])
		pieces = append(pieces, sum[:]...)
		done += int64(fill)
		if progress != nil {
			progress(done, total)
		}
	}
	return pieces, nil
}

// readInto gives read the file's content: Data as a section, or the file on disk,
// which must still have exactly Length bytes.
func (f InputFile) readInto(read func(io.Reader) error) error {
	if f.open == nil {
		if f.Length == 0 {
			return nil
		}
		return read(io.NewSectionReader(f.Data, 0, f.Length))
	}
	rc, err := f.open()
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := read(rc); err != nil {
		return err
	}
	var one [1]byte
	if n, _ := rc.Read(one[:]); n > 0 {
		return fmt.Errorf("grew past its length %d while hashing", f.Length)
	}
	return nil
}
