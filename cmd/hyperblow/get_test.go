package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hyperblow/hyperblow/engine/enginetest"
	"github.com/hyperblow/hyperblow/engine/metainfo"
	"github.com/hyperblow/hyperblow/engine/storage"
)

// getTestPiece is the piece length of the test torrents: files below are sized
// so that pieces span files.
const getTestPiece = 16 << 10

// getTestTorrent writes a three-file torrent to a .torrent file and returns its
// path, the parsed torrent and the files' contents:
//
//	a  20000 bytes  pieces 0-1
//	b  40000 bytes  pieces 1-3   (piece 1 spans a and b)
//	c  30000 bytes  pieces 3-5   (piece 3 spans b and c)
func getTestTorrent(t *testing.T) (string, *metainfo.Torrent, map[string][]byte) {
	t.Helper()
	files := map[string][]byte{
		"a":       enginetest.RandomBytes(1, 20000),
		"sub/b":   enginetest.RandomBytes(2, 40000),
		"sub/d/c": enginetest.RandomBytes(3, 30000),
	}
	var in []metainfo.InputFile
	for _, p := range []string{"a", "sub/b", "sub/d/c"} {
		in = append(in, metainfo.FileBytes(files[p], strings.Split(p, "/")...))
	}
	raw, err := metainfo.CreateFromFiles("tree", in, metainfo.CreateOptions{PieceLength: getTestPiece})
	if err != nil {
		t.Fatal(err)
	}
	mt, err := metainfo.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tree.torrent")
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, mt, files
}

func writeFiles(t *testing.T, root string, files map[string][]byte) {
	t.Helper()
	for p, b := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func checkFiles(t *testing.T, root string, files map[string][]byte) {
	t.Helper()
	for p, want := range files {
		got, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(p)))
		if err != nil {
			t.Errorf("%s: %v", p, err)
		} else if !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes differ from the %d bytes of the torrent", p, len(got), len(want))
		}
	}
}

// openGetLayout opens DIR/NAME as get's storage.Layout, but without a
// resume record: every piece there is hashed, and nothing but the files is
// made.
func openGetLayout(mt *metainfo.Torrent, dir string) (*storage.Layout, storage.LayoutCheck, error) {
	lay, chk, err := storage.OpenLayout(context.Background(), mt.InfoHash, mt.Info, dir, storage.LayoutConfig{NoResume: true})
	if err == nil {
		lay.Close()
	}
	return lay, chk, err
}

// checkHave opens the layout under dir (openGetLayout) and returns the
// pieces it holds, hashed.
func checkHave(t *testing.T, mt *metainfo.Torrent, dir string) ([]bool, int64) {
	t.Helper()
	lay, chk, err := openGetLayout(mt, dir)
	if err != nil {
		t.Fatal(err)
	}
	have := make([]bool, mt.Info.NumPieces)
	for i := range have {
		have[i] = lay.Has(i)
	}
	return have, chk.HeldBytes
}

