package netem

import (
	"sync"
	"sync/atomic"
	"time"
)

// chunk is what crosses a link: bytes read at once from a stream (TCP), or
// one datagram (UDP).
type chunk struct {
	b   []byte
	buf *[]byte   // pooled buffer behind b (TCP), returned after delivery
	at  time.Time // when it arrives: set as it departs the bottleneck
	// late is how much later than the bottleneck allowed the shaper let it
	// depart (its goroutine woke late): its arrival is that much late too.
	late time.Duration
	end  bool // TCP: the source ended; with err, it failed
	err  error
	peer *udpPeer // UDP: the client it comes from or goes to
}

// bufPool holds the TCP relay's read buffers.
var bufPool = sync.Pool{New: func() any { b := make([]byte, ChunkSize); return &b }}

// dirCounters are the atomic counters behind one DirStats.
type dirCounters struct {
	in, out, dropped, lost atomic.Int64
	// Datagrams and packets only (UDP, TUN): packets in and out, bytes
	// dropped and lost.
	inPkts, outPkts, droppedBytes, lostBytes atomic.Int64
	// late counts chunks delivered more than lateSlack after their time
	// (the emulator itself fell behind: its goroutines woke late on a busy
	// machine); lateMax is the most any was late, in nanoseconds.
	late, lateMax atomic.Int64
}

// lateSlack is how late past its time a chunk may be delivered without
// counting as late: Go's timers on a busy 2-core machine often wake a
// millisecond late; the WAN lab's jitter is ±10 ms.
const lateSlack = 5 * time.Millisecond

