// Command hblink runs WAN link emulators (package netem) as a process, for
// the benchmark: each link listens on a loopback address and forwards to a
// target through a delay, jitter and a rate limit per direction. Shapes can
// be changed while it runs through a small HTTP control endpoint. With
// --tun, a link is IP-level instead (netem.ListenTUN): two TUN devices, one
// in a far network namespace, that every packet crosses alike.
//
// Exit codes: 0 success, 1 runtime failure, 2 usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/hyperblow/hyperblow/netem"
)

const usageText = `hblink emulates wide-area links between loopback addresses (there is no tc netem here).

Usage:
  hblink --listen ADDR --to ADDR [--delay D] [--jitter D] [--rate R] [--queue SIZE] [--loss P] [--udp]
  hblink --link LISTEN=TARGET[,KEY=VALUE...] [--link ...] [--control ADDR] [--stats FILE]
  hblink --tun NAME[,KEY=VALUE...] --far-netns PID [--delay D] [--jitter D] [--rate R] [--queue SIZE] [--loss P]

Each link listens on LISTEN (port 0: any free port) and forwards every connection
(and with proto=udp or both, every client's datagrams) to TARGET.

A --tun link is IP-level (Linux, root, inside "unshare --net" only): two TUN devices, NAME
here and NAMEf moved into the network namespace of process PID (e.g. "unshare --net
sleep infinity"), addresses 10.201.N.1 (here) and 10.201.N.2 (there), N = subnet (by
default 0, 1, ... in the order of the --tun flags); MTU 1500. Every IP packet, TCP or UDP,
crosses the same bottleneck, delay and queue: a full queue drops (drop-tail), loss applies
to every packet, and the kernels' own TCP reacts as on a real path. Up is from NAME to
NAMEf. Its keys: those below (not proto, from), netns=PID (instead of --far-netns) and
subnet=N. The shape flags (--delay ...) apply to --tun links when there is no --listen.

Keys of --link (and of the control endpoint):
  delay=40ms        one-way delay, both directions
  jitter=10ms       each chunk's delay is drawn from delay±jitter; never reorders
  rate=2MB/s        bottleneck rate: B, kB, MB, GB (x1000), KiB, MiB, GiB, kbit, Mbit, Gbit;
                    "unlimited" (the default) for none
  queue=64KiB       what the bottleneck holds beyond rate x (delay+jitter)
  loss=1%           UDP: the share of datagrams lost
  stall=1           forward nothing more, keep connections open (stall=0 resumes)
  proto=tcp         tcp (default), udp, or both (on the same port)
  from=127.0.0.5    dial TARGET from this IP (a target may take one connection per IP)
  up.KEY=VALUE      one direction only: up is towards TARGET, down is back
  down.KEY=VALUE    (a download from a seeder at TARGET flows down)

Example: three seeders at 2 MB/s, 40±10 ms each way, the third stalled at start:
  hblink --control 127.0.0.1:7000 \
    --link 127.0.0.1:7001=127.0.0.2:6881,delay=40ms,jitter=10ms,rate=2MB/s \
    --link 127.0.0.1:7002=127.0.0.3:6881,delay=40ms,jitter=10ms,rate=2MB/s \
    --link 127.0.0.1:7003=127.0.0.4:6881,delay=40ms,jitter=10ms,rate=2MB/s,down.stall=1

Control (HTTP, on --control):
  GET  /links                   every link's shapes and byte counts, as JSON
  GET  /link/N                  link N (numbered from 0 in the order given)
  POST /link/N?down.stall=1     change link N's shape (same keys; the others keep their values)
  POST /links?stall=0           change every link

Output: one JSON object per line on stdout: {"event":"ready",...} once listening,
{"event":"stats",...} on SIGUSR1, {"event":"exit",...} on SIGINT or SIGTERM; --stats FILE
also gets the latest. Logs go to stderr. Addresses must be loopback unless --allow-remote.
A --tun link's "listen" is its near address, "target" its far one, with "dev", "far_dev"
and "far_netns"; its counters ("tun") count packets too.

Flags:
`

