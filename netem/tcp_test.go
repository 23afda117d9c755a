package netem

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// sendPattern writes n bytes of the pattern to c in writes of at most
// size bytes.
func sendPattern(c net.Conn, n int64, size int) error {
	buf := make([]byte, size)
	for off := int64(0); off < n; {
		m := min(int64(size), n-off)
		pattern(buf[:m], off)
		if _, err := c.Write(buf[:m]); err != nil {
			return err
		}
		off += m
	}
	return nil
}

// checkPattern reads c to EOF and fails unless it got exactly n bytes of
// the pattern.
func checkPattern(t *testing.T, c net.Conn, n int64) {
	t.Helper()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read after %d bytes: %v", len(got), err)
	}
	want := make([]byte, n)
	pattern(want, 0)
	if int64(len(got)) != n {
		t.Fatalf("got %d bytes, want %d", len(got), n)
	}
	if i := firstDiff(got, want); i >= 0 {
		t.Fatalf("byte %d differs: got %#x, want %#x (lost, repeated or reordered data)", i, got[i], want[i])
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

// TestTCPDelayLowerBound: no byte arrives before the link's delay, each
// way; with jitter, before Delay-Jitter.
func TestTCPDelayLowerBound(t *testing.T) {
	for _, s := range []Shape{
		{Delay: 30 * time.Millisecond},
		{Delay: 30 * time.Millisecond, Jitter: 10 * time.Millisecond, Rate: 1 << 20},
	} {
		t.Run(fmt.Sprintf("%v±%v", s.Delay, s.Jitter), func(t *testing.T) { testDelay(t, s) })
	}
}

func testDelay(t *testing.T, s Shape) {
	{
		arrived := make(chan time.Time, 1)
		target := tcpTarget(t, func(c *net.TCPConn) {
			buf := make([]byte, 1)
			for {
				if _, err := c.Read(buf); err != nil {
					return
				}
				arrived <- time.Now()
				if _, err := c.Write(buf); err != nil {
					return
				}
			}
		})
		r := startRelay(t, target, shapes(s, s))
		c := dial(t, r)
		min1 := s.Delay - s.Jitter
		for i := range 5 {
			t0 := time.Now()
			if _, err := c.Write([]byte{byte(i)}); err != nil {
				t.Fatal(err)
			}
			t1 := <-arrived
			if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
				t.Fatal(err)
			}
			t2 := time.Now()
			if d := t1.Sub(t0); d < min1 {
				t.Errorf("%+v: byte %d arrived after %v, before %v", s, i, d, min1)
			}
			if d := t2.Sub(t0); d < 2*min1 {
				t.Errorf("%+v: round trip %d took %v, less than %v", s, i, d, 2*min1)
			}
		}
	}
}

// TestTCPRate: each direction carries about its own Rate over a long
// enough transfer. The upper bound holds on any machine (the bucket allows
// only a small burst) and is checked on every attempt; the lower bound is
// wide, and a machine starved for a moment gets two more attempts.
func TestTCPRate(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 6 MiB at a limited rate")
	}
	for attempt := 1; ; attempt++ {
		var slow []string
		t.Run(fmt.Sprint("attempt", attempt), func(t *testing.T) { slow = rateOnce(t) })
		if t.Failed() || len(slow) == 0 {
			return
		}
		if attempt == 3 {
			t.Fatalf("too slow three times: %v", slow)
		}
		t.Logf("too slow (%v): the machine may be busy; again", slow)
	}
}

