package main

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/netem"
)

func TestParseLink(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct {
		in   string
		want linkSpec
	}{
		{"127.0.0.1:7001=127.0.0.1:6881", linkSpec{listen: "127.0.0.1:7001", target: "127.0.0.1:6881", tcp: true}},
		{"127.0.0.1:0=[::1]:6881,delay=40ms,jitter=10ms,rate=2MB/s", linkSpec{
			listen: "127.0.0.1:0", target: "[::1]:6881", tcp: true,
			up:   netem.Shape{Delay: 40 * ms, Jitter: 10 * ms, Rate: 2_000_000},
			down: netem.Shape{Delay: 40 * ms, Jitter: 10 * ms, Rate: 2_000_000},
		}},
		{"a:1=b:2,rate=1MiB/s,down.rate=16Mbit/s,up.stall,queue=32KiB,proto=both,loss=1%", linkSpec{
			listen: "a:1", target: "b:2", tcp: true, udp: true,
			up:   netem.Shape{Rate: 1 << 20, Stall: true, Queue: 32 << 10, Loss: 0.01},
			down: netem.Shape{Rate: 2_000_000, Queue: 32 << 10, Loss: 0.01},
		}},
		{"a:1=b:2,proto=udp,rate=unlimited,down.delay=0", linkSpec{listen: "a:1", target: "b:2", udp: true}},
		{"a:1=b:2,from=127.0.0.5", linkSpec{listen: "a:1", target: "b:2", tcp: true, from: netip.MustParseAddr("127.0.0.5")}},
	} {
		got, err := parseLink(c.in)
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s:\n got %+v\nwant %+v", c.in, got, c.want)
		}
	}
}

func TestParseLinkErrors(t *testing.T) {
	for _, c := range []struct{ in, says string }{
		{"127.0.0.1:7001", "LISTEN=TARGET"},
		{"=127.0.0.1:1", "LISTEN=TARGET"},
		{"a:1=b:2,rate=0", "stall=1"},
		{"a:1=b:2,rate=fast", "rate"},
		{"a:1=b:2,delay=-5ms", "duration"},
		{"a:1=b:2,delay=2h", "delay"},
		{"a:1=b:2,loss=2", "loss"},
		{"a:1=b:2,sideways.rate=1MB/s", "direction"},
		{"a:1=b:2,colour=blue", "unknown key"},
		{"a:1=b:2,proto=sctp", "proto"},
		{"a:1=b:2,delay", "key=value"},
		{"a:1=b:2,queue=2GiB", "queue"},
		{"a:1=b:2,from=host", "from"},
	} {
		_, err := parseLink(c.in)
		if err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: error %v, want one that says %q", c.in, err, c.says)
		}
	}
}

func TestCheckLoopback(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:1": true, "127.0.0.9:0": true, "[::1]:7": true, "localhost:80": true,
		"0.0.0.0:1": false, ":7001": false, "10.0.0.1:1": false, "[::]:1": false, "example.com:80": false, "nonsense": false,
	} {
		if err := checkLoopback("listen", addr); (err == nil) != ok {
			t.Errorf("%s: %v, want ok=%v", addr, err, ok)
		}
	}
}

func TestParseTUN(t *testing.T) {
	ms := time.Millisecond
	got, err := parseTUN("hbl0,down.rate=4MB/s,queue=32KiB,subnet=3", 0, 42, []string{"delay=40ms", "jitter=10ms"})
	want := linkSpec{
		listen: "10.201.3.1", target: "10.201.3.2",
		up:   netem.Shape{Delay: 40 * ms, Jitter: 10 * ms, Queue: 32 << 10},
		down: netem.Shape{Delay: 40 * ms, Jitter: 10 * ms, Queue: 32 << 10, Rate: 4_000_000},
		tun:  netem.TUN{Name: "hbl0", FarNetns: 42, Subnet: 3},
	}
	if err != nil || got != want {
		t.Errorf("got %+v, %v\nwant %+v", got, err, want)
	}
	got, err = parseTUN("x,netns=7", 2, 0, nil)
	if err != nil || got.tun != (netem.TUN{Name: "x", FarNetns: 7, Subnet: 2}) || !got.isTUN() {
		t.Errorf("got %+v, %v", got, err)
	}
	for _, c := range []struct{ in, says string }{
		{"hbl0", "far network namespace"},
		{"hbl0,netns=x", "number"},
		{"hbl0,netns=5,subnet=300", "subnet"},
		{"bad name,netns=5", "device name"},
		{"hbl0,netns=5,proto=udp", "not for a --tun link"},
		{"hbl0,netns=5,from=127.0.0.2", "not for a --tun link"},
		{"hbl0,netns=5,rate=0", "stall=1"},
	} {
		if _, err := parseTUN(c.in, 0, 0, nil); err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: error %v, want one that says %q", c.in, err, c.says)
		}
	}
}
