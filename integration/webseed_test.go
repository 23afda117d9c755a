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