func TestGetLayout(t *testing.T) {
	_, mt, _ := getTestTorrent(t)
	dir := t.TempDir()
	lay, _, err := openGetLayout(mt, dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "tree"); lay.Root() != want {
		t.Errorf("root %s, want %s", lay.Root(), want)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("DIR holds %d entries, want only the torrent's folder (no resume record)", len(ents))
	}
	for p, size := range map[string]int64{"a": 20000, "sub/b": 40000, "sub/d/c": 30000} {
		st, err := os.Stat(filepath.Join(dir, "tree", filepath.FromSlash(p)))
		if err != nil {
			t.Fatalf("%s not created: %v", p, err)
		}
		if st.Size() != size {
			t.Errorf("%s: size %d, want %d (files are made their full size)", p, st.Size(), size)
		}
	}

	// A single-file torrent is DIR/NAME.
	raw, err := metainfo.CreateFromFiles("movie.bin", []metainfo.InputFile{metainfo.FileBytes(make([]byte, 1000))}, metainfo.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	single, err := metainfo.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	lay, _, err = openGetLayout(single, dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "movie.bin"); lay.Root() != want {
		t.Errorf("single-file layout: root %s; want %s", lay.Root(), want)
	}
	if st, err := os.Stat(filepath.Join(dir, "movie.bin")); err != nil || !st.Mode().IsRegular() || st.Size() != 1000 {
		t.Errorf("single-file torrent: %v %v", st, err)
	}
}

// TestGetLayoutRefusesLinks: a symbolic link (or a file where the torrent has a
// folder) in the way is an error naming it, and nothing is written through it.
func TestGetLayoutRefusesLinks(t *testing.T) {
	_, mt, _ := getTestTorrent(t)
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, root, outside string)
		want  string
	}{
		{"linked folder", func(t *testing.T, root, outside string) {
			os.Symlink(outside, filepath.Join(root, "sub"))
		}, "sub: the torrent needs a folder here, but it is a symbolic link"},
		{"linked file", func(t *testing.T, root, outside string) {
			os.Symlink(filepath.Join(outside, "victim"), filepath.Join(root, "a"))
		}, "a: the torrent needs a file here, but it is a symbolic link"},
		{"file for folder", func(t *testing.T, root, outside string) {
			os.WriteFile(filepath.Join(root, "sub"), nil, 0o644)
		}, "sub: the torrent needs a folder here, but it is a file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, outside := t.TempDir(), t.TempDir()
			root := filepath.Join(dir, "tree")
			os.MkdirAll(root, 0o755)
			tc.setup(t, root, outside)
			_, _, err := openGetLayout(mt, dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if ents, _ := os.ReadDir(outside); len(ents) != 0 {
				t.Errorf("wrote %d entries outside the torrent's folder", len(ents))
			}
		})
	}
}

// TestGetResumeCheck: complete pieces are found, including one spanning two
// files; a piece reaching past the end of a short file is missing; a piece
// with a corrupted byte is missing.
func TestGetResumeCheck(t *testing.T) {
	_, mt, files := getTestTorrent(t)
	if mt.Info.NumPieces != 6 {
		t.Fatalf("%d pieces, the test wants 6", mt.Info.NumPieces)
	}
	t.Run("empty", func(t *testing.T) {
		have, held := checkHave(t, mt, t.TempDir())
		if slices.Contains(have, true) || held != 0 {
			t.Errorf("nothing on disk: have %v, held %d", have, held)
		}
	})
	t.Run("complete", func(t *testing.T) {
		dir := t.TempDir()
		writeFiles(t, filepath.Join(dir, "tree"), files)
		have, held := checkHave(t, mt, dir)
		if slices.Contains(have, false) || held != mt.Info.TotalLength {
			t.Errorf("all on disk: have %v, held %d", have, held)
		}
	})
	t.Run("short and corrupt", func(t *testing.T) {
		dir := t.TempDir()
		root := filepath.Join(dir, "tree")
		damaged := map[string][]byte{"a": files["a"], "sub/b": bytes.Clone(files["sub/b"]), "sub/d/c": files["sub/d/c"][:3000]}
		damaged["sub/b"][20000] ^= 1 // torrent byte 40000: piece 2
		writeFiles(t, root, damaged)
		have, held := checkHave(t, mt, dir)
		// Piece 0: a. Piece 1: a and b, whole. Piece 2: corrupt. Pieces 3-5:
		// past the 3000 bytes c holds.
		if want := []bool{true, true, false, false, false, false}; !slices.Equal(have, want) {
			t.Errorf("have %v, want %v", have, want)
		}
		if held != 2*getTestPiece {
			t.Errorf("held %d, want %d", held, 2*getTestPiece)
		}
		if st, _ := os.Stat(filepath.Join(root, "sub/d/c")); st == nil || st.Size() != 30000 {
			t.Errorf("the short file was not extended to its full size: %v", st)
		}
	})
}

