package integration

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// getSummaryRE is the last line `hyperblow get` prints on success.
var getSummaryRE = regexp.MustCompile(`(\d+) bytes received from peers, (\d+) bytes were already here`)

// hyperblowGet runs `hyperblow get --no-dht --no-lsd --no-upnp --listen 127.0.0.1:0 ARGS...`, fails
// the test unless it exits 0 with its summary, and returns the bytes it says it
// received from peers and found already there.
func hyperblowGet(t testing.TB, args ...string) (received, already int64, r result) {
	t.Helper()
	bin := buildBinary(t)
	argv := append([]string{bin, "get", "--no-dht", "--no-lsd", "--no-upnp", "--listen", "127.0.0.1:0"}, args...)
	r = run(t, 3*time.Minute, procOpts{}, argv...)
	if r.code != 0 {
		t.Fatalf("%q: %v", argv, r)
	}
	m := getSummaryRE.FindStringSubmatch(r.stdout)
	if m == nil || !strings.Contains(r.stdout, "complete: ") {
		t.Fatalf("%q: no summary: %v", argv, r)
	}
	received, _ = strconv.ParseInt(m[1], 10, 64)
	already, _ = strconv.ParseInt(m[2], 10, 64)
	t.Logf("hyperblow get took %v: %s", r.elapsed.Round(time.Millisecond), strings.TrimSpace(r.stdout))
	return received, already, r
}

// checkGetTree compares the folder `get` made (outDir/NAME) with the torrent's
// source folder: the same files, byte for byte, and nothing else (no padding).
func checkGetTree(t testing.TB, tor *Torrent, outDir string) {
	t.Helper()
	got := filepath.Join(outDir, tor.Info.Name)
	if d := diffTrees(listTree(t, tor.Data), listTree(t, got)); d != "" {
		t.Fatalf("downloaded tree differs from the source:\n%s", d)
	}
	compareHashes(t, "hyperblow get", hashTree(t, tor.Data), hashTree(t, got))
}

// TestGetFromRealSeeders: `hyperblow get` downloads the multi-file tree from
// aria2c found through opentracker (HTTP), and a BEP 47 padded torrent of it
// from python3-libtorrent given with --peer; the files are byte-identical to
// the source and no padding file is written. With --seed, get then serves the
// download to another get.
func TestGetFromRealSeeders(t *testing.T) {
	buildBinary(t)
	data := sharedData(t)

	t.Run("aria2c through http tracker", func(t *testing.T) {
		tr := startOpentracker(t)
		tor := makeTorrent(t, data.Tree, []string{tr.HTTP}, 64<<10)
		tr.Allow(t, tor.InfoHash)
		seedAria2(t, tor)
		tr.WaitSeeders(t, tor.InfoHash, 1)
		out := filepath.Join(t.TempDir(), "downloads") // get creates it
		received, already, _ := hyperblowGet(t, tor.Path, out)
		checkGetTree(t, tor, out)
		if already != 0 || received < tor.Info.TotalLength {
			t.Errorf("received %d bytes, %d already there; want the whole %d received", received, already, tor.Info.TotalLength)
		}
	})

	t.Run("libtorrent padded torrent with --peer", func(t *testing.T) {
		tor := makeTorrentOpts(t, data.Tree, nil, 32<<10, torrentOpts{pad: true})
		if !hasPad(tor) {
			t.Fatalf("lthelper make --pad wrote no padding files: %+v", tor.Info.Files)
		}
		peer := seedLibtorrent(t, tor)
		out := t.TempDir()
		hyperblowGet(t, "--peer", peer, tor.Path, out)
		checkGetTree(t, tor, out)

		// On a terminal (script(1) gives it one), get draws a progress line
		// that ends at 100%.
		requireTool(t, "script")
		bin := buildBinary(t)
		tty := t.TempDir()
		r := mustRun(t, 2*time.Minute, "script", "-qefc",
			fmt.Sprintf("%s get --no-dht --no-lsd --no-upnp --listen 127.0.0.1:0 --peer %s %s %s", bin, peer, tor.Path, tty), "/dev/null")
		if !regexp.MustCompile(`\rtree \[#+\]\s+100\.0% \S+ MiB/\S+ MiB .* peers \d+ ETA 0:00`).MatchString(r.stdout) {
			t.Errorf("get on a terminal: no progress line ending at 100%%:\n%q", tail(r.stdout, 2000))
		}
		checkGetTree(t, tor, tty)

		// --seed: once complete, get seeds what it wrote; a second get
		// downloads it from there alone, and SIGTERM ends the seeding with 0.
		seeder := startProc(t, "hyperblow get --seed", procOpts{pdeathsig: syscall.SIGTERM},
			bin, "get", "--seed", "--no-dht", "--no-lsd", "--no-upnp", "--listen", "127.0.0.1:0", "--peer", peer, tor.Path, t.TempDir())
		line := seeder.waitStdout(t, "seeding ", 2*time.Minute)
		addr := regexp.MustCompile(`on (127\.0\.0\.1:\d+)`).FindStringSubmatch(line)
		if addr == nil {
			t.Fatalf("get --seed: bad line %q", line)
		}
		again := t.TempDir()
		hyperblowGet(t, "--peer", addr[1], tor.Path, again)
		checkGetTree(t, tor, again)
		if err := seeder.signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if !seeder.waitFor(exitTimeout) {
			t.Fatalf("get --seed did not exit within %v of SIGTERM: %s", exitTimeout, seeder.hung())
		}
		if seeder.exitCode() != 0 || !strings.Contains(seeder.Stdout.String(), "stopped seeding") {
			t.Fatalf("get --seed after SIGTERM: want exit 0 and \"stopped seeding\": %s", seeder.describe())
		}
	})
}

