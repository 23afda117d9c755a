package engine

import (
	"testing"
	"time"
)

// A peer's pipeline is sized in time: its peak rate times 1.5 round trips plus
// a margin, with a floor while it ramps up, never more than about a second of
// its delivery, and never more than it accepts (reqq).
func TestDepthInTime(t *testing.T) {
	now := time.Unix(1000, 0)
	const mbps = 1 << 20
	cases := []struct {
		name      string
		p         peer
		want      int
		wantRange [2]int
	}{
		{name: "unknown", p: peer{}, want: floorDepth},
		// Just connected, round trip known, rate still low: the floor holds (a
		// depth sized from the first ticks' rate held the ramp back, and a
		// player froze just after its first frame).
		{name: "ramping", p: peer{rtt: 90 * time.Millisecond, peakRate: 0.3 * mbps, firstBlockAt: now.Add(-time.Second)}, want: floorDepth},
		// 2 MB/s at 90 ms: 2 MiB/s x 185 ms = 370 KiB, 24 blocks.
		{name: "2MBps-90ms", p: peer{rtt: 90 * time.Millisecond, peakRate: 2 * mbps, firstBlockAt: now.Add(-time.Minute)}, wantRange: [2]int{22, 25}},
		// A slow peer after its ramp: a few requests, not the floor.
		{name: "slow", p: peer{rtt: 90 * time.Millisecond, peakRate: 0.1 * mbps, firstBlockAt: now.Add(-time.Minute)}, want: minDepth},
		// A long round trip: no more than a second of the peer's delivery.
		{name: "1s-cap", p: peer{rtt: 2 * time.Second, peakRate: 1 * mbps, firstBlockAt: now.Add(-time.Minute)}, wantRange: [2]int{64, 65}},
		// Fast: the absolute cap, or the peer's reqq.
		{name: "fast", p: peer{rtt: 50 * time.Millisecond, peakRate: 100 * mbps, firstBlockAt: now.Add(-time.Minute)}, want: maxDepth},
		{name: "reqq", p: peer{rtt: 50 * time.Millisecond, peakRate: 100 * mbps, reqq: 100, firstBlockAt: now.Add(-time.Minute)}, want: 100},
		// A peer that went quiet while asked (it stalled): one request, to
		// tell when it delivers again; its requests timed out: the same.
		{name: "stalled", p: peer{rtt: 50 * time.Millisecond, peakRate: 5 * mbps, firstBlockAt: now.Add(-time.Minute), inflight: 8, progressAt: now.Add(-3 * time.Second)}, want: 1},
		{name: "expired", p: peer{rtt: 50 * time.Millisecond, peakRate: 5 * mbps, firstBlockAt: now.Add(-time.Minute), expired: true}, want: 1},
		{name: "quiet, not asked", p: peer{rtt: 50 * time.Millisecond, peakRate: 5 * mbps, firstBlockAt: now.Add(-time.Minute), progressAt: now.Add(-time.Minute)}, wantRange: [2]int{30, 80}},
	}
	for _, c := range cases {
		got := c.p.depthAt(now)
		if c.want != 0 && got != c.want {
			t.Errorf("%s: depth %d, want %d", c.name, got, c.want)
		}
		if c.want == 0 && (got < c.wantRange[0] || got > c.wantRange[1]) {
			t.Errorf("%s: depth %d, want %d..%d", c.name, got, c.wantRange[0], c.wantRange[1])
		}
	}
}

// The round trip is sampled only from blocks asked into an empty pipeline, and
// is the least such sample.
func TestSampleRTT(t *testing.T) {
	now := time.Unix(1000, 0)
	p := &peer{}
	p.batches[0] = sendBatch{at: now, ahead: 0}
	p.batches[1] = sendBatch{at: now.Add(time.Millisecond), ahead: 10}
	p.sampleRTT(now.Add(time.Millisecond), now.Add(30*time.Millisecond)) // queued behind 10: not a sample
	if p.rtt != 0 {
		t.Fatalf("rtt %v from a block queued behind others, want none", p.rtt)
	}
	p.sampleRTT(now, now.Add(90*time.Millisecond))
	if p.rtt != 90*time.Millisecond {
		t.Fatalf("rtt %v, want 90ms", p.rtt)
	}
	p.batches[2] = sendBatch{at: now.Add(time.Second), ahead: 0}
	p.sampleRTT(now.Add(time.Second), now.Add(time.Second+120*time.Millisecond))
	if p.rtt != 90*time.Millisecond {
		t.Fatalf("rtt %v after a longer sample, want the least, 90ms", p.rtt)
	}
}

