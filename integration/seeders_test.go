package integration

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// aria2Common are the aria2c flags every run here shares: no config file, no DHT,
// LPD or PEX, sockets bound to 127.0.0.1, and nothing written but the download.
func aria2Common(t testing.TB, port int) []string {
	return []string{
		"aria2c", "--no-conf",
		"--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false", "--enable-peer-exchange=false",
		"--dht-file-path=" + filepath.Join(t.TempDir(), "dht.dat"),
		"--interface=127.0.0.1", "--disable-ipv6=true", "--listen-port=" + strconv.Itoa(port),
		"--file-allocation=none", "--auto-file-renaming=false", "--auto-save-interval=0",
		"--summary-interval=0", "--console-log-level=warn", "--log=-", "--log-level=info",
		// aria2c ends itself if the test process dies.
		"--stop-with-process=" + strconv.Itoa(os.Getpid()),
	}
}

// seedAria2 seeds tor from tor.SaveDir with aria2c on 127.0.0.1 and returns its
// peer address once aria2c has verified the data and is seeding. aria2c announces
// to the torrent's trackers (HTTP only: aria2c speaks UDP trackers only with DHT on).
func seedAria2(t testing.TB, tor *Torrent) string {
	t.Helper()
	requireTool(t, "aria2c")
	var lastErr string
	for attempt := range 3 {
		port, rpcPort := freePort(t), freePort(t)
		secret := randomHex(8)
		argv := append(aria2Common(t, port),
			"--dir="+tor.SaveDir,
			"--check-integrity=true", // verify the pieces on disk, then seed them
			"--seed-ratio=0.0",       // 0.0: seed regardless of ratio; with no --seed-time, forever
			"--bt-max-peers=0",
			"--enable-rpc", "--rpc-listen-port="+strconv.Itoa(rpcPort), "--rpc-secret="+secret,
			tor.Path)
		p := startProc(t, fmt.Sprintf("aria2c-seed#%d", attempt), procOpts{}, argv...)
		err := waitAria2Seeding(p, rpcPort, secret, 60*time.Second)
		if err == nil {
			addr := fmt.Sprintf("127.0.0.1:%d", port)
			if err = waitTCP(addr, 10*time.Second); err == nil {
				return addr
			}
		}
		lastErr = err.Error() + "\n" + p.describe()
		p.kill()
		p.waitFor(5 * time.Second)
	}
	t.Fatalf("aria2c does not seed %s: %s", tor.Path, lastErr)
	return ""
}

// waitAria2Seeding polls aria2c's JSON-RPC (loopback only) until its one download
// is a seeder.
func waitAria2Seeding(p *proc, rpcPort int, secret string, timeout time.Duration) error {
	req, _ := json.Marshal(map[string]any{
		"jsonrpc": "2.0", "id": "1", "method": "aria2.tellActive",
		"params": []any{"token:" + secret, []string{"status", "seeder", "completedLength", "totalLength"}},
	})
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("aria2c exited (last status %s)", last)
		}
		resp, err := client.Post(fmt.Sprintf("http://127.0.0.1:%d/jsonrpc", rpcPort), "application/json", bytes.NewReader(req))
		if err == nil {
			var out struct {
				Result []struct {
					Status, Seeder, CompletedLength, TotalLength string
				}
			}
			err = json.NewDecoder(resp.Body).Decode(&out)
			resp.Body.Close()
			last = fmt.Sprintf("%+v %v", out.Result, err)
			if err == nil && len(out.Result) == 1 && out.Result[0].Seeder == "true" &&
				out.Result[0].CompletedLength == out.Result[0].TotalLength {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("aria2c not seeding after %v (last status %s)", timeout, last)
}

// seedLibtorrent seeds tor from tor.SaveDir with python3-libtorrent on 127.0.0.1
// and returns its peer address once the data is checked and it is seeding. It
// announces to every tracker of the torrent, HTTP and UDP.
func seedLibtorrent(t testing.TB, tor *Torrent) string {
	t.Helper()
	requireLibtorrent(t)
	p := startProc(t, "libtorrent-seed", procOpts{},
		python(), ltHelper(t), "seed", "--port", "0", tor.Path, tor.SaveDir)
	line := p.waitStdout(t, "READY ", 150*time.Second)
	port, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "READY ")))
	if err != nil {
		t.Fatalf("libtorrent seeder: bad READY line %q", line)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := waitTCP(addr, 10*time.Second); err != nil {
		t.Fatalf("libtorrent seeder: %v\n%s", err, p.describe())
	}
	return addr
}

// getLibtorrent downloads tor into outDir with python3-libtorrent, from its
// trackers and the given peers; it fails the test unless the download completes.
func getLibtorrent(t testing.TB, tor *Torrent, outDir string, peers ...string) {
	t.Helper()
	requireLibtorrent(t)
	argv := []string{python(), ltHelper(t), "get", "--timeout", "150"}
	for _, p := range peers {
		argv = append(argv, "--peer", p)
	}
	argv = append(argv, tor.Path, outDir)
	r := run(t, 3*time.Minute, procOpts{}, argv...)
	if r.code != 0 || !strings.Contains(r.stdout, "DONE ") {
		t.Fatalf("libtorrent download of %s: %v", tor.Path, r)
	}
}

// getAria2 downloads tor into outDir with aria2c from its (HTTP) trackers and
// fails the test unless aria2c completes and exits 0.
func getAria2(t testing.TB, tor *Torrent, outDir string) {
	t.Helper()
	requireTool(t, "aria2c")
	argv := append(aria2Common(t, freePort(t)),
		"--dir="+outDir, "--seed-time=0", "--bt-stop-timeout=120", tor.Path)
	r := run(t, 3*time.Minute, procOpts{}, argv...)
	if r.code != 0 {
		t.Fatalf("aria2c download of %s: %v", tor.Path, r)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
