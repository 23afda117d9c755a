package webseed

import (
	"cmp"
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Streams. A reader that goes through a file in order asks the mirror for
// one run after another. Each run its own request cost a round trip before
// its first byte, on a connection whose window the server may have shrunk
// while it idled (net.ipv4.tcp_slow_start_after_idle), and over a lossy path
// never let one connection's window grow as a single download's does. So a
// request that continues where an earlier one of the mirror ended (or starts
// a file) asks for the rest of the file, up to StreamSpan, and its body is
// read only as far as the Fetch wanted: the rest waits in the connection
// (unread, so TCP flow control holds the server), parked for the Fetch that
// starts where it stands, which takes it over with no round trip. A Fetch for
// that place while an earlier one still reads the body waits for it (the
// next run of a pipelined reader). Memory is never more than what the caller
// asked: the unread rest is the kernel's socket buffer. A parked stream not
// taken within StreamIdle is closed, as is one whose Fetch was cancelled or
// failed; net/http then drops its connection (a body not read to its end
// cannot be reused), which is why a request that looks like random access
// asks for its own range only and keeps its keep-alive connection.

// Stream limits.
const (
	// StreamSpan bounds the range one request asks for beyond the Fetch.
	StreamSpan = 1 << 30
	// StreamIdle is how long a parked stream waits for the Fetch that
	// continues it.
	StreamIdle = 3 * time.Second
	// maxParked bounds the parked streams per mirror: the one that has
	// delivered least goes (the main stream of a reader, its window grown
	// the most, stays when a burst of scattered jobs parks more).
	maxParked  = 3
	recentRuns = 8 // ends of recent requests remembered (sequential reads)
)

var (
	errStreamClosed = errors.New("web seed stream closed")
	streamIdle      = StreamIdle // tests shorten it
)

// stream is an open response body of one file.
type stream struct {
	file int
	// at is the file offset the body stands at; while held, where it will
	// stand when its Fetch is done with it.
	at     int64
	end    int64 // one past the last byte the response holds
	body   io.ReadCloser
	ctx    context.Context // the request's: ends with cancel
	cancel context.CancelCauseFunc
	held   bool
	idle   *time.Timer // parked: closes it
	read   int64       // bytes delivered from it
}

func (s *stream) close() {
	s.cancel(errStreamClosed)
	s.body.Close()
}

// streams are a mirror's open streams, held or parked.
type streams struct {
	mu   sync.Mutex
	open []*stream
	// changed is closed (and made again) when a stream is let go, taken
	// or closed, or a claim withdrawn: waiters look again.
	changed chan struct{}
	ends    [recentRuns]place // where recent requests of the mirror end
	next    int
	closed  bool
	// claims are the reads expected of the mirror, where they start ->
	// where they end: a Fetch waits for a stream while it can be reached
	// from where the stream stands through them (it follows the holder, or
	// another Fetch that waits, or one about to start: Claim).
	claims map[place]*claim
	// continued counts the Fetches that went on with a stream rather than
	// make a request.
	continued atomic.Int64
}

type place struct {
	file int
	off  int64
}

type claim struct {
	end int64
	n   int // claims of that place and end
}

// reaches reports whether a Fetch at off follows on s: at off, or at the end
// of a chain of claims from where s stands (ss.mu held).
func (ss *streams) reaches(s *stream, off int64) bool {
	pos := s.at
	for range len(ss.claims) + 1 {
		if pos == off {
			return true
		}
		c, ok := ss.claims[place{s.file, pos}]
		if !ok || c.end <= pos {
			return false
		}
		pos = c.end
	}
	return false
}

// claim notes a read of [off, end) of file f to come (ss.mu held).
func (ss *streams) claim(f int, off, end int64) {
	if ss.claims == nil {
		ss.claims = map[place]*claim{}
	}
	p := place{f, off}
	if c := ss.claims[p]; c != nil && c.end == end {
		c.n++
		return
	}
	ss.claims[p] = &claim{end: end, n: 1}
}

// unclaim withdraws a claim and wakes the waiters (ss.mu held).
func (ss *streams) unclaim(f int, off, end int64) {
	p := place{f, off}
	if c := ss.claims[p]; c != nil && c.end == end {
		if c.n--; c.n == 0 {
			delete(ss.claims, p)
		}
		ss.broadcast()
	}
}

// Claim tells the mirror that a Fetch of [off, off+n) of the torrent's data
// is about to start: a Fetch that follows it waits for the stream it will
// read instead of making a request, whichever goroutine runs first. Call the
// returned func once that Fetch has returned (or will not run).
func (m *Mirror) Claim(off int64, n int) (done func()) {
	segs := m.layout.Segments(off, int64(n))
	ss := &m.streams
	ss.mu.Lock()
	for _, g := range segs {
		if !m.layout.Files[g.File].Padding {
			ss.claim(g.File, g.Off, g.Off+g.Len)
		}
	}
	ss.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			ss.mu.Lock()
			defer ss.mu.Unlock()
			for _, g := range segs {
				if !m.layout.Files[g.File].Padding {
					ss.unclaim(g.File, g.Off, g.Off+g.Len)
				}
			}
		})
	}
}

