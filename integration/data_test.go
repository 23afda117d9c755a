package integration

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// writeRandomFile writes size pseudo-random bytes, the same for the same seed.
func writeRandomFile(t testing.TB, path string, size int64, seed uint64) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	var key [32]byte
	copy(key[:], strconv.FormatUint(seed, 16))
	w := bufio.NewWriterSize(f, 1<<20)
	if _, err := io.CopyN(w, rand.NewChaCha8(key), size); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// treeSpec is the multi-file test tree: nested folders at least three deep, an
// empty file, sizes around the 16 KiB block, one not a multiple of any piece
// length, about 3 MiB, and names with spaces and non-ASCII letters.
var treeSpec = []struct {
	path string
	size int64
}{
	{"empty", 0},
	{"one-byte.txt", 1},
	{"a/block-minus-one.bin", 16383},
	{"a/block-plus-one.bin", 16385},
	{"a/b/odd.bin", 100003},
	{"a/b/c/three-mib.bin", 3<<20 + 12345},
	{"a/b/c/d/deep.txt", 777},
	{"a/b/c/d/empty-too", 0},
	{"notes and more/read me.txt", 4242},
	{"notes and more/ünïcödé-ß.txt", 65536},
}

// testData is generated once per run under workDir and only read afterwards.
type testData struct {
	Big  string // a 64 MiB single file
	Tree string // a folder laid out by treeSpec
}

var shared struct {
	once sync.Once
	data testData
	err  error
}

// sharedData returns the 64 MiB file and the multi-file tree, making them on first use.
func sharedData(t testing.TB) testData {
	t.Helper()
	shared.once.Do(func() {
		start := time.Now()
		dir := filepath.Join(workDir, "data")
		d := testData{Big: filepath.Join(dir, "movie-64MiB.bin"), Tree: filepath.Join(dir, "tree")}
		writeRandomFile(t, d.Big, 64<<20, 1)
		for i, f := range treeSpec {
			writeRandomFile(t, filepath.Join(d.Tree, filepath.FromSlash(f.path)), f.size, uint64(100+i))
		}
		// Everyone may read it: the non-root test's seeders and mounts too.
		filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
			if err == nil {
				mode := os.FileMode(0o644)
				if e.IsDir() {
					mode = 0o755
				}
				os.Chmod(p, mode)
			}
			return err
		})
		t.Logf("generated test data in %v", time.Since(start).Round(time.Millisecond))
		shared.data = d
	})
	if shared.data.Big == "" {
		t.Fatal("test data generation failed earlier")
	}
	return shared.data
}

// entry is one name in a tree listing.
type entry struct {
	dir  bool
	size int64 // files only
}

func (e entry) String() string {
	if e.dir {
		return "dir"
	}
	return fmt.Sprintf("file %d", e.size)
}

// listTree walks root with the os package (for local folders, never the mount) and
// returns every entry below it by slash-separated relative path.
func listTree(t testing.TB, root string) map[string]entry {
	t.Helper()
	out := map[string]entry{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		e := entry{dir: d.IsDir()}
		if !e.dir {
			e.size = info.Size()
		}
		out[filepath.ToSlash(rel)] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// listMount lists a mounted tree from a child process (find), as a person would.
func listMount(t testing.TB, root string) map[string]entry {
	t.Helper()
	r := mustRun(t, 30*time.Second, "find", root, "-mindepth", "1", "-printf", `%y\t%s\t%P\000`)
	out := map[string]entry{}
	for _, rec := range strings.Split(strings.TrimSuffix(r.stdout, "\x00"), "\x00") {
		if rec == "" {
			continue
		}
		kind, rest, _ := strings.Cut(rec, "\t")
		size, name, _ := strings.Cut(rest, "\t")
		e := entry{dir: kind == "d"}
		if kind != "d" && kind != "f" {
			t.Errorf("%s/%s: unexpected file type %q", root, name, kind)
		}
		if !e.dir {
			e.size, _ = strconv.ParseInt(size, 10, 64)
		}
		out[name] = e
	}
	return out
}

// diffTrees describes how got differs from want, or returns "".
func diffTrees(want, got map[string]entry) string {
	var b strings.Builder
	for _, k := range sortedKeys(want) {
		if g, ok := got[k]; !ok {
			fmt.Fprintf(&b, "  missing %s (%v)\n", k, want[k])
		} else if g != want[k] {
			fmt.Fprintf(&b, "  %s: got %v, want %v\n", k, g, want[k])
		}
	}
	for _, k := range sortedKeys(got) {
		if _, ok := want[k]; !ok {
			fmt.Fprintf(&b, "  unexpected %s (%v)\n", k, got[k])
		}
	}
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// hashTree returns the SHA-256 of every regular file below root (a local folder).
func hashTree(t testing.TB, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for rel, e := range listTree(t, root) {
		if !e.dir {
			out[rel] = hashFile(t, filepath.Join(root, filepath.FromSlash(rel)))
		}
	}
	return out
}

func hashFile(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// sourceTree is what the mount of tor should show: for a single-file torrent its
// one file at the root, for a multi-file torrent the torrent's folder's contents.
func sourceTree(t testing.TB, tor *Torrent) (tree map[string]entry, hashes map[string]string) {
	t.Helper()
	if !tor.Info.MultiFile {
		st, err := os.Stat(tor.Data)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(tor.Data)
		return map[string]entry{name: {size: st.Size()}}, map[string]string{name: hashFile(t, tor.Data)}
	}
	return listTree(t, tor.Data), hashTree(t, tor.Data)
}

// compareHashes fails the test for every file whose hash differs or is missing.
func compareHashes(t testing.TB, what string, want, got map[string]string) {
	t.Helper()
	for _, k := range sortedKeys(want) {
		if got[k] != want[k] {
			t.Errorf("%s: %s: sha256 %q, want %q", what, k, got[k], want[k])
		}
	}
	for _, k := range sortedKeys(got) {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: unexpected file %s", what, k)
		}
	}
}
