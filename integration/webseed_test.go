package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// nginx is a web server started by a test: Debian's nginx on 127.0.0.1 with a
// generated configuration in a temporary folder, serving root. It is stopped
// by its process group (startProc) when the test ends.
type nginx struct {
	URL string // http://127.0.0.1:PORT
	dir string
	p   *proc
}

func startNginx(t testing.TB, root string) *nginx {
	t.Helper()
	requireTool(t, "nginx")
	dir := t.TempDir()
	for attempt := 0; ; attempt++ {
		port := freePort(t)
		user := ""
		if os.Geteuid() == 0 {
			user = "user root;" // the workers read the test's files
		}
		conf := fmt.Sprintf(`%s
daemon off;
master_process on;
worker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log;
events { worker_connections 64; }
http {
	access_log %[2]s/access.log;
	client_body_temp_path %[2]s/body;
	proxy_temp_path %[2]s/proxy;
	fastcgi_temp_path %[2]s/fastcgi;
	uwsgi_temp_path %[2]s/uwsgi;
	scgi_temp_path %[2]s/scgi;
	sendfile on;
	server {
		listen 127.0.0.1:%[3]d;
		root %[4]s;
		location / { }
	}
}
`, user, dir, port, root)
		cfg := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		p := startProc(t, "nginx", procOpts{}, "nginx", "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", cfg)
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		if err := waitTCP(addr, 10*time.Second); err == nil && !p.exited() {
			return &nginx{URL: "http://" + addr, dir: dir, p: p}
		} else if attempt == 3 {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx did not start: %v\n%s\n%s", err, p.Stderr.String(), log)
		}
		p.kill()
	}
}

// partialAnswers counts nginx's 206 answers (range requests) in its access log.
func (n *nginx) partialAnswers(t testing.TB) int {
	t.Helper()
	b, _ := os.ReadFile(filepath.Join(n.dir, "access.log"))
	return strings.Count(string(b), "\" 206 ")
}

// TestMountWebSeedNginx mounts torrents whose only source is a web seed served
// by nginx: a single-file torrent made by `hyperblow create --web-seed` (a URL
// ending in "/": the torrent's name is appended), and a multi-file torrent
// made by libtorrent and given the mirror by `mount --web-seed` (no trailing
// slash: URL/NAME/PATH). No peer, no tracker, no DHT.
func TestMountWebSeedNginx(t *testing.T) {
	bin := buildBinary(t)
	data := sharedData(t)
	srv := startNginx(t, filepath.Dir(data.Big)) // serves Big and Tree by name
	if filepath.Dir(data.Big) != filepath.Dir(data.Tree) {
		t.Fatal("Big and Tree are not in one folder")
	}

	single := filepath.Join(t.TempDir(), "single.torrent")
	mustRun(t, 2*time.Minute, bin, "create", "--no-date", "--web-seed", srv.URL+"/", "--piece-length", "1MiB", "-o", single, data.Big)
	multi := makeTorrent(t, data.Tree, nil, 64<<10)

	for _, tc := range []struct {
		name string
		tor  *Torrent
		args []string
	}{
		{"single", &Torrent{Path: single, Data: data.Big, Info: ltInfo{TotalLength: 64 << 20}}, nil},
		{"multi", multi, []string{"--web-seed", srv.URL}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := srv.partialAnswers(t)
			m := mount(t, append(tc.args, tc.tor.Path)...)
			checkMountedTorrent(t, m, tc.tor)
			m.Unmount(t)
			if srv.partialAnswers(t) == before {
				t.Errorf("nginx answered no range request")
			}
		})
	}
}

// attrTorrentScript makes a v1 torrent with BEP 47 attributes with
// python3-libtorrent: argv[1] the folder holding "t", argv[2] the .torrent.
const attrTorrentScript = `
import sys, libtorrent as lt
fs = lt.file_storage()
fs.add_file("t/run.sh", 1000, lt.file_storage.flag_executable)
fs.add_file("t/secret", 10, lt.file_storage.flag_hidden)
fs.add_file("t/d/link", 0, lt.file_storage.flag_symlink, 0, "run.sh")
fs.add_file("t/esc", 0, lt.file_storage.flag_symlink, 0, "../../etc/passwd")
ct = lt.create_torrent(fs, 16384, flags=lt.create_torrent.symlinks | lt.create_torrent.v1_only)
lt.set_piece_hashes(ct, sys.argv[1])
open(sys.argv[2], "wb").write(lt.bencode(ct.generate()))
`