// rateOnce moves 4 MiB up and 2 MiB down at once through a relay with a
// different Rate each way. It fails the test on a rate above 1.3x the
// limit, and returns what was below 0.3x of it.
func rateOnce(t *testing.T) (slow []string) {
	const (
		upRate, upN     = 4 << 20, 4 << 20
		downRate, downN = 1 << 20, 2 << 20
	)
	upDone := make(chan time.Duration, 1)
	target := tcpTarget(t, func(c *net.TCPConn) {
		go func() {
			if err := sendPattern(c, downN, 32<<10); err == nil {
				c.CloseWrite()
			}
		}()
		t0 := time.Now()
		n, _ := io.Copy(io.Discard, c)
		if n == upN {
			upDone <- time.Since(t0)
		} else {
			upDone <- -1
		}
	})
	r := startRelay(t, target, shapes(Shape{Rate: upRate}, Shape{Rate: downRate, Delay: 5 * time.Millisecond}))
	c := dial(t, r)
	t0 := time.Now()
	go func() {
		if sendPattern(c, upN, 32<<10) == nil {
			c.CloseWrite()
		}
	}()
	checkPattern(t, c, downN)
	downTook := time.Since(t0)
	upTook := <-upDone
	if upTook < 0 {
		t.Fatal("the target did not get every byte sent up")
	}
	for _, m := range []struct {
		dir     string
		n, rate float64
		took    time.Duration
	}{{"up", upN, upRate, upTook}, {"down", downN, downRate, downTook}} {
		got := m.n / m.took.Seconds()
		t.Logf("%s: %.0f bytes in %v: %.2f MiB/s, limit %.2f MiB/s", m.dir, m.n, m.took, got/(1<<20), m.rate/(1<<20))
		if got > 1.3*m.rate {
			t.Errorf("%s: measured %.0f B/s, more than 1.3 x the limit %.0f", m.dir, got, m.rate)
		}
		if got < 0.3*m.rate {
			slow = append(slow, fmt.Sprintf("%s %.0f B/s, limit %.0f", m.dir, got, m.rate))
		}
	}
	if st := r.Stats(); st.Down.Out != downN || st.Up.In != upN {
		t.Errorf("stats %+v: want down.out %d, up.in %d", st, downN, upN)
	}
	return slow
}

// TestTCPJitterKeepsOrder: jitter wider than the time between chunks
// spreads their arrival but never reorders the stream.
func TestTCPJitterKeepsOrder(t *testing.T) {
	const n = 2 << 20
	target := tcpTarget(t, func(c *net.TCPConn) {
		if _, err := io.Copy(c, c); err == nil {
			c.CloseWrite()
		}
	})
	s := Shape{Delay: 20 * time.Millisecond, Jitter: 20 * time.Millisecond, Rate: 8 << 20}
	r := startRelay(t, target, shapes(s, s))
	c := dial(t, r)
	go func() {
		if sendPattern(c, n, 1000) == nil {
			c.CloseWrite()
		}
	}()
	checkPattern(t, c, n)
}

// TestTCPBackpressure: when the receiver stops reading, the sender can get
// no further ahead than the link's Window plus the sockets' kernel
// buffers, and every byte it wrote still arrives once reading resumes.
func TestTCPBackpressure(t *testing.T) {
	const total = 32 << 20 // what an unbounded relay would let through
	s := Shape{Delay: 20 * time.Millisecond, Rate: 1 << 20, Queue: 32 << 10}
	written := make(chan int64, 1)
	target := tcpTarget(t, func(c *net.TCPConn) {
		c.SetWriteBuffer(64 << 10)
		buf := make([]byte, 8<<10)
		var off int64
		for off < total {
			pattern(buf, off)
			// The deadline only detects that the writer is
			// blocked; stopping early on a slow machine makes the
			// bound easier to meet, never harder.
			c.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
			n, err := c.Write(buf)
			off += int64(n)
			if err != nil {
				break
			}
		}
		written <- off
		c.SetWriteDeadline(time.Now().Add(hangGuard))
		c.CloseWrite()
		io.Copy(io.Discard, c)
	})
	r := startRelay(t, target, shapes(Shape{}, s))
	c := dial(t, r)
	c.SetReadBuffer(64 << 10)
	ahead := <-written
	st := r.Stats()
	// Beyond the relay, the kernel buffers of four sockets hold data: the
	// sender's and the receiver's (64 KiB asked) and the relay's two
	// (SocketBuffer); Linux doubles what is asked.
	bound := int64(s.Window()+ChunkSize) + 4*2*defaultSocketBuffer + 512<<10
	t.Logf("the sender got %d bytes ahead; the relay held %d (window %d)", ahead, st.Down.In-st.Down.Out, s.Window())
	if ahead >= total || ahead > bound {
		t.Fatalf("the sender wrote %d bytes with nobody reading, want at most %d", ahead, bound)
	}
	if held := st.Down.In - st.Down.Out; held > int64(s.Window()+ChunkSize) {
		t.Errorf("the relay held %d bytes, want at most %d", held, s.Window()+ChunkSize)
	}
	checkPattern(t, c, ahead)
}