// usageError is a mistake on the command line: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	dump := make(chan struct{})
	go func() {
		for range usr1 {
			select {
			case dump <- struct{}{}:
			case <-ctx.Done():
				return
			}
		}
	}()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, dump))
}

// options are hblink's flags.
type options struct {
	links       []linkSpec
	control     string
	statsFile   string
	allowRemote bool
}

func parseArgs(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("hblink", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
	}
	var linkFlags []string // --link and --tun values in the order given; a --tun one starts with tunPrefix
	fs.Func("link", "a link: LISTEN=TARGET[,KEY=VALUE...] (repeatable)", func(v string) error {
		linkFlags = append(linkFlags, v)
		return nil
	})
	fs.Func("tun", "an IP-level link: NAME[,KEY=VALUE...] (repeatable; Linux, root, inside unshare --net)", func(v string) error {
		linkFlags = append(linkFlags, tunPrefix+v)
		return nil
	})
	farNetns := fs.Int("far-netns", 0, "--tun links: the PID of a process in the far network namespace")
	listen := fs.String("listen", "", "one link's listen address (with --to)")
	to := fs.String("to", "", "one link's target address (with --listen)")
	fs.String("delay", "", "--listen link: one-way delay, e.g. 40ms")
	fs.String("jitter", "", "--listen link: jitter, e.g. 10ms")
	fs.String("rate", "", "--listen link: rate, e.g. 2MB/s")
	fs.String("queue", "", "--listen link: queue beyond the bandwidth-delay product, e.g. 64KiB")
	fs.String("loss", "", "--listen link: UDP loss, e.g. 1%")
	udp := fs.Bool("udp", false, "--listen link: relay UDP too, on the same port")
	fs.StringVar(&o.control, "control", "", "serve the HTTP control endpoint on this address")
	fs.StringVar(&o.statsFile, "stats", "", "write the stats JSON to this file on SIGUSR1 and on exit")
	fs.BoolVar(&o.allowRemote, "allow-remote", false, "allow addresses that are not loopback")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return o, usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if (*listen == "") != (*to == "") {
		return o, usageError{"--listen and --to go together"}
	}
	var shapeKeys []string // the shape flags, as keys
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "delay", "jitter", "rate", "queue", "loss":
			shapeKeys = append(shapeKeys, f.Name+"="+f.Value.String())
		}
	})
	tuns := 0
	for _, v := range linkFlags {
		if strings.HasPrefix(v, tunPrefix) {
			tuns++
		}
	}
	var tunKeys []string // the shape flags, for --tun links
	if *listen != "" {
		spec := *listen + "=" + *to
		for _, kv := range shapeKeys {
			spec += "," + kv
		}
		if *udp {
			spec += ",proto=both"
		}
		linkFlags = append([]string{spec}, linkFlags...)
	} else {
		var stray []string
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "delay", "jitter", "rate", "queue", "loss":
				if tuns == 0 {
					stray = append(stray, "--"+f.Name)
				}
			case "udp":
				stray = append(stray, "--"+f.Name)
			}
		})
		if len(stray) > 0 {
			return o, usageError{strings.Join(stray, ", ") + ": only with --listen and --to, or --tun (for --link, use its keys)"}
		}
		tunKeys = shapeKeys
	}
	if *farNetns != 0 && tuns == 0 {
		return o, usageError{"--far-netns: only with --tun"}
	}
	if len(linkFlags) == 0 {
		return o, usageError{"no link: give --listen and --to, --link, or --tun"}
	}
	tunIndex := 0
	for _, v := range linkFlags {
		var l linkSpec
		var err error
		if t, ok := strings.CutPrefix(v, tunPrefix); ok {
			l, err = parseTUN(t, tunIndex, *farNetns, tunKeys)
			tunIndex++
		} else {
			l, err = parseLink(v)
		}
		if err != nil {
			return o, usageError{err.Error()}
		}
		if l.isTUN() {
			o.links = append(o.links, l)
			continue
		}
		if !o.allowRemote {
			for _, a := range []struct{ what, addr string }{{"listen", l.listen}, {"target", l.target}} {
				if err := checkLoopback(a.what, a.addr); err != nil {
					return o, usageError{err.Error()}
				}
			}
			if l.from.IsValid() && !l.from.IsLoopback() {
				return o, usageError{fmt.Sprintf("from %s: not a loopback address; --allow-remote permits others", l.from)}
			}
		}
		o.links = append(o.links, l)
	}
	if o.control != "" && !o.allowRemote {
		if err := checkLoopback("control", o.control); err != nil {
			return o, usageError{err.Error()}
		}
	}
	return o, nil
}

