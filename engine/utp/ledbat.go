package utp

import "time"

// LEDBAT (BEP 29, RFC 6817): the window grows while the one-way delay our
// packets see stays below the target and shrinks when it rises above, so uTP
// yields to TCP and keeps queues short.
const (
	targetDelay = 100_000 // microseconds
	// maxCwndGain is the most the window grows in one round trip, in bytes.
	maxCwndGain = 3000
	minCwnd     = 2 * maxPayload
	// baseMinutes is how many one-minute minima the base delay is the
	// minimum of: long enough to see an empty queue, short enough to follow
	// a route change.
	baseMinutes = 10
)

// delayHistory keeps the minimum of the delay samples per minute. Samples
// are timestamp differences of two unrelated clocks, so only differences
// between them mean anything; comparisons are modulo 2^32.
type delayHistory struct {
	mins   [baseMinutes]uint32
	n      int // minutes filled
	cur    int
	minute time.Time
}

func (d *delayHistory) add(sample uint32, now time.Time) {
	if d.n == 0 {
		d.mins[0], d.n, d.minute = sample, 1, now
		return
	}
	if now.Sub(d.minute) >= time.Minute {
		d.cur = (d.cur + 1) % baseMinutes
		d.mins[d.cur] = sample
		d.n = min(d.n+1, baseMinutes)
		d.minute = now
		return
	}
	if int32(sample-d.mins[d.cur]) < 0 {
		d.mins[d.cur] = sample
	}
}

func (d *delayHistory) base() uint32 {
	b := d.mins[d.cur]
	for i := range d.n {
		if int32(d.mins[i]-b) < 0 {
			b = d.mins[i]
		}
	}
	return b
}

// ledbat updates the window for acked bytes acknowledged by a packet whose
// timestamp difference (the peer's view of our packets' delay) is tsDiff.
func (c *Conn) ledbat(acked int, tsDiff uint32, now time.Time) {
	c.base.add(tsDiff, now)
	delay := float64(max(0, int32(tsDiff-c.base.base())))
	off := (targetDelay - delay) / targetDelay
	if off < -1 {
		off = -1
	}
	switch {
	case off > 0 && c.cwnd < c.ssthresh:
		c.cwnd += float64(acked) // slow start
	default:
		if c.cwnd < c.ssthresh {
			c.ssthresh = c.cwnd // above target: slow start is over
		}
		c.cwnd += maxCwndGain * off * float64(acked) / max(c.cwnd, float64(acked))
	}
	c.cwnd = min(max(c.cwnd, minCwnd), float64(c.s.cfg.SendBuffer))
}
