package metainfo

import "fmt"

// File is one file of the torrent, in torrent order.
type File struct {
	// Path holds sanitized components relative to the torrent's root folder; for a
	// single-file torrent it is []string{Info.Name}.
	Path    []string
	Length  int64
	Offset  int64 // byte offset of the file in the torrent's concatenated data
	Padding bool  // BEP 47 padding file; hidden from the tree by the FS
	// BEP 47 attributes (multi-file torrents): Exec (x), Hidden (h), and
	// Symlink (l), whose SymlinkTarget holds the target's components relative
	// to the torrent's root folder, cleaned, ".." kept (see attributes).
	Exec, Hidden, Symlink bool
	SymlinkTarget         []string
	// RawPath is the path as the torrent spells it where sanitizing or
	// makeUnique changed Path (nil where they did not): a web seed's URL
	// names the file as the mirror stores it (BEP 19). Components that are
	// empty, "." or ".." are left out, as from Path.
	RawPath []string
}

// URLPath is the path a web seed's URL uses for f: RawPath, or Path.
func (f *File) URLPath() []string {
	if f.RawPath != nil {
		return f.RawPath
	}
	return f.Path
}

// Info is a validated BitTorrent v1 info dictionary. It is immutable: callers must not
// modify Files or the slices inside.
type Info struct {
	Name        string // sanitized
	RawName     string // the name as the torrent spells it, where sanitizing changed it ("" otherwise)
	PieceLength int64
	NumPieces   int
	TotalLength int64
	// Files holds every file including padding, in torrent order, end to end: each
	// Offset is the previous Offset plus its Length.
	Files     []File
	MultiFile bool
	Private   bool // BEP 27

	pieces []byte  // NumPieces SHA-1 hashes, 20 bytes each; nil for a v2-only torrent
	v2     *v2Info // BEP 52 file tree and piece layers (v2.go); nil for a v1 torrent
}

// PieceHash returns the SHA-1 of piece index. It panics if index is out of range, like
// a slice index, since the engine checks indices from peers before using them.
// URLName is the torrent's name as a web seed's URL uses it: RawName, or Name.
func (i *Info) URLName() string {
	if i.RawName != "" {
		return i.RawName
	}
	return i.Name
}

func (i *Info) PieceHash(index int) [20]byte {
	i.check(index)
	return [20]byte(i.pieces[20*index : 20*index+20])
}

// PieceLen returns the length of piece index: PieceLength, except for a shorter last
// piece.
func (i *Info) PieceLen(index int) int64 {
	i.check(index)
	if index == i.NumPieces-1 {
		return i.TotalLength - i.PieceOffset(index)
	}
	return i.PieceLength
}

// PieceOffset returns the byte offset of piece index in the torrent's data.
func (i *Info) PieceOffset(index int) int64 {
	i.check(index)
	return int64(index) * i.PieceLength
}

// VisibleFiles returns the files without BEP 47 padding files: the ones a user sees.
func (i *Info) VisibleFiles() []File {
	out := make([]File, 0, len(i.Files))
	for _, f := range i.Files {
		if !f.Padding {
			out = append(out, f)
		}
	}
	return out
}

func (i *Info) check(index int) {
	if index < 0 || index >= i.NumPieces {
		panic(fmt.Sprintf("metainfo: piece index %d out of range [0, %d)", index, i.NumPieces))
	}
}