var receivedRE = regexp.MustCompile(`(\d+) bytes received from peers, (\d+) bytes were already here`)

// runGetTest runs hyperblow get in-process against peer and returns the bytes
// received from peers and the bytes that were already there, from the summary.
func runGetTest(t *testing.T, peer, src, dir string) (received, already int64) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := runGet([]string{"--no-dht", "--listen", "127.0.0.1:0", "--peer", peer, "--cache-size", "16MiB", src, dir}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("get: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	m := receivedRE.FindStringSubmatch(stdout.String())
	if m == nil {
		t.Fatalf("no summary line in:\n%s", stdout.String())
	}
	received, _ = strconv.ParseInt(m[1], 10, 64)
	already, _ = strconv.ParseInt(m[2], 10, 64)
	return received, already
}

// TestGetDownloadAndResume downloads from an in-process seeder, then damages
// the result (a short file, a flipped byte) and runs get again: only the
// damaged pieces are fetched, and the files end byte-identical.
func TestGetDownloadAndResume(t *testing.T) {
	src, mt, files := getTestTorrent(t)
	var all []byte
	for _, p := range []string{"a", "sub/b", "sub/d/c"} {
		all = append(all, files[p]...)
	}
	peer := enginetest.Seed(t, mt, all).String()
	dir := filepath.Join(t.TempDir(), "new") // created by get
	root := filepath.Join(dir, "tree")
	total := mt.Info.TotalLength

	received, already := runGetTest(t, peer, src, dir)
	checkFiles(t, root, files)
	if already != 0 || received < total {
		t.Errorf("first run: received %d, already %d; want all %d received", received, already, total)
	}

	if err := os.Truncate(filepath.Join(root, "sub/d/c"), 3000); err != nil {
		t.Fatal(err)
	}
	flipAt(t, filepath.Join(root, "sub/b"), 20000)
	received, already = runGetTest(t, peer, src, dir)
	checkFiles(t, root, files)
	if already != 2*getTestPiece {
		t.Errorf("resume: %d bytes were already there, want %d (pieces 0 and 1)", already, 2*getTestPiece)
	}
	if missing := total - 2*getTestPiece; received < missing || received >= total {
		t.Errorf("resume: received %d bytes, want at least the %d missing and less than the whole %d", received, missing, total)
	}

	received, already = runGetTest(t, peer, src, dir)
	if received != 0 || already != total {
		t.Errorf("complete: received %d, already %d; want 0 and %d", received, already, total)
	}
}

func flipAt(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := []byte{0}
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func TestGetUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := runGet([]string{"--help"}, &stdout, &stderr); !errors.Is(err, errHelp) {
		t.Fatalf("--help: %v", err)
	}
	for _, want := range []string{"Usage: hyperblow get", "Examples:", "--seed", "--peer", "resume"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("--help lacks %q", want)
		}
	}
	err := runGet([]string{"only-one"}, &stdout, &stderr)
	var ue usageError
	if !errors.As(err, &ue) {
		t.Errorf("one argument: %v, want a usage error", err)
	}
	err = runGet([]string{"--no-dht", "/nonexistent/x.torrent", t.TempDir()}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/x.torrent") {
		t.Errorf("missing torrent: %v, want an error naming it", err)
	}
}

// TestGetMagnet: a bare info-hash with --peer fetches the metadata first, then
// the data.
func TestGetMagnet(t *testing.T) {
	_, mt, files := getTestTorrent(t)
	var all []byte
	for _, p := range []string{"a", "sub/b", "sub/d/c"} {
		all = append(all, files[p]...)
	}
	peer := enginetest.Seed(t, mt, all).String()
	dir := t.TempDir()
	received, _ := runGetTest(t, peer, mt.InfoHash.String(), dir)
	checkFiles(t, filepath.Join(dir, "tree"), files)
	if received < mt.Info.TotalLength {
		t.Errorf("received %d of %d bytes", received, mt.Info.TotalLength)
	}
}
