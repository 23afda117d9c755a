package metainfo

import (
	"strings"
	"unicode/utf8"
)

// Names from a torrent become directory entries in the mount, so each path component
// and the torrent's name pass through cleanComponent. Components are checked whole,
// never by substring: "foo... bar" is a fine name (rqbit once rejected it).
//
//   - invalid UTF-8: each bad byte becomes U+FFFD;
//   - '/', NUL, other C0 controls and DEL become '_';
//   - "" and "." are dropped, so "a//b" and "a/./b" mean "a/b";
//   - ".." becomes "_..";
//   - a component over 255 bytes is shortened, keeping its extension and valid UTF-8;
//   - a path left with no components becomes "_"; a name left empty becomes the
//     info-hash in hex.
//
// Collisions this creates (two names mapping to the same result) are resolved
// afterwards by makeUnique.

// cleanComponent returns the safe form of one path component, or ok=false if the
// component is dropped ("" or ".").
func cleanComponent(b []byte) (s string, ok bool) {
	if isPlainComponent(b) {
		return string(b), true
	}
	var sb strings.Builder
	sb.Grow(len(b))
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			sb.WriteRune(utf8.RuneError)
		case r == '/' || r < 0x20 || r == 0x7f:
			sb.WriteByte('_')
		default:
			sb.Write(b[i : i+n])
		}
		i += n
	}
	s = sb.String()
	switch s {
	case "", ".":
		return "", false
	case "..":
		return "_..", true
	}
	return shorten(s, MaxNameLen), true
}

// isPlainComponent is the fast path: printable ASCII, no '/', short, not "", "." or
// "..". Nearly every real file name takes it.
func isPlainComponent(b []byte) bool {
	if len(b) == 0 || len(b) > MaxNameLen || string(b) == "." || string(b) == ".." {
		return false
	}
	for _, c := range b {
		if c < 0x20 || c >= 0x7f || c == '/' {
			return false
		}
	}
	return true
}

// maxExtLen is the longest suffix kept as an extension when a name is shortened or
// numbered; anything longer after the last dot is not an extension.
const maxExtLen = 32

// splitExt splits "movie.mkv" into "movie" and ".mkv". A leading dot (".bashrc") is not
// an extension.
func splitExt(s string) (stem, ext string) {
	dot := strings.LastIndexByte(s, '.')
	if dot <= 0 || len(s)-dot > maxExtLen {
		return s, ""
	}
	return s[:dot], s[dot:]
}

// shorten cuts valid UTF-8 s to at most max bytes, keeping its extension and cutting
// the stem at a rune boundary.
func shorten(s string, max int) string {
	if len(s) <= max {
		return s
	}
	stem, ext := splitExt(s)
	return truncateUTF8(stem, max-len(ext)) + ext
}

// truncateUTF8 returns the longest prefix of s of at most n bytes that does not split a
// rune.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// cleanPath sanitizes the components of one file path; the result is never empty.
func cleanPath(raw [][]byte) []string {
	out := make([]string, 0, len(raw))
	for _, c := range raw {
		if s, ok := cleanComponent(c); ok {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		out = append(out, "_")
	}
	return out
}

// cleanName sanitizes the torrent's name, falling back to the info-hash in hex.
func cleanName(raw []byte, hashHex string) string {
	if s, ok := cleanComponent(raw); ok {
		return s
	}
	return hashHex
}
