package metainfo

import (
	"bytes"
	"crypto/sha1"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hyperblow/hyperblow/engine/internal/benc"
)

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// checkRoundTrip parses out and checks the files and every piece hash against data,
// the files' contents concatenated.
func checkRoundTrip(t *testing.T, out []byte, name string, files []InputFile, data []byte) *Torrent {
	t.Helper()
	if err := benc.Scan(out, benc.Limits{SortedKeys: true}); err != nil {
		t.Fatalf("output not canonical: %v", err)
	}
	tor := mustParse(t, out)
	i := tor.Info
	if i.Name != name || i.TotalLength != int64(len(data)) || len(i.Files) != len(files) {
		t.Fatalf("got name %q total %d files %d", i.Name, i.TotalLength, len(i.Files))
	}
	for k, f := range files {
		want := f.Path
		if len(want) == 0 {
			want = []string{name}
		}
		if !slices.Equal(i.Files[k].Path, want) || i.Files[k].Length != f.Length {
			t.Fatalf("file %d: got %q %d, want %q %d", k, i.Files[k].Path, i.Files[k].Length, want, f.Length)
		}
	}
	for p := range i.NumPieces {
		off := i.PieceOffset(p)
		if i.PieceHash(p) != sha1.Sum(data[off:off+i.PieceLen(p)]) {
			t.Fatalf("piece %d hash mismatch", p)
		}
	}
	if sum := i.PieceOffset(i.NumPieces-1) + i.PieceLen(i.NumPieces-1); sum != i.TotalLength {
		t.Fatalf("pieces cover %d bytes, want %d", sum, i.TotalLength)
	}
	return tor
}

func TestCreateFromFilesRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sizes  []int
		paths  [][]string
		pl     int64
		single bool
	}{
		{"single exact pieces", []int{32768}, nil, 16384, true},
		{"single short last", []int{40000}, nil, 16384, true},
		{"single tiny", []int{1}, nil, 0, true},
		{"multi across boundaries", []int{10000, 0, 30000, 1, 16384}, [][]string{{"a.bin"}, {"empty"}, {"dir", "b.bin"}, {"dir", "sub", "c"}, {"d"}}, 16384, false},
		{"one file in a folder", []int{5}, [][]string{{"only"}}, 0, false},
		{"piece length not a power of two", []int{100000}, [][]string{{"x"}}, 20000, false},
	} {
		var files []InputFile
		var all []byte
		for k, n := range tc.sizes {
			b := randomBytes(uint64(k), n)
			all = append(all, b...)
			var p []string
			if !tc.single {
				p = tc.paths[k]
			}
			files = append(files, FileBytes(b, p...))
		}
		out, err := CreateFromFiles("tor", files, CreateOptions{PieceLength: tc.pl})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		tor := checkRoundTrip(t, out, "tor", files, all)
		if tor.Info.MultiFile == tc.single {
			t.Fatalf("%s: MultiFile = %v", tc.name, tor.Info.MultiFile)
		}
	}
}

func TestCreateOptions(t *testing.T) {
	out, err := CreateFromFiles("", []InputFile{FileBytes([]byte("hello"))}, CreateOptions{
		Name:         "named",
		Trackers:     [][]string{{" http://a/announce ", "udp://b:6969"}, {}, {"https://c/announce"}},
		WebSeeds:     []string{"http://seed/files/"},
		Private:      true,
		Comment:      "c",
		CreatedBy:    "hyperblow",
		CreationDate: 1700000000,
	})
	if err != nil {
		t.Fatal(err)
	}
	tor := mustParse(t, out)
	if tor.Info.Name != "named" || !tor.Info.Private || tor.Comment != "c" || tor.CreatedBy != "hyperblow" || tor.CreationDate != 1700000000 {
		t.Fatalf("got %+v %+v", tor, tor.Info)
	}
	if tor.Announce != "http://a/announce" || len(tor.AnnounceList) != 2 || len(tor.AnnounceList[0]) != 2 || tor.AnnounceList[1][0] != "https://c/announce" {
		t.Fatalf("trackers %q %q", tor.Announce, tor.AnnounceList)
	}
	if !slices.Equal(tor.URLList, []string{"http://seed/files/"}) {
		t.Fatalf("web seeds %q", tor.URLList)
	}
	// One tracker: announce only, as most creators write it.
	out, _ = CreateFromFiles("n", []InputFile{FileBytes([]byte("x"))}, CreateOptions{Trackers: [][]string{{"udp://t:1"}}})
	if bytes.Contains(out, []byte("announce-list")) || !bytes.Contains(out, []byte("8:announce9:udp://t:1")) {
		t.Fatalf("single tracker: %q", out)
	}
	// Output is reproducible without a creation date.
	a, _ := CreateFromFiles("n", []InputFile{FileBytes([]byte("x"))}, CreateOptions{})
	b, _ := CreateFromFiles("n", []InputFile{FileBytes([]byte("x"))}, CreateOptions{})
	if !bytes.Equal(a, b) {
		t.Fatal("not reproducible")
	}
}

