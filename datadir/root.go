package datadir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/metainfo"
	"github.com/hyperblow/hyperblow/session"
)

// Root finds the torrent's data from what the user gave (seed DATA): the
// file of a single-file torrent, the torrent's folder of a multi-file one;
// it also accepts the folder that holds DATA/<name>. The errors say what to
// give instead.
func Root(info *metainfo.Info, data string) (string, error) {
	st, err := os.Stat(data)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return data, fmt.Errorf("data %s: %w (give the torrent's file, or the folder holding its files)", data, err)
	}
	inner := filepath.Join(data, info.Name)
	ist, ierr := os.Stat(inner)
	switch {
	case !info.MultiFile && st.IsDir():
		if ierr != nil || !ist.Mode().IsRegular() {
			return data, fmt.Errorf("data %s: is a folder, and %s is a single-file torrent with no file %q in it (give the file itself)", data, session.Safe(info.Name), session.Safe(info.Name))
		}
		data = inner
	case info.MultiFile && !st.IsDir():
		return data, fmt.Errorf("data %s: not a folder, and %s is a multi-file torrent (give the folder holding its files)", data, session.Safe(info.Name))
	case info.MultiFile && ierr == nil && ist.IsDir() && !holdsFirstFile(info, data):
		data = inner // the parent of the torrent's folder
	}
	return data, nil
}

// FirstMissing names the first piece not in held, and its file.
func FirstMissing(info *metainfo.Info, held bt.Bitfield) string {
	for i := 0; i < info.NumPieces; i++ {
		if held.Has(i) {
			continue
		}
		off := info.PieceOffset(i)
		for _, f := range info.Files {
			if !f.Padding && off < f.Offset+f.Length && off+info.PieceLen(i) > f.Offset {
				name := info.Name
				if info.MultiFile {
					name = filepath.Join(append([]string{info.Name}, f.Path...)...)
				}
				return fmt.Sprintf("piece %d (in %s) is missing or does not match", i, session.Safe(name))
			}
		}
		return fmt.Sprintf("piece %d is missing or does not match", i)
	}
	return "every piece is there"
}

// holdsFirstFile reports whether dir holds the first non-padding file of a
// multi-file torrent: then dir is the torrent's folder itself, even if it also
// has a child named like the torrent.
func holdsFirstFile(info *metainfo.Info, dir string) bool {
	for _, f := range info.Files {
		if f.Padding {
			continue
		}
		_, err := os.Stat(filepath.Join(append([]string{dir}, f.Path...)...))
		return err == nil
	}
	return false
}
