package metainfo

import (
	"slices"
	"strconv"
)

// makeUnique renames visible files so that no two share a path and no file's path is
// also a directory of another file (a file "a" and a file "a/b"). Names are compared
// byte for byte. The first file to claim a name keeps it; a later file gets a numbered
// name ("a.txt", "a (1).txt", ...) and a later directory that clashes with a file is
// renamed the same way, consistently for all files under it. Padding files are not in
// the tree, so they take no part.
//
// It uses one map for the whole tree, keyed by (directory id, name), so 100k files cost
// about one map entry per path component, and a per-name counter so that n copies of
// one name cost O(n), not O(n²).
func makeUnique(files []File) {
	n := 0 // every component is at most one entry: size the map once, never regrow it
	for _, f := range files {
		if !f.Padding {
			n += len(f.Path)
		}
	}
	u := uniquer{
		entries: make(map[entryKey]int32, n),
		aliases: map[entryKey]alias{},
		next:    map[entryKey]int{},
	}
	for i := range files {
		f := &files[i]
		if f.Padding {
			continue
		}
		if orig := u.place(f.Path); orig != nil && f.RawPath == nil {
			f.RawPath = orig // the torrent's own, for a web seed's URL
		}
	}
}

type entryKey struct {
	dir  int32 // 0 is the torrent's root
	name string
}

const isFileEntry int32 = -1

// alias is the new name and id of a directory renamed because a file had its name.
type alias struct {
	id   int32
	name string
}

type uniquer struct {
	entries map[entryKey]int32 // what a name in a directory is: a directory id or isFileEntry
	aliases map[entryKey]alias // a directory name that clashed with a file -> its new name
	next    map[entryKey]int   // next number to try when renaming a name
	dirs    int32              // directory ids handed out
}

// place claims path for one file, rewriting components that had to be
// renamed. It returns path as it was when it renamed any, nil otherwise.
func (u *uniquer) place(path []string) (orig []string) {
	keep := func() {
		if orig == nil {
			orig = slices.Clone(path)
		}
	}
	dir := int32(0)
	last := len(path) - 1
	for i, name := range path[:last] {
		k := entryKey{dir, name}
		if a, ok := u.aliases[k]; ok {
			if a.name != name {
				keep()
			}
			path[i], dir = a.name, a.id
			continue
		}
		switch id, ok := u.entries[k]; {
		case !ok:
			u.dirs++
			u.entries[k] = u.dirs
			dir = u.dirs
		case id != isFileEntry:
			dir = id
		default: // a file already has this name: the directory gets a new one
			keep()
			renamed := u.free(dir, name)
			u.dirs++
			u.entries[entryKey{dir, renamed}] = u.dirs
			u.aliases[k] = alias{u.dirs, renamed}
			path[i], dir = renamed, u.dirs
		}
	}
	name := path[last]
	if _, taken := u.entries[entryKey{dir, name}]; taken {
		keep()
		name = u.free(dir, name)
		path[last] = name
	}
	u.entries[entryKey{dir, name}] = isFileEntry
	return orig
}

// free returns the first numbered variant of name not used in dir.
func (u *uniquer) free(dir int32, name string) string {
	k := entryKey{dir, name}
	n := u.next[k]
	for {
		n++
		cand := numbered(name, n)
		if _, taken := u.entries[entryKey{dir, cand}]; !taken {
			u.next[k] = n
			return cand
		}
	}
}

// numbered returns name with " (n)" before its extension, shortened to MaxNameLen.
func numbered(name string, n int) string {
	stem, ext := splitExt(name)
	suffix := " (" + strconv.Itoa(n) + ")"
	return truncateUTF8(stem, MaxNameLen-len(suffix)-len(ext)) + suffix + ext
}
