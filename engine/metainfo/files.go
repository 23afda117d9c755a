package metainfo

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hyperblow/hyperblow/engine/internal/benc"
)

// parseFiles reads a multi-file torrent's file list (BEP 3, BEP 47) and lays the files
// end to end. Field names for errors are only formatted when there is an error, so
// 100k files do not cost 100k formatted strings.
func parseFiles(v benc.Value) ([]File, int64, error) {
	if err := wantKind(v, benc.List, "info.files"); err != nil {
		return nil, 0, err
	}
	n := v.Len() // counted before allocating
	switch {
	case n == 0:
		return nil, 0, errorf("info.files", "empty")
	case n > MaxFiles:
		return nil, 0, errorf("info.files", "%d files, over the limit of %d", n, MaxFiles)
	}
	p := fileParser{files: make([]File, 0, n)}
	for fv := range v.Items() {
		i := len(p.files)
		f, err := p.parse(fv, i)
		if err != nil {
			return nil, 0, err
		}
		f.Offset = p.total
		p.total += f.Length // both <= MaxTotalLength: no overflow
		if p.total > MaxTotalLength {
			return nil, 0, errorf(fileField(i, "length"), "total length passes the %s limit", size(MaxTotalLength))
		}
		p.files = append(p.files, f)
	}
	return p.files, p.total, nil
}

// fileParser holds what parsing one file reuses for the next.
type fileParser struct {
	files   []File
	total   int64
	scratch [][]byte // raw path components
	arena   []string // backing store for File.Path, carved in chunks
}

func fileField(i int, key string) string { return indexed("info.files", i) + "." + key }

// parse reads files[i].
func (p *fileParser) parse(v benc.Value, i int) (File, error) {
	if v.Kind() != benc.Dict {
		return File{}, wantKind(v, benc.Dict, indexed("info.files", i))
	}
	var length, path, pathUTF8, attr, symlink benc.Value
	for k, val := range v.Entries() {
		switch string(k) {
		case "length":
			length = val
		case "path":
			path = val
		case "path.utf-8":
			pathUTF8 = val
		case "attr":
			attr = val
		case "symlink path":
			symlink = val
		}
	}
	var f File
	if n, ok := length.Int(); ok && n >= 0 && n <= MaxTotalLength {
		f.Length = n
	} else if _, err := fileLength(length, fileField(i, "length")); err != nil {
		return File{}, err
	}
	raw, fe := rawPath(path, p.scratch[:0])
	if fe != nil {
		fe.field = fileField(i, "path") + fe.field
		return File{}, fe
	}
	p.scratch = raw
	f.Padding = isPadding(raw, attr, f.Length)
	if pathUTF8.Kind() == benc.List {
		if alt, fe := rawPath(pathUTF8, nil); fe == nil && allValidUTF8(alt) {
			raw = alt
		}
	}
	f.Path = p.cleanPath(raw)
	f.RawPath = rawIfChanged(raw, f.Path)
	if !f.Padding {
		f.Exec, f.Hidden, f.Symlink, f.SymlinkTarget = attributes(attr, symlink)
	}
	return f, nil
}

// attributes reads BEP 47's x (executable), h (hidden) and l (symlink, with
// its "symlink path": components relative to the torrent's root folder). A
// symlink's target components are cleaned like a path's, except ".." (kept,
// for the filesystem to resolve: it decides whether the target stays inside
// the mount) and "." or "" (dropped). An l without a readable symlink path is
// an ordinary file.
func attributes(attr, symlink benc.Value) (exec, hidden, isLink bool, target []string) {
	a, _ := attr.Bytes()
	exec = strings.IndexByte(string(a), 'x') >= 0
	hidden = strings.IndexByte(string(a), 'h') >= 0
	if strings.IndexByte(string(a), 'l') < 0 || symlink.Kind() != benc.List {
		return exec, hidden, false, nil
	}
	raw, fe := rawPath(symlink, nil)
	if fe != nil {
		return exec, hidden, false, nil
	}
	target = make([]string, 0, len(raw))
	for _, c := range raw {
		switch string(c) {
		case "..":
			target = append(target, "..")
		case ".", "":
		default:
			if s, ok := cleanComponent(c); ok {
				target = append(target, s)
			}
		}
	}
	return exec, hidden, true, target
}

// cleanPath is the package's cleanPath, with the result carved from an arena so that
// 100k paths cost a few allocations instead of 100k.
func (p *fileParser) cleanPath(raw [][]byte) []string {
	if cap(p.arena)-len(p.arena) < len(raw) {
		p.arena = make([]string, 0, max(4096, len(raw)))
	}
	start := len(p.arena)
	for _, c := range raw {
		if s, ok := cleanComponent(c); ok {
			p.arena = append(p.arena, s)
		}
	}
	if len(p.arena) == start {
		p.arena = append(p.arena, "_")
	}
	return p.arena[start:len(p.arena):len(p.arena)]
}

// rawIfChanged returns raw's components as strings, less those that are
// empty, "." or "..", when they differ from path, raw's sanitized form; nil
// when they do not (nearly every path), or when nothing would be left.
func rawIfChanged(raw [][]byte, path []string) []string {
	n := 0
	same := true
	for _, c := range raw {
		if isNavigation(c) {
			continue
		}
		same = same && n < len(path) && string(c) == path[n]
		n++
	}
	if (same && n == len(path)) || n == 0 {
		return nil
	}
	out := make([]string, 0, n)
	for _, c := range raw {
		if !isNavigation(c) {
			out = append(out, string(c))
		}
	}
	return out
}

// isNavigation reports a path component that names no file of its own.
func isNavigation(c []byte) bool {
	return len(c) == 0 || string(c) == "." || string(c) == ".."
}

// rawPath reads a path list: 1..MaxPathDepth strings. A problem is reported with a
// field relative to the list ("" or "[j]"), for the caller to prefix.
func rawPath(v benc.Value, buf [][]byte) ([][]byte, *fieldError) {
	if v.Kind() != benc.List {
		return nil, wantKind(v, benc.List, "").(*fieldError)
	}
	j := 0
	for c := range v.Items() {
		if j == MaxPathDepth {
			return nil, &fieldError{msg: "more than " + strconv.Itoa(MaxPathDepth) + " components"}
		}
		b, ok := c.Bytes()
		if !ok {
			return nil, wantKind(c, benc.String, "["+strconv.Itoa(j)+"]").(*fieldError)
		}
		buf = append(buf, b)
		j++
	}
	if j == 0 {
		return nil, &fieldError{msg: "empty"}
	}
	return buf, nil
}

func allValidUTF8(path [][]byte) bool {
	for _, c := range path {
		if !utf8.Valid(c) {
			return false
		}
	}
	return true
}

// legacyPadding is the name prefix BitComet used for padding files before BEP 47.
const legacyPadding = "_____padding_file_"

// isPadding reports a BEP 47 padding file: attr contains 'p'. Files named the way
// padding files are conventionally named are padding too: BitComet's
// "_____padding_file_..." and BEP 47's suggested ".pad/N" where N is the file's length.
func isPadding(path [][]byte, attr benc.Value, length int64) bool {
	if a, ok := attr.Bytes(); ok && strings.IndexByte(string(a), 'p') >= 0 {
		return true
	}
	last := path[len(path)-1]
	if strings.HasPrefix(string(last), legacyPadding) {
		return true
	}
	return len(path) == 2 && string(path[0]) == ".pad" && string(last) == strconv.FormatInt(length, 10)
}
