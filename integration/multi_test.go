package integration

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// multiTree is what a mount of several torrents shows: one folder per torrent,
// named after it, holding what a mount of that torrent alone holds at its root.
func multiTree(t testing.TB, tors ...*Torrent) (tree map[string]entry, hashes map[string]string) {
	t.Helper()
	tree, hashes = map[string]entry{}, map[string]string{}
	for _, tor := range tors {
		name := tor.Info.Name
		tree[name] = entry{dir: true}
		st, sh := sourceTree(t, tor)
		for rel, e := range st {
			tree[name+"/"+rel] = e
		}
		for rel, h := range sh {
			hashes[name+"/"+rel] = h
		}
	}
	return tree, hashes
}

// TestMultiSources mounts two torrents given as two SOURCEs (and one of them
// again, which must show once): a single-file torrent seeded by aria2c and a
// multi-file one seeded by python3-libtorrent, both found through opentracker.
// Each has its folder; cp -r of the mount is byte-identical; --status and
// `hyperblow status` list both.
func TestMultiSources(t *testing.T) {
	bin := buildBinary(t)
	data := sharedData(t)
	tr := startOpentracker(t)
	file := filepath.Join(t.TempDir(), "single-5MiB.bin")
	writeRandomFile(t, file, 5<<20+777, 31)
	single := makeTorrent(t, file, []string{tr.HTTP}, 128<<10)
	multi := makeTorrent(t, data.Tree, []string{tr.HTTP}, 64<<10)
	tr.Allow(t, single.InfoHash, multi.InfoHash)
	seedAria2(t, single)
	seedLibtorrent(t, multi)
	tr.WaitSeeders(t, single.InfoHash, 1)
	tr.WaitSeeders(t, multi.InfoHash, 1)

	m := mount(t, "--status", "127.0.0.1:0", single.Path, multi.Path, single.Path)
	wantTree, wantHashes := multiTree(t, single, multi)
	if d := diffTrees(wantTree, listMount(t, m.Dir)); d != "" {
		t.Fatalf("the mount differs from the torrents' data:\n%s", d)
	}
	out := filepath.Join(t.TempDir(), "copy")
	cp := run(t, 3*time.Minute, procOpts{}, "cp", "-r", m.Dir+"/.", out)
	if cp.code != 0 {
		t.Fatalf("cp -r %s/. %s: %v\nhyperblow stderr:\n%s", m.Dir, out, cp, tail(m.Stderr(), 4000))
	}
	compareHashes(t, "cp -r", wantHashes, hashTree(t, out))

	// Each torrent's folder tells its info-hash and progress, like a mount's root.
	for _, tor := range []*Torrent{single, multi} {
		attrs := getfattr(t, filepath.Join(m.Dir, tor.Info.Name))
		if attrs["user.hyperblow.infohash"] != tor.InfoHash || percentOf(t, "progress", attrs["user.hyperblow.progress"]) <= 0 {
			t.Errorf("xattrs of folder %s: %v, want info-hash %s and some progress", tor.Info.Name, attrs, tor.InfoHash)
		}
	}

	addr := statusAddr(t, m)
	st := getStatus(t, addr)
	var names []string
	for _, ts := range st.Torrents {
		names = append(names, ts.Name)
	}
	slices.Sort(names)
	if want := []string{single.Info.Name, multi.Info.Name}; !slices.Equal(names, want) {
		t.Errorf("/status lists torrents %q, want %q", names, want)
	}
	if r := run(t, 30*time.Second, procOpts{}, bin, "status", addr); r.code != 0 ||
		!strings.Contains(r.stdout, single.Info.Name) || !strings.Contains(r.stdout, multi.Info.Name) {
		t.Errorf("hyperblow status %s: %v", addr, r)
	}
	m.Unmount(t)
}

