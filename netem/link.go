package netem

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// link is one direction of a relay: its Shape and the state the Shape acts
// on, shared by every connection of the relay in that direction. The token
// bucket makes Rate a property of the link, not of each connection, as on a
// real bottleneck. mu guards every field; it is never held while blocking.
type link struct {
	mu      sync.Mutex
	shape   Shape
	changed chan struct{} // closed (and replaced) by set: waiters re-read the shape
	tokens  float64       // bytes that may depart now; negative is a debt
	last    time.Time     // when tokens was last refilled; zero before the first use
	rng     *rand.Rand

	stallWaits atomic.Int64 // times a shaper began to wait on Stall: tests wait for it
}

func newLink(s Shape) *link {
	return &link{
		shape:   s,
		changed: make(chan struct{}),
		rng:     rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
	}
}

// set replaces the shape and wakes everything waiting on the old one.
func (l *link) set(s Shape) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.shape = s
	close(l.changed)
	l.changed = make(chan struct{})
}

// get returns the shape and a channel closed when it changes.
func (l *link) get() (Shape, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.shape, l.changed
}

// reserve asks for n bytes to depart at now. It returns ok when they may
// (and takes their tokens); otherwise wait > 0 is how long until the next
// try may succeed, or wait == 0 means the link is stalled: wait for changed.
// The bucket lets a chunk depart whenever it holds tokens and charges it
// in full, so a chunk larger than what is left is not starved, and the mean
// rate holds.
func (l *link) reserve(n int, now time.Time) (ok bool, wait time.Duration, changed <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.shape
	burst := s.burst()
	switch {
	case l.last.IsZero():
		l.tokens = burst
	case now.After(l.last) && s.Rate > 0:
		l.tokens += float64(s.Rate) * now.Sub(l.last).Seconds()
		if l.tokens > burst {
			l.tokens = burst
		}
	}
	if now.After(l.last) {
		l.last = now
	}
	if s.Stall {
		return false, 0, l.changed
	}
	if s.Rate == 0 {
		l.tokens = burst
		return true, 0, l.changed
	}
	if l.tokens <= 0 {
		w := time.Duration(-l.tokens / float64(s.Rate) * float64(time.Second))
		if w < time.Microsecond {
			w = time.Microsecond
		}
		return false, w, l.changed
	}
	l.tokens -= float64(n)
	return true, 0, l.changed
}

// latency draws one delay: Delay, spread uniformly by ±Jitter, never
// negative.
func (l *link) latency() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := l.shape.Delay
	if j := l.shape.Jitter; j > 0 {
		d += time.Duration(l.rng.Int64N(int64(2*j)+1)) - j
	}
	if d < 0 {
		d = 0
	}
	return d
}

// lose draws whether a datagram is lost on entry.
func (l *link) lose() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.shape.Loss > 0 && l.rng.Float64() < l.shape.Loss
}
