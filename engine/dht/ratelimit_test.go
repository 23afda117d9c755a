package dht

import (
	"net/netip"
	"testing"
	"time"
)

func TestIPLimiter(t *testing.T) {
	l := newIPLimiter(5, 3)
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	n := 0
	for range 20 {
		if l.allow(a, t0) {
			n++
		}
	}
	if n != 5 {
		t.Fatalf("burst allowed %d, want 5", n)
	}
	if !l.allow(b, t0) {
		t.Fatal("another IP was limited")
	}
	// 1 s later, 5 more.
	n = 0
	for range 20 {
		if l.allow(a, t0.Add(time.Second)) {
			n++
		}
	}
	if n != 5 {
		t.Fatalf("after 1 s allowed %d, want 5", n)
	}
	// IPv6 sources share a bucket per /64.
	v6a, v6b := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	n = 0
	for range 5 {
		if l.allow(v6a, t0) {
			n++
		}
		if l.allow(v6b, t0) {
			n++
		}
	}
	if n != 5 {
		t.Fatalf("one /64 allowed %d, want 5", n)
	}
	// A full table (2 sources here) refuses a new source while every tracked one is
	// busy, and forgets refilled ones to make room.
	l = newIPLimiter(5, 2)
	for range 5 {
		l.allow(a, t0)
		l.allow(b, t0)
	}
	if l.allow(netip.MustParseAddr("10.0.0.9"), t0.Add(100*time.Millisecond)) {
		t.Fatal("a third source was tracked")
	}
	if !l.allow(netip.MustParseAddr("10.0.0.9"), t0.Add(10*time.Second)) {
		t.Fatal("a new source was refused after the others refilled")
	}
	if len(l.buckets) > 2 {
		t.Fatalf("%d sources tracked", len(l.buckets))
	}
}

func TestTokenBucketBytes(t *testing.T) {
	var b tokenBucket
	sent := 0.0
	for i := range 100 {
		now := t0.Add(time.Duration(i) * 100 * time.Millisecond) // 10 s
		for b.take(300, 8192, 8192, now) {
			sent += 300
		}
	}
	// 8192 burst + 9.9 s at 8192/s.
	if max := 8192 + 9.9*8192; sent > max || sent < max-1000 {
		t.Fatalf("sent %v bytes in 10 s, want about %v", sent, max)
	}
}
