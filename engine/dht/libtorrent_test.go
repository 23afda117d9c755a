package dht

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
)

// ltNode is a python3-libtorrent DHT node run by testdata/ltdht.py.
type ltNode struct {
	port   uint16
	ih     bt.InfoHash
	stdin  io.WriteCloser
	lines  chan string
	stderr *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startLibtorrent starts the helper, or skips the test when python3-libtorrent is
// missing (fails instead under HYPERBLOW_REQUIRE_TOOLS=1).
func startLibtorrent(t *testing.T) *ltNode {
	t.Helper()
	python := os.Getenv("HYPERBLOW_PYTHON")
	if python == "" {
		python = "/usr/bin/python3" // Debian's, which has python3-libtorrent; not a pyenv shim
	}
	if out, err := exec.Command(python, "-c", "import libtorrent").CombinedOutput(); err != nil {
		msg := fmt.Sprintf("%s cannot import libtorrent (Debian package python3-libtorrent): %v %s", python, err, out)
		if os.Getenv("HYPERBLOW_REQUIRE_TOOLS") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, python, "testdata/ltdht.py")
	// Its torrent's data goes in a temporary folder (tempfile.mkdtemp): the test's,
	// removed after the helper is stopped, so that nothing is left in /tmp.
	cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
	lt := &ltNode{lines: make(chan string, 16), stderr: &lockedBuffer{}}
	cmd.Stderr = lt.stderr
	var err error
	if lt.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lt.lines <- sc.Text()
		}
		close(lt.lines)
	}()
	t.Cleanup(func() {
		io.WriteString(lt.stdin, "quit\n")
		lt.stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			cancel()
			<-done
		}
		cancel()
		if t.Failed() || os.Getenv("DHT_TEST_LOG") == "1" {
			t.Logf("libtorrent stderr:\n%s", lt.stderr.String())
		}
	})
	line := lt.read(t, 20*time.Second)
	var ihHex string
	if _, err := fmt.Sscanf(line, "READY %d %s", &lt.port, &ihHex); err != nil {
		t.Fatalf("libtorrent helper said %q: %v\n%s", line, err, lt.stderr.String())
	}
	if lt.ih, err = bt.ParseInfoHash(ihHex); err != nil {
		t.Fatal(err)
	}
	return lt
}

func (lt *ltNode) read(t *testing.T, timeout time.Duration) string {
	t.Helper()
	select {
	case l, ok := <-lt.lines:
		if !ok {
			t.Fatalf("libtorrent helper exited:\n%s", lt.stderr.String())
		}
		return l
	case <-time.After(timeout):
		t.Fatalf("libtorrent helper silent for %v:\n%s", timeout, lt.stderr.String())
	}
	return ""
}

// do sends one command and returns the helper's answer line.
func (lt *ltNode) do(t *testing.T, cmd string) string {
	t.Helper()
	if _, err := io.WriteString(lt.stdin, cmd+"\n"); err != nil {
		t.Fatal(err)
	}
	return lt.read(t, 10*time.Second)
}

func (lt *ltNode) addr() netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), lt.port)
}

// TestLibtorrentInterop runs our nodes against a python3-libtorrent DHT node on
// 127.0.0.1, both ways: libtorrent announces its seeding torrent to our node A, and
// our node B, bootstrapped from libtorrent alone, finds libtorrent as a peer with
// GetPeers; then A announces another info-hash and libtorrent's get_peers finds it.
func TestLibtorrentInterop(t *testing.T) {
	if testing.Short() {
		t.Skip("starts python3-libtorrent")
	}
	lt := startLibtorrent(t)
	a := startNode(t, Config{Bootstrap: []string{lt.addr().String()}, QueryTimeout: 2 * time.Second})
	if err := a.Bootstrap(testCtx(t, 5*time.Second)); err != nil {
		t.Fatalf("bootstrap from libtorrent: %v", err)
	}
	// libtorrent learns of A from A's queries; tell it explicitly too, in case it
	// waits to add nodes that queried it.
	if got := lt.do(t, "add "+a.Addr().String()); got != "OK" {
		t.Fatalf("add: %q", got)
	}

	b := startNode(t, Config{Bootstrap: []string{lt.addr().String()}, QueryTimeout: 2 * time.Second})
	if err := b.Bootstrap(testCtx(t, 5*time.Second)); err != nil {
		t.Fatalf("bootstrap from libtorrent: %v", err)
	}

	// libtorrent announces its torrent; B must find libtorrent's peer address.
	want := lt.addr()
	deadline := time.Now().Add(30 * time.Second)
	var peers []netip.AddrPort
	for {
		if got := lt.do(t, "announce"); got != "OK" {
			t.Fatalf("announce: %q", got)
		}
		time.Sleep(300 * time.Millisecond)
		var err error
		peers, err = b.GetPeers(testCtx(t, 5*time.Second), lt.ih)
		if err != nil {
			t.Logf("get_peers: %v", err)
		}
		if slices.Contains(peers, want) || time.Now().After(deadline) {
			break
		}
	}
	if !slices.Contains(peers, want) {
		t.Fatalf("B found %v for libtorrent's torrent, want %v; A: %+v", peers, want, a.Stats())
	}
	t.Logf("B found libtorrent's peer %v through the DHT", want)
	// libtorrent's announce_peer reached A with a token A had given it (implied_port:
	// the peer is libtorrent's source port).
	a.mu.Lock()
	stored := a.store.get(lt.ih, 10, time.Now())
	a.mu.Unlock()
	if !slices.Contains(stored, want) {
		t.Fatalf("A stores %v for libtorrent's torrent, want %v", stored, want)
	}

	// The other way: A announces; libtorrent's own lookup finds it.
	ih2 := bt.InfoHash(testID("hyperblow interop"))
	if _, err := a.Announce(testCtx(t, 5*time.Second), ih2, 7777, false); err != nil {
		t.Fatalf("announce to libtorrent: %v", err)
	}
	got := lt.do(t, "lookup "+ih2.String())
	if !strings.Contains(got, "127.0.0.1:7777") {
		t.Fatalf("libtorrent get_peers for our announce: %q", got)
	}
	t.Logf("libtorrent found our announced peer: %s", got)
}