// mountNames lists the mount's root.
func mountNames(t testing.TB, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("readdir %s: %v", dir, err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	slices.Sort(names)
	return names
}

// waitNames waits until the mount's root holds exactly want, and returns how
// long that took.
func waitNames(t testing.TB, m *Mount, timeout time.Duration, want ...string) time.Duration {
	t.Helper()
	slices.Sort(want)
	start := time.Now()
	for {
		got := mountNames(t, m.Dir)
		if slices.Equal(got, want) {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("the mount's root holds %q after %v, want %q\nhyperblow stderr:\n%s", got, timeout, want, tail(m.Stderr(), 6000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dropFile writes data to a temporary name in dir and renames it to name, as
// downloaders do.
func dropFile(t testing.TB, dir, name string, data []byte) {
	t.Helper()
	tmp := filepath.Join(dir, name+".part")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sha256Of hashes a file of the mount from a child process.
func sha256Of(t testing.TB, path string) string {
	t.Helper()
	r := run(t, 2*time.Minute, procOpts{}, "sha256sum", path)
	got, _, _ := strings.Cut(r.stdout, " ")
	if r.code != 0 {
		t.Fatalf("sha256sum %s: %v", path, r)
	}
	return got
}

// TestWatchFolder mounts an empty watched folder and uses it: a .torrent
// renamed into it shows as a folder within seconds and reads byte-identical;
// removing it takes the folder away; a .torrent written slowly in two halves
// shows once whole, without a warning; garbage is logged and shows nothing;
// two torrents of the same name get distinct folders; a file held open
// while its .torrent is removed reads whole; a .magnet file shows
// its folder with the status file, then the files.
func TestWatchFolder(t *testing.T) {
	buildBinary(t)
	data := sharedData(t)
	tr := startOpentracker(t)
	src := t.TempDir()
	dropped := filepath.Join(src, "dropped.bin")
	writeRandomFile(t, dropped, 3<<20+5, 41)
	torX := makeTorrent(t, dropped, []string{tr.HTTP}, 64<<10)
	torTree := makeTorrent(t, data.Tree, []string{tr.HTTP}, 64<<10)
	sameA, sameB := filepath.Join(src, "a", "same.bin"), filepath.Join(src, "b", "same.bin")
	writeRandomFile(t, sameA, 200_000, 42)
	writeRandomFile(t, sameB, 300_001, 43)
	torA := makeTorrent(t, sameA, []string{tr.HTTP}, 32<<10)
	torB := makeTorrent(t, sameB, []string{tr.HTTP}, 32<<10)
	tr.Allow(t, torX.InfoHash, torTree.InfoHash, torA.InfoHash, torB.InfoHash)
	seedLibtorrent(t, torX) // libtorrent: it also serves the metadata of the magnet below
	for _, tor := range []*Torrent{torTree, torA, torB} {
		seedAria2(t, tor)
	}
	for _, tor := range []*Torrent{torX, torTree, torA, torB} {
		tr.WaitSeeders(t, tor.InfoHash, 1)
	}

	watch := filepath.Join(t.TempDir(), "watch")
	if err := os.Mkdir(watch, 0o755); err != nil {
		t.Fatal(err)
	}
	m := mount(t, watch)
	if names := mountNames(t, m.Dir); len(names) != 0 {
		t.Fatalf("the mount of an empty folder holds %q", names)
	}

	// Dropped in (written elsewhere, renamed): shows within seconds.
	dropFile(t, watch, "x.torrent", readFile(t, torX.Path))
	took := waitNames(t, m, 10*time.Second, "dropped.bin")
	t.Logf("a dropped .torrent showed after %v", took)
	if took > 3*time.Second {
		t.Errorf("a dropped .torrent took %v to show, want a couple of seconds", took)
	}
	if got, want := sha256Of(t, filepath.Join(m.Dir, "dropped.bin", "dropped.bin")), hashFile(t, dropped); got != want {
		t.Errorf("dropped.bin read from the mount: sha256 %s, want %s", got, want)
	}

	// Removed: its folder goes.
	if err := os.Remove(filepath.Join(watch, "x.torrent")); err != nil {
		t.Fatal(err)
	}
	t.Logf("a removed .torrent's folder went after %v", waitNames(t, m, 10*time.Second))

	// Written slowly in two halves: used once whole, and no warning meanwhile.
	raw := readFile(t, torTree.Path)
	f, err := os.Create(filepath.Join(watch, "tree.torrent"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(raw[:len(raw)/2]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond) // longer than the watcher waits for a file to be quiet
	if names := mountNames(t, m.Dir); len(names) != 0 {
		t.Errorf("half a .torrent shows as %q", names)
	}
	if _, err := f.Write(raw[len(raw)/2:]); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	waitNames(t, m, 10*time.Second, "tree")
	for _, line := range strings.Split(m.Stderr(), "\n") {
		if strings.Contains(line, "level=WARN") && strings.Contains(line, "tree.torrent") {
			t.Errorf("a .torrent written in two halves was warned about: %s", line)
		}
	}
	wantTree, wantHashes := multiTree(t, torTree)
	if d := diffTrees(wantTree, listMount(t, m.Dir)); d != "" {
		t.Fatalf("the mount differs from the tree's data:\n%s", d)
	}
	out := filepath.Join(t.TempDir(), "copy")
	if cp := run(t, 3*time.Minute, procOpts{}, "cp", "-r", m.Dir+"/.", out); cp.code != 0 {
		t.Fatalf("cp -r: %v\nhyperblow stderr:\n%s", cp, tail(m.Stderr(), 4000))
	}
	compareHashes(t, "cp -r", wantHashes, hashTree(t, out))

	// Garbage: a warning naming the file, and nothing in the mount.
	if err := os.WriteFile(filepath.Join(watch, "bad.torrent"), []byte("d8:announce this is not a torrent"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitStderr(t, m, regexp.MustCompile(`level=WARN[^\n]*bad\.torrent[^\n]*`), 10*time.Second, "no warning about bad.torrent")
	if names := mountNames(t, m.Dir); !slices.Equal(names, []string{"tree"}) {
		t.Errorf("after garbage the mount holds %q", names)
	}

	// The same name twice: two folders, each with its own torrent's file.
	dropFile(t, watch, "same-a.torrent", readFile(t, torA.Path))
	waitNames(t, m, 10*time.Second, "tree", "same.bin")
	dropFile(t, watch, "same-b.torrent", readFile(t, torB.Path))
	waitNames(t, m, 10*time.Second, "tree", "same.bin", "same.bin (2)")
	if got, want := sha256Of(t, filepath.Join(m.Dir, "same.bin", "same.bin")), hashFile(t, sameA); got != want {
		t.Errorf("same.bin/same.bin: sha256 %s, want %s (the first torrent's)", got, want)
	}

	// A file held open while its .torrent is removed: the folder goes at once,
	// the open file still reads whole, and the torrent stops once it is closed.
	folderB := filepath.Join(m.Dir, "same.bin (2)")
	reader := startProc(t, "open-reader", procOpts{}, "sh", "-c",
		`exec 3<"$1" && echo opened && while [ -e "$2" ]; do sleep 0.05; done; sha256sum <&3`,
		"sh", filepath.Join(folderB, "same.bin"), folderB)
	reader.waitStdout(t, "opened", 10*time.Second)
	if err := os.Remove(filepath.Join(watch, "same-b.torrent")); err != nil {
		t.Fatal(err)
	}
	waitNames(t, m, 10*time.Second, "tree", "same.bin")
	if !reader.waitFor(time.Minute) || reader.exitCode() != 0 {
		t.Fatalf("reading an open file of a removed folder: %s", reader.describe())
	}
	got, _, _ := strings.Cut(strings.TrimPrefix(reader.Stdout.String(), "opened\n"), " ")
	if want := hashFile(t, sameB); got != want {
		t.Errorf("same.bin (2)/same.bin, open while its folder was removed: sha256 %s, want %s", got, want)
	}
	waitStderr(t, m, regexp.MustCompile(`msg="torrent stopped"[^\n]*same\.bin \(2\)`), 10*time.Second,
		"the removed torrent did not stop after its last open file was closed")

	// A magnet file: its folder shows the status file until the metadata comes.
	// It is the torrent of x.torrent, removed above: it gets its folder's name
	// back (names are stable for the life of the mount), not its dn.
	magnet := "magnet:?xt=urn:btih:" + torX.InfoHash + "&dn=x-magnet&tr=" + tr.HTTP
	dropFile(t, watch, "x.magnet", []byte(magnet+"\n"))
	waitNames(t, m, 10*time.Second, "tree", "same.bin", "dropped.bin")
	deadline := time.Now().Add(90 * time.Second)
	for {
		names, err := os.ReadDir(filepath.Join(m.Dir, "dropped.bin"))
		if err != nil {
			t.Fatalf("readdir of the magnet's folder: %v", err)
		}
		if len(names) == 1 && names[0].Name() == "dropped.bin" {
			break
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(m.Dir, "dropped.bin", ".hyperblow-status"))
			t.Fatalf("the magnet's folder holds %v; status:\n%s\nhyperblow stderr:\n%s", names, b, tail(m.Stderr(), 4000))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got, want := sha256Of(t, filepath.Join(m.Dir, "dropped.bin", "dropped.bin")), hashFile(t, dropped); got != want {
		t.Errorf("dropped.bin/dropped.bin from the magnet: sha256 %s, want %s", got, want)
	}
	// Unmounted from outside, the way a user may: hyperblow ends cleanly.
	if r := run(t, exitTimeout, procOpts{}, "fusermount3", "-u", m.Dir); r.code != 0 {
		t.Fatalf("fusermount3 -u: %v", r)
	}
	m.WaitExit(t, exitTimeout)
}
