package integration

import (
	"path/filepath"
	"testing"
	"time"
)

// TestHarnessSelfCheck proves the loopback swarm works without Hyperblow: real
// clients download from the harness's seeders through opentracker and the bytes
// match. When a Hyperblow test fails, this one says whether the swarm was healthy.
func TestHarnessSelfCheck(t *testing.T) {
	data := sharedData(t)

	t.Run("http tracker, aria2c seeds, libtorrent downloads tree", func(t *testing.T) {
		tr := startOpentracker(t)
		tor := makeTorrent(t, data.Tree, []string{tr.HTTP}, 64<<10)
		tr.Allow(t, tor.InfoHash)
		seedAria2(t, tor)
		tr.WaitSeeders(t, tor.InfoHash, 1)
		out := t.TempDir()
		start := time.Now()
		getLibtorrent(t, tor, out) // peers from the tracker only
		t.Logf("downloaded in %v", time.Since(start).Round(time.Millisecond))
		checkDownload(t, tor, out)
	})

	t.Run("udp tracker, libtorrent seeds padded tree, libtorrent downloads", func(t *testing.T) {
		tr := startOpentracker(t)
		tor := makeTorrentOpts(t, data.Tree, []string{tr.UDP}, 32<<10, torrentOpts{pad: true})
		if !hasPad(tor) {
			t.Fatalf("lthelper make --pad wrote no padding files: %+v", tor.Info.Files)
		}
		tr.Allow(t, tor.InfoHash)
		seedLibtorrent(t, tor)
		tr.WaitSeeders(t, tor.InfoHash, 1)
		out := t.TempDir()
		getLibtorrent(t, tor, out)
		checkDownload(t, tor, out)
	})

	t.Run("http tracker, libtorrent seeds 64MiB, aria2c downloads", func(t *testing.T) {
		tr := startOpentracker(t)
		tor := makeTorrent(t, data.Big, []string{tr.HTTP, tr.UDP}, 256<<10)
		tr.Allow(t, tor.InfoHash)
		seedLibtorrent(t, tor)
		tr.WaitSeeders(t, tor.InfoHash, 1)
		out := t.TempDir()
		start := time.Now()
		getAria2(t, tor, out)
		t.Logf("downloaded 64 MiB in %v", time.Since(start).Round(time.Millisecond))
		checkDownload(t, tor, out)
	})
}

func hasPad(tor *Torrent) bool {
	for _, f := range tor.Info.Files {
		if f.Pad {
			return true
		}
	}
	return false
}

// checkDownload compares a client's download folder with the torrent's source data.
func checkDownload(t *testing.T, tor *Torrent, outDir string) {
	t.Helper()
	got := filepath.Join(outDir, filepath.Base(tor.Data))
	if !tor.Info.MultiFile {
		if h, want := hashFile(t, got), hashFile(t, tor.Data); h != want {
			t.Fatalf("%s: sha256 %s, want %s", got, h, want)
		}
		return
	}
	tree := listTree(t, got)
	for k := range tree {
		// libtorrent may leave BEP 47 padding files out, or write them under .pad/.
		if k == ".pad" || filepath.Dir(k) == ".pad" {
			delete(tree, k)
		}
	}
	if d := diffTrees(listTree(t, tor.Data), tree); d != "" {
		t.Fatalf("downloaded tree differs from the source:\n%s", d)
	}
	hashes := hashTree(t, got)
	for k := range hashes {
		if filepath.Dir(k) == ".pad" {
			delete(hashes, k)
		}
	}
	compareHashes(t, "download", hashTree(t, tor.Data), hashes)
}
