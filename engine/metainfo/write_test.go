package metainfo

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMeasure(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "a", "x"), make([]byte, 100), 0o644))
	must(os.WriteFile(filepath.Join(dir, "a", "b", "y"), make([]byte, 23), 0o644))
	must(os.Symlink(filepath.Join(dir, "a", "x"), filepath.Join(dir, "a", "link"))) // skipped, as Create skips it
	if n, size, err := Measure(filepath.Join(dir, "a")); err != nil || n != 2 || size != 123 {
		t.Errorf("folder: %d files, %d bytes, %v; want 2, 123", n, size, err)
	}
	if n, size, err := Measure(filepath.Join(dir, "a", "link")); err != nil || n != 1 || size != 100 {
		t.Errorf("a symlink given as root: %d files, %d bytes, %v; want 1, 100", n, size, err)
	}
	must(os.Mkdir(filepath.Join(dir, "empty"), 0o755))
	if _, _, err := Measure(filepath.Join(dir, "empty")); err == nil || !strings.Contains(err.Error(), "nothing to share") {
		t.Errorf("empty folder: %v", err)
	}
	// A missing root: the bare cause, for the caller to name the path once.
	if _, _, err := Measure(filepath.Join(dir, "none")); !errors.Is(err, fs.ErrNotExist) || strings.Contains(err.Error(), dir) {
		t.Errorf("missing root: %v", err)
	}
}

func TestWriteFile(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "x.torrent")
	if err := WriteFile(dest, []byte("one"), false); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(dest, []byte("two"), false); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("second write without overwrite: %v", err)
	}
	if err := WriteFile(dest, []byte("three"), true); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(dest)
	if err != nil || string(b) != "three" {
		t.Errorf("after overwrite: %q, %v", b, err)
	}
	if st, err := os.Stat(dest); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("mode: %v, %v", st.Mode(), err)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(dest), ".hyperblow-*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %q", left)
	}
}

// TestTorrentMagnet: the link of a v1, v2 and hybrid torrent parses back to
// the same hashes, name, trackers and web seeds.
func TestTorrentMagnet(t *testing.T) {
	for _, format := range []Format{FormatV1, FormatV2, FormatHybrid} {
		raw, err := CreateFromFiles("movie", []InputFile{FileBytes(bytes.Repeat([]byte("x"), 40000), "a b.mkv"), FileBytes([]byte("y"), "sub", "c")}, CreateOptions{
			PieceLength: 16 << 10, Trackers: [][]string{{"http://t1/announce"}, {"udp://t2:6969"}}, WebSeeds: []string{"https://w/files/"}, Format: format,
		})
		if err != nil {
			t.Fatal(err)
		}
		mt, err := Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		link := mt.Magnet().String()
		m, err := ParseMagnet(link)
		if err != nil {
			t.Fatalf("format %v: %s: %v", format, link, err)
		}
		if m.InfoHash != mt.InfoHash || m.InfoHashV2 != mt.InfoHashV2 || m.Name != "movie" || len(m.Trackers) != 2 || len(m.WebSeeds) != 1 {
			t.Errorf("format %v: %s parses to %+v", format, link, m)
		}
		if strings.Contains(link, "xl=") || strings.Contains(link, "x.pe=") {
			t.Errorf("format %v: %s has a length or peers", format, link)
		}
	}
}
