package netem

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"
)

// ListenTCP starts a TCP relay on listen (host:port; port 0 picks a free
// one) that forwards every connection it accepts to target, with Shape s
// in both directions. It stops when ctx is done or Close is called.
func ListenTCP(ctx context.Context, listen, target string, s Shape) (*Relay, error) {
	return Config{Up: s, Down: s}.ListenTCP(ctx, listen, target)
}

// ListenTCP starts a TCP relay with the Config's Shapes; see ListenTCP.
func (c Config) ListenTCP(ctx context.Context, listen, target string) (*Relay, error) {
	r, err := c.newRelay(ctx, "tcp", target)
	if err != nil {
		return nil, fmt.Errorf("relay %s -> %s: %w", listen, target, err)
	}
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", listen)
	if err != nil {
		r.cancel()
		return nil, fmt.Errorf("relay %s -> %s: %w", listen, target, err)
	}
	r.ln = l.(*net.TCPListener)
	r.addr = l.Addr()
	r.pairs = make(map[*tcpPair]struct{})
	r.watch(ctx)
	r.wg.Add(1)
	go r.accept()
	return r, nil
}

func (r *Relay) accept() {
	defer r.wg.Done()
	backoff := 5 * time.Millisecond
	for {
		c, err := r.ln.AcceptTCP()
		if err != nil {
			if r.closed() {
				return
			}
			// Out of descriptors or the like: wait and retry, as
			// net/http does.
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-r.done:
				t.Stop()
				return
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		r.conns.Add(1)
		r.active.Add(1)
		r.wg.Add(1)
		go r.handle(c)
	}
}

// tcpPair is one accepted connection and its connection to the target.
type tcpPair struct {
	client, server *net.TCPConn
	done           chan struct{} // closed by abort
	once           sync.Once
}

// abort closes both connections and stops the pair's goroutines.
func (p *tcpPair) abort() {
	p.once.Do(func() {
		close(p.done)
		p.client.Close()
		p.server.Close()
	})
}

func (r *Relay) tune(c *net.TCPConn) {
	if n := r.cfg.SocketBuffer; n > 0 {
		// Best effort: the kernel clamps, and a failure only makes
		// the queue longer.
		_ = c.SetReadBuffer(n)
		_ = c.SetWriteBuffer(n)
	}
}

// handle connects an accepted client to the target and relays both ways
// until both directions have ended or one fails.
func (r *Relay) handle(client *net.TCPConn) {
	defer r.wg.Done()
	defer r.active.Add(-1)
	r.tune(client)
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.DialTimeout)
	var d net.Dialer
	if r.cfg.Source.IsValid() {
		d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(r.cfg.Source, 0))
	}
	sc, err := d.DialContext(ctx, "tcp", r.target)
	cancel()
	if err != nil {
		if !r.closed() {
			r.dialEr.Add(1)
		}
		client.Close()
		return
	}
	p := &tcpPair{client: client, server: sc.(*net.TCPConn), done: make(chan struct{})}
	r.tune(p.server)
	r.mu.Lock()
	if r.closed() {
		r.mu.Unlock()
		p.abort()
		return
	}
	r.pairs[p] = struct{}{}
	r.mu.Unlock()

	var wg sync.WaitGroup
	up := newPipe(r.links[Up], p.done, 256, &r.count[Up], p.deliverTo(p.server, &r.count[Up]))
	down := newPipe(r.links[Down], p.done, 256, &r.count[Down], p.deliverTo(p.client, &r.count[Down]))
	up.start(&wg)
	down.start(&wg)
	wg.Add(2)
	go func() { defer wg.Done(); p.read(p.client, up) }()
	go func() { defer wg.Done(); p.read(p.server, down) }()
	wg.Wait()
	p.abort()

	r.mu.Lock()
	delete(r.pairs, p)
	r.mu.Unlock()
}

// read takes what src sends into pp while the link has room, then the end
// of the stream (EOF or an error).
func (p *tcpPair) read(src *net.TCPConn, pp *pipe) {
	for {
		if !pp.waitSpace() {
			return
		}
		bp := bufPool.Get().(*[]byte)
		n, err := src.Read(*bp)
		if n > 0 {
			if !pp.push(chunk{b: (*bp)[:n], buf: bp}) {
				return
			}
		} else {
			bufPool.Put(bp)
		}
		if err != nil {
			c := chunk{end: true}
			if !errors.Is(err, io.EOF) {
				c.err = err
			}
			pp.push(c)
			return
		}
	}
}

// deliverTo writes chunks to dst; a source's EOF becomes dst's half-close,
// and a failure on either side closes the pair, as a reset would.
func (p *tcpPair) deliverTo(dst *net.TCPConn, count *dirCounters) func(chunk) bool {
	return func(c chunk) bool {
		if c.end {
			if c.err != nil {
				dst.SetLinger(0) // the source was reset: so is dst
				p.abort()
			} else if dst.CloseWrite() != nil {
				p.abort()
			}
			return false
		}
		n, err := dst.Write(c.b)
		count.out.Add(int64(n))
		if err != nil {
			p.abort()
			return false
		}
		return true
	}
}