// An urgent block is late by its holder's own delivery after a second, or
// sooner for a peer four times faster when its holder is slow: a player
// waiting on a 0.2 MB/s peer's queue gets the block from a 3 MB/s one.
func TestIsLate(t *testing.T) {
	now := time.Now()
	const mbps = 1 << 20
	slow := &peer{rate: 0.2 * mbps, inflight: 16, progressAt: now}  // 16 blocks: 1.25 s of its delivery
	fast := &peer{rate: 3 * mbps, inflight: 8, progressAt: now}     // 8 blocks: 42 ms
	alike := &peer{rate: 0.3 * mbps, inflight: 16, progressAt: now} // not four times faster than slow
	frozen := &peer{rate: 2 * mbps, inflight: 4, progressAt: now.Add(-2 * time.Second)}
	for _, c := range []struct {
		name     string
		q, a     *peer
		age      time.Duration
		wantLate bool
	}{
		{"slow holder, fast asker, young", slow, fast, 100 * time.Millisecond, false},
		{"slow holder, fast asker", slow, fast, 400 * time.Millisecond, true},
		{"slow holder, no faster asker", slow, alike, 400 * time.Millisecond, false},
		{"slow holder, no asker", slow, nil, 400 * time.Millisecond, false},
		{"slow holder, by its own delivery", slow, nil, 3 * time.Second, true},
		{"fast holder, slow asker", fast, slow, 400 * time.Millisecond, false},
		{"fast holder, short queue, faster asker", fast, &peer{rate: 20 * mbps}, 400 * time.Millisecond, false},
		{"frozen holder", frozen, nil, 1500 * time.Millisecond, true},
		{"frozen holder, young", frozen, nil, 500 * time.Millisecond, false},
		{"holder is asker", slow, slow, 400 * time.Millisecond, false},
	} {
		if got := isLate(c.q, c.a, c.age, now); got != c.wantLate {
			t.Errorf("%s: late %v, want %v", c.name, got, c.wantLate)
		}
	}
}

// While their rates are unknown, the peers that unchoke us share one floor:
// a lone peer gets all of it, eight get minFloor each, so a slow one among
// them holds few of the first pieces' blocks.
func TestFloorShared(t *testing.T) {
	for _, c := range []struct{ n, want int }{{0, floorSwarm}, {1, floorSwarm}, {2, floorSwarm / 2}, {3, 10}, {8, minFloor}, {100, minFloor}} {
		if got := floorShareOf(c.n); got != c.want {
			t.Errorf("%d peers: floor %d, want %d", c.n, got, c.want)
		}
	}
	now := time.Unix(1000, 0)
	p := peer{floorShare: floorShareOf(8)}
	if got := p.depthAt(now); got != minFloor {
		t.Errorf("a new peer among 8: depth %d, want %d", got, minFloor)
	}
	p.firstBlockAt = now.Add(-time.Minute)
	p.rtt, p.peakRate = 50*time.Millisecond, 100<<10
	if got := p.depthAt(now); got != minDepth {
		t.Errorf("a slow peer after its ramp: depth %d, want %d", got, minDepth)
	}
}

// Slow start: during the ramp, each block that comes while the pipeline is
// full and not queueing at the peer adds one request, so the pipeline doubles
// each round trip; a block that took much longer than the round trip (a
// queue at the peer), a pipeline that was not full, or the end of the ramp
// stop the growth.
func TestRampSlowStart(t *testing.T) {
	start := time.Unix(1000, 0)
	rtt := 200 * time.Millisecond
	p := &peer{firstBlockAt: start, rtt: rtt}
	now := start.Add(rtt)
	// One round trip of a full pipeline: floorDepth blocks come, each in time.
	for range floorDepth {
		p.inflight = p.depthAt(now) - 1 // full before this block
		p.rampBlock(now.Add(-rtt), now)
	}
	if got := p.depthAt(now); got != 2*floorDepth {
		t.Fatalf("after one round trip of blocks: depth %d, want %d (doubled)", got, 2*floorDepth)
	}
	// Not full: what limits is what is wanted, no growth.
	p.inflight = 0
	p.rampBlock(now.Add(-rtt), now)
	// Queued at the peer: the block took twice the round trip.
	p.inflight = p.depthAt(now) - 1
	p.rampBlock(now.Add(-2*rtt), now)
	if got := p.depthAt(now); got != 2*floorDepth {
		t.Fatalf("depth %d after a block from a pipeline not full and one that queued, want %d", got, 2*floorDepth)
	}
	// After rampTime the rate decides.
	late := start.Add(rampTime)
	p.inflight = p.depthAt(late) - 1
	before := p.ramp
	p.rampBlock(late.Add(-rtt), late)
	if p.ramp != before {
		t.Fatalf("ramp grew after rampTime")
	}
	// Never beyond what the peer accepts.
	q := &peer{firstBlockAt: start, rtt: rtt, reqq: 20}
	for range 100 {
		q.inflight = q.depthAt(now) - 1
		q.rampBlock(now.Add(-rtt), now)
	}
	if got := q.depthAt(now); got != 20 {
		t.Fatalf("depth %d at a peer with reqq 20", got)
	}
}
