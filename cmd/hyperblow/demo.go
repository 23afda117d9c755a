package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/metainfo"
)

const demoUsage = `Usage: hyperblow demo [flags] MOUNTPOINT

Offline demo, no setup: generate a few sample files, seed them with Hyperblow's
own engine on 127.0.0.1, and mount them at MOUNTPOINT through the BitTorrent
protocol, exactly as a torrent from the Internet would be. Nothing leaves this
machine (no trackers, no DHT). Stop with Ctrl-C.

Examples:
  mkdir -p /tmp/hb && hyperblow demo /tmp/hb
  hyperblow demo --size 256MiB /tmp/hb     # a bigger file to cp

Flags:
`

// demoFlags are the flags of mount that mean something for the demo: not
// those that find peers (--peer, DHT, --listen, --encryption), fetch magnets or
// upload, since the demo's one peer is its own seeder on loopback.
var demoFlags = []string{"cache-size", "readahead", "read-timeout", "fetch", "allow-other", "status", "view", "v", "quiet", "fuse-debug", "cpuprofile"}

// registerDemo registers on fs the demoFlags of mount, with mount's help
// texts and defaults, filling mf; the others keep their defaults.
func (m *mountFlags) registerDemo(fs *flag.FlagSet) {
	all := flag.NewFlagSet("mount", flag.ContinueOnError)
	m.register(all, "127.0.0.1:0")
	for _, name := range demoFlags {
		f := all.Lookup(name)
		fs.Var(f.Value, name, f.Usage)
	}
	registerNonempty(fs, &m.fuse)
}

func runDemo(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", demoUsage, stdout)
	var mf mountFlags
	mf.registerDemo(fs)
	size := sizeFlag(64 << 20)
	fs.Var(&size, "size", "size of the big sample file")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("demo: want MOUNTPOINT, got %d arguments (see hyperblow demo --help)", len(pos))
	}
	mnt := pos[0]
	mf.noDHT = true // offline: nothing leaves this machine
	mf.noLSD, mf.noUPnP = true, true
	mf.listen = "127.0.0.1:0"
	if err := mf.checkMount(fs, mnt, stderr); err != nil { // options.go: flag values, the mount point
		return err
	}
	log := mf.logger(stderr)
	ctx, stop := signal.NotifyContext(context.Background(), mountSignals()...) // tty.go: SIGHUP too
	defer stop()

	tmp, err := os.MkdirTemp("", "hyperblow-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	data := filepath.Join(tmp, "hyperblow-demo")
	if err := writeDemoFiles(data, int64(size)); err != nil {
		return fmt.Errorf("demo: writing sample files: %w", err)
	}
	raw, err := metainfo.Create(data, metainfo.CreateOptions{PieceLength: 256 << 10, CreatedBy: "hyperblow demo", Comment: "Hyperblow's offline demo"})
	if err != nil {
		return fmt.Errorf("demo: making the torrent: %w", err)
	}
	mt, err := metainfo.Parse(raw)
	if err != nil {
		return fmt.Errorf("demo: reading back the torrent: %w", err)
	}
	storage, err := engine.OpenStorage(mt.Info, data)
	if err != nil {
		return err
	}
	defer storage.Close()
	seeder, err := engine.NewClient(engine.Config{Listen: "127.0.0.1:0", CacheSize: 16 << 20, Logger: log.With("role", "seeder")})
	if err != nil {
		return fmt.Errorf("demo: starting the seeder: %w", err)
	}
	defer seeder.Close()
	if _, err := seeder.AddTorrent(mt, engine.TorrentOptions{Storage: storage, NoTrackers: true}); err != nil {
		return fmt.Errorf("demo: seeding: %w", err)
	}
	log.Info("demo seeder ready", "addr", seeder.ListenAddr().String(), "info_hash", mt.InfoHash.String())
	topts := engine.TorrentOptions{Peers: []netip.AddrPort{seeder.ListenAddr()}, NoTrackers: true}
	return serveThen(ctx, stop, log, &mf, mt, topts, mnt, stdout, func() {
		fmt.Fprintf(stdout, `
Hyperblow demo: a torrent of %d files (%s) is mounted at %s,
fetched piece by piece from a seeder on %s as you read it.

Try, in another terminal:
  ls -lR %s
  cat %s/README.txt
  cd %s && sha256sum -c SHA256SUMS      # every byte verified, fetched on demand
  cp %s/big/random.bin /tmp/ && ls -l /tmp/random.bin

Stop with Ctrl-C (or: fusermount3 -u %s).
`, len(mt.Info.VisibleFiles()), humanSize(mt.Info.TotalLength), mnt, seeder.ListenAddr(), mnt, mnt, mnt, mnt, mnt)
	})
}

// writeDemoFiles writes the sample tree and a SHA256SUMS of it.
func writeDemoFiles(dir string, bigSize int64) error {
	files := map[string][]byte{
		"README.txt": []byte("This folder is a BitTorrent torrent, mounted by Hyperblow.\n" +
			"Every byte you read was requested from a peer, SHA-1 verified, and served from memory.\n"),
		"empty.txt":                   {},
		"docs/nested/deeper/hello.md": []byte("# Hello from three folders down\n"),
		"docs/odd-size.bin":           demoBytes(1, 16385),
	}
	var primes strings.Builder
	for n, count := 2, 0; count < 20000; n++ {
		if isPrime(n) {
			fmt.Fprintln(&primes, n)
			count++
		}
	}
	files["numbers/primes.txt"] = []byte(primes.String())
	for name, b := range files {
		if err := writeFile(filepath.Join(dir, name), b); err != nil {
			return err
		}
	}
	big := filepath.Join(dir, "big", "random.bin")
	if err := os.MkdirAll(filepath.Dir(big), 0o755); err != nil {
		return err
	}
	f, err := os.Create(big)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	r := rand.NewChaCha8([32]byte{'h', 'b'})
	if _, err := io.CopyN(w, r, bigSize); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return writeSums(dir)
}

func writeFile(p string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, b, 0o644)
}

func writeSums(dir string) error {
	var names []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			names = append(names, rel)
		}
		return err
	})
	if err != nil {
		return err
	}
	sort.Strings(names)
	var sums strings.Builder
	for _, n := range names {
		f, err := os.Open(filepath.Join(dir, n))
		if err != nil {
			return err
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return err
		}
		fmt.Fprintf(&sums, "%x  %s\n", h.Sum(nil), n)
	}
	return os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(sums.String()), 0o644)
}

func demoBytes(seed byte, n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{seed})
	r.Read(b)
	return b
}

func isPrime(n int) bool {
	for d := 2; d*d <= n; d++ {
		if n%d == 0 {
			return false
		}
	}
	return n >= 2
}
