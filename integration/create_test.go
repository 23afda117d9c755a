package integration

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestCreateSeedAria2: `hyperblow create --tracker` makes a torrent of the
// multi-file tree that python3-libtorrent reads with the same info-hash, name,
// pieces, files and trackers as `hyperblow info --json`; `hyperblow seed` serves
// it and aria2c, finding the seeder through opentracker, downloads it byte for
// byte. A second torrent (single file, tracker tiers, --private, --piece-length)
// checks the options as libtorrent reads them.
func TestCreateSeedAria2(t *testing.T) {
	bin := buildBinary(t)
	requireLibtorrent(t)
	requireTool(t, "aria2c")
	data := sharedData(t)
	tr := startOpentracker(t)

	t.Run("options", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "movie.torrent")
		mustRun(t, 2*time.Minute, bin, "create", "-o", out, "--piece-length", "512KiB", "--private",
			"--tracker", "http://127.0.0.1:9/announce,udp://127.0.0.1:9/announce", "--tracker", "http://127.0.0.1:10/announce",
			"--comment", "made for a test", data.Big)
		info := hyperblowInfo(t, bin, out)
		lt := readLtInfo(t, out)
		checkSameTorrent(t, info, lt)
		if lt.PieceLength != 512<<10 || !lt.Private || lt.MultiFile || lt.Name != filepath.Base(data.Big) {
			t.Errorf("libtorrent reads %+v", lt)
		}
		want := [][]string{{"http://127.0.0.1:9/announce", "udp://127.0.0.1:9/announce"}, {"http://127.0.0.1:10/announce"}}
		for _, tier := range lt.Trackers {
			sort.Strings(tier) // a client may shuffle a tier
		}
		if !reflect.DeepEqual(lt.Trackers, want) {
			t.Errorf("libtorrent reads trackers %q, want %q", lt.Trackers, want)
		}
	})

	out := filepath.Join(t.TempDir(), "tree.torrent")
	start := time.Now()
	r := mustRun(t, 2*time.Minute, bin, "create", "--tracker", tr.HTTP, "-o", out, data.Tree)
	t.Logf("hyperblow create took %v:\n%s", time.Since(start).Round(time.Millisecond), r.stdout)
	info := hyperblowInfo(t, bin, out)
	lt := readLtInfo(t, out)
	checkSameTorrent(t, info, lt)
	if !strings.Contains(r.stdout, "info-hash: "+info.InfoHash) {
		t.Errorf("create did not print the info-hash %s:\n%s", info.InfoHash, r.stdout)
	}
	if want := [][]string{{tr.HTTP}}; !reflect.DeepEqual(lt.Trackers, want) {
		t.Errorf("libtorrent reads trackers %q, want %q", lt.Trackers, want)
	}

	tr.Allow(t, info.InfoHash)
	s := startSeed(t, out, data.Tree)
	tr.WaitSeeders(t, info.InfoHash, 1)
	tor := &Torrent{Path: out, InfoHash: info.InfoHash, Data: data.Tree, SaveDir: filepath.Dir(data.Tree), Info: lt}
	dl := t.TempDir()
	start = time.Now()
	getAria2(t, tor, dl)
	t.Logf("aria2c downloaded %d bytes in %v", lt.TotalLength, time.Since(start).Round(time.Millisecond))
	compareHashes(t, "aria2c download", hashTree(t, data.Tree), downloaded(t, tor, dl))
	s.Stop(t)
	tr.waitNoSeeders(t, info.InfoHash, 10*time.Second)

}

// hyperblowInfo is `hyperblow info --json PATH`.
func hyperblowInfo(t testing.TB, bin, path string) infoJSON {
	t.Helper()
	r := mustRun(t, time.Minute, bin, "info", "--json", path)
	var info infoJSON
	if err := json.Unmarshal([]byte(r.stdout), &info); err != nil {
		t.Fatalf("info --json: %v: %s", err, r.stdout)
	}
	return info
}

// checkSameTorrent compares what hyperblow and libtorrent read from one .torrent.
func checkSameTorrent(t testing.TB, info infoJSON, lt ltInfo) {
	t.Helper()
	if info.InfoHash != lt.InfoHash || info.Name != lt.Name || info.NumPieces != lt.NumPieces ||
		info.PieceLength != lt.PieceLength || info.TotalLength != lt.TotalLength || info.Private != lt.Private {
		t.Errorf("hyperblow info %+v\nlibtorrent      %+v", info, lt)
	}
	got := map[string]int64{}
	for _, f := range info.Files {
		got[f.Path] = f.Length
	}
	want := map[string]int64{}
	for _, f := range lt.Files {
		if !f.Pad {
			want[f.Path] = f.Length
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("files: hyperblow %v, libtorrent %v", got, want)
	}
}