// noteLate counts a chunk delivered d past its time.
func (c *dirCounters) noteLate(d time.Duration) {
	if d <= lateSlack {
		return
	}
	c.late.Add(1)
	for {
		m := c.lateMax.Load()
		if int64(d) <= m || c.lateMax.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

func (c *dirCounters) snapshot() DirStats {
	return DirStats{
		In: c.in.Load(), Out: c.out.Load(), Dropped: c.dropped.Load(), Lost: c.lost.Load(),
		InPackets: c.inPkts.Load(), OutPackets: c.outPkts.Load(),
		DroppedBytes: c.droppedBytes.Load(), LostBytes: c.lostBytes.Load(),
		Late: c.late.Load(), LateMaxMs: float64(c.lateMax.Load()) / 1e6,
	}
}

// delivered counts one datagram or packet of n bytes handed to its
// receiver.
func (c *dirCounters) delivered(n int) {
	c.out.Add(int64(n))
	c.outPkts.Add(1)
}

// drop counts one datagram or packet of n bytes dropped at a full queue.
func (c *dirCounters) drop(n int) {
	c.dropped.Add(1)
	c.droppedBytes.Add(int64(n))
}

// pipe carries chunks across one direction of a link, in two stages that
// each own a goroutine:
//
//	producer -> in -> shaper (waits for the bottleneck: Rate, Stall) -> out
//	         -> propagator (waits until the chunk's arrival time) -> deliver
//
// A chunk's arrival time is its departure plus one latency draw, and never
// before the previous chunk's: jitter does not reorder. held counts the bytes
// taken from the producer and not yet delivered; a TCP producer waits while
// held is at the Shape's Window, a UDP producer drops what does not fit.
type pipe struct {
	link    *link
	done    <-chan struct{}
	in      chan chunk
	out     chan chunk
	deliver func(chunk) bool // false: stop the propagator
	count   *dirCounters

	mu    sync.Mutex
	held  int           // guarded by mu
	space chan struct{} // one token: held went down

	lastAt time.Time // the shaper's previous arrival time
}

func newPipe(l *link, done <-chan struct{}, queued int, count *dirCounters, deliver func(chunk) bool) *pipe {
	return &pipe{
		link:    l,
		done:    done,
		in:      make(chan chunk, queued),
		out:     make(chan chunk, queued),
		deliver: deliver,
		count:   count,
		space:   make(chan struct{}, 1),
	}
}

// start runs the shaper and the propagator; both return when done closes,
// or after the end chunk of a stream.
func (p *pipe) start(wg *sync.WaitGroup) {
	wg.Add(2)
	go func() { defer wg.Done(); p.shape() }()
	go func() { defer wg.Done(); p.propagate() }()
}

// waitSpace blocks until the pipe holds less than its Window (true) or done
// closes (false). The Window is re-read when the Shape changes.
func (p *pipe) waitSpace() bool {
	for {
		s, changed := p.link.get()
		p.mu.Lock()
		h := p.held
		p.mu.Unlock()
		if h < s.Window() {
			return true
		}
		select {
		case <-p.space:
		case <-changed:
		case <-p.done:
			return false
		}
	}
}

// push hands a chunk to the shaper, blocking while it is busy; the chunk's
// bytes count as held. It reports false when done closed first.
func (p *pipe) push(c chunk) bool {
	p.addHeld(len(c.b))
	p.count.in.Add(int64(len(c.b)))
	select {
	case p.in <- c:
		return true
	case <-p.done:
		return false
	}
}

// offer hands a datagram (or an IP packet) to the shaper unless the link
// drops it: lost by the Shape's Loss, or dropped because the queue is full.
func (p *pipe) offer(c chunk) {
	n := len(c.b)
	if p.link.lose() {
		p.count.lost.Add(1)
		p.count.lostBytes.Add(int64(n))
		return
	}
	s, _ := p.link.get()
	p.mu.Lock()
	fits := p.held+n <= s.Window()
	if fits {
		p.held += n
	}
	p.mu.Unlock()
	if !fits {
		p.count.drop(n)
		return
	}
	select {
	case p.in <- c:
		p.count.in.Add(int64(n))
		p.count.inPkts.Add(1)
	default:
		p.addHeld(-n)
		p.count.drop(n)
	}
}

func (p *pipe) addHeld(n int) {
	p.mu.Lock()
	p.held += n
	p.mu.Unlock()
	if n < 0 {
		select {
		case p.space <- struct{}{}:
		default:
		}
	}
}

// shape passes chunks through the bottleneck in order and stamps their
// arrival time.
func (p *pipe) shape() {
	t := time.NewTimer(time.Hour)
	t.Stop()
	for {
		var c chunk
		select {
		case c = <-p.in:
		case <-p.done:
			return
		}
		for {
			ok, wait, changed := p.link.reserve(len(c.b), time.Now())
			if ok {
				break
			}
			if wait == 0 { // stalled
				p.link.stallWaits.Add(1)
				select {
				case <-changed:
				case <-p.done:
					return
				}
				continue
			}
			t.Reset(wait)
			due := time.Now().Add(wait)
			select {
			case <-t.C:
				c.late += max(0, time.Since(due))
			case <-changed:
				t.Stop()
			case <-p.done:
				t.Stop()
				return
			}
		}
		at := time.Now().Add(p.link.latency())
		if at.Before(p.lastAt) {
			at = p.lastAt
		}
		p.lastAt = at
		c.at = at
		select {
		case p.out <- c:
		case <-p.done:
			return
		}
		if c.end {
			return
		}
	}
}

// propagate delivers each chunk at its arrival time.
func (p *pipe) propagate() {
	t := time.NewTimer(time.Hour)
	t.Stop()
	for {
		var c chunk
		select {
		case c = <-p.out:
		case <-p.done:
			return
		}
		if d := time.Until(c.at); d > 0 {
			t.Reset(d)
			select {
			case <-t.C:
			case <-p.done:
				t.Stop()
				return
			}
		}
		p.count.noteLate(c.late + time.Since(c.at))
		more := p.deliver(c)
		n := len(c.b)
		if c.buf != nil {
			bufPool.Put(c.buf)
		}
		p.addHeld(-n)
		if !more || c.end {
			return
		}
	}
}