// run is hblink until ctx is done; each receive on dump prints the stats.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, dump <-chan struct{}) int {
	o, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "hblink: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	set, err := start(ctx, o.links)
	if err != nil {
		fmt.Fprintf(stderr, "hblink: %v\n", err)
		return 1
	}
	defer set.close()
	for _, l := range set.links {
		log.Info("link", "n", l.n, "listen", l.addr(), "target", l.spec.target, "proto", l.proto(),
			"up", l.spec.up, "down", l.spec.down)
	}
	var controlAddr string
	if o.control != "" {
		ln, err := net.Listen("tcp", o.control)
		if err != nil {
			fmt.Fprintf(stderr, "hblink: control %s: %v\n", o.control, err)
			return 1
		}
		srv := &http.Server{Handler: set.handler(log)}
		go srv.Serve(ln)
		defer srv.Close()
		controlAddr = ln.Addr().String()
		log.Info("control", "addr", controlAddr)
	}
	emit := func(event string) error {
		b := set.report(event, controlAddr)
		if _, err := stdout.Write(append(b, '\n')); err != nil {
			return fmt.Errorf("stdout: %w", err)
		}
		if o.statsFile != "" {
			if err := writeFile(o.statsFile, b); err != nil {
				return fmt.Errorf("stats %s: %w", o.statsFile, err)
			}
		}
		return nil
	}
	if err := emit("ready"); err != nil {
		fmt.Fprintf(stderr, "hblink: %v\n", err)
		return 1
	}
	for {
		select {
		case <-dump:
			if err := emit("stats"); err != nil {
				fmt.Fprintf(stderr, "hblink: %v\n", err)
				return 1
			}
		case <-ctx.Done():
			set.close() // the final counts are the ones after every connection ended
			if err := emit("exit"); err != nil {
				fmt.Fprintf(stderr, "hblink: %v\n", err)
				return 1
			}
			return 0
		}
	}
}

// writeFile replaces name with b atomically, so a reader never sees half.
func writeFile(name string, b []byte) error {
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}

// start opens every link's relays; on an error it closes what it opened.
func start(ctx context.Context, specs []linkSpec) (*linkSet, error) {
	set := &linkSet{}
	for i, spec := range specs {
		l := &link{n: i, spec: spec}
		set.links = append(set.links, l)
		cfg := netem.Config{Up: spec.up, Down: spec.down, Source: spec.from}
		if spec.isTUN() {
			r, err := cfg.ListenTUN(context.WithoutCancel(ctx), spec.tun)
			if err != nil {
				set.close()
				return nil, fmt.Errorf("link %d: %w", i, err)
			}
			l.tun = r
			continue
		}
		listen := spec.listen
		if spec.tcp {
			r, err := cfg.ListenTCP(context.WithoutCancel(ctx), listen, spec.target)
			if err != nil {
				set.close()
				return nil, fmt.Errorf("link %d: %w", i, err)
			}
			l.tcp = r
			listen = r.Addr().String() // UDP on the same port when it was 0
		}
		if spec.udp {
			r, err := cfg.ListenUDP(context.WithoutCancel(ctx), listen, spec.target)
			if err != nil {
				set.close()
				return nil, fmt.Errorf("link %d: %w", i, err)
			}
			l.udp = r
		}
	}
	return set, nil
}
