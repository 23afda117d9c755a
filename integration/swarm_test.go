package integration

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// A good swarm citizen survives bad peers and bad input: a seeder that dies in the
// middle of a copy, a peer that sends corrupt blocks beside an honest seeder, and a
// peer that connects to the mount and sends garbage.

// TestSeederKilledMidCopy reads the 64 MiB file through the mount while two real
// seeders (aria2c and python3-libtorrent, both given with --peer) serve it, and
// SIGKILLs one of them once the copy is past 8 MiB. The reader is paced (1 MiB
// every 50 ms on one open file handle) and the readahead kept at 4 MiB, so the kill
// lands mid-copy and most of the file must come from the survivor afterwards. The
// copy must complete, match byte for byte, and never stall for long. Each seeder
// is the victim once.
func TestSeederKilledMidCopy(t *testing.T) {
	for _, victim := range []string{"aria2c", "libtorrent"} {
		t.Run("kill "+victim, func(t *testing.T) {
			copyWhileSeederFails(t, victim, syscall.SIGKILL)
		})
	}
}

// TestSeederFrozenMidCopy is TestSeederKilledMidCopy with a seeder that stops
// (SIGSTOP) instead of dying: its connection stays open and its requests are never
// answered. The blocks it holds for pieces a read waits on must go to the other
// seeder within seconds (late-block duplication), not after a request timeout.
func TestSeederFrozenMidCopy(t *testing.T) {
	copyWhileSeederFails(t, "libtorrent", syscall.SIGSTOP)
}

// maxCopyStall is the longest the paced copy may go without a byte once a seeder
// fails, while the other seeder has every piece. It is far below the 60 s after
// which a peer that sends nothing is dropped as snubbed (what the test guards
// against), and far above the second or two the move to the other seeder takes:
// a loaded 2-core machine adds seconds.
const maxCopyStall = 20 * time.Second

// copyWhileSeederFails copies the 64 MiB file from a mount fed by an aria2c and a
// libtorrent seeder, and sends sig to victim ("aria2c" or "libtorrent") once the
// copy is past 8 MiB. The copy must complete, match, and not stall beyond maxCopyStall.
func copyWhileSeederFails(t *testing.T, victim string, sig syscall.Signal) {
	buildBinary(t)
	data := sharedData(t)
	tor := makeTorrent(t, data.Big, nil, 256<<10)
	size := tor.Info.TotalLength

	aria := startAria2Seeder(t, tor)
	lt := startLibtorrentSeeder(t, tor)
	m := mount(t, "--peer", aria.addr, "--peer", lt.addr, "--readahead", "4MiB", "--cache-size", "64MiB", tor.Path)
	// aria2c unchokes at its choking rounds, every 10 s: wait until it serves the
	// mount, so both seeders are in use when one fails.
	waitUnchoked(t, aria, 20*time.Second)

	out := filepath.Join(t.TempDir(), "copy")
	start := time.Now()
	reader := startPacedReader(t, filepath.Join(m.Dir, filepath.Base(tor.Data)), out, size)
	at := waitFileSize(t, out, 8<<20, reader, 30*time.Second)

	// aria2c reports what it uploaded (libtorrent's helper does not).
	up, err := aria.uploaded()
	if err != nil {
		t.Fatalf("aria2c upload count: %v", err)
	}
	t.Logf("aria2c had uploaded %d bytes when %d were copied", up, at)
	target := lt
	if victim == "aria2c" {
		target = aria
		// It must have been serving the mount, or failing it tests nothing.
		if up == 0 {
			t.Errorf("aria2c uploaded nothing before it failed: the mount used only libtorrent")
		}
	}
	if sig == syscall.SIGKILL {
		target.p.kill()
		if !target.p.waitFor(exitTimeout) {
			t.Fatalf("%s did not exit after SIGKILL", target.p.name)
		}
	} else if err := target.p.signal(sig); err != nil {
		t.Fatalf("%v to %s: %v", sig, target.p.name, err)
	}
	failedAt := time.Now()
	t.Logf("sent %v to %s after %v with %d of %d bytes copied", sig, target.p.name, failedAt.Sub(start).Round(time.Millisecond), at, size)
	if at >= size {
		t.Fatalf("the copy was complete before the seeder failed: nothing tested")
	}

	stall, stallAt := watchProgress(out, reader, 3*time.Minute)
	if !reader.exited() {
		t.Fatalf("the copy did not finish within 3 min of %v to %s: %s\nhyperblow stderr:\n%s", sig, target.p.name, reader.describe(), tail(m.Stderr(), 6000))
	}
	if reader.exitCode() != 0 {
		t.Fatalf("the copy failed: %s\nhyperblow stderr:\n%s", reader.describe(), tail(m.Stderr(), 6000))
	}
	t.Logf("copy of %d bytes done %v after starting; longest stall %v, from %d MiB", size, time.Since(start).Round(time.Millisecond), stall.Round(10*time.Millisecond), stallAt>>20)
	if got, want := hashFile(t, out), hashFile(t, data.Big); got != want {
		t.Fatalf("the copy differs from the source: sha256 %s, want %s", got, want)
	}
	if stall > maxCopyStall {
		t.Errorf("after %v to %s the copy stalled for %v at %d MiB (want at most %v): the other seeder has every piece",
			sig, target.p.name, stall.Round(10*time.Millisecond), stallAt>>20, maxCopyStall)
	}
	m.Unmount(t)
}

