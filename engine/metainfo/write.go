package metainfo

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFile writes the .torrent b to dest, mode 0644. Without overwrite it
// fails if dest exists (checked atomically, O_EXCL), and removes what it
// wrote on an error; with overwrite it writes a temporary file in dest's
// folder and renames it over dest, so a reader never sees half a torrent.
func WriteFile(dest string, b []byte, overwrite bool) error {
	if !overwrite {
		f, err := os.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("%s exists: use --force to overwrite it, or -o to write elsewhere", dest)
			}
			return err
		}
		_, err = f.Write(b)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(dest)
		}
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dest), ".hyperblow-*.torrent")
	if err != nil {
		return err
	}
	_, err = tmp.Write(b)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dest)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// Magnet is the magnet link of t (BEP 9; BEP 52 for v2): its info-hash or
// hashes, name, trackers and web seeds. Its String is the link.
func (t *Torrent) Magnet() *Magnet {
	return &Magnet{
		InfoHash:   t.InfoHash,
		InfoHashV2: t.InfoHashV2,
		Name:       t.Info.Name,
		Trackers:   t.AnnounceList,
		WebSeeds:   t.URLList,
	}
}
