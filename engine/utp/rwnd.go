package utp

import "time"

// The window we advertise as a receiver.
//
// libtorrent (and libutp) keep at most min(cwnd, our advertised window) bytes
// unacked. Their LEDBAT aims at 100 ms of queueing delay; a bottleneck whose
// queue holds less drops their packets instead, and each loss halves their
// window, which then regrows by at most ~3 KB a round trip (libtorrent 2.0's
// utp_gain_factor). On the WAN lab's 80 ms link with a 64 KiB queue that was
// 42 loss events in a 128 MiB copy, the window mostly far below the link's.
//
// So once a gap in the sequence numbers shows that the path dropped a
// packet, we cap the window we advertise at capBeta of what the sender had
// in flight then (what we received over the last round trip), and raise the
// cap while it is what holds the sender back, slowly at first (capGrowDiv). libtorrent grows its window only while that window is what
// limits it, so held by ours it stops short of the point of loss instead of
// halving again and again. Before the first loss there is no cap: a path
// that never drops (loopback, a queue deep enough for LEDBAT's target)
// never sees one.
type rwnd struct {
	cap      int   // bytes; 0: none yet
	received int64 // payload bytes received, each packet once

	// hist samples received at least a 32nd of a round trip apart:
	// what came over the last round trip. hist[histN-1] is the newest.
	hist  [histLen]rsample
	histN int

	lossSeen bool
	lossSeq  uint16    // the packet that showed the last loss
	lossAt   time.Time // when
	growAt   time.Time // the cap last rose, or was set
	growN    int       // round trips the cap held the sender back since it was set

	// rtts are the round trips of the last packets, 0 while unknown: the
	// peer's timestamp difference (the one-way delay of our packets to it)
	// plus ours of its packet; the clocks' offsets cancel. The largest is
	// the round trip through the full queue when a loss shows.
	rtts [8]time.Duration
	rttN int
}

type rsample struct {
	at       time.Time
	received int64
}

const (
	histLen = 64
	// capBeta is the share of the bytes in flight at a loss the cap keeps.
	capBeta = 0.75
	// capFloor: the cap never goes below this (libtorrent sends nothing
	// into a window smaller than a packet, then waits for a timeout).
	capFloor = 16 * packetSize
	// capGrowDiv: in the n-th round trip the cap holds the sender back
	// since it was set, it rises by n/capGrowDiv of a packet: n²/512
	// packets in all, slow near the point of loss (8 packets, 11 KB, in 64
	// round trips), faster when a loss set it far too low (256 packets in
	// 362 round trips; libtorrent itself grows by about 2 a round trip).
	capGrowDiv = 256
	// lossRTTs: gaps within this many round trips of a loss are part of it
	// (a sender's overshoot spills over a few round trips).
	lossRTTs = 4
	// minSpan is the shortest time over which we count what came in: on
	// loopback a round trip is shorter than the scheduler's granularity.
	minSpan = 10 * time.Millisecond
)

// rwndRTT takes the timestamp difference of a packet from the peer;
// c.replyMicro is already our one-way delay of it. c.mu is held.
func (c *Conn) rwndRTT(tsDiff uint32) {
	if tsDiff == 0 {
		return // the peer has not heard from us yet
	}
	r := time.Duration(tsDiff+c.replyMicro) * time.Microsecond
	if r <= 0 || r > maxRTO {
		return // clocks that jumped, a forged timestamp
	}
	w := &c.rw
	w.rtts[w.rttN%len(w.rtts)] = r
	w.rttN++
}

// rwndMaxRTT is the largest of the last round trips, 0 while unknown.
func (c *Conn) rwndMaxRTT() time.Duration {
	var m time.Duration
	for _, r := range c.rw.rtts {
		m = max(m, r)
	}
	return m
}

// rwndReceive counts n new payload bytes and raises a cap that holds the
// sender back. c.mu is held.
func (c *Conn) rwndReceive(n int, now time.Time) {
	w := &c.rw
	w.received += int64(n)
	rtt := c.rwndMaxRTT()
	if w.cap > 0 && rtt > 0 && now.Sub(w.growAt) >= rtt {
		w.growAt = now
		if c.rwndRecent(max(rtt, minSpan), now) >= int64(w.cap)*9/10 {
			w.growN++
			w.cap = min(w.cap+maxPayload*w.growN/capGrowDiv, c.s.cfg.RecvBuffer)
		}
	}
	if w.histN > 0 && now.Sub(w.hist[w.histN-1].at) < max(rtt/32, time.Millisecond) {
		return
	}
	if w.histN == histLen {
		copy(w.hist[:], w.hist[1:])
		w.histN--
	}
	w.hist[w.histN] = rsample{now, w.received}
	w.histN++
}

// rwndRecent is what we received over the last d (or since the oldest
// sample).
func (c *Conn) rwndRecent(d time.Duration, now time.Time) int64 {
	w := &c.rw
	if w.histN == 0 {
		return 0
	}
	for i := w.histN - 1; i >= 0; i-- {
		if now.Sub(w.hist[i].at) >= d {
			return w.received - w.hist[i].received
		}
	}
	return w.received - w.hist[0].received
}

// rwndGap takes packet seq, received with packets missing before it. c.mu
// is held.
func (c *Conn) rwndGap(seq uint16, now time.Time) {
	w := &c.rw
	rtt := c.rwndMaxRTT()
	if rtt == 0 {
		return
	}
	if w.lossSeen && (seqLess(c.ack, w.lossSeq) || now.Sub(w.lossAt) < lossRTTs*rtt) {
		return // the same loss: the sender's burst, its recovery
	}
	inFlight := c.rwndRecent(max(rtt, minSpan), now)
	w.lossSeen, w.lossSeq, w.lossAt, w.growAt = true, seq, now, now
	// A sender still regrowing its window after a loss had little in
	// flight: that says nothing of what the path holds.
	if w.cap == 0 || inFlight >= int64(w.cap/2) {
		w.cap = max(capFloor, int(capBeta*float64(inFlight)))
		w.growN = 0
	}
}

// advertised is the window we advertise: the room in the receive buffer,
// at most the cap.
func (c *Conn) advertised() int {
	r := c.recvWindow()
	if c.rw.cap > 0 {
		r = min(r, c.rw.cap)
	}
	return r
}