// resumeTree makes a multi-file folder of about 24 MiB for the resume test.
func resumeTree(t testing.TB) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "resume-tree")
	for i, f := range []struct {
		path string
		size int64
	}{
		{"one.bin", 6<<20 + 1111},
		{"sub/two.bin", 6 << 20},
		{"sub/three.bin", 6<<20 + 77},
		{"sub/deeper/four.bin", 6<<20 - 999},
		{"small.txt", 1234},
	} {
		writeRandomFile(t, filepath.Join(root, filepath.FromSlash(f.path)), f.size, uint64(500+i))
	}
	return root
}

// copyPrefix copies the first n bytes of src to dst (all of it if n < 0).
func copyPrefix(t testing.TB, src, dst string, n int64) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	var r io.Reader = in
	if n >= 0 {
		r = io.LimitReader(in, n)
	}
	if _, err := io.Copy(out, r); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestGetResume: a folder holding about half of a torrent (two files whole, one
// of them with a corrupted byte, one file cut in half, one missing) is completed
// by `hyperblow get` from an aria2c seeder: the files end byte-identical, and
// both get's summary and aria2c's upload counter show that only the missing and
// damaged part crossed the wire. Then Ctrl-C mid-download from a slow seeder
// leaves a folder that a second get completes.
func TestGetResume(t *testing.T) {
	buildBinary(t)
	src := resumeTree(t)
	tor := makeTorrent(t, src, nil, 256<<10)
	total := tor.Info.TotalLength
	seeder := startAria2Seeder(t, tor)

	out := t.TempDir()
	dst := filepath.Join(out, tor.Info.Name)
	copyPrefix(t, filepath.Join(src, "one.bin"), filepath.Join(dst, "one.bin"), -1)
	copyPrefix(t, filepath.Join(src, "sub/two.bin"), filepath.Join(dst, "sub/two.bin"), -1)
	copyPrefix(t, filepath.Join(src, "sub/three.bin"), filepath.Join(dst, "sub/three.bin"), 3<<20)
	copyPrefix(t, filepath.Join(src, "small.txt"), filepath.Join(dst, "small.txt"), -1)
	flipByte(t, filepath.Join(dst, "sub/two.bin"), 1<<20)
	// Missing: half of three.bin, all of four.bin, the piece with the flipped
	// byte, and the pieces the cut and the missing file share with their
	// neighbours: about 9 MiB plus a few pieces of 24.
	present := int64(6<<20+1111) + 6<<20 + 3<<20 + 1234

	before, err := seeder.uploaded()
	if err != nil {
		t.Fatalf("aria2c upload count: %v", err)
	}
	received, already, _ := hyperblowGet(t, "--peer", seeder.addr, tor.Path, out)
	after, err := seeder.uploaded()
	if err != nil {
		t.Fatalf("aria2c upload count: %v", err)
	}
	checkGetTree(t, tor, out)
	missingBytes := total - present
	t.Logf("total %d, present before %d; get received %d, found %d already; aria2c uploaded %d", total, present, received, already, after-before)
	if already < present-4*(256<<10) || already > present {
		t.Errorf("get found %d bytes already there, want about %d (all present pieces less the damaged ones)", already, present)
	}
	if received < missingBytes || received > missingBytes+8*(256<<10) {
		t.Errorf("get received %d bytes, want about the %d missing (the whole torrent is %d): resume did not work", received, missingBytes, total)
	}
	if up := after - before; up > total*3/4 {
		t.Errorf("aria2c uploaded %d bytes of a %d-byte torrent of which %d were missing: resume did not work", up, total, missingBytes)
	}

	t.Run("interrupted and resumed", func(t *testing.T) {
		slow, _ := startSlowAria2Seeder(t, tor, "4M")
		out := t.TempDir()
		bin := buildBinary(t)
		p := startProc(t, "hyperblow get", procOpts{}, bin, "get", "--no-dht", "--no-lsd", "--no-upnp", "--listen", "127.0.0.1:0", "--peer", slow, tor.Path, out)
		// Interrupt once some data is on disk (the files start sparse; aria2c
		// unchokes at its next choking round).
		dst := filepath.Join(out, tor.Info.Name)
		deadline := time.Now().Add(time.Minute)
		for allocated(dst) < 2<<20 {
			if p.exited() || time.Now().After(deadline) {
				t.Fatalf("get wrote %d bytes in a minute from a seeder capped at 4 MiB/s: %s", allocated(dst), p.describe())
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err := p.signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		if !p.waitFor(exitTimeout) {
			t.Fatalf("get did not stop within %v of SIGINT: %s", exitTimeout, p.hung())
		}
		if code := p.exitCode(); code != 1 || !strings.Contains(p.Stdout.String(), "stopped: ") || !strings.Contains(p.Stderr.String(), "run the same command again to resume") {
			t.Fatalf("get after SIGINT: exit %d, want 1 with a \"stopped:\" line and a hint to resume: %s", code, p.describe())
		}
		received, already, _ := hyperblowGet(t, "--peer", seeder.addr, tor.Path, out)
		checkGetTree(t, tor, out)
		t.Logf("after SIGINT: %s; the second get received %d, found %d already", strings.TrimSpace(p.Stdout.String()), received, already)
		if already == 0 || received >= total {
			t.Errorf("after an interrupted get: received %d, %d already there; want part of the %d bytes kept", received, already, total)
		}
	})
}

// startSlowAria2Seeder seeds tor with aria2c capped at rate (aria2c syntax:
// "4M") and returns its address.
func startSlowAria2Seeder(t testing.TB, tor *Torrent, rate string) (string, *proc) {
	t.Helper()
	requireTool(t, "aria2c")
	port, rpcPort := freePort(t), freePort(t)
	secret := randomHex(8)
	argv := append(aria2Common(t, port),
		"--dir="+tor.SaveDir, "--check-integrity=true", "--seed-ratio=0.0", "--bt-max-peers=0",
		"--max-overall-upload-limit="+rate, "--max-upload-limit="+rate,
		"--enable-rpc", "--rpc-listen-port="+strconv.Itoa(rpcPort), "--rpc-secret="+secret,
		tor.Path)
	p := startProc(t, "aria2c-slow-seed", procOpts{}, argv...)
	if err := waitAria2Seeding(p, rpcPort, secret, 60*time.Second); err != nil {
		t.Fatalf("aria2c does not seed %s: %v\n%s", tor.Path, err, p.describe())
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := waitTCP(addr, 10*time.Second); err != nil {
		t.Fatalf("aria2c: %v\n%s", err, p.describe())
	}
	return addr, p
}

// TestGetCreateProgress: `hyperblow create` draws a progress bar on a terminal
// (run under script(1) for a pseudo-terminal) that ends at 100%, and prints
// plain lines elsewhere.
func TestGetCreateProgress(t *testing.T) {
	bin := buildBinary(t)
	data := sharedData(t)

	plain := mustRun(t, 2*time.Minute, bin, "create", "--no-date", "-o", filepath.Join(t.TempDir(), "plain.torrent"), data.Big)
	if !strings.Contains(plain.stderr, "hashing ") || !strings.Contains(plain.stderr, "hashed 64.0 MiB in") || strings.Contains(plain.stderr, "\r") {
		t.Errorf("create off a terminal: want plain \"hashing\" and \"hashed\" lines, no redraws:\n%q", plain.stderr)
	}

	requireTool(t, "script")
	out := filepath.Join(t.TempDir(), "tty.torrent")
	cmd := fmt.Sprintf("%s create --no-date -o %s %s", bin, out, data.Big)
	r := mustRun(t, 2*time.Minute, "script", "-qefc", cmd, "/dev/null")
	if !regexp.MustCompile(`\rhashing \[#+\]\s+100\.0% 64\.0 MiB/64\.0 MiB`).MatchString(r.stdout) {
		t.Errorf("create on a terminal: no progress bar ending at 100%%:\n%q", tail(r.stdout, 2000))
	}
	if _, err := os.Stat(out); err != nil {
		t.Errorf("create on a terminal wrote no torrent: %v", err)
	}
}

// allocated is the disk space the files under root take: what was written to
// sparse files.
func allocated(root string) int64 {
	var n int64
	filepath.Walk(root, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				n += st.Blocks * 512
			}
		}
		return nil
	})
	return n
}
