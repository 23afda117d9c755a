package netem

import (
	"errors"
	"fmt"
	"time"
)

// Defaults and limits of a Shape.
const (
	// DefaultQueue is the bottleneck queue of a link when Shape.Queue is 0:
	// what it holds beyond its bandwidth-delay product.
	DefaultQueue = 64 << 10
	// UnlimitedWindow bounds the bytes in flight on a link without a rate
	// limit (Rate 0) but with a delay: such a link carries at most
	// UnlimitedWindow + Queue bytes per delay (4 MiB per 40 ms is 100 MB/s).
	UnlimitedWindow = 4 << 20
	// ChunkSize is the most a TCP relay reads from a socket at once. Small
	// chunks keep the timing of a stream close to that of its bytes.
	ChunkSize = 16 << 10
	// maxDelay bounds Delay and Jitter: beyond a minute a link is a bug.
	maxDelay = time.Minute
)

// Dir names one direction of a relay's link.
type Dir int

const (
	// Up is from the clients of a relay (what it accepts) to its target.
	Up Dir = iota
	// Down is from the target back to the clients: a download through a
	// relay in front of a seeder flows Down.
	Down
)

func (d Dir) String() string {
	switch d {
	case Up:
		return "up"
	case Down:
		return "down"
	}
	return fmt.Sprintf("Dir(%d)", int(d))
}

// Shape is what one direction of a link does to the bytes that cross it.
// The zero Shape forwards at once, as fast as the sockets go.
type Shape struct {
	// Delay is the one-way propagation delay, the mean when Jitter is set.
	Delay time.Duration
	// Jitter spreads the delay of each chunk (TCP) or datagram (UDP)
	// uniformly over [Delay-Jitter, Delay+Jitter] (never below 0). It never
	// reorders: a chunk is delivered no earlier than the one before it.
	Jitter time.Duration
	// Rate is the bottleneck's rate in bytes per second; 0 is no limit.
	// A burst of about 20 ms of the rate (at least ChunkSize) is allowed.
	Rate int64
	// Stall stops the bottleneck: nothing more departs, the connections
	// stay open, and what had already departed (at most Rate x Delay)
	// still arrives. Clearing it resumes.
	Stall bool
	// Queue is how many bytes the bottleneck holds beyond the link's
	// bandwidth-delay product; 0 means DefaultQueue. A TCP relay stops
	// reading from the sender when it holds Rate x (Delay+Jitter) + Queue
	// bytes; a UDP relay drops the datagrams that do not fit.
	Queue int
	// Loss is the probability, in [0, 1], that a UDP datagram is dropped
	// on entering the link. TCP relays ignore it: a lost segment is the
	// kernel's business, and a stream relay cannot lose bytes.
	Loss float64
}

// Validate reports a Shape that cannot be emulated.
func (s Shape) Validate() error {
	switch {
	case s.Delay < 0 || s.Delay > maxDelay:
		return fmt.Errorf("delay %v: must be in [0, %v]", s.Delay, maxDelay)
	case s.Jitter < 0 || s.Jitter > maxDelay:
		return fmt.Errorf("jitter %v: must be in [0, %v]", s.Jitter, maxDelay)
	case s.Rate < 0:
		return fmt.Errorf("rate %d: must be >= 0 (0 is no limit)", s.Rate)
	case s.Queue < 0:
		return fmt.Errorf("queue %d: must be >= 0 (0 is %d)", s.Queue, DefaultQueue)
	case !(s.Loss >= 0 && s.Loss <= 1): // also catches NaN
		return fmt.Errorf("loss %v: must be in [0, 1]", s.Loss)
	}
	return nil
}

var errDir = errors.New("direction must be Up or Down")

// queue is Queue with its default applied.
func (s Shape) queue() int {
	if s.Queue == 0 {
		return DefaultQueue
	}
	return s.Queue
}

// Window is the most bytes one connection (TCP) or one relay (UDP) holds
// in this direction: the bandwidth-delay product at the largest delay, plus
// the queue. A TCP relay reads no more from a sender while it holds this
// much, so the sender's own queues fill as they would behind a real link.
func (s Shape) Window() int {
	q := s.queue()
	if s.Rate == 0 {
		if s.Delay == 0 && s.Jitter == 0 {
			return q
		}
		return q + UnlimitedWindow
	}
	bdp := float64(s.Rate) * (s.Delay + s.Jitter).Seconds()
	if bdp > 1<<30 {
		bdp = 1 << 30
	}
	return q + int(bdp)
}

// burst is how many bytes may depart at once after the link was idle.
func (s Shape) burst() float64 {
	b := float64(s.Rate) / 50 // 20 ms
	if b < ChunkSize {
		b = ChunkSize
	}
	return b
}
