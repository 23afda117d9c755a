package integration

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Debian's opentracker is built for IPv4 only (it prints "V4 Tracker is V4
// only!" and cannot listen on ::1), so the IPv6 tests use tracker6: a small
// HTTP tracker on [::1] written here.

// tracker6 is an HTTP tracker listening on [::1] only. It keeps the last
// address of every peer that announced an info-hash (the address the
// announce came from, with the port it gave) and answers with BEP 7's peers6
// (compact) and peers (compact, for IPv4 ones).
type tracker6 struct {
	URL string

	mu      sync.Mutex
	peers   map[string]map[netip.AddrPort]bool // info-hash hex -> peers
	ipv6Arg []string                           // the ipv6= values seen
	changed chan struct{}                      // closed and replaced on every announce
}

func startTracker6(t *testing.T) *tracker6 {
	t.Helper()
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		missing(t, "no IPv6 loopback (::1): %v", err)
	}
	tr := &tracker6{URL: "http://" + ln.Addr().String() + "/announce",
		peers: map[string]map[netip.AddrPort]bool{}, changed: make(chan struct{})}
	srv := &http.Server{Handler: http.HandlerFunc(tr.announce), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return tr
}

func (tr *tracker6) announce(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ih := hex.EncodeToString([]byte(q.Get("info_hash")))
	port, err := strconv.ParseUint(q.Get("port"), 10, 16)
	from, err2 := netip.ParseAddrPort(r.RemoteAddr)
	if len(ih) != 40 || err != nil || err2 != nil {
		w.Write([]byte("d14:failure reason11:bad requeste"))
		return
	}
	self := netip.AddrPortFrom(from.Addr().Unmap(), uint16(port))
	var p4, p6 bytes.Buffer
	tr.mu.Lock()
	if tr.peers[ih] == nil {
		tr.peers[ih] = map[netip.AddrPort]bool{}
	}
	for p := range tr.peers[ih] {
		if p == self {
			continue
		}
		b := p.Addr().AsSlice()
		if p.Addr().Is4() {
			p4.Write(b)
			p4.Write([]byte{byte(p.Port() >> 8), byte(p.Port())})
		} else {
			p6.Write(b)
			p6.Write([]byte{byte(p.Port() >> 8), byte(p.Port())})
		}
	}
	if q.Get("event") == "stopped" {
		delete(tr.peers[ih], self)
	} else {
		tr.peers[ih][self] = true
	}
	if v := q.Get("ipv6"); v != "" {
		tr.ipv6Arg = append(tr.ipv6Arg, v)
	}
	close(tr.changed)
	tr.changed = make(chan struct{})
	tr.mu.Unlock()
	fmt.Fprintf(w, "d8:intervali30e5:peers%d:%s6:peers6%d:%se", p4.Len(), p4.Bytes(), p6.Len(), p6.Bytes())
}

// waitPeer waits until a peer that matches ok has announced ih.
func (tr *tracker6) waitPeer(t *testing.T, ih, what string, timeout time.Duration, ok func(netip.AddrPort) bool) netip.AddrPort {
	t.Helper()
	deadline := time.After(timeout)
	for {
		tr.mu.Lock()
		for p := range tr.peers[ih] {
			if ok(p) {
				tr.mu.Unlock()
				return p
			}
		}
		ch := tr.changed
		tr.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("tracker6: no announce of %s after %v", what, timeout)
		}
	}
}

// seedLibtorrent6 seeds tor with python3-libtorrent listening on [::1] only.
func seedLibtorrent6(t testing.TB, tor *Torrent) string {
	t.Helper()
	requireLibtorrent(t)
	p := startProc(t, "libtorrent-seed6", procOpts{},
		python(), ltHelper(t), "seed", "--host", "::1", "--port", "0", tor.Path, tor.SaveDir)
	line := p.waitStdout(t, "READY ", 150*time.Second)
	port, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "READY ")))
	if err != nil {
		t.Fatalf("libtorrent seeder: bad READY line %q", line)
	}
	addr := fmt.Sprintf("[::1]:%d", port)
	if err := waitTCP(addr, 10*time.Second); err != nil {
		t.Fatalf("libtorrent seeder: %v\n%s", err, p.describe())
	}
	return addr
}

// TestIPv6MountFromLibtorrent: a libtorrent seeder listening on [::1] only is
// found through an HTTP tracker on [::1] (peers6), and a mount listening on
// both stacks (--listen [::]:0) reads the torrent from it byte for byte over
// IPv6. /status shows the peer at [::1].
func TestIPv6MountFromLibtorrent(t *testing.T) {
	buildBinary(t)
	data := sharedData(t)
	tr := startTracker6(t)
	tor := makeTorrent(t, data.Tree, []string{tr.URL}, 32<<10)
	seeder := seedLibtorrent6(t, tor)
	isSeeder := func(p netip.AddrPort) bool { return p.String() == seeder }
	tr.waitPeer(t, tor.InfoHash, "the libtorrent seeder at "+seeder, 60*time.Second, isSeeder)

	m := mount(t, "--no-dht", "--listen", "[::]:0", "--status", "127.0.0.1:0", tor.Path)
	checkMountedTorrent(t, m, tor)
	st := getStatus(t, statusAddr(t, m))
	if len(st.Torrents) != 1 {
		t.Fatalf("status: %d torrents", len(st.Torrents))
	}
	var found bool
	for _, p := range st.Torrents[0].Peers {
		found = found || p.Address == seeder
	}
	if !found {
		t.Errorf("status peers %+v: want the seeder at %s", st.Torrents[0].Peers, seeder)
	}
	// The mount announced over IPv6 too, with its listening port.
	tr.waitPeer(t, tor.InfoHash, "the mount", 30*time.Second, func(p netip.AddrPort) bool {
		return p.Addr() == netip.IPv6Loopback() && !isSeeder(p)
	})
	m.Unmount(t)
}