func TestAutoPieceLength(t *testing.T) {
	for _, tc := range []struct{ total, want int64 }{
		{1, 16 << 10},
		{100 << 20, 64 << 10},    // 1600 pieces
		{1 << 30, 1 << 20},       // 1024 pieces
		{4 << 30, 4 << 20},       // 1024 pieces
		{100 << 30, 16 << 20},    // clamped: 6400 pieces
		{2000 * 16384, 32 << 10}, // 2000 pieces would be 16 KiB; >= 2000 doubles
	} {
		if got := autoPieceLength(tc.total); got != tc.want {
			t.Errorf("autoPieceLength(%d) = %d, want %d", tc.total, got, tc.want)
		}
	}
}

func TestCreateErrors(t *testing.T) {
	x := []byte("x")
	for _, tc := range []struct {
		name  string
		tname string
		files []InputFile
		opts  CreateOptions
		want  string
	}{
		{"no files", "n", nil, CreateOptions{}, "no files"},
		{"empty name", "", []InputFile{FileBytes(x)}, CreateOptions{}, "name: \"\" is not a safe file name"},
		{"dotdot name", "..", []InputFile{FileBytes(x)}, CreateOptions{}, "is not a safe file name"},
		{"slash in component", "n", []InputFile{FileBytes(x, "a/b")}, CreateOptions{}, "file 0: path component 0"},
		{"dot component", "n", []InputFile{FileBytes(x, "a", ".")}, CreateOptions{}, "file 0: path component 1"},
		{"duplicate", "n", []InputFile{FileBytes(x, "a"), FileBytes(x, "a")}, CreateOptions{}, `path "a" is used twice`},
		{"file then dir", "n", []InputFile{FileBytes(x, "a"), FileBytes(x, "a", "b")}, CreateOptions{}, `path "a" is used twice`},
		{"dir then file", "n", []InputFile{FileBytes(x, "a", "b"), FileBytes(x, "a")}, CreateOptions{}, `path "a" is used twice`},
		{"empty path in multi", "n", []InputFile{FileBytes(x), FileBytes(x, "b")}, CreateOptions{}, "path has 0 components"},
		{"total 0", "n", []InputFile{FileBytes(nil)}, CreateOptions{}, "total length is 0"},
		{"no data", "n", []InputFile{{Path: []string{"a"}, Length: 5}}, CreateOptions{}, "no data"},
		{"short data", "n", []InputFile{{Path: []string{"a"}, Length: 5, Data: bytes.NewReader(x)}}, CreateOptions{}, "shorter than its length 5"},
		{"piece length small", "n", []InputFile{FileBytes(x)}, CreateOptions{PieceLength: 1000}, "piece length 1000 is not in 16 KiB..64 MiB"},
		{"bad tracker", "n", []InputFile{FileBytes(x)}, CreateOptions{Trackers: [][]string{{"wss://t/"}}}, `tracker "wss://t/"`},
		{"bad web seed", "n", []InputFile{FileBytes(x)}, CreateOptions{WebSeeds: []string{"ftp://s/"}}, `web seed "ftp://s/"`},
		{"padding-like name", "n", []InputFile{FileBytes(x, "_____padding_file_1")}, CreateOptions{}, "padding file"},
		{"padding-like path", "n", []InputFile{FileBytes(x, ".pad", "1")}, CreateOptions{}, "padding file"},
		{"v2 folder of one file", "n", []InputFile{FileBytes(x, "a")}, CreateOptions{Format: FormatV2}, "cannot hold a folder with one file"},
		{"hybrid folder of one file", "n", []InputFile{FileBytes(x, "a")}, CreateOptions{Format: FormatHybrid}, "cannot hold a folder with one file"},
	} {
		_, err := CreateFromFiles(tc.tname, tc.files, tc.opts)
		if err == nil || !strings.HasPrefix(err.Error(), "metainfo: create: ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestCreateDirectory(t *testing.T) {
	root := filepath.Join(t.TempDir(), "My Folder")
	write := func(rel string, data []byte) {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	contents := map[string][]byte{
		"b.txt":        randomBytes(1, 20000),
		"a/z.bin":      randomBytes(2, 70000),
		"a/empty":      nil,
		"a.txt":        randomBytes(3, 3),
		"c/d/e/f.data": randomBytes(4, 16384),
	}
	for rel, b := range contents {
		write(rel, b)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "a"), filepath.Join(root, "dirlink")); err != nil {
		t.Fatal(err)
	}
	out, err := Create(root, CreateOptions{PieceLength: 16384})
	if err != nil {
		t.Fatal(err)
	}
	// WalkDir order: lexical within each directory.
	order := []string{"a/empty", "a/z.bin", "a.txt", "b.txt", "c/d/e/f.data"}
	var files []InputFile
	var all []byte
	for _, rel := range order {
		files = append(files, FileBytes(contents[rel], strings.Split(rel, "/")...))
		all = append(all, contents[rel]...)
	}
	checkRoundTrip(t, out, "My Folder", files, all)

	single := filepath.Join(root, "b.txt")
	out, err = Create(single, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkRoundTrip(t, out, "b.txt", []InputFile{FileBytes(contents["b.txt"])}, contents["b.txt"])

	empty := t.TempDir()
	if _, err := Create(empty, CreateOptions{}); err == nil || !strings.Contains(err.Error(), "no regular files") || !strings.Contains(err.Error(), empty) {
		t.Fatalf("empty dir: %v", err)
	}
	if _, err := Create(filepath.Join(empty, "missing"), CreateOptions{}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("missing: %v", err)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.torrent")
	out, err := CreateFromFiles("n", []InputFile{FileBytes([]byte("data"))}, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(good, out, 0o644); err != nil {
		t.Fatal(err)
	}
	tor, err := Load(good)
	if err != nil || tor.Info.Name != "n" {
		t.Fatalf("Load: %v", err)
	}
	bad := filepath.Join(dir, "bad.torrent")
	os.WriteFile(bad, []byte("d4:infoi1ee"), 0o644)
	if _, err := Load(bad); err == nil || err.Error() != bad+": not a valid torrent: info: want dictionary, got integer" {
		t.Fatalf("bad: %v", err)
	}
	short := filepath.Join(dir, "short.torrent")
	os.WriteFile(short, out[:len(out)/2], 0o644)
	_, err = Load(short)
	if want := fmt.Sprintf("%s: truncated after %d bytes (", short, len(out)/2); err == nil || !strings.HasPrefix(err.Error(), want) ||
		!strings.HasSuffix(err.Error(), "; is the download complete?)") || strings.Count(err.Error(), short) != 1 {
		t.Fatalf("truncated: %v; want %q...", err, want)
	}
	var pe *ParseError
	if !errors.As(err, &pe) || !errors.Is(err, benc.ErrTruncated) {
		t.Errorf("truncated: %v is not a *ParseError wrapping benc.ErrTruncated", err)
	}
	big := filepath.Join(dir, "big.torrent")
	os.WriteFile(big, make([]byte, MaxTorrentSize+100), 0o644)
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), big+": larger than the 10 MiB limit") {
		t.Fatalf("big: %v", err)
	}
	missing := filepath.Join(dir, "missing.torrent")
	if _, err := Load(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Fatalf("missing: %v", err)
	}
}
