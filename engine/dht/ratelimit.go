package dht

import (
	"net/netip"
	"time"
)

// Defaults for answering other nodes' queries (LIMITS.md, after libtorrent).
const (
	defaultRatePerIP  = 5    // queries answered per second per source IP
	defaultUploadRate = 8192 // reply bytes per second, all sources together
	// maxTrackedIPs bounds the per-IP limiter's memory; see ipLimiter.
	maxTrackedIPs = 4096
)

// tokenBucket is a plain token bucket with time passed in: rate tokens a second, at
// most burst saved up. A bucket starts full.
type tokenBucket struct {
	tokens float64
	last   time.Time
}

// take spends n tokens if there are that many at now.
func (b *tokenBucket) take(n, rate, burst float64, now time.Time) bool {
	if b.last.IsZero() {
		b.tokens = burst
	} else if d := now.Sub(b.last).Seconds(); d > 0 {
		b.tokens = min(burst, b.tokens+d*rate)
	}
	b.last = now
	if b.tokens < n {
		return false
	}
	b.tokens -= n
	return true
}

// full reports whether the bucket would be full at now: such a bucket is no different
// from a fresh one, so it can be forgotten.
func (b *tokenBucket) full(rate, burst float64, now time.Time) bool {
	return b.tokens+now.Sub(b.last).Seconds()*rate >= burst
}

// ipLimiter allows each source IP (each /64 for IPv6) rate packets a second, with a
// burst of one second's worth (at least one packet). It tracks at most max sources.
// When that many are tracked, sources whose buckets have refilled are forgotten, at
// most once a second; if none can be, packets from new sources are refused until
// some can: under a flood from many addresses we answer less, never use more memory.
type ipLimiter struct {
	rate, burst float64
	max         int
	buckets     map[netip.Addr]*tokenBucket
	swept       time.Time
}

func newIPLimiter(rate float64, tracked int) *ipLimiter {
	return &ipLimiter{rate: rate, burst: max(rate, 1), max: tracked, buckets: make(map[netip.Addr]*tokenBucket)}
}

// allow reports whether one more packet from ip may be answered at now.
func (l *ipLimiter) allow(ip netip.Addr, now time.Time) bool {
	key := ip.Unmap()
	if key.Is6() {
		p, _ := key.Prefix(64)
		key = p.Addr()
	}
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= l.max && now.Sub(l.swept) >= time.Second {
			l.swept = now
			for k, b := range l.buckets {
				if b.full(l.rate, l.burst, now) {
					delete(l.buckets, k)
				}
			}
		}
		if len(l.buckets) >= l.max {
			return false
		}
		b = &tokenBucket{}
		l.buckets[key] = b
	}
	return b.take(1, l.rate, l.burst, now)
}