// TestMountBEP47Attributes mounts a torrent made by libtorrent with an
// executable file, a hidden file, a symlink inside the torrent and one
// pointing out of it (its data from an nginx web seed): the executable has
// its x bits, the hidden file shows only with --show-hidden, the symlink reads
// as its target, and the other is an empty regular file with a warning.
func TestMountBEP47Attributes(t *testing.T) {
	requireLibtorrent(t)
	requireTool(t, "nginx")
	src := t.TempDir()
	writeRandomFile(t, filepath.Join(src, "t", "run.sh"), 1000, 47)
	writeRandomFile(t, filepath.Join(src, "t", "secret"), 10, 48)
	tor := filepath.Join(t.TempDir(), "attr.torrent")
	mustRun(t, time.Minute, python(), "-c", attrTorrentScript, src, tor)
	srv := startNginx(t, src)

	m := mount(t, "--web-seed", srv.URL+"/", tor) // unmounted at the end whatever happens
	st, err := os.Stat(filepath.Join(m.Dir, "run.sh"))
	if err != nil || st.Mode().Perm() != 0o555 {
		t.Errorf("run.sh: %v, %v; want mode 0555", st, err)
	}
	if _, err := os.Lstat(filepath.Join(m.Dir, "secret")); !os.IsNotExist(err) {
		t.Errorf("hidden file: %v, want it absent", err)
	}
	if target, err := os.Readlink(filepath.Join(m.Dir, "d", "link")); err != nil || target != "../run.sh" {
		t.Errorf("readlink d/link = %q, %v", target, err)
	}
	mustRun(t, time.Minute, "cmp", filepath.Join(m.Dir, "d", "link"), filepath.Join(src, "t", "run.sh"))
	if st, err := os.Lstat(filepath.Join(m.Dir, "esc")); err != nil || !st.Mode().IsRegular() || st.Size() != 0 {
		t.Errorf("esc: %v, %v; want an empty regular file", st, err)
	}
	if !strings.Contains(m.Stderr(), "symlink target leaves the mount") {
		t.Errorf("no warning about esc:\n%s", m.Stderr())
	}
	m.Unmount(t)

	shown := mount(t, "-o", "show_hidden", "--web-seed", srv.URL+"/", tor)
	mustRun(t, time.Minute, "cmp", filepath.Join(shown.Dir, "secret"), filepath.Join(src, "t", "secret"))
	shown.Unmount(t)
}

// v2TorrentScript makes a v2-only torrent with python3-libtorrent of a
// folder "t" holding an executable and a file whose name has a tab in it:
// argv[1] the folder holding "t", argv[2] the .torrent.
const v2TorrentScript = `
import sys, libtorrent as lt
fs = lt.file_storage()
fs.add_file("t/run.sh", 100000, lt.file_storage.flag_executable)
fs.add_file("t/tab\tname.bin", 300000)
ct = lt.create_torrent(fs, 16384, flags=lt.create_torrent.v2_only)
lt.set_piece_hashes(ct, sys.argv[1])
open(sys.argv[2], "wb").write(lt.bencode(ct.generate()))
`

// TestMountWebSeedTorrentsOwnNames mounts a v2-only torrent made by
// libtorrent whose only source is nginx: a file whose name the mount shows
// sanitized (a tab) is fetched from the mirror by the torrent's own name, and
// the executable bit in the v2 file tree (BEP 47 attr) is read.
func TestMountWebSeedTorrentsOwnNames(t *testing.T) {
	requireLibtorrent(t)
	requireTool(t, "nginx")
	src := t.TempDir()
	writeRandomFile(t, filepath.Join(src, "t", "run.sh"), 100000, 51)
	writeRandomFile(t, filepath.Join(src, "t", "tab\tname.bin"), 300000, 52)
	tor := filepath.Join(t.TempDir(), "v2.torrent")
	mustRun(t, time.Minute, python(), "-c", v2TorrentScript, src, tor)
	srv := startNginx(t, src)

	m := mount(t, "--web-seed", srv.URL+"/", tor) // unmounted at the end whatever happens
	mustRun(t, time.Minute, "cmp", filepath.Join(m.Dir, "tab_name.bin"), filepath.Join(src, "t", "tab\tname.bin"))
	mustRun(t, time.Minute, "cmp", filepath.Join(m.Dir, "run.sh"), filepath.Join(src, "t", "run.sh"))
	if st, err := os.Stat(filepath.Join(m.Dir, "run.sh")); err != nil || st.Mode().Perm() != 0o555 {
		t.Errorf("run.sh: %v, %v; want mode 0555", st, err)
	}
	m.Unmount(t)
}