// watchProgress polls the size of path until writer ends or timeout passes, and
// returns the longest time the size did not grow and the size it was stuck at.
func watchProgress(path string, writer *proc, timeout time.Duration) (stall time.Duration, at int64) {
	deadline := time.Now().Add(timeout)
	var last int64 = -1
	lastGrowth := time.Now()
	for !writer.exited() && time.Now().Before(deadline) {
		var size int64
		if st, err := os.Stat(path); err == nil {
			size = st.Size()
		}
		now := time.Now()
		if size != last {
			last, lastGrowth = size, now
		} else if d := now.Sub(lastGrowth); d > stall {
			stall, at = d, size
		}
		time.Sleep(50 * time.Millisecond)
	}
	return stall, at
}

// TestCorruptingPeerBesideHonestSeeder mounts the 64 MiB torrent with two peers: a
// peer written here that claims every piece and answers each REQUEST with the
// block's bytes inverted, and an honest python3-libtorrent seeder. The copy must
// match byte for byte, the engine must ban the bad peer with a logged reason, and
// it must not dial the banned address again.
func TestCorruptingPeerBesideHonestSeeder(t *testing.T) {
	buildBinary(t)
	data := sharedData(t)
	tor := makeTorrent(t, data.Big, nil, 256<<10)
	honest := startLibtorrentSeeder(t, tor)
	bad := startCorruptPeer(t, tor)
	badAddr := bad.ln.Addr().String()

	m := mount(t, "--peer", badAddr, "--peer", honest.addr, tor.Path)
	out := filepath.Join(t.TempDir(), "copy")
	start := time.Now()
	cp := run(t, 60*time.Second, procOpts{}, "cp", filepath.Join(m.Dir, filepath.Base(tor.Data)), out)
	if cp.code != 0 {
		t.Fatalf("cp: %v\nhyperblow stderr:\n%s", cp, tail(m.Stderr(), 6000))
	}
	t.Logf("cp of %d bytes took %v; the bad peer sent %d corrupt blocks over %d connection(s)",
		tor.Info.TotalLength, time.Since(start).Round(time.Millisecond), bad.blocks.Load(), bad.acceptCount())
	if got, want := hashFile(t, out), hashFile(t, data.Big); got != want {
		t.Fatalf("the copy differs from the source: sha256 %s, want %s", got, want)
	}
	if bad.blocks.Load() == 0 {
		t.Fatalf("the engine never asked the corrupting peer for a block: nothing was tested\nhyperblow stderr:\n%s", tail(m.Stderr(), 6000))
	}

	// The ban: `level=WARN msg="banning peer" addr=127.0.0.1:PORT ... reason="banned: ..."`.
	banRE := regexp.MustCompile(`(?m)^time=(\S+) level=WARN msg="banning peer" (?:torrent=(?:"[^"]*"|\S+) )?addr=` + regexp.QuoteMeta(badAddr) + ` .*reason="([^"]*)"`)
	line := waitStderr(t, m, banRE, time.Minute, "the corrupting peer was not banned")
	sub := banRE.FindStringSubmatch(line)
	if !strings.Contains(sub[2], "failed the hash check") {
		t.Errorf("ban reason %q does not say a piece failed its hash check", sub[2])
	}
	bannedAt, err := time.Parse(time.RFC3339Nano, sub[1])
	if err != nil {
		t.Fatalf("ban log line %q: time: %v", line, err)
	}
	if n := strings.Count(m.Stderr(), `msg="banning peer"`); n != 1 {
		t.Errorf("%d peers banned, want 1 (only the corrupting one):\n%s", n, grepLines(m.Stderr(), "banning peer"))
	}
	t.Logf("banned after %d corrupt blocks: %s", bad.blocks.Load(), line)

	// The connection it was banned on is closed (waited for: a loaded machine is
	// slow), and over at least 3 s after the ban the banned address is never
	// dialled again.
	deadline := time.Now().Add(time.Minute)
	for {
		if _, open := bad.history(bannedAt); open == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a connection to the banned peer is still open a minute after the ban\nhyperblow stderr:\n%s", tail(m.Stderr(), 6000))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if wait := time.Until(bannedAt.Add(3 * time.Second)); wait > 0 {
		time.Sleep(wait) // the window in which a re-dial would show
	}
	if accepts, _ := bad.history(bannedAt.Add(time.Millisecond)); accepts != 0 {
		t.Errorf("the mount connected to the banned peer %d more time(s) after the ban", accepts)
	}
	if bad.acceptCount() == 0 {
		t.Errorf("the corrupting peer saw no connection")
	}
	m.Unmount(t)
}

