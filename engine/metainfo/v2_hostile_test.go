package metainfo

import (
	"os"
	"strings"
	"testing"

	"github.com/hyperblow/hyperblow/engine/internal/benc"
)

// loadFixtureMap decodes a testdata/v2 torrent into maps for a test to break.
func loadFixtureMap(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile("testdata/v2/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := benc.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func infoOf(m map[string]any) map[string]any { return m["info"].(map[string]any) }

func treeOf(m map[string]any) map[string]any { return infoOf(m)["file tree"].(map[string]any) }

func v1Files(m map[string]any) []any { return infoOf(m)["files"].([]any) }

func layersOf(m map[string]any) map[string]any { return m["piece layers"].(map[string]any) }

// firstLayerKey returns the pieces root of a.bin, the first file (4 pieces).
func aRoot(m map[string]any) string {
	return treeOf(m)["a.bin"].(map[string]any)[""].(map[string]any)["pieces root"].(string)
}

func TestV2Hostile(t *testing.T) {
	for _, tc := range []struct {
		name, fixture string
		mutate        func(m map[string]any)
		want          string
	}{
		{"hybrid renamed v1 file", "hybrid.torrent", func(m map[string]any) {
			v1Files(m)[2].(map[string]any)["path"] = []any{"dir", "c.bin"}
		}, `inconsistent hybrid torrent: file 2 is "dir/c.bin" in the v1 file list but "dir/b.bin" in the v2 file tree`},
		{"hybrid v1 length", "hybrid.torrent", func(m map[string]any) {
			v1Files(m)[7].(map[string]any)["length"] = 65535
		}, `file "zz.bin" is 65535 bytes in the v1 file list but 65537 in the v2 file tree`},
		{"hybrid missing padding", "hybrid.torrent", func(m map[string]any) {
			fs := v1Files(m)
			infoOf(m)["files"] = append(fs[:1:1], fs[2:]...)
		}, `file "dir/b.bin" starts at byte 100000 in the v1 layout, but v2 puts it at 131072`},
		{"hybrid extra v2 file", "hybrid.torrent", func(m map[string]any) {
			treeOf(m)["zzz"] = map[string]any{"": map[string]any{"length": 0}}
		}, `the v2 file tree has 6 files, the v1 file list 5; first missing from v1: "zzz"`},
		{"hybrid extra v1 file", "hybrid.torrent", func(m map[string]any) {
			infoOf(m)["files"] = append(v1Files(m), map[string]any{"length": 0, "path": []any{"zzz"}})
		}, `v1 file 9 ("zzz") is not in the v2 file tree`},
		{"layer one hash short", "v2only.torrent", func(m map[string]any) {
			l := layersOf(m)
			l[aRoot(m)] = l[aRoot(m)].(string)[32:]
		}, `3 hashes, but file "a.bin" has 4 pieces`},
		{"layer not a multiple of 32", "v2only.torrent", func(m map[string]any) {
			l := layersOf(m)
			l[aRoot(m)] = l[aRoot(m)].(string)[1:]
		}, "is not a positive multiple of 32"},
		{"layer wrong hash", "v2only.torrent", func(m map[string]any) {
			l := layersOf(m)
			l[aRoot(m)] = "X" + l[aRoot(m)].(string)[1:]
		}, `does not hash to the pieces root of file "a.bin"`},
		{"layer key length", "v2only.torrent", func(m map[string]any) {
			layersOf(m)["short"] = strings.Repeat("x", 32)
		}, "key of 5 bytes"},
		{"no piece layers", "v2only.torrent", func(m map[string]any) {
			delete(m, "piece layers")
		}, "piece layers: missing"},
		{"layer of another file", "v2only.torrent", func(m map[string]any) {
			delete(layersOf(m), aRoot(m))
		}, `no layer for file "a.bin"`},
		{"piece length not a power of two", "v2only.torrent", func(m map[string]any) {
			infoOf(m)["piece length"] = 3 * 16384
		}, "49152 is not a power of two"},
		{"pieces root length", "v2only.torrent", func(m map[string]any) {
			treeOf(m)["z.bin"].(map[string]any)[""].(map[string]any)["pieces root"] = "short"
		}, `info.file tree["z.bin"][""].pieces root: 5 bytes, want 32`},
		{"no pieces root", "v2only.torrent", func(m map[string]any) {
			delete(treeOf(m)["z.bin"].(map[string]any)[""].(map[string]any), "pieces root")
		}, `pieces root: missing`},
		{"file and directory", "v2only.torrent", func(m map[string]any) {
			treeOf(m)["z.bin"].(map[string]any)["x"] = map[string]any{}
		}, "is both a file and a directory"},
		{"meta version 3", "v2only.torrent", func(m map[string]any) {
			infoOf(m)["meta version"] = 3
		}, "info.meta version: 3 is not supported"},
		{"negative length", "v2only.torrent", func(m map[string]any) {
			treeOf(m)["z.bin"].(map[string]any)[""].(map[string]any)["length"] = -1
		}, "-1 is negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := loadFixtureMap(t, tc.fixture)
			tc.mutate(m)
			b, err := benc.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Parse(b)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestV2DeepTree: a file tree deeper than bencode's nesting limit is refused before it is
// walked (the walk has its own bound of MaxPathDepth components as well).
func TestV2DeepTree(t *testing.T) {
	leaf := bd("", bd("length", bi(1), "pieces root", bs(strings.Repeat("r", 32))))
	for range 70 {
		leaf = bd("d", leaf)
	}
	info := bd("file tree", leaf, "meta version", bi(2), "name", bs("n"), "piece length", bi(16384))
	if _, err := Parse(torrentWith(info)); err == nil || !strings.Contains(err.Error(), "nesting deeper than 64") {
		t.Fatalf("got %v, want the nesting limit", err)
	}
	if _, err := ParseInfo([]byte(info)); err == nil || !strings.Contains(err.Error(), "nesting deeper than 64") {
		t.Fatalf("ParseInfo: got %v, want the nesting limit", err)
	}
	w := treeWalker{}
	deep := [][]byte{}
	for range MaxPathDepth {
		deep = append(deep, []byte("d"))
	}
	v, err := benc.Parse([]byte(bd("x", bd())), benc.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.walk(v, deep); err == nil || !strings.Contains(err.Error(), "more than 64 path components") {
		t.Fatalf("walk below %d components: got %v", MaxPathDepth, err)
	}
}

// TestV2Names: names in a file tree are cleaned as v1 paths are, and duplicates renamed.
func TestV2Names(t *testing.T) {
	m := loadFixtureMap(t, "v2only.torrent")
	tree := treeOf(m)
	tree[".."] = map[string]any{"evil\x00": tree["z.bin"]}
	checkInfo(t, parseMap(t, m).Info)
}

// TestV2HybridWithoutLayers: a hybrid may lack piece layers (its v1 hashes cover it), and
// an info dictionary alone (BEP 9) parses, with the layers then missing for v2-only.
func TestV2HybridWithoutLayers(t *testing.T) {
	m := loadFixtureMap(t, "hybrid.torrent")
	delete(m, "piece layers")
	b, _ := benc.Marshal(m)
	if _, err := Parse(b); err != nil {
		t.Fatal(err)
	}
	v2 := loadFixtureMap(t, "v2only.torrent")
	raw, _ := benc.Marshal(infoOf(v2))
	info, err := ParseInfo(raw)
	if err != nil {
		t.Fatal(err)
	}
	if n := info.MissingPieceLayers(); n != 3 {
		t.Fatalf("MissingPieceLayers = %d, want 3 (a.bin, dir/b.bin, zz.bin)", n)
	}
}
