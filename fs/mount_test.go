package fs

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSafeFsName(t *testing.T) {
	cases := map[string]string{
		"/srv/t/movie.torrent":     "/srv/t/movie.torrent",
		"/srv/my movie,x\ty\n#z\\": "/srv/my_movie_x_y__z_",
		"magnet:?xt=urn:btih:ab":   "magnet:?xt=urn:btih:ab",
		"":                         "hyperblow",
		"été\x00":                  "été_",
		"bad\xffutf8":              "bad_utf8",
	}
	for in, want := range cases {
		if got := SafeFsName(in); got != want {
			t.Errorf("SafeFsName(%q) = %q, want %q", in, got, want)
		}
	}
	long := SafeFsName(strings.Repeat("é", 200)) // 400 bytes
	if len(long) > 255 || !utf8.ValidString(long) {
		t.Errorf("long name: %d bytes, valid UTF-8 %v", len(long), utf8.ValidString(long))
	}
}
