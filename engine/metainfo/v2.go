package metainfo

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"math/bits"
	"sort"
	"strconv"
	"strings"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/internal/benc"
)

// BEP 52 (BitTorrent v2): a v2 info dictionary has "meta version" 2 and a "file tree"
// instead of "files"; each non-empty file has a "pieces root", the root of a SHA-256
// merkle tree over its 16 KiB blocks, and the torrent file carries "piece layers" (the
// tree's layer with one hash per piece) outside the info dictionary. Every file starts
// on a piece boundary. A hybrid torrent has both the v1 keys (with BEP 47 padding files
// for the alignment) and the v2 ones, describing the same files.
//
// Hyperblow lays out a v2-only torrent as libtorrent does: the files end to end, with
// padding files (hidden, zeros) inserted so that each file starts a piece, and one after
// the last file so that every piece is whole. Piece indices
// are then the same as in a hybrid's v1 view, and the engine's piece geometry is unchanged.

// v2Info is the v2 half of an Info.
type v2Info struct {
	files []v2File // non-empty files, in order (so by first piece)
	// layersKnown is false until piece layers are attached (a .torrent has them; an info
	// dictionary from BEP 9 does not).
	layersKnown bool
}

// v2File is one non-empty file of a v2 torrent.
type v2File struct {
	file   int   // index in Info.Files
	first  int   // its first piece
	pieces int   // pieces it covers
	length int64 // bytes
	root   [32]byte
	layer  []byte // piece layer (32 bytes per piece); nil for a one-piece file or unknown
}

// treeFile is one file of a BEP 52 file tree, in tree order.
type treeFile struct {
	raw    [][]byte // path components as in the tree
	length int64
	root   [32]byte
	// BEP 47 attributes, as libtorrent writes them into a file's entry.
	exec, hidden, symlink bool
	target                []string
}

// HasV1 reports whether the torrent has v1 piece hashes (a v1 or hybrid torrent).
func (i *Info) HasV1() bool { return i.pieces != nil }

// HasV2 reports whether the torrent has a BEP 52 file tree (a v2-only or hybrid torrent).
func (i *Info) HasV2() bool { return i.v2 != nil }

// MissingPieceLayers returns how many files of a v2-only torrent cannot be verified for
// want of their piece layer (as when the info came from a magnet: piece layers are not
// part of the info dictionary). It is 0 for v1 and hybrid torrents, which v1 hashes cover.
func (i *Info) MissingPieceLayers() int {
	if i.v2 == nil || i.pieces != nil {
		return 0
	}
	n := 0
	for _, f := range i.v2.files {
		if f.pieces > 1 && f.layer == nil {
			n++
		}
	}
	return n
}

// PiecesRoot returns the BEP 52 pieces root of Files[file], and false for a v1 torrent,
// a padding file or an empty file.
func (i *Info) PiecesRoot(file int) ([32]byte, bool) {
	if i.v2 == nil {
		return [32]byte{}, false
	}
	for _, f := range i.v2.files {
		if f.file == file {
			return f.root, true
		}
	}
	return [32]byte{}, false
}

// VerifyPiece reports whether data is piece index. A v1 torrent checks its SHA-1. A v2
// or hybrid torrent checks the piece's merkle subtree against the file's piece layer (or
// its pieces root, for a file of one piece), and that the bytes past the end of the file
// (alignment padding) are zero; a hybrid whose layer for that file is unknown (its info
// came from a magnet) checks the SHA-1 instead. A hybrid is not checked twice: its v1 and
// v2 layouts were checked to agree, and SHA-256 alone costs about what SHA-1 does
// (BenchmarkVerifyPiece). It panics if index is out of range.
func (i *Info) VerifyPiece(index int, data []byte) bool {
	i.check(index)
	if int64(len(data)) != i.PieceLen(index) {
		return false
	}
	if i.v2 == nil {
		return sha1.Sum(data) == i.PieceHash(index)
	}
	fs := i.v2.files
	k := sort.Search(len(fs), func(k int) bool { return fs[k].first+fs[k].pieces > index })
	if k == len(fs) || fs[k].first > index {
		return allZero(data) // a piece of padding only (never made by the layouts checked here)
	}
	f := &fs[k]
	off := int64(index-f.first) * i.PieceLength
	n := min(f.length-off, int64(len(data)))
	if !allZero(data[n:]) {
		return false
	}
	switch {
	case f.pieces == 1:
		return MerkleRoot(data[:n]) == f.root
	case f.layer == nil:
		return i.pieces != nil && sha1.Sum(data) == i.PieceHash(index)
	}
	h, _ := pieceRoot(data[:n], i.PieceLength, nil)
	return bytes.Equal(h[:], f.layer[32*(index-f.first):32*(index-f.first+1)])
}

