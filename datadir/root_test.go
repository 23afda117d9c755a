package datadir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/enginetest"
	"github.com/hyperblow/hyperblow/engine/metainfo"
)

// create makes a torrent of path (a file or a folder) with 16 KiB pieces.
func create(t *testing.T, path string) *metainfo.Info {
	t.Helper()
	raw, err := metainfo.Create(path, metainfo.CreateOptions{PieceLength: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	mt, err := metainfo.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return mt.Info
}

func write(t *testing.T, path string, n int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, enginetest.RandomBytes(byte(n), n), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Root takes the torrent's folder or file, or the folder holding it, and
// refuses the rest saying what to give.
func TestRoot(t *testing.T) {
	parent := t.TempDir()
	album := filepath.Join(parent, "album")
	write(t, filepath.Join(album, "a.bin"), 20<<10)
	write(t, filepath.Join(album, "sub", "b.bin"), 30<<10)
	multi := create(t, album)
	file := filepath.Join(parent, "one.bin")
	write(t, file, 10<<10)
	single := create(t, file)
	for _, c := range []struct {
		info      *metainfo.Info
		arg, want string // want "": an error containing errWant
		errWant   string
	}{
		{multi, album, album, ""},
		{multi, parent, album, ""}, // the folder holding the torrent's folder
		{multi, filepath.Join(album, "a.bin"), "", "not a folder"},
		{multi, filepath.Join(parent, "none"), "", "give the torrent's file, or the folder holding its files"},
		{single, file, file, ""},
		{single, parent, file, ""},
		{single, album, "", "give the file itself"},
	} {
		got, err := Root(c.info, c.arg)
		if c.want != "" && (err != nil || got != c.want) {
			t.Errorf("Root(%s, %s) = %s, %v; want %s", c.info.Name, c.arg, got, err, c.want)
		}
		if c.want == "" && (err == nil || !strings.Contains(err.Error(), c.errWant)) {
			t.Errorf("Root(%s, %s) error %v; want one saying %q", c.info.Name, c.arg, err, c.errWant)
		}
	}
}

// FirstMissing names the first piece not held and the file it is in.
func TestFirstMissing(t *testing.T) {
	album := filepath.Join(t.TempDir(), "album")
	write(t, filepath.Join(album, "a.bin"), 20<<10)        // pieces 0-1
	write(t, filepath.Join(album, "sub", "b.bin"), 30<<10) // pieces 1-3
	info := create(t, album)
	held := bt.NewBitfield(info.NumPieces)
	if got, want := FirstMissing(info, held), "piece 0 (in "+filepath.Join("album", "a.bin")+")"; !strings.HasPrefix(got, want) {
		t.Errorf("nothing held: %q, want %q...", got, want)
	}
	held.Set(0)
	held.Set(1)
	if got, want := FirstMissing(info, held), "piece 2 (in "+filepath.Join("album", "sub", "b.bin")+")"; !strings.HasPrefix(got, want) {
		t.Errorf("pieces 0 and 1 held: %q, want %q...", got, want)
	}
	held.SetAll()
	if got := FirstMissing(info, held); got != "every piece is there" {
		t.Errorf("all held: %q", got)
	}
}