// TestTCPClose: a half-close reaches the other side after the data before
// it, the other side can still answer, and a close ends the relayed
// connection.
func TestTCPClose(t *testing.T) {
	target := tcpTarget(t, func(c *net.TCPConn) {
		got, err := io.ReadAll(c) // to the client's half-close
		if err != nil {
			return
		}
		c.Write(append([]byte("got "), got...))
		// returning closes c
	})
	s := Shape{Delay: 5 * time.Millisecond, Jitter: 2 * time.Millisecond}
	r := startRelay(t, target, shapes(s, s))
	c := dial(t, r)
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "got hello" {
		t.Fatalf("got %q, %v; want %q to EOF", got, err, "got hello")
	}
	waitFor(t, "the relayed connection to end", func() bool { return r.Stats().Active == 0 })
	if st := r.Stats(); st.Conns != 1 || st.Up.Out != 5 || st.Down.Out != 9 {
		t.Errorf("stats %+v: want 1 connection, 5 bytes up, 9 down", st)
	}
}

// TestTCPCloseRelay: closing the relay ends its connections: the client's
// read returns instead of hanging, and no goroutine is left.
func TestTCPCloseRelay(t *testing.T) {
	served := make(chan struct{})
	target := tcpTarget(t, func(c *net.TCPConn) {
		c.Write([]byte("x"))
		close(served)
		io.Copy(io.Discard, c)
	})
	r := startRelay(t, target, Config{Down: Shape{Rate: 1 << 20, Delay: time.Millisecond}})
	c := dial(t, r)
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	<-served
	r.Close()
	noRelayGoroutines(t)
	_, err := c.Read(make([]byte, 1))
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read after the relay closed: %v, want EOF or a reset", err)
	}
	if _, err := net.Dial("tcp", r.Addr().String()); err == nil {
		t.Error("the relay still accepts connections after Close")
	}
}

// TestTCPDialError: a target that refuses closes the client's connection.
func TestTCPDialError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := ln.Addr().String()
	ln.Close() // nothing listens there now
	r := startRelay(t, target, Config{})
	c := dial(t, r)
	if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read: %v, want EOF or a reset", err)
	}
	waitFor(t, "the dial error to be counted", func() bool { return r.Stats().DialErrors == 1 })
}

// TestTCPStallResume: a stalled link forwards nothing more but keeps the
// connection, holds up to its Window from the sender, and on resume
// delivers everything in order.
func TestTCPStallResume(t *testing.T) {
	const first, rest = 100_000, 1 << 20
	ack := make(chan struct{})
	target := tcpTarget(t, func(c *net.TCPConn) {
		buf := make([]byte, first+rest)
		pattern(buf, 0)
		if _, err := c.Write(buf[:first]); err != nil {
			return
		}
		<-ack // the client has the first part, and the link is stalled
		if _, err := c.Write(buf[first:]); err != nil {
			return
		}
		c.CloseWrite()
		io.Copy(io.Discard, c)
	})
	down := Shape{Delay: 2 * time.Millisecond, Rate: 8 << 20}
	r := startRelay(t, target, shapes(Shape{}, down))
	c := dial(t, r)
	var got bytes.Buffer
	if _, err := io.CopyN(&got, c, first); err != nil {
		t.Fatal(err)
	}
	stalled := down
	stalled.Stall = true
	if err := r.SetShapeDir(Down, stalled); err != nil {
		t.Fatal(err)
	}
	close(ack)
	var read atomic.Int64
	done := make(chan error, 1)
	go func() {
		n, err := io.Copy(&got, c)
		read.Add(n)
		done <- err
	}()
	waitFor(t, "the shaper to wait on the stall", func() bool { return r.links[Down].stallWaits.Load() > 0 })
	// The relay fills up to the Window from the sender, then stops reading.
	waitFor(t, "the stalled link to fill", func() bool {
		st := r.Stats()
		return st.Down.In-st.Down.Out >= int64(stalled.Window())
	})
	if st := r.Stats(); st.Down.Out != first {
		t.Fatalf("a stalled link delivered %d bytes, want %d (only what came before the stall)", st.Down.Out, first)
	}
	if r.Stats().Active != 1 {
		t.Fatal("the stall closed the connection")
	}
	if err := r.SetShapeDir(Down, down); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	want := make([]byte, first+rest)
	pattern(want, 0)
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("after resume got %d bytes, want %d in order (first difference at %d)", got.Len(), len(want), firstDiff(got.Bytes(), want))
	}
}

