package metainfo

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"unicode/utf8"

	"github.com/hyperblow/hyperblow/engine/internal/benc"
)

// ParseInfo validates a raw info dictionary, such as one fetched from peers with BEP 9
// (whose SHA-1 the caller has already checked against the info-hash).
func ParseInfo(raw []byte) (*Info, error) {
	if len(raw) > MaxInfoSize {
		return nil, fmt.Errorf("metainfo: info is %d bytes, over the %s limit", len(raw), size(MaxInfoSize))
	}
	v, err := benc.Parse(raw, benc.Limits{MaxSize: MaxInfoSize})
	if err != nil {
		return nil, fmt.Errorf("metainfo: info: %w", err)
	}
	info, err := parseInfo(v, sha1.Sum(raw))
	if err != nil {
		return nil, fmt.Errorf("metainfo: %w", err)
	}
	return info, nil
}

// parseInfo validates an info dictionary; hash is its info-hash, used only as the name
// of a torrent whose own name is unusable.
func parseInfo(v benc.Value, hash [20]byte) (*Info, error) {
	if err := wantKind(v, benc.Dict, "info"); err != nil {
		return nil, err
	}
	var name, nameUTF8, pieceLen, pieces, length, files, private, metaVersion, fileTree, attr benc.Value
	for k, val := range v.Entries() { // one pass: Get would skip the file list once per key
		switch string(k) {
		case "name":
			name = val
		case "name.utf-8":
			nameUTF8 = val
		case "piece length":
			pieceLen = val
		case "pieces":
			pieces = val
		case "length":
			length = val
		case "files":
			files = val
		case "private":
			private = val
		case "meta version":
			metaVersion = val
		case "file tree":
			fileTree = val
		case "attr": // BEP 47, a single-file torrent's
			attr = val
		}
	}

	pl, err := wantInt(pieceLen, "info.piece length")
	if err != nil {
		return nil, err
	}
	if pl < MinPieceLength || pl > MaxPieceLength {
		return nil, errorf("info.piece length", "%d is not in %s..%s", pl, size(MinPieceLength), size(MaxPieceLength))
	}

	mv, err := parseMetaVersion(metaVersion)
	if err != nil {
		return nil, err
	}
	var tree []treeFile // BEP 52
	var single bool
	if mv == 2 {
		if err := checkV2PieceLength(pl); err != nil {
			return nil, err
		}
		if tree, single, err = parseFileTree(fileTree); err != nil {
			return nil, err
		}
	}
	var hashes []byte
	if tree == nil || pieces.Kind() != benc.Invalid {
		if hashes, err = wantBytes(pieces, "info.pieces"); err != nil {
			return nil, err
		}
		if len(hashes)%20 != 0 {
			return nil, errorf("info.pieces", "length %d is not a multiple of 20", len(hashes))
		}
		if len(hashes)/20 > MaxPieces {
			return nil, errorf("info.pieces", "%d pieces, over the limit of %d", len(hashes)/20, MaxPieces)
		}
	}

	rawName, err := wantBytes(name, "info.name")
	if err != nil {
		return nil, err
	}
	if b, ok := nameUTF8.Bytes(); ok && len(b) > 0 && utf8.Valid(b) {
		rawName = b
	}
	info := &Info{PieceLength: pl, Name: cleanName(rawName, hex.EncodeToString(hash[:]))}
	if string(rawName) != info.Name && !isNavigation(rawName) {
		info.RawName = string(rawName)
	}

	switch {
	case hashes == nil: // v2-only
		if err := buildV2Only(info, tree, single); err != nil {
			return nil, err
		}
		if info.MultiFile {
			makeUnique(info.Files)
		}
		return withPrivate(info, private)
	case length.Kind() != benc.Invalid && files.Kind() != benc.Invalid:
		return nil, errorf("info", "has both length and files")
	case length.Kind() != benc.Invalid:
		n, err := fileLength(length, "info.length")
		if err != nil {
			return nil, err
		}
		f := File{Path: []string{info.Name}, Length: n}
		// x and h; a single file that is a symlink (l) has no target to point
		// to, and stays a file.
		f.Exec, f.Hidden, _, _ = attributes(attr, benc.Value{})
		info.Files = []File{f}
		info.TotalLength = n
	case files.Kind() != benc.Invalid:
		info.MultiFile = true
		if info.Files, info.TotalLength, err = parseFiles(files); err != nil {
			return nil, err
		}
	default:
		return nil, errorf("info", "has neither length nor files")
	}

	if info.TotalLength == 0 {
		return nil, errorf("info", "total length is 0: there is nothing to share")
	}
	want := (info.TotalLength + pl - 1) / pl
	if got := int64(len(hashes) / 20); got != want {
		return nil, errorf("info.pieces", "%d hashes for %d pieces (total length %d, piece length %d)", got, want, info.TotalLength, pl)
	}
	info.NumPieces = int(want)
	info.pieces = bytes.Clone(hashes)
	if tree != nil { // hybrid: before makeUnique renames anything
		if err := checkHybrid(info, tree, single, rawName); err != nil {
			return nil, err
		}
		info.v2 = newV2Info(info, tree)
	}
	if info.MultiFile {
		makeUnique(info.Files) // the costliest step, so after the cheap checks
	}

	return withPrivate(info, private)
}

func withPrivate(info *Info, private benc.Value) (*Info, error) {
	if private.Kind() != benc.Invalid {
		p, err := wantInt(private, "info.private")
		if err != nil {
			return nil, err
		}
		info.Private = p != 0
	}
	return info, nil
}

// fileLength reads a file length: 0 is fine, negative or over MaxTotalLength is not.
func fileLength(v benc.Value, field string) (int64, error) {
	n, err := wantInt(v, field)
	if err != nil {
		return 0, err
	}
	if n < 0 {
		return 0, errorf(field, "%d is negative", n)
	}
	if n > MaxTotalLength {
		return 0, errorf(field, "%d is over the %s limit", n, size(MaxTotalLength))
	}
	return n, nil
}