// TestHostileIncomingPeers connects to the mount's own listener and sends what a
// hostile peer might: a huge length prefix, an out-of-range HAVE, a BITFIELD of the
// wrong size, an unrequested PIECE, a REQUEST past the end, and a stream that is
// not BitTorrent at all. Each connection must be closed promptly with a logged
// reason, and the mount must go on serving: the file still reads back whole.
// It waits 10 s for a handshake timeout, so it runs in parallel with the other
// waiting tests.
func TestHostileIncomingPeers(t *testing.T) {
	t.Parallel()
	buildBinary(t)
	data := sharedData(t)
	tor := makeTorrent(t, data.Big, nil, 256<<10)
	honest := startLibtorrentSeeder(t, tor)
	// -v: violations caught while framing a message are logged at debug level.
	m := mount(t, "-v", "--peer", honest.addr, tor.Path)
	listen := mountListenAddr(t, m)
	ih, _ := hex.DecodeString(tor.InfoHash)
	n := uint32(tor.Info.NumPieces)

	for _, tc := range []struct {
		name      string
		handshake bool // send a valid handshake first
		send      []byte
	}{
		{"length prefix 2^30", true, be32(1 << 30)},
		{"length prefix 2^32-1", true, be32(0xFFFFFFFF)},
		{"HAVE 0xFFFFFFFF", true, peerMsg(4, be32(0xFFFFFFFF))},
		{"HAVE num_pieces", true, peerMsg(4, be32(n))},
		{"BITFIELD too short", true, peerMsg(5, []byte{0xFF})},
		{"PIECE never requested", true, peerMsg(7, concatBytes(be32(0), be32(0), make([]byte, 16384)))},
		{"PIECE out of range", true, peerMsg(7, concatBytes(be32(n), be32(0), make([]byte, 16)))},
		{"REQUEST past the end", true, concatBytes(peerMsg(2, nil), peerMsg(6, concatBytes(be32(n-1), be32(0), be32(1<<20))))},
		// Not a BitTorrent handshake: taken for MSE (its first 96 bytes a DH key).
		// Long enough, the MSE sync search fails at once; shorter, the mount waits
		// for the rest until the handshake timeout (10 s), as MSE peers may be slow.
		{"not BitTorrent", false, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n" + strings.Repeat("\x00", 2000))},
		{"not BitTorrent, short", false, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n" + strings.Repeat("\x00", 100))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.DialTimeout("tcp", listen, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			local := c.LocalAddr().String()
			var msg []byte
			if tc.handshake {
				msg = handshakeBytes(ih, []byte("-HBHOST-"+randomHex(6)))
			}
			msg = append(msg, tc.send...)
			if _, err := c.Write(msg); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			// Bounds on a hang, not speeds: the machine may be loaded.
			wait := 30 * time.Second
			if strings.HasSuffix(tc.name, "short") {
				wait = 40 * time.Second // the handshake timeout and a margin
			}
			c.SetReadDeadline(time.Now().Add(wait))
			got, err := io.Copy(io.Discard, c) // what the mount sends until it hangs up
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("the mount kept the connection open %v after %s (it sent %d bytes)", wait, tc.name, got)
			}
			t.Logf("closed after %v (%d bytes from the mount, %v)", time.Since(start).Round(time.Millisecond), got, err)
			// The reason, logged with the peer's address: "disconnecting peer" (INFO),
			// "peer disconnected" (DEBUG), or "incoming connection refused" (DEBUG).
			re := regexp.MustCompile(`msg="(disconnecting peer|peer disconnected|incoming connection refused)" (?:torrent=(?:"[^"]*"|\S+) )?addr=` +
				regexp.QuoteMeta(local) + ` .*(reason|err)=("[^"]+"|\S+)`)
			line := waitStderr(t, m, re, 30*time.Second, "no disconnect reason logged for "+local)
			t.Logf("%s", line)
			if strings.Contains(line, "reason=peerconn: peer closed the connection") {
				t.Errorf("logged as if the peer hung up; want the violation as the reason: %s", line)
			}
		})
	}

	r := run(t, 60*time.Second, procOpts{}, "sha256sum", filepath.Join(m.Dir, filepath.Base(tor.Data)))
	if got, _, _ := strings.Cut(r.stdout, " "); r.code != 0 || got != hashFile(t, data.Big) {
		t.Fatalf("sha256sum on the mount after the hostile peers: %v\nhyperblow stderr:\n%s", r, tail(m.Stderr(), 6000))
	}
	m.Unmount(t)
}

