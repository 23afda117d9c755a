package main

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/hyperblow/hyperblow/netem"
)

// linkSpec is one --link: where to listen, where to forward, over which
// protocols, and the Shape of each direction.
type linkSpec struct {
	listen, target string
	tcp, udp       bool
	from           netip.Addr // the relay's source address towards target
	up, down       netem.Shape
	tun            netem.TUN // a --tun link: its devices (Name is set), far namespace and subnet
}

// tunPrefix marks a --tun value among the --link values, which keep the
// order of the command line.
const tunPrefix = "\x00tun:"

func (l linkSpec) isTUN() bool { return l.tun.Name != "" }

// parseTUN parses a --tun NAME[,KEY=VALUE]...: the shape keys of --link
// (after the shape flags' keys), netns=PID and subnet=N. The n-th --tun
// link's subnet is n unless given; its far namespace is farNetns unless
// netns= says.
func parseTUN(v string, n, farNetns int, flagKeys []string) (linkSpec, error) {
	name, opts, _ := strings.Cut(v, ",")
	l := linkSpec{tun: netem.TUN{Name: name, FarNetns: farNetns, Subnet: n}}
	kvs := append([]string(nil), flagKeys...)
	if opts != "" {
		for _, kv := range strings.Split(opts, ",") {
			k, val, _ := strings.Cut(kv, "=")
			switch k {
			case "netns", "subnet":
				x, err := strconv.Atoi(val)
				if err != nil {
					return linkSpec{}, fmt.Errorf("tun %q: %s %q: want a number", v, k, val)
				}
				if k == "netns" {
					l.tun.FarNetns = x
				} else {
					l.tun.Subnet = x
				}
				continue
			case "proto", "from":
				return linkSpec{}, fmt.Errorf("tun %q: %s: not for a --tun link (it carries every IP packet)", v, k)
			}
			kvs = append(kvs, kv)
		}
	}
	if l.tun.FarNetns == 0 {
		return linkSpec{}, fmt.Errorf("tun %q: no far network namespace: give --far-netns PID (or netns=PID)", v)
	}
	if err := l.tun.Validate(); err != nil {
		return linkSpec{}, fmt.Errorf("tun %q: %w", v, err)
	}
	if err := applyKeys(&l.up, &l.down, kvs); err != nil {
		return linkSpec{}, fmt.Errorf("tun %q: %w", v, err)
	}
	l.listen, l.target = l.tun.NearAddr().String(), l.tun.FarAddr().String()
	return l, nil
}

// parseLink parses LISTEN=TARGET[,KEY=VALUE]...; see usageText for the keys.
func parseLink(v string) (linkSpec, error) {
	head, opts, _ := strings.Cut(v, ",")
	listen, target, ok := strings.Cut(head, "=")
	if !ok || listen == "" || target == "" {
		return linkSpec{}, fmt.Errorf("link %q: want LISTEN=TARGET[,key=value...]", v)
	}
	l := linkSpec{listen: listen, target: target, tcp: true}
	if opts == "" {
		return l, nil
	}
	var kvs []string
	for _, kv := range strings.Split(opts, ",") {
		k, val, _ := strings.Cut(kv, "=")
		if k == "proto" {
			switch val {
			case "tcp":
				l.tcp, l.udp = true, false
			case "udp":
				l.tcp, l.udp = false, true
			case "both", "tcp+udp":
				l.tcp, l.udp = true, true
			default:
				return linkSpec{}, fmt.Errorf("link %q: proto %q: want tcp, udp or both", v, val)
			}
			continue
		}
		if k == "from" {
			a, err := netip.ParseAddr(val)
			if err != nil {
				return linkSpec{}, fmt.Errorf("link %q: from %q: want an IP address", v, val)
			}
			l.from = a
			continue
		}
		kvs = append(kvs, kv)
	}
	if err := applyKeys(&l.up, &l.down, kvs); err != nil {
		return linkSpec{}, fmt.Errorf("link %q: %w", v, err)
	}
	return l, nil
}

