package engine

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/hyperblow/hyperblow/engine/metainfo"
)

// FileStorage presents a torrent's complete data on disk as one io.ReaderAt over
// the torrent's bytes laid end to end; padding files (BEP 47) read as zeros.
type FileStorage struct {
	files []storageFile // in torrent order, non-empty files only
}

type storageFile struct {
	off, length int64
	f           *os.File // nil for padding
}

// OpenStorage opens the data of a torrent: for a single-file torrent, path is the
// file; for a multi-file torrent, the folder holding the torrent's files. Every
// file must exist with the torrent's size.
func OpenStorage(info *metainfo.Info, path string) (*FileStorage, error) {
	s := &FileStorage{}
	for _, f := range info.Files {
		if f.Length == 0 {
			continue
		}
		sf := storageFile{off: f.Offset, length: f.Length}
		if !f.Padding {
			p := path
			if info.MultiFile {
				p = filepath.Join(append([]string{path}, f.Path...)...)
			}
			fh, err := os.Open(p)
			if err != nil {
				s.Close()
				return nil, fmt.Errorf("data for %s: %w", info.Name, err)
			}
			st, err := fh.Stat()
			if err != nil || st.Size() != f.Length {
				fh.Close()
				s.Close()
				if err == nil {
					err = fmt.Errorf("size %d, the torrent says %d", st.Size(), f.Length)
				}
				return nil, fmt.Errorf("data for %s: %s: %w", info.Name, p, err)
			}
			sf.f = fh
		}
		s.files = append(s.files, sf)
	}
	return s, nil
}

// ReadAt reads torrent bytes at off.
func (s *FileStorage) ReadAt(p []byte, off int64) (int, error) {
	k := sort.Search(len(s.files), func(i int) bool { return s.files[i].off+s.files[i].length > off })
	n := 0
	for ; n < len(p) && k < len(s.files); k++ {
		sf := s.files[k]
		pos := off + int64(n) - sf.off
		chunk := p[n:min(len(p), n+int(sf.length-pos))]
		if sf.f == nil {
			clear(chunk)
		} else if _, err := sf.f.ReadAt(chunk, pos); err != nil {
			return n, fmt.Errorf("%s: %w", sf.f.Name(), err)
		}
		n += len(chunk)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Close closes the files.
func (s *FileStorage) Close() error {
	var errs []error
	for _, sf := range s.files {
		if sf.f != nil {
			errs = append(errs, sf.f.Close())
		}
	}
	return errors.Join(errs...)
}
