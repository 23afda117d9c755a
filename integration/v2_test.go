package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BEP 52 (BitTorrent v2) against python3-libtorrent 2.0: v2-only and hybrid torrents
// made and seeded by libtorrent are mounted; libtorrent downloads the ones `hyperblow
// create --v2/--hybrid` makes from `hyperblow seed`; magnets with xt=urn:btmh: resolve;
// an inconsistent hybrid is refused by both.

// checkV2Info compares `hyperblow info --json` with libtorrent's reading of tor.
func checkV2Info(t *testing.T, tor *Torrent, format string) {
	t.Helper()
	r := mustRun(t, 20*time.Second, buildBinary(t), "info", "--json", tor.Path)
	var got struct {
		InfoHash   string `json:"info_hash"`
		InfoHashV2 string `json:"info_hash_v2"`
		Format     string `json:"format"`
		NumPieces  int    `json:"num_pieces"`
		Total      int64  `json:"total_length"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("info --json: %v\n%s", err, r.stdout)
	}
	if got.InfoHash != tor.InfoHash || got.InfoHashV2 != tor.Info.InfoHashV2 || got.Format != format ||
		got.NumPieces != tor.Info.NumPieces || got.Total != tor.Info.TotalLength {
		t.Fatalf("info --json says %+v; libtorrent: info-hash %s, v2 %s, %d pieces, %d bytes, format %s",
			got, tor.InfoHash, tor.Info.InfoHashV2, tor.Info.NumPieces, tor.Info.TotalLength, format)
	}
}

// TestV2MountFromLibtorrent mounts a v2-only and a hybrid torrent of the test tree, each
// made and seeded by libtorrent, and compares the mount with the source (cp -r, sha256).
func TestV2MountFromLibtorrent(t *testing.T) {
	buildBinary(t)
	data := sharedData(t)
	for _, format := range []string{"v2", "hybrid"} {
		t.Run(format, func(t *testing.T) {
			tor := makeTorrentOpts(t, data.Tree, nil, 32<<10, torrentOpts{format: format})
			checkV2Info(t, tor, format)
			peer := seedLibtorrent(t, tor)
			m := mount(t, "--peer", peer, tor.Path)
			checkMountedTorrent(t, m, tor)
			m.Unmount(t)
		})
	}
}

// TestV2SeedToLibtorrent: libtorrent downloads torrents made by `hyperblow create --v2`
// and `--hybrid` from `hyperblow seed`, byte for byte; libtorrent reads the same
// info-hashes from them as `hyperblow info`.
func TestV2SeedToLibtorrent(t *testing.T) {
	bin := buildBinary(t)
	data := sharedData(t)
	for _, format := range []string{"v2", "hybrid"} {
		t.Run(format, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tree.torrent")
			mustRun(t, time.Minute, bin, "create", "--"+format, "--piece-length", "32KiB", "-o", path, data.Tree)
			tor := &Torrent{Path: path, Data: data.Tree, SaveDir: filepath.Dir(data.Tree), Info: readLtInfo(t, path)}
			tor.InfoHash = tor.Info.InfoHash
			checkV2Info(t, tor, format)
			s := startSeed(t, path, data.Tree)
			out := t.TempDir()
			getLibtorrent(t, tor, out, s.Addr)
			_, want := sourceTree(t, tor)
			compareHashes(t, "libtorrent download", want, downloaded(t, tor, out))
			if format == "v2" {
				// By magnet: libtorrent fetches the metadata, then the piece layers
				// with hash requests, which hyperblow seed answers.
				byMagnet := *tor
				byMagnet.Path = "magnet:?xt=urn:btmh:1220" + tor.Info.InfoHashV2
				out := t.TempDir()
				start := time.Now()
				getLibtorrent(t, &byMagnet, out, s.Addr)
				t.Logf("libtorrent got the v2 magnet in %v", time.Since(start).Round(time.Millisecond))
				compareHashes(t, "libtorrent download by magnet", want, downloaded(t, tor, out))
			}
			s.Stop(t)
		})
	}
}

// TestV2Magnet: `hyperblow get` of magnets that carry only xt=urn:btmh: (the v2
// info-hash), from a libtorrent seeder: a hybrid; a v2-only torrent of small files (a
// piece each, so the pieces roots in the info verify them); and a v2-only torrent with
// larger files, whose piece layers are not in the info: they are fetched from libtorrent
// with BEP 52 hash requests and checked against the roots.
func TestV2Magnet(t *testing.T) {
	buildBinary(t)
	data := sharedData(t)
	small := filepath.Join(t.TempDir(), "small")
	for i, f := range []struct {
		path string
		size int64
	}{{"a.txt", 1000}, {"b/c.bin", 32 << 10}, {"b/d.bin", 20000}} {
		writeRandomFile(t, filepath.Join(small, filepath.FromSlash(f.path)), f.size, uint64(900+i))
	}
	for _, tc := range []struct {
		name, format, dir string
	}{{"hybrid", "hybrid", data.Tree}, {"v2 small files", "v2", small}, {"v2 piece layers by hash requests", "v2", data.Tree}} {
		t.Run(tc.name, func(t *testing.T) {
			tor := makeTorrentOpts(t, tc.dir, nil, 32<<10, torrentOpts{format: tc.format})
			peer := seedLibtorrent(t, tor)
			magnet := "magnet:?xt=urn:btmh:1220" + tor.Info.InfoHashV2 + "&dn=x"
			out := t.TempDir()
			hyperblowGet(t, "--peer", peer, magnet, out)
			checkGetTree(t, tor, out)
		})
	}
}

// TestV2InconsistentHybrid: a hybrid whose v1 file list names a file differently from
// its v2 file tree is refused by `hyperblow info` and `mount` with an error naming the
// difference, as libtorrent refuses it.
func TestV2InconsistentHybrid(t *testing.T) {
	bin := buildBinary(t)
	data := sharedData(t)
	tor := makeTorrentOpts(t, data.Tree, nil, 32<<10, torrentOpts{format: "hybrid"})
	bad := filepath.Join(t.TempDir(), "bad.torrent")
	mustRun(t, time.Minute, python(), "-c", `
import sys, libtorrent as lt
d = lt.bdecode(open(sys.argv[1], "rb").read())
for f in d[b"info"][b"files"]:
    if f[b"path"][-1] == b"odd.bin":
        f[b"path"][-1] = b"even.bin"
open(sys.argv[2], "wb").write(lt.bencode(d))
try:
    lt.torrent_info(sys.argv[2])
except RuntimeError as e:
    print("libtorrent refuses:", e)
`, tor.Path, bad)
	lt := mustRun(t, time.Minute, python(), "-c", `
import sys, libtorrent as lt
try:
    lt.torrent_info(sys.argv[1]); print("accepted")
except RuntimeError as e:
    print("refused:", e)
`, bad)
	if !strings.HasPrefix(lt.stdout, "refused") {
		t.Fatalf("libtorrent accepts the broken hybrid: %v", lt)
	}
	want := `inconsistent hybrid torrent: file 4 is "a/b/even.bin" in the v1 file list but "a/b/odd.bin" in the v2 file tree`
	for _, argv := range [][]string{{"info", bad}, {"mount", bad, t.TempDir()}} {
		r := run(t, time.Minute, procOpts{}, append([]string{bin}, argv...)...)
		if r.code != 1 || !strings.Contains(r.stderr, want) {
			t.Errorf("hyperblow %s: want exit 1 and %q: %v", argv[0], want, r)
		}
	}
	if _, err := os.Stat(bad); err != nil {
		t.Fatal(err)
	}
}
