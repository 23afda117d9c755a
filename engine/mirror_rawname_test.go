package engine_test

import (
	"bytes"
	"crypto/sha1"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine/enginetest"
	"github.com/hyperblow/hyperblow/engine/internal/benc"
	"github.com/hyperblow/hyperblow/engine/metainfo"
)

// A web seed's URLs name the files as the torrent spells them, which is how
// the mirror stores them, not as the mount shows them: bytes that are not
// UTF-8, control characters, and a name shown numbered because the torrent
// holds it twice.
func TestMirrorURLsUseTheTorrentsNames(t *testing.T) {
	same := enginetest.RandomBytes(22, 70_000)
	files := []enginetest.File{
		{Path: []string{"caf\xe9", "menu.bin"}, Data: enginetest.RandomBytes(21, 150_000)},
		{Path: []string{"dup.bin"}, Data: same},
		{Path: []string{"dup.bin"}, Data: same}, // the mirror has one file for both
		{Path: []string{"tab\tname"}, Data: enginetest.RandomBytes(23, 90_001)},
	}
	const name = "root\x01"
	mt := rawTorrent(t, name, 64<<10, files) // Create refuses such names
	byURL := map[string][]byte{}
	for _, f := range files {
		byURL["/m/"+name+"/"+strings.Join(f.Path, "/")] = f.Data
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := byURL[r.URL.Path]
		if !ok {
			t.Errorf("asked for %q, which the mirror does not have", r.URL.Path)
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
	}))
	t.Cleanup(ts.Close)

	tor := mirrorLeecher(t, mt, ts.URL+"/m/")
	shown := []string{}
	for k, f := range mt.Info.VisibleFiles() {
		shown = append(shown, strings.Join(f.Path, "/"))
		if got := readAll(t, tor, f, 100_000); !bytes.Equal(got, files[k].Data) {
			t.Fatalf("%q: content differs", f.Path)
		}
	}
	// The mount shows sanitized, unique names all the same.
	if want := "caf\ufffd/menu.bin,dup.bin,dup (1).bin,tab_name"; strings.Join(shown, ",") != want {
		t.Fatalf("shown as %q, want %q", strings.Join(shown, ","), want)
	}
	if ms := tor.Mirrors(); len(ms) != 1 || ms[0].State == "banned" {
		t.Fatalf("mirror stats %+v", ms)
	}
}

// rawTorrent builds a multi-file torrent with the names as given, which
// metainfo.Create would refuse.
func rawTorrent(t *testing.T, name string, pieceLength int, files []enginetest.File) *metainfo.Torrent {
	t.Helper()
	var all []byte
	var list []any
	for _, f := range files {
		all = append(all, f.Data...)
		path := make([]any, len(f.Path))
		for i, c := range f.Path {
			path[i] = c
		}
		list = append(list, map[string]any{"length": len(f.Data), "path": path})
	}
	var pieces []byte
	for off := 0; off < len(all); off += pieceLength {
		h := sha1.Sum(all[off:min(off+pieceLength, len(all))])
		pieces = append(pieces, h[:]...)
	}
	raw, err := benc.Marshal(map[string]any{"info": map[string]any{
		"name": name, "piece length": pieceLength, "pieces": string(pieces), "files": list}})
	if err != nil {
		t.Fatal(err)
	}
	mt, err := metainfo.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return mt
}
