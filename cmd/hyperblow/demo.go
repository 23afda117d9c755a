package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"

	"github.com/hyperblow/hyperblow/demo"
	"github.com/hyperblow/hyperblow/engine"
)

const demoUsage = `Usage: hyperblow demo [flags] MOUNTPOINT

Offline demo, no setup: generate a few sample files, seed them with Hyperblow's
own engine on 127.0.0.1, and mount them at MOUNTPOINT through the BitTorrent
protocol, exactly as a torrent from the Internet would be. Nothing leaves this
machine (no trackers, no DHT). Stop with Ctrl-C.

Examples:
  hyperblow demo /tmp/hb                   # made if missing, removed at the end
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
	// A mount point that does not exist is made, and removed again (once
	// unmounted, if still empty) when the demo stops: scripts/demo's
	// /tmp/hyperblow-demo is not left behind.
	if _, err := os.Lstat(mnt); os.IsNotExist(err) {
		if err := os.Mkdir(mnt, 0o755); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		defer os.Remove(mnt)
	}
	mf.noDHT = true // offline: nothing leaves this machine
	mf.noLSD, mf.noUPnP = true, true
	mf.listen = "127.0.0.1:0"
	if err := mf.checkMount(fs, mnt, stderr); err != nil { // options.go: flag values, the mount point
		return err
	}
	log := mf.logger(stderr)
	ctx, stop := signal.NotifyContext(context.Background(), mountSignals()...) // tty.go: SIGHUP too
	defer stop()

	sw, err := demo.Start(int64(size), log) // package demo: sample files, their torrent, a seeder on loopback
	if err != nil {
		return err
	}
	defer sw.Close()
	mt := sw.Torrent
	topts := engine.TorrentOptions{Peers: []netip.AddrPort{sw.Seeder}, NoTrackers: true}
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
`, len(mt.Info.VisibleFiles()), humanSize(mt.Info.TotalLength), mnt, sw.Seeder, mnt, mnt, mnt, mnt, mnt)
	})
}
