package metainfo

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Create builds a .torrent from a file (a single-file torrent) or a directory (a
// multi-file torrent of the regular files under it, walked in sorted order; symlinks and
// special files are skipped, since following them could leave the tree or never end).
// The torrent is named after root's base name unless opts.Name is set.
func Create(root string, opts CreateOptions) ([]byte, error) {
	files, name, err := collect(root)
	if err == nil {
		if opts.Name != "" {
			name = opts.Name
		}
		var b []byte
		if b, err = create(name, files, opts); err == nil {
			return b, nil
		}
	}
	return nil, fmt.Errorf("metainfo: create %s: %w", root, err)
}

// collect lists the files of root and proposes a name.
func collect(root string) ([]InputFile, string, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, "", err
	}
	st, err := os.Stat(abs) // root itself may be a symlink: the user named it
	if err != nil {
		return nil, "", err
	}
	name := filepath.Base(abs)
	if st.Mode().IsRegular() {
		return []InputFile{{Length: st.Size(), open: opener(abs)}}, name, nil
	}
	if !st.IsDir() {
		return nil, "", errors.New("not a regular file or a folder")
	}
	var files []InputFile
	err = filepath.WalkDir(abs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() { // directories are walked; symlinks and devices skipped
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(abs, p)
		if err != nil {
			return err
		}
		files = append(files, InputFile{
			Path:   strings.Split(filepath.ToSlash(rel), "/"),
			Length: fi.Size(),
			open:   opener(p),
		})
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	if len(files) == 0 {
		return nil, "", errors.New("no regular files in this folder: nothing to share")
	}
	return files, name, nil
}

func opener(path string) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return os.Open(path) }
}

// Measure counts the regular files under root (root itself may be a file or a
// symlink to one) and their bytes, as Create will see them, without reading
// them: a caller can say how much there is to hash before it starts.
func Measure(root string) (files int, size int64, err error) {
	in, _, err := collect(root)
	if err != nil {
		var pe *fs.PathError
		if abs, aerr := filepath.Abs(root); aerr == nil && errors.As(err, &pe) && pe.Path == abs {
			err = pe.Err // root itself: the caller names it
		}
		return 0, 0, err
	}
	for _, f := range in {
		size += f.Length
	}
	return len(in), size, nil
}