func allZero(b []byte) bool {
	for len(b) >= 8 {
		if b[0]|b[1]|b[2]|b[3]|b[4]|b[5]|b[6]|b[7] != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// parseMetaVersion reads "meta version": absent means v1; 2 means BEP 52.
func parseMetaVersion(v benc.Value) (int64, error) {
	if v.Kind() == benc.Invalid {
		return 1, nil
	}
	mv, err := wantInt(v, "info.meta version")
	if err != nil {
		return 0, err
	}
	if mv != 1 && mv != 2 {
		return 0, errorf("info.meta version", "%d is not supported (want 2, BitTorrent v2)", mv)
	}
	return mv, nil
}

// parseFileTree reads a BEP 52 file tree in tree order. single reports a tree of one
// file at its top (a single-file torrent).
func parseFileTree(v benc.Value) (files []treeFile, single bool, err error) {
	if err := wantKind(v, benc.Dict, "info.file tree"); err != nil {
		return nil, false, err
	}
	w := treeWalker{}
	if err := w.walk(v, nil); err != nil {
		return nil, false, err
	}
	if len(w.files) == 0 {
		return nil, false, errorf("info.file tree", "holds no file")
	}
	return w.files, len(w.files) == 1 && len(w.files[0].raw) == 1, nil
}

type treeWalker struct {
	files []treeFile
	total int64
}

func treeField(path [][]byte) string {
	var sb strings.Builder
	sb.WriteString("info.file tree")
	for _, c := range path {
		sb.WriteString("[" + strconv.Quote(string(c)) + "]")
	}
	return sb.String()
}

// walk reads the directory dir, whose path is path. Depth is bounded by MaxPathDepth, so
// the recursion is too.
func (w *treeWalker) walk(dir benc.Value, path [][]byte) error {
	for k, child := range dir.Entries() {
		p := append(path[:len(path):len(path)], k)
		if len(k) == 0 {
			return errorf(treeField(path), "a file entry (\"\") where a directory was expected")
		}
		if len(p) > MaxPathDepth {
			return errorf(treeField(path), "more than %d path components", MaxPathDepth)
		}
		if err := wantKind(child, benc.Dict, treeField(p)); err != nil {
			return err
		}
		attrs, isFile := child.Get("")
		if !isFile {
			if err := w.walk(child, p); err != nil {
				return err
			}
			continue
		}
		if child.Len() != 1 {
			return errorf(treeField(p), "is both a file and a directory")
		}
		f, err := w.file(attrs, p)
		if err != nil {
			return err
		}
		w.files = append(w.files, f)
	}
	return nil
}

func (w *treeWalker) file(attrs benc.Value, path [][]byte) (treeFile, error) {
	field := treeField(path) + `[""]`
	if len(w.files) == MaxFiles {
		return treeFile{}, errorf("info.file tree", "more than %d files", MaxFiles)
	}
	if err := wantKind(attrs, benc.Dict, field); err != nil {
		return treeFile{}, err
	}
	var length, root, attr, symlink benc.Value
	for k, v := range attrs.Entries() {
		switch string(k) {
		case "length":
			length = v
		case "pieces root":
			root = v
		case "attr":
			attr = v
		case "symlink path":
			symlink = v
		}
	}
	n, err := fileLength(length, field+".length")
	if err != nil {
		return treeFile{}, err
	}
	w.total += n
	if w.total > MaxTotalLength {
		return treeFile{}, errorf(field+".length", "total length passes the %s limit", size(MaxTotalLength))
	}
	f := treeFile{raw: path, length: n}
	f.exec, f.hidden, f.symlink, f.target = attributes(attr, symlink)
	if n > 0 {
		r, err := wantBytes(root, field+".pieces root")
		if err != nil {
			return treeFile{}, err
		}
		if len(r) != 32 {
			return treeFile{}, errorf(field+".pieces root", "%d bytes, want 32", len(r))
		}
		f.root = [32]byte(r)
	}
	return f, nil
}

func alignUp(n, pl int64) int64 { return (n + pl - 1) / pl * pl }

// v2Layout returns each tree file's offset in the aligned layout and the total length.
func v2Layout(tree []treeFile, pl int64) ([]int64, int64) {
	offs := make([]int64, len(tree))
	var end int64
	for k, f := range tree {
		if f.length > 0 {
			end = alignUp(end, pl)
		}
		offs[k] = end
		end += f.length
	}
	return offs, end
}

// checkV2PieceLength: BEP 52 piece lengths are powers of two, at least 16 KiB.
func checkV2PieceLength(pl int64) error {
	if pl&(pl-1) != 0 {
		return errorf("info.piece length", "%d is not a power of two, as BitTorrent v2 requires", pl)
	}
	return nil
}

// buildV2Only fills info's files from a v2 file tree, with padding files for alignment.
func buildV2Only(info *Info, tree []treeFile, single bool) error {
	pl := info.PieceLength
	offs, total := v2Layout(tree, pl)
	if total == 0 {
		return errorf("info", "total length is 0: there is nothing to share")
	}
	if (total+pl-1)/pl > MaxPieces {
		return errorf("info.file tree", "%d pieces, over the limit of %d", (total+pl-1)/pl, MaxPieces)
	}
	info.MultiFile = !single
	p := fileParser{}
	var end int64
	for k, f := range tree {
		if gap := offs[k] - end; gap > 0 {
			info.Files = append(info.Files, File{Path: []string{".pad", strconv.FormatInt(gap, 10)}, Length: gap, Offset: end, Padding: true})
		}
		file := File{Length: f.length, Offset: offs[k], Exec: f.exec, Hidden: f.hidden}
		if !single {
			file.Symlink, file.SymlinkTarget = f.symlink, f.target
		}
		if single {
			file.Path = []string{info.Name}
		} else {
			file.Path = p.cleanPath(f.raw)
			file.RawPath = rawIfChanged(f.raw, file.Path)
		}
		info.Files = append(info.Files, file)
		end = offs[k] + f.length
	}
	// The last piece is whole too, as in libtorrent, whose peers ask for whole blocks.
	if total = alignUp(end, pl); total > end {
		info.Files = append(info.Files, File{Path: []string{".pad", strconv.FormatInt(total-end, 10)}, Length: total - end, Offset: end, Padding: true})
	}
	info.TotalLength = total
	info.NumPieces = int((total + pl - 1) / pl)
	info.v2 = newV2Info(info, tree)
	return nil
}

// newV2Info maps the tree's non-empty files to info's (non-padding) files, in order.
func newV2Info(info *Info, tree []treeFile) *v2Info {
	v := &v2Info{}
	k := 0
	for fi, f := range info.Files {
		if f.Padding {
			continue
		}
		t := tree[k]
		k++
		if t.length == 0 {
			continue
		}
		v.files = append(v.files, v2File{
			file: fi, first: int(f.Offset / info.PieceLength), pieces: int((t.length + info.PieceLength - 1) / info.PieceLength),
			length: t.length, root: t.root,
		})
	}
	return v
}

// checkHybrid checks that a hybrid's v1 file list (parsed into info, before names are made
// unique) describes the same files as its v2 tree: same order, names, lengths, and each
// file starting where the v2 layout puts it (on a piece boundary). rawName is info.name.
func checkHybrid(info *Info, tree []treeFile, single bool, rawName []byte) error {
	const what = "inconsistent hybrid torrent"
	if single != !info.MultiFile {
		kind := map[bool]string{true: "single-file", false: "multi-file"}
		return errorf("info", "%s: the v1 part is %s, the v2 file tree %s", what, kind[!info.MultiFile], kind[single])
	}
	pl := info.PieceLength
	offs, total := v2Layout(tree, pl)
	p := fileParser{}
	k := 0
	for fi, f := range info.Files {
		if f.Padding {
			continue
		}
		if k == len(tree) {
			return errorf("info", "%s: v1 file %d (%s) is not in the v2 file tree, which has %d files", what, fi, quotePath(f.Path), len(tree))
		}
		t := tree[k]
		var same bool
		if single {
			same = bytes.Equal(t.raw[0], rawName)
		} else {
			same = slicesEqual(f.Path, p.cleanPath(t.raw))
		}
		switch {
		case !same:
			return errorf("info", "%s: file %d is %s in the v1 file list but %s in the v2 file tree", what, k+1, quotePath(f.Path), quoteRaw(t.raw))
		case f.Length != t.length:
			return errorf("info", "%s: file %s is %d bytes in the v1 file list but %d in the v2 file tree", what, quotePath(f.Path), f.Length, t.length)
		case f.Length > 0 && f.Offset != offs[k]:
			return errorf("info", "%s: file %s starts at byte %d in the v1 layout, but v2 puts it at %d (pieces of %d bytes): padding files are wrong", what, quotePath(f.Path), f.Offset, offs[k], pl)
		}
		k++
	}
	if k != len(tree) {
		return errorf("info", "%s: the v2 file tree has %d files, the v1 file list %d; first missing from v1: %s", what, len(tree), k, quoteRaw(tree[k].raw))
	}
	if info.TotalLength != total && info.TotalLength != alignUp(total, pl) {
		return errorf("info", "%s: the v1 total length %d is not the v2 one, %d", what, info.TotalLength, total)
	}
	return nil
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func quotePath(p []string) string { return strconv.Quote(strings.Join(p, "/")) }

func quoteRaw(p [][]byte) string {
	s := make([]string, len(p))
	for i, c := range p {
		s[i] = string(c)
	}
	return quotePath(s)
}

// attachPieceLayers validates the torrent's "piece layers" (BEP 52) against info's files
// and keeps them: each is a multiple of 32 bytes, one hash per piece of its file, and
// hashes up to the file's pieces root. A v2-only torrent must have the layer of every
// file longer than one piece; a hybrid may lack them (its v1 hashes cover the data).
func attachPieceLayers(info *Info, v benc.Value) error {
	if info.v2 == nil {
		return nil
	}
	layers := map[[32]byte][]byte{}
	switch v.Kind() {
	case benc.Invalid:
	case benc.Dict:
		for k, l := range v.Entries() {
			field := "piece layers[" + hex.EncodeToString(k) + "]"
			if len(k) != 32 {
				return errorf("piece layers", "key of %d bytes, want a 32-byte pieces root", len(k))
			}
			b, err := wantBytes(l, field)
			if err != nil {
				return err
			}
			if len(b)%32 != 0 || len(b) == 0 {
				return errorf(field, "length %d is not a positive multiple of 32", len(b))
			}
			layers[[32]byte(k)] = b
		}
	default:
		return wantKind(v, benc.Dict, "piece layers")
	}
	var scratch []byte
	for k := range info.v2.files {
		f := &info.v2.files[k]
		if f.pieces == 1 {
			continue
		}
		name := quotePath(info.Files[f.file].Path)
		l, ok := layers[f.root]
		if !ok {
			if info.pieces == nil && v.Kind() != benc.Invalid {
				return errorf("piece layers", "no layer for file %s (pieces root %x)", name, f.root)
			}
			continue
		}
		field := "piece layers[" + hex.EncodeToString(f.root[:]) + "]"
		if len(l) != 32*f.pieces {
			return errorf(field, "%d hashes, but file %s has %d pieces", len(l)/32, name, f.pieces)
		}
		scratch = append(scratch[:0], l...)
		if layerRoot(scratch, info.PieceLength) != f.root {
			return errorf(field, "does not hash to the pieces root of file %s", name)
		}
		f.layer = bytes.Clone(l)
	}
	if v.Kind() == benc.Invalid && info.pieces == nil && info.MissingPieceLayers() > 0 {
		return errorf("piece layers", "missing: this v2 torrent needs them for its %d files longer than one piece (the info dictionary of a magnet link does not carry them, and fetching them from peers with BEP 52 hash requests is not supported yet: use the .torrent file)", info.MissingPieceLayers())
	}
	info.v2.layersKnown = true
	return nil
}

// v2Hashes returns the v2 info-hash of raw, and the 20-byte hash that names the torrent
// in the swarm: the v1 one for a hybrid, the truncated v2 one for a v2-only torrent.
func v2Hashes(raw []byte, info *Info, v1 bt.InfoHash) ([32]byte, bt.InfoHash) {
	h := sha256.Sum256(raw)
	if info.HasV1() {
		return h, v1
	}
	return h, bt.InfoHash(h[:20])
}

// LayerNeed is a file whose piece layer is missing: it must be fetched from peers
// (BEP 52 hash requests) before its pieces can be verified.
type LayerNeed struct {
	Root   [32]byte // the file's pieces root
	Pieces int      // hashes in its piece layer
	Layer  uint32   // the piece layer's height in the tree (0 is the 16 KiB blocks)
}

// MissingLayers lists the files of a v2-only torrent whose piece layers are unknown,
// one entry per distinct root.
func (i *Info) MissingLayers() []LayerNeed {
	if i.v2 == nil || i.pieces != nil {
		return nil
	}
	var out []LayerNeed
	seen := map[[32]byte]bool{}
	for _, f := range i.v2.files {
		if f.pieces > 1 && f.layer == nil && !seen[f.root] {
			seen[f.root] = true
			out = append(out, LayerNeed{Root: f.root, Pieces: f.pieces, Layer: uint32(bits.TrailingZeros64(uint64(i.PieceLength / BlockSize)))})
		}
	}
	return out
}

// CheckPieceLayer reports whether layer (32 bytes per piece, n.Pieces of them) hashes up
// to n.Root, with the padding of pieces of length pieceLength.
func CheckPieceLayer(n LayerNeed, layer []byte, pieceLength int64) bool {
	return len(layer) == 32*n.Pieces && layerRoot(bytes.Clone(layer), pieceLength) == n.Root
}

// maxServedLayer bounds the padded piece layers LayerHashes answers for (2 MiB of hashes,
// a 64 GiB file in 1 MiB pieces): each answer rebuilds the tree above the layer, so a
// peer's requests must not cost more than that.
const maxServedLayer = 1 << 16

// LayerHashes answers a BEP 52 hash request from the piece layers this torrent holds:
// length hashes of the piece layer (base must be its height) from index, in the layer
// padded to a power of two, then up to proofLayers uncle hashes, bottom up, that prove
// the range's subtree up to the file's root. index must be a multiple of length, a power
// of two. It reports false when it cannot answer (unknown root, a one-piece file, another
// layer, out of range). Its cost grows with the file's piece count.
func (i *Info) LayerHashes(root [32]byte, base, index, length, proofLayers uint32) ([]byte, bool) {
	if i.v2 == nil || length == 0 || length&(length-1) != 0 || index%length != 0 {
		return nil, false
	}
	var f *v2File
	for k := range i.v2.files {
		if i.v2.files[k].root == root && i.v2.files[k].layer != nil {
			f = &i.v2.files[k]
			break
		}
	}
	h := bits.TrailingZeros64(uint64(i.PieceLength / BlockSize))
	if f == nil || base != uint32(h) {
		return nil, false
	}
	w := nextPow2(f.pieces)
	if uint64(index)+uint64(length) > uint64(w) || w > maxServedLayer {
		return nil, false
	}
	// the padded layer, then its layers up to the root
	level := make([]byte, 32*w)
	copy(level, f.layer)
	for k := f.pieces; k < w; k++ {
		copy(level[32*k:], zeroHashes[h][:])
	}
	out := append([]byte(nil), level[32*index:32*(index+length)]...)
	pos := int(index)
	for lvl := 0; len(level) > 32; lvl++ {
		if lvl >= bits.TrailingZeros32(length) {
			if proofLayers == 0 {
				break
			}
			proofLayers--
			sib := pos ^ 1
			out = append(out, level[32*sib:32*sib+32]...)
		}
		next := make([]byte, len(level)/2)
		for k := 0; k < len(next)/32; k++ {
			s := sha256.Sum256(level[64*k : 64*k+64])
			copy(next[32*k:], s[:])
		}
		level, pos = next, pos/2
	}
	return out, true
}
