package integration

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMountHTTPTrackerAria2 mounts a 64 MiB single-file torrent and a multi-file
// torrent whose only peer, aria2c, is found through opentracker's HTTP announce.
func TestMountHTTPTrackerAria2(t *testing.T) {
	buildBinary(t)
	data := sharedData(t)
	tr := startOpentracker(t)
	single := makeTorrent(t, data.Big, []string{tr.HTTP}, 256<<10)
	multi := makeTorrent(t, data.Tree, []string{tr.HTTP}, 64<<10)
	tr.Allow(t, single.InfoHash, multi.InfoHash)
	for _, tor := range []*Torrent{single, multi} {
		seedAria2(t, tor)
		tr.WaitSeeders(t, tor.InfoHash, 1)
	}
	for _, tc := range []struct {
		name string
		tor  *Torrent
	}{{"single", single}, {"multi", multi}} {
		t.Run(tc.name, func(t *testing.T) {
			m := mount(t, tc.tor.Path) // no --peer: peers come from the tracker
			checkMountedTorrent(t, m, tc.tor)
			m.Unmount(t)
		})
	}
}

// TestMountUDPTrackerLibtorrent mounts the same data announced over UDP (BEP 15)
// and seeded by python3-libtorrent; the multi-file torrent has BEP 47 padding
// files, which the mount must hide.
func TestMountUDPTrackerLibtorrent(t *testing.T) {
	buildBinary(t)
	data := sharedData(t)
	tr := startOpentracker(t)
	single := makeTorrent(t, data.Big, []string{tr.UDP}, 128<<10)
	multi := makeTorrentOpts(t, data.Tree, []string{tr.UDP}, 32<<10, torrentOpts{pad: true})
	if !hasPad(multi) {
		t.Fatal("the padded torrent has no padding files")
	}
	tr.Allow(t, single.InfoHash, multi.InfoHash)
	for _, tor := range []*Torrent{single, multi} {
		seedLibtorrent(t, tor)
		tr.WaitSeeders(t, tor.InfoHash, 1)
	}
	for _, tc := range []struct {
		name string
		tor  *Torrent
	}{{"single", single}, {"multi-padded", multi}} {
		t.Run(tc.name, func(t *testing.T) {
			m := mount(t, tc.tor.Path)
			checkMountedTorrent(t, m, tc.tor)
			m.Unmount(t)
		})
	}
}

// checkMountedTorrent uses the mount as a person would and compares it with the
// source data: `ls -lR`, the tree (names, types, sizes), `cp -r`, and SHA-256.
// Layout: a single-file torrent's file is at the mount's root; a multi-file
// torrent's files and folders are directly at the root (the mountpoint is the
// torrent's top folder). Padding files never show.
func checkMountedTorrent(t *testing.T, m *Mount, tor *Torrent) {
	t.Helper()
	wantTree, wantHashes := sourceTree(t, tor)

	ls := run(t, 30*time.Second, procOpts{}, "ls", "-lR", m.Dir)
	if ls.code != 0 {
		t.Fatalf("ls -lR %s: %v", m.Dir, ls)
	}
	for rel := range wantTree {
		if !strings.Contains(ls.stdout, filepath.Base(rel)) {
			t.Errorf("ls -lR does not show %s:\n%s", rel, ls.stdout)
		}
	}
	if d := diffTrees(wantTree, listMount(t, m.Dir)); d != "" {
		t.Fatalf("the mount differs from the torrent's data:\n%s", d)
	}

	checkReadOnly(t, m, sortedKeys(wantHashes)[0])

	out := filepath.Join(t.TempDir(), "copy")
	start := time.Now()
	cp := run(t, 3*time.Minute, procOpts{}, "cp", "-r", m.Dir+"/.", out)
	if cp.code != 0 {
		t.Fatalf("cp -r %s/. %s: %v\nhyperblow stderr:\n%s", m.Dir, out, cp, tail(m.Stderr(), 4000))
	}
	t.Logf("cp -r of %d bytes took %v", tor.Info.TotalLength, time.Since(start).Round(time.Millisecond))
	if d := diffTrees(wantTree, listTree(t, out)); d != "" {
		t.Errorf("the copy differs from the torrent's data:\n%s", d)
	}
	compareHashes(t, "cp -r", wantHashes, hashTree(t, out))

	// And once more straight from the mount (now mostly from Hyperblow's cache).
	for _, rel := range sortedKeys(wantHashes) {
		if wantTree[rel].size < 1<<20 {
			continue
		}
		r := run(t, 2*time.Minute, procOpts{}, "sha256sum", filepath.Join(m.Dir, rel))
		if got, _, _ := strings.Cut(r.stdout, " "); r.code != 0 || got != wantHashes[rel] {
			t.Errorf("sha256sum %s: got %q, want %s: %v", rel, got, wantHashes[rel], r)
		}
	}
}

// checkReadOnly: creating, appending, truncating and removing all fail with
// "Read-only file system" (EROFS), and the file is unchanged.
func checkReadOnly(t *testing.T, m *Mount, rel string) {
	t.Helper()
	file := filepath.Join(m.Dir, rel)
	for _, argv := range [][]string{
		{"touch", filepath.Join(m.Dir, "new-file")},
		{"sh", "-c", `echo x >> "$1"`, "sh", file},
		{"truncate", "-s", "0", file},
		{"rm", "-f", file},
		{"mkdir", filepath.Join(m.Dir, "new-dir")},
	} {
		r := run(t, 10*time.Second, procOpts{}, argv...)
		if r.code == 0 || !strings.Contains(r.stderr, "Read-only file system") {
			t.Errorf("%q on the mount: want a Read-only file system error, got %v", argv, r)
		}
	}
}