// TestTCPRateChange: a rate raised while a connection waits on the old
// one takes effect at once: a 1 KB/s link that would take minutes for
// 1 MiB finishes after it is raised.
func TestTCPRateChange(t *testing.T) {
	const n = 1 << 20
	target := tcpTarget(t, func(c *net.TCPConn) {
		if sendPattern(c, n, 16<<10) == nil {
			c.CloseWrite()
		}
		io.Copy(io.Discard, c)
	})
	r := startRelay(t, target, shapes(Shape{}, Shape{Rate: 1000}))
	c := dial(t, r)
	waitFor(t, "the first burst", func() bool { return r.Stats().Down.Out > 0 })
	if err := r.SetShapeDir(Down, Shape{}); err != nil {
		t.Fatal(err)
	}
	checkPattern(t, c, n)
}

func TestShapeValidate(t *testing.T) {
	for _, s := range []Shape{
		{Delay: -1}, {Jitter: -1}, {Delay: 2 * time.Minute}, {Rate: -1}, {Queue: -1}, {Loss: -0.1}, {Loss: 1.5},
	} {
		if s.Validate() == nil {
			t.Errorf("%+v: valid, want an error", s)
		}
		if _, err := ListenTCP(ctxT(t), "127.0.0.1:0", "127.0.0.1:1", s); err == nil {
			t.Errorf("%+v: ListenTCP accepted it", s)
		}
	}
	if err := (Shape{Delay: time.Second, Jitter: time.Second, Rate: 1, Loss: 1}).Validate(); err != nil {
		t.Error(err)
	}
}

func TestShapeWindow(t *testing.T) {
	for _, c := range []struct {
		s    Shape
		want int
	}{
		{Shape{}, DefaultQueue},
		{Shape{Queue: 1000}, 1000},
		{Shape{Delay: time.Millisecond}, DefaultQueue + UnlimitedWindow},
		{Shape{Rate: 1_000_000, Delay: 40 * time.Millisecond, Jitter: 10 * time.Millisecond, Queue: 1000}, 51_000},
	} {
		if got := c.s.Window(); got != c.want {
			t.Errorf("%+v: window %d, want %d", c.s, got, c.want)
		}
	}
}

// TestTokenBucket: over simulated time the bucket grants Rate bytes a
// second plus one burst, however the chunks are sized.
func TestTokenBucket(t *testing.T) {
	const rate = 1_000_000
	l := newLink(Shape{Rate: rate})
	now := time.Unix(0, 0)
	start := now
	var granted int
	for now.Sub(start) < 10*time.Second {
		n := 1 + (granted*7)%ChunkSize
		ok, wait, _ := l.reserve(n, now)
		if ok {
			granted += n
			continue
		}
		if wait <= 0 {
			t.Fatalf("refused with wait %v on a link that is not stalled", wait)
		}
		now = now.Add(wait)
	}
	want := rate * 10
	burst := int(Shape{Rate: rate}.burst())
	if granted < want || granted > want+burst+ChunkSize {
		t.Errorf("granted %d bytes in 10 s, want %d..%d", granted, want, want+burst+ChunkSize)
	}
	l.set(Shape{Rate: rate, Stall: true})
	if ok, wait, _ := l.reserve(1, now.Add(time.Hour)); ok || wait != 0 {
		t.Errorf("stalled link: ok %v, wait %v; want refused until changed", ok, wait)
	}
}