// sequential reports whether a request at off of file f continues an earlier
// one (or starts the file), and notes where this one, wanting n bytes, ends.
func (ss *streams) sequential(f int, off, n int64) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	seq := off == 0 || slices.Contains(ss.ends[:], place{f, off})
	ss.ends[ss.next] = place{f, off + n}
	ss.next = (ss.next + 1) % recentRuns
	return seq
}

// take returns the stream of file f that stands at off, held for reading up
// to n bytes from it, waiting while other Fetches read up to off; nil if
// there is none.
func (ss *streams) take(ctx context.Context, f int, off int64, n int) (*stream, error) {
	var mine *stream // the stream this Fetch waits for, its claim made
	var end int64
	defer func() {
		if mine != nil {
			ss.mu.Lock()
			ss.unclaim(f, off, end)
			ss.mu.Unlock()
		}
	}()
	for {
		ss.mu.Lock()
		var s *stream
		for _, x := range ss.open {
			if x.file == f && off < x.end && ss.reaches(x, off) {
				s = x
				break
			}
		}
		if s == nil || (mine != nil && s != mine) {
			ss.mu.Unlock()
			return nil, nil
		}
		if !s.held && s.at == off {
			if !s.idle.Stop() {
				ss.mu.Unlock() // its idle timer closes it
				return nil, nil
			}
			ss.hold(s, off, n)
			ss.broadcast()
			ss.mu.Unlock()
			ss.continued.Add(1)
			return s, nil
		}
		if mine == nil {
			mine = s
			end = off + min(int64(n), s.end-off)
			ss.claim(f, off, end)
		}
		if ss.changed == nil {
			ss.changed = make(chan struct{})
		}
		ch := ss.changed
		ss.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
}

// broadcast wakes the waiters (ss.mu held).
func (ss *streams) broadcast() {
	if ss.changed != nil {
		close(ss.changed)
		ss.changed = nil
	}
}

// hold marks s as read from off for up to n bytes (ss.mu held).
func (ss *streams) hold(s *stream, off int64, n int) {
	s.held = true
	s.at = off + min(int64(n), s.end-off)
}

// add registers a new stream, held by its first Fetch.
func (ss *streams) add(s *stream, off int64, n int) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.hold(s, off, n)
	ss.open = append(ss.open, s)
}

// release lets s go: parked when its Fetch read all it meant to and the body
// holds more (keep), closed otherwise.
func (ss *streams) release(s *stream, n int, keep bool) {
	ss.mu.Lock()
	s.held = false
	s.read += int64(n)
	ss.broadcast()
	if keep && !ss.closed && s.at < s.end && s.ctx.Err() == nil {
		s.idle = time.AfterFunc(streamIdle, func() { ss.drop(s) })
		var parked []*stream
		for _, x := range ss.open {
			if !x.held {
				parked = append(parked, x)
			}
		}
		var least *stream
		if len(parked) > maxParked {
			least = slices.MinFunc(parked, func(a, b *stream) int { return cmp.Compare(a.read, b.read) })
			if least.idle.Stop() {
				ss.remove(least)
			} else {
				least = nil // its idle timer closes it
			}
		}
		ss.mu.Unlock()
		if least != nil {
			least.close()
		}
		return
	}
	ss.remove(s)
	ss.mu.Unlock()
	s.close()
}

// drop closes a parked stream (its idle timer, or a newer one's park).
func (ss *streams) drop(s *stream) {
	ss.mu.Lock()
	if s.held || !slices.Contains(ss.open, s) {
		ss.mu.Unlock()
		return
	}
	ss.remove(s)
	ss.mu.Unlock()
	s.close()
}

// remove forgets s (ss.mu held); its waiters look again.
func (ss *streams) remove(s *stream) {
	if k := slices.Index(ss.open, s); k >= 0 {
		ss.open = slices.Delete(ss.open, k, k+1)
	}
	ss.broadcast()
}

// closeAll closes the parked streams and parks none from now on.
func (ss *streams) closeAll() {
	ss.mu.Lock()
	ss.closed = true
	var parked []*stream
	for _, x := range ss.open {
		if !x.held && x.idle.Stop() {
			parked = append(parked, x)
		}
	}
	for _, x := range parked {
		ss.remove(x)
	}
	ss.mu.Unlock()
	for _, x := range parked {
		x.close()
	}
}

// Close closes the mirror's parked streams, and parks none from now on (a
// Fetch still works, with requests of its own range). The caller closes it
// when it stops fetching; a parked stream would otherwise hold its connection
// for up to StreamIdle.
func (m *Mirror) Close() { m.streams.closeAll() }

// Continued returns how many requests the mirror's streams saved: reads that
// went on with an open body instead.
func (m *Mirror) Continued() int64 { return m.streams.continued.Load() }

// Streams reports the mirror's open streams (tests).
func (m *Mirror) Streams() (held, parked int) {
	m.streams.mu.Lock()
	defer m.streams.mu.Unlock()
	for _, s := range m.streams.open {
		if s.held {
			held++
		} else {
			parked++
		}
	}
	return held, parked
}