// killableSeeder is a real seeder whose process the test may kill early.
type killableSeeder struct {
	addr string // 127.0.0.1:PORT
	p    *proc
	// Where the client tells (aria2c): bytes uploaded so far, peers unchoked.
	uploaded func() (int64, error)
	unchoked func() (int, string, error)
}

// startLibtorrentSeeder is seedLibtorrent that also returns the process.
func startLibtorrentSeeder(t testing.TB, tor *Torrent) *killableSeeder {
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
	return &killableSeeder{addr: addr, p: p}
}

// startAria2Seeder is seedAria2 that also returns the process and ways to ask
// aria2c (JSON-RPC on loopback) how much it has uploaded and whom it unchokes.
func startAria2Seeder(t testing.TB, tor *Torrent) *killableSeeder {
	t.Helper()
	requireTool(t, "aria2c")
	var lastErr string
	for attempt := range 3 {
		port, rpcPort := freePort(t), freePort(t)
		secret := randomHex(8)
		argv := append(aria2Common(t, port),
			"--dir="+tor.SaveDir, "--check-integrity=true", "--seed-ratio=0.0", "--bt-max-peers=0",
			"--enable-rpc", "--rpc-listen-port="+strconv.Itoa(rpcPort), "--rpc-secret="+secret,
			tor.Path)
		p := startProc(t, fmt.Sprintf("aria2c-seed#%d", attempt), procOpts{}, argv...)
		err := waitAria2Seeding(p, rpcPort, secret, 60*time.Second)
		if err == nil {
			addr := fmt.Sprintf("127.0.0.1:%d", port)
			if err = waitTCP(addr, 10*time.Second); err == nil {
				rpc := aria2RPC{port: rpcPort, secret: secret}
				return &killableSeeder{addr: addr, p: p, uploaded: rpc.uploaded, unchoked: rpc.unchoked}
			}
		}
		lastErr = err.Error() + "\n" + p.describe()
		p.kill()
		p.waitFor(5 * time.Second)
	}
	t.Fatalf("aria2c does not seed %s: %s", tor.Path, lastErr)
	return nil
}

// aria2RPC asks a seeding aria2c about its one download.
type aria2RPC struct {
	port   int
	secret string
}

func (a aria2RPC) call(method string, result any, params ...any) error {
	req, _ := json.Marshal(map[string]any{
		"jsonrpc": "2.0", "id": "1", "method": method,
		"params": append([]any{"token:" + a.secret}, params...),
	})
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Post(fmt.Sprintf("http://127.0.0.1:%d/jsonrpc", a.port), "application/json", bytes.NewReader(req))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out := struct {
		Result any
		Error  *struct{ Message string }
	}{Result: result}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return err
	}
	if out.Error != nil {
		return fmt.Errorf("aria2c %s: %s", method, out.Error.Message)
	}
	return nil
}

func (a aria2RPC) active() (gid string, uploaded int64, err error) {
	var res []struct{ Gid, UploadLength string }
	if err := a.call("aria2.tellActive", &res, []string{"gid", "uploadLength"}); err != nil {
		return "", 0, err
	}
	if len(res) != 1 {
		return "", 0, fmt.Errorf("aria2c has %d active downloads, want 1", len(res))
	}
	up, err := strconv.ParseInt(res[0].UploadLength, 10, 64)
	return res[0].Gid, up, err
}