// BenchmarkTCPRelay measures what an unshaped relay carries, one stream.
func BenchmarkTCPRelay(b *testing.B) {
	target, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer target.Close()
	go func() {
		for {
			c, err := target.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	r, err := ListenTCP(b.Context(), "127.0.0.1:0", target.Addr().String(), Shape{})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	c, err := net.Dial("tcp", r.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 256<<10)
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPipeArrivalsInOrder: each chunk's arrival time is one latency draw
// after it departs, but never before the previous chunk's.
func TestPipeArrivalsInOrder(t *testing.T) {
	const n = 300
	s := Shape{Delay: 10 * time.Millisecond, Jitter: 10 * time.Millisecond}
	done := make(chan struct{})
	type arrival struct{ at, now time.Time }
	got := make(chan arrival, n)
	var count dirCounters
	p := newPipe(newLink(s), done, n, &count, func(c chunk) bool {
		got <- arrival{c.at, time.Now()}
		return true
	})
	var wg sync.WaitGroup
	p.start(&wg)
	defer func() { close(done); wg.Wait() }()
	pushed := time.Now()
	for range n {
		if !p.push(chunk{b: []byte{1}}) {
			t.Fatal("push failed")
		}
	}
	var prev time.Time
	for i := range n {
		a := <-got
		if a.at.Before(prev) {
			t.Fatalf("chunk %d arrives at %v, before chunk %d (%v)", i, a.at, i-1, prev)
		}
		if a.now.Before(a.at) {
			t.Fatalf("chunk %d delivered %v before its arrival time", i, a.at.Sub(a.now))
		}
		if d := a.at.Sub(pushed); d < s.Delay-s.Jitter {
			t.Fatalf("chunk %d arrives %v after it was sent, before %v", i, d, s.Delay-s.Jitter)
		}
		prev = a.at
	}
}

// TestTCPReset: a client's reset reaches the target as a reset, after the
// data sent before it.
func TestTCPReset(t *testing.T) {
	result := make(chan error, 1)
	target := tcpTarget(t, func(c *net.TCPConn) {
		buf := make([]byte, 5)
		if _, err := io.ReadFull(c, buf); err != nil {
			result <- err
			return
		}
		_, err := c.Read(buf)
		result <- err
	})
	s := Shape{Delay: 5 * time.Millisecond}
	r := startRelay(t, target, shapes(s, s))
	c := dial(t, r)
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	c.SetLinger(0)
	c.Close()
	if err := <-result; err == nil || errors.Is(err, io.EOF) || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the target's read after the client's reset: %v, want a reset", err)
	}
}

// TestTCPSource: the relay dials the target from Config.Source.
func TestTCPSource(t *testing.T) {
	from := make(chan string, 1)
	target := tcpTarget(t, func(c *net.TCPConn) {
		from <- c.RemoteAddr().(*net.TCPAddr).IP.String()
		c.Write([]byte("x"))
	})
	r := startRelay(t, target, Config{Source: netip.MustParseAddr("127.0.0.5")})
	c := dial(t, r)
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if ip := <-from; ip != "127.0.0.5" {
		t.Errorf("the target saw the relay come from %s, want 127.0.0.5", ip)
	}
}

// TestPipeCountsLateDeliveries: a chunk the emulator delivers well after its
// arrival time (here its receiver held the propagator up, as a busy machine
// does) counts as late, with how late.
func TestPipeCountsLateDeliveries(t *testing.T) {
	const hold = 30 * time.Millisecond
	done := make(chan struct{})
	first, release := make(chan struct{}), make(chan struct{})
	delivered := make(chan struct{}, 2)
	var count dirCounters
	n := 0
	p := newPipe(newLink(Shape{}), done, 4, &count, func(c chunk) bool {
		n++
		if n == 1 {
			close(first)
			<-release // the propagator is stuck on the first chunk
		}
		delivered <- struct{}{}
		return true
	})
	var wg sync.WaitGroup
	p.start(&wg)
	defer func() { close(done); wg.Wait() }()
	if !p.push(chunk{b: []byte{1}}) {
		t.Fatal("push failed")
	}
	<-first
	if !p.push(chunk{b: []byte{2}}) {
		t.Fatal("push failed")
	}
	// The second chunk's arrival time is stamped as it leaves the shaper
	// (no delay): wait until it has, then hold the propagator longer.
	for len(p.out) == 0 {
		runtime.Gosched()
	}
	stamped := time.Now()
	for time.Since(stamped) < hold {
		runtime.Gosched()
	}
	close(release)
	<-delivered
	<-delivered
	st := count.snapshot()
	if st.Late < 1 || st.LateMaxMs < float64(hold.Milliseconds()) {
		t.Fatalf("late %d, most %.1f ms; want the second chunk late by at least %v", st.Late, st.LateMaxMs, hold)
	}
}