// applyKeys sets Shape fields from KEY=VALUE pairs: a bare key (delay)
// sets both directions, up.KEY or down.KEY one. The keys: delay, jitter,
// rate, queue, loss, stall.
func applyKeys(up, down *netem.Shape, kvs []string) error {
	for _, kv := range kvs {
		k, val, ok := strings.Cut(kv, "=")
		if !ok {
			if k != "stall" && k != "up.stall" && k != "down.stall" {
				return fmt.Errorf("%q: want key=value", kv)
			}
			val = "1"
		}
		dirs := []*netem.Shape{up, down}
		if d, rest, ok := strings.Cut(k, "."); ok {
			switch d {
			case "up":
				dirs = []*netem.Shape{up}
			case "down":
				dirs = []*netem.Shape{down}
			default:
				return fmt.Errorf("%q: direction %q: want up or down", kv, d)
			}
			k = rest
		}
		for _, s := range dirs {
			if err := setKey(s, k, val); err != nil {
				return err
			}
		}
	}
	for name, s := range map[string]*netem.Shape{"up": up, "down": down} {
		if err := s.Validate(); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

func setKey(s *netem.Shape, k, v string) error {
	var err error
	switch k {
	case "delay":
		s.Delay, err = parseDuration(v)
	case "jitter":
		s.Jitter, err = parseDuration(v)
	case "rate":
		s.Rate, err = parseRate(v)
	case "queue":
		var n int64
		n, err = parseSize(v)
		if err == nil && n > 1<<30 {
			err = fmt.Errorf("queue %q: at most 1GiB", v)
		}
		s.Queue = int(n)
	case "loss":
		s.Loss, err = parseLoss(v)
	case "stall":
		s.Stall, err = strconv.ParseBool(v)
		if err != nil {
			err = fmt.Errorf("stall %q: want 1 or 0", v)
		}
	default:
		return fmt.Errorf("unknown key %q (keys: delay, jitter, rate, queue, loss, stall, proto, from; up.KEY or down.KEY for one direction)", k)
	}
	return err
}

func parseDuration(v string) (time.Duration, error) {
	if v == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("duration %q: want e.g. 40ms", v)
	}
	return d, nil
}

func parseLoss(v string) (float64, error) {
	mul := 1.0
	if t, ok := strings.CutSuffix(v, "%"); ok {
		v, mul = t, 0.01
	}
	p, err := strconv.ParseFloat(v, 64)
	if err != nil || !(p*mul >= 0 && p*mul <= 1) {
		return 0, fmt.Errorf("loss %q: want a fraction in [0, 1] or a percentage (0.01, 1%%)", v)
	}
	return p * mul, nil
}

// units of sizes and rates, longest suffix first within each family.
var units = []struct {
	suffix string
	mul    float64
}{
	{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
	{"Gbit", 1e9 / 8}, {"Mbit", 1e6 / 8}, {"kbit", 1e3 / 8}, {"Kbit", 1e3 / 8},
	{"GB", 1e9}, {"MB", 1e6}, {"kB", 1e3}, {"KB", 1e3}, {"B", 1},
}

// parseSize reads a byte count: 65536, 64KiB, 1.5MB (decimal), 2MiB.
func parseSize(v string) (int64, error) {
	t, mul := v, 1.0
	for _, u := range units {
		if s, ok := strings.CutSuffix(v, u.suffix); ok {
			t, mul = s, u.mul
			break
		}
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || !(n >= 0) || n*mul > 1<<50 {
		return 0, fmt.Errorf("size %q: want e.g. 64KiB, 2MB, 1.5MiB", v)
	}
	return int64(n * mul), nil
}

// parseRate reads bytes per second: 2MB/s, 500KiB/s, 16Mbit/s, 2000000;
// "unlimited" (or "off") is no limit. Rate 0 is refused: a link that
// carries nothing is a stall, and says so.
func parseRate(v string) (int64, error) {
	if v == "unlimited" || v == "off" {
		return 0, nil
	}
	n, err := parseSize(strings.TrimSuffix(v, "/s"))
	if err != nil {
		return 0, fmt.Errorf("rate %q: want e.g. 2MB/s, 500KiB/s, 16Mbit/s or unlimited", v)
	}
	if n == 0 {
		return 0, fmt.Errorf("rate %q: to stop a link use stall=1; for no limit, rate=unlimited", v)
	}
	return n, nil
}

// checkLoopback refuses an address whose host is not a loopback IP (or
// "localhost"): the lab must not become an open relay by accident.
func checkLoopback(what, addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s %q: %w", what, addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		return fmt.Errorf("%s %q: not a loopback address (127.0.0.0/8, ::1); --allow-remote permits others", what, addr)
	}
	return nil
}