// uploaded is the download's uploadLength: bytes aria2c has sent to peers.
func (a aria2RPC) uploaded() (int64, error) {
	_, up, err := a.active()
	return up, err
}

// unchoked counts the peers aria2c is not choking, and describes them all.
func (a aria2RPC) unchoked() (int, string, error) {
	gid, _, err := a.active()
	if err != nil {
		return 0, "", err
	}
	var peers []map[string]string
	if err := a.call("aria2.getPeers", &peers, gid); err != nil {
		return 0, "", err
	}
	n := 0
	var desc []string
	for _, p := range peers {
		if p["amChoking"] == "false" {
			n++
		}
		desc = append(desc, fmt.Sprintf("%s:%s amChoking=%s peerChoking=%s", p["ip"], p["port"], p["amChoking"], p["peerChoking"]))
	}
	return n, strings.Join(desc, "; "), nil
}

// waitUnchoked waits until s unchokes a peer (the mount, its only one).
func waitUnchoked(t testing.TB, s *killableSeeder, timeout time.Duration) {
	t.Helper()
	start := time.Now()
	for {
		n, peers, err := s.unchoked()
		if err == nil && n > 0 {
			t.Logf("%s unchoked the mount after %v", s.p.name, time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Since(start) > timeout {
			t.Fatalf("%s did not unchoke the mount within %v (%d unchoked, %v; peers: %s): %s", s.p.name, timeout, n, err, peers, s.p.describe())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startPacedReader copies src to dst from a child shell, 1 MiB every 50 ms,
// through one open file handle (dd on an inherited descriptor), as a slow player
// would read.
func startPacedReader(t testing.TB, src, dst string, size int64) *proc {
	t.Helper()
	steps := (size + 1<<20 - 1) >> 20
	script := `exec 3<"$1" 4>"$2"; i=0
while [ "$i" -lt "$3" ]; do
	dd bs=1M count=1 iflag=fullblock status=none <&3 >&4 || exit 1
	i=$((i+1)); sleep 0.05
done`
	return startProc(t, "paced reader", procOpts{}, "sh", "-c", script, "sh", src, dst, strconv.FormatInt(steps, 10))
}

// waitFileSize waits until path holds more than n bytes and returns its size;
// it fails the test if writer ends first or timeout passes.
func waitFileSize(t testing.TB, path string, n int64, writer *proc, timeout time.Duration) int64 {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if st, err := os.Stat(path); err == nil && st.Size() > n {
			return st.Size()
		}
		if writer.exited() {
			t.Fatalf("%s ended before %s reached %d bytes: %s", writer.name, path, n, writer.describe())
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not reach %d bytes within %v: %s", path, n, timeout, writer.describe())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitStderr waits until the mount's stderr has a line matching re and returns it.
func waitStderr(t testing.TB, m *Mount, re *regexp.Regexp, timeout time.Duration, what string) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if line := re.FindString(m.Stderr()); line != "" {
			return line
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s (no line matching %s within %v)\nhyperblow stderr:\n%s", what, re, timeout, tail(m.Stderr(), 8000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mountListenAddr is the peer listener's address, from the `mounted` log line.
func mountListenAddr(t testing.TB, m *Mount) string {
	t.Helper()
	re := regexp.MustCompile(`msg=mounted .*listen=(127\.0\.0\.1:\d+)`)
	line := waitStderr(t, m, re, 10*time.Second, "no listen address in the mounted line")
	return re.FindStringSubmatch(line)[1]
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// BEP 3 framing, just enough for the hostile peers here.

func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

func concatBytes(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// peerMsg frames a message: 4-byte big-endian length (id + payload), id, payload.
func peerMsg(id byte, payload []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(1+len(payload)))
	return append(append(b, id), payload...)
}

// handshakeBytes is the 68-byte BEP 3 handshake with no reserved bits set.
func handshakeBytes(infoHash, peerID []byte) []byte {
	b := append([]byte{19}, "BitTorrent protocol"...)
	b = append(b, make([]byte, 8)...)
	b = append(b, infoHash...)
	return append(b, peerID...)
}

// corruptPeer is a BitTorrent peer that has every piece and serves each requested
// block with its bytes inverted. It only accepts connections; it never dials.
type corruptPeer struct {
	ln        net.Listener
	data      *os.File
	infoHash  []byte
	pieceLen  int64
	total     int64
	numPieces int
	blocks    atomic.Int64 // corrupt blocks sent
	wg        sync.WaitGroup

	mu    sync.Mutex
	conns []*corruptConn
}

type corruptConn struct {
	nc       net.Conn
	accepted time.Time
	ended    time.Time // zero while open
}

// startCorruptPeer listens on 127.0.0.1:0 for tor and serves until the test ends.
func startCorruptPeer(t testing.TB, tor *Torrent) *corruptPeer {
	t.Helper()
	ih, err := hex.DecodeString(tor.InfoHash)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(tor.Data)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Close()
		t.Fatal(err)
	}
	cp := &corruptPeer{ln: ln, data: f, infoHash: ih, pieceLen: tor.Info.PieceLength,
		total: tor.Info.TotalLength, numPieces: tor.Info.NumPieces}
	cp.wg.Add(1)
	go cp.acceptLoop()
	t.Cleanup(func() {
		ln.Close()
		cp.mu.Lock()
		for _, c := range cp.conns {
			c.nc.Close()
		}
		cp.mu.Unlock()
		cp.wg.Wait()
		f.Close()
	})
	return cp
}

func (cp *corruptPeer) acceptLoop() {
	defer cp.wg.Done()
	for {
		nc, err := cp.ln.Accept()
		if err != nil {
			return
		}
		c := &corruptConn{nc: nc, accepted: time.Now()}
		cp.mu.Lock()
		cp.conns = append(cp.conns, c)
		cp.mu.Unlock()
		cp.wg.Add(1)
		go func() {
			defer cp.wg.Done()
			cp.serve(c)
			nc.Close()
			cp.mu.Lock()
			c.ended = time.Now()
			cp.mu.Unlock()
		}()
	}
}

func (cp *corruptPeer) acceptCount() int {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return len(cp.conns)
}

// history counts the connections accepted after since, and those still open.
func (cp *corruptPeer) history(since time.Time) (acceptedAfter, open int) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	for _, c := range cp.conns {
		if c.accepted.After(since) {
			acceptedAfter++
		}
		if c.ended.IsZero() {
			open++
		}
	}
	return acceptedAfter, open
}

// serve speaks BEP 3 on one connection until it fails or is closed.
func (cp *corruptPeer) serve(c *corruptConn) {
	nc := c.nc
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	hs := make([]byte, 68)
	if _, err := io.ReadFull(nc, hs); err != nil {
		return
	}
	if hs[0] != 19 || string(hs[1:20]) != "BitTorrent protocol" || !bytes.Equal(hs[28:48], cp.infoHash) {
		return
	}
	// BITFIELD: every piece, spare bits clear; then UNCHOKE at once.
	bf := make([]byte, (cp.numPieces+7)/8)
	for i := range cp.numPieces {
		bf[i/8] |= 0x80 >> (i % 8)
	}
	out := handshakeBytes(cp.infoHash, []byte("-HBBAD0-"+randomHex(6)))
	out = append(out, peerMsg(5, bf)...)
	out = append(out, peerMsg(1, nil)...)
	if _, err := nc.Write(out); err != nil {
		return
	}
	var hdr [4]byte
	for {
		nc.SetDeadline(time.Now().Add(2 * time.Minute))
		if _, err := io.ReadFull(nc, hdr[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n == 0 {
			continue // keep-alive
		}
		if n > 1<<20 {
			return
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(nc, body); err != nil {
			return
		}
		if body[0] != 6 || n != 13 { // only REQUEST matters
			continue
		}
		index := binary.BigEndian.Uint32(body[1:])
		begin := binary.BigEndian.Uint32(body[5:])
		length := binary.BigEndian.Uint32(body[9:])
		if int(index) >= cp.numPieces || length == 0 || length > 128<<10 {
			return
		}
		off := int64(index)*cp.pieceLen + int64(begin)
		end := min(int64(index+1)*cp.pieceLen, cp.total)
		if off+int64(length) > end {
			return
		}
		block := make([]byte, length)
		if _, err := cp.data.ReadAt(block, off); err != nil {
			return
		}
		for i := range block {
			block[i] ^= 0xFF
		}
		if _, err := nc.Write(peerMsg(7, concatBytes(be32(index), be32(begin), block))); err != nil {
			return
		}
		cp.blocks.Add(1)
	}
}
