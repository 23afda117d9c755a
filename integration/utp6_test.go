package integration

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestUTPIPv6MountFromLibtorrent: a libtorrent seeder with TCP off, listening
// on [::1] only, is read whole by a mount listening on [::1] (so uTP over IPv6
// is the one way between them), and /status and `hyperblow status --peers` give
// the peer's transport as utp over IPv6.
func TestUTPIPv6MountFromLibtorrent(t *testing.T) {
	bin := buildBinary(t)
	data := sharedData(t)
	tor := makeTorrent(t, data.Tree, nil, 32<<10)
	requireLibtorrent(t)
	p := startProc(t, "libtorrent-seed6-utp", procOpts{},
		python(), ltHelper(t), "seed", "--host", "::1", "--utp-only", "--port", "0", tor.Path, tor.SaveDir)
	line := p.waitStdout(t, "READY ", 150*time.Second)
	port, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "READY ")))
	if err != nil {
		t.Fatalf("libtorrent seeder: bad READY line %q", line)
	}
	seeder := fmt.Sprintf("[::1]:%d", port)

	m := mount(t, "--listen", "[::1]:0", "--status", "127.0.0.1:0", "--peer", seeder, tor.Path)
	checkMountedTorrent(t, m, tor)
	addr := statusAddr(t, m)
	var st struct {
		Torrents []struct {
			Peers []struct {
				Address   string `json:"address"`
				Transport string `json:"transport"`
				IPVersion int    `json:"ip_version"`
			} `json:"peers"`
		} `json:"torrents"`
	}
	body := statusGet(t, "http://"+addr+"/status")
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("/status is not JSON: %v\n%s", err, body)
	}
	if len(st.Torrents) != 1 || len(st.Torrents[0].Peers) != 1 {
		t.Fatalf("status: %s", body)
	}
	if pe := st.Torrents[0].Peers[0]; pe.Address != seeder || pe.Transport != "utp" || pe.IPVersion != 6 {
		t.Errorf("status peer %+v, want %s over utp, IPv6", pe, seeder)
	}
	r := mustRun(t, 20*time.Second, bin, "status", "--peers", addr)
	if !strings.Contains(r.stdout, "utp/v6") {
		t.Errorf("hyperblow status --peers does not say utp/v6:\n%s", r.stdout)
	}
	m.Unmount(t)
}
