package metainfo

import (
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/hyperblow/hyperblow/engine/internal/benc"
)

// Format is the kind of torrent Create makes.
type Format int

const (
	FormatV1     Format = iota // BitTorrent v1 (BEP 3)
	FormatV2                   // BitTorrent v2 only (BEP 52)
	FormatHybrid               // both: a v1 file list with padding files and a v2 file tree
)

// v2Hashed is what hashing one file for v2 gives.
type v2Hashed struct {
	root  [32]byte
	layer []byte // one hash per piece, for a file of more than one piece
}

// hashV2 hashes the files for BEP 52 (each file alone, starting a piece) and, when v1 is
// set, also the v1 pieces of the aligned layout (each file's last piece padded with zeros,
// except a single file's, as libtorrent does). files must be in tree order.
func hashV2(files []InputFile, pl int64, v1, single bool, progress func(done, total int64)) ([]v2Hashed, []byte, error) {
	var total int64
	for _, f := range files {
		total += f.Length
	}
	out := make([]v2Hashed, len(files))
	var pieces []byte
	buf := make([]byte, pl)
	var leaves []byte
	var done int64
	for i, f := range files {
		if f.Length == 0 {
			continue
		}
		var layer []byte
		err := f.readInto(func(r io.Reader) error {
			for left := f.Length; left > 0; {
				n := min(left, pl)
				if _, err := io.ReadFull(r, buf[:n]); err != nil {
					if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
						return fmt.Errorf("shorter than its length %d", f.Length)
					}
					return err
				}
				left -= n
				if f.Length <= pl {
					out[i].root = MerkleRoot(buf[:n])
				} else {
					var h [32]byte
					h, leaves = pieceRoot(buf[:n], pl, leaves)
					layer = append(layer, h[:]...)
				}
				if v1 {
					p := buf[:n]
					if n < pl && !single {
						clear(buf[n:])
						p = buf
					}
					s := sha1.Sum(p)
					pieces = append(pieces, s[:]...)
				}
				done += n
				if progress != nil {
					progress(done, total)
				}
			}
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("file %d (%s): %w", i, strings.Join(f.Path, "/"), err)
		}
		if layer != nil {
			out[i].layer = layer
			out[i].root = layerRoot(slices.Clone(layer), pl)
		}
	}
	return out, pieces, nil
}

// createV2 makes a v2-only or hybrid torrent; the caller checked name, files and options.
// The files are put in tree order (a v2 file tree is a dictionary, sorted by name).
func createV2(name string, files []InputFile, single bool, pl int64, format Format, opts CreateOptions, top torrentDict) ([]byte, error) {
	if pl&(pl-1) != 0 {
		return nil, fmt.Errorf("piece length %d is not a power of two, as BitTorrent v2 requires", pl)
	}
	files = slices.Clone(files)
	slices.SortStableFunc(files, func(a, b InputFile) int { return slices.Compare(a.Path, b.Path) })
	if n := v2PieceCount(files, pl); n > MaxPieces {
		return nil, fmt.Errorf("%d pieces of %s, over the limit of %d: use a larger piece length", n, size(pl), MaxPieces)
	}
	hashed, pieces, err := hashV2(files, pl, format == FormatHybrid, single, opts.Progress)
	if err != nil {
		return nil, err
	}
	tree := map[string]any{}
	layers := map[string]any{}
	for i, f := range files {
		attrs := map[string]any{"length": f.Length}
		if f.Length > 0 {
			attrs["pieces root"] = string(hashed[i].root[:])
		}
		if hashed[i].layer != nil {
			layers[string(hashed[i].root[:])] = string(hashed[i].layer)
		}
		path := f.Path
		if single {
			path = []string{name}
		}
		dir := tree
		for _, c := range path[:len(path)-1] {
			sub, ok := dir[c].(map[string]any)
			if !ok {
				sub = map[string]any{}
				dir[c] = sub
			}
			dir = sub
		}
		dir[path[len(path)-1]] = map[string]any{"": attrs}
	}
	info := map[string]any{"name": name, "piece length": pl, "meta version": 2, "file tree": tree}
	if opts.Private {
		info["private"] = 1
	}
	if format == FormatHybrid {
		info["pieces"] = string(pieces)
		if single {
			info["length"] = files[0].Length
		} else {
			info["files"] = hybridFileList(files, pl)
		}
	}
	rawInfo, err := benc.Marshal(info)
	if err != nil {
		return nil, err
	}
	top.Info = rawInfo
	return marshalV2(top, layers)
}

// marshalV2 encodes a torrent with piece layers (benc sorts a map's keys).
func marshalV2(t torrentDict, layers map[string]any) ([]byte, error) {
	m := map[string]any{"info": t.Info}
	if t.Announce != "" {
		m["announce"] = t.Announce
	}
	if t.AnnounceList != nil {
		m["announce-list"] = t.AnnounceList
	}
	if t.Comment != "" {
		m["comment"] = t.Comment
	}
	if t.CreatedBy != "" {
		m["created by"] = t.CreatedBy
	}
	if t.CreationDate != 0 {
		m["creation date"] = t.CreationDate
	}
	if len(t.URLList) > 0 {
		m["url-list"] = t.URLList
	}
	if len(layers) > 0 {
		m["piece layers"] = layers
	}
	return benc.Marshal(m)
}

// hybridFileList is the v1 file list of a hybrid: a BEP 47 padding file after each
// file that does not end on a piece boundary, the last one too, as libtorrent 2.0 does.
func hybridFileList(files []InputFile, pl int64) []any {
	var out []any
	for _, f := range files {
		out = append(out, map[string]any{"length": f.Length, "path": f.Path})
		if pad := alignUp(f.Length, pl) - f.Length; pad > 0 {
			out = append(out, map[string]any{"attr": "p", "length": pad, "path": []string{".pad", strconv.FormatInt(pad, 10)}})
		}
	}
	return out
}

func v2PieceCount(files []InputFile, pl int64) int64 {
	var n int64
	for _, f := range files {
		n += (f.Length + pl - 1) / pl
	}
	return n
}
