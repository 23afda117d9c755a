package utp

import (
	"bytes"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Sizes. A packet is at most packetSize bytes so that it fits a 1500-byte
// Ethernet MTU with IPv6, UDP and a tunnel or two on the way.
const (
	packetSize = 1400
	maxPayload = packetSize - headerSize
	// maxOOO bounds how far past the cumulative ack a packet is kept; further
	// ones are dropped (the sender retransmits them).
	maxOOO = 1024
	// maxAckDelay is how many bytes received in order may wait for one ack
	// (a sender with a window of a few large packets must not stall).
	maxAckDelay = 32 << 10
	// wakeBytes is how many bytes received in order wake the reader at
	// once; fewer wait for a packet that ends the sender's burst, or a tick.
	// At WAN rates each packet comes alone, and a wake-up of the reader per
	// packet (~12 per 16 KiB block) was most of uTP's CPU cost.
	wakeBytes = 16<<10 + 13 // a PIECE message of a 16 KiB block
	// fullPayload: a payload shorter than this ends a burst of the sender:
	// its ack and the reader's wake-up do not wait. Not "shorter than the
	// longest seen": libtorrent's packets vary in size (path MTU probes),
	// so that made every other packet the end of a burst.
	fullPayload = 1000
	// ackEvery is how many packets received in order, each in a batch of its
	// own, one ack covers (RFC 5681's every second full-sized segment).
	ackEvery = 2
)

type connState int

const (
	stateSynSent connState = iota
	stateSynRecv           // accepted, initiator not heard from since
	stateConnected
	stateDead
)

type outPacket struct {
	seq       uint16
	typ       uint8
	payload   []byte
	sentAt    time.Time
	sends     int
	sacked    bool // the peer has it (selective ACK); not counted in flight
	resend    bool // due for retransmission; not counted in flight
	fastRetx  bool // already retransmitted on duplicate or selective acks
	inFlights bool // counted in c.inFlight
}

// Conn is one uTP connection: a net.Conn.
type Conn struct {
	s      *Socket
	raddr  netip.AddrPort
	key    connKey
	recvID uint16
	sendID uint16

	connected chan struct{} // closed once the handshake completed
	dead      chan struct{} // closed when the connection is gone (c.err set)
	readable  chan struct{} // poked when Read may proceed
	writable  chan struct{} // poked when Write may proceed

	// mu guards everything below.
	mu    sync.Mutex
	state connState
	err   error // why the connection died
	// closed: the application called Close. shut: no more writes (Close or
	// CloseWrite). finSent: our FIN is queued (at c.finSeq); finAcked: the
	// peer acknowledged it.
	closed, shut, finSent, finAcked bool
	closedAt                        time.Time
	finSeq                          uint16
	finAckedAt                      time.Time
	rdl, wdl                        deadline

	// Sending.
	seq         uint16       // next sequence number to send
	out         []*outPacket // unacknowledged packets, oldest first
	outBytes    int          // payload bytes in out
	pending     []byte       // written, not yet packetized
	inFlight    int          // bytes sent and neither acked, sacked nor due again
	inFlightN   int          // packets counted in inFlight
	resendN     int          // packets in out due for (re)transmission
	peerWnd     uint32
	cwnd        float64
	ssthresh    float64
	lossSeq     uint16 // no second window cut for losses before this seq
	lastAck     uint16
	dupAcks     int
	srtt        time.Duration
	rttVar      time.Duration
	rto         time.Duration
	rtoAt       time.Time // when the oldest packet in flight times out
	timeouts    int       // consecutive
	lastTimeout time.Time
	zeroWndAt   time.Time
	lastSend    time.Time
	base        delayHistory
	stats       Stats

	// Receiving.
	ack uint16 // last sequence number received in order
	// rq holds what was received in order and not yet read, in pooled
	// chunks: no buffer to grow and compact, no allocation per packet
	// (libtorrent sends ~64 KiB packets on loopback).
	rq         []chunk
	rqBytes    int
	ooo        map[uint16][]byte // received out of order
	oooBytes   int
	gotFin     bool
	eofSeq     uint16
	eof        bool // everything up to the peer's FIN was received
	replyMicro uint32
	lastRecv   time.Time
	lastWnd    int  // room in the receive buffer when we last sent
	ackOwed    int  // bytes (at least 1 per packet) received in order and not yet acked
	ackOwedN   int  // packets behind ackOwed
	ackNow     bool // the owed ack does not wait for a second packet
	ackQueued  bool // c is in s.ackq
	wake       bool // data for the reader, who is not yet told
	wakeNow    bool // ... to be told at the end of the socket's batch
	rw         rwnd // the window we advertise

	scratch [packetSize + 2 + maxSACKBytes]byte
}

func newConn(s *Socket, raddr netip.AddrPort, recvID, sendID uint16) *Conn {
	c := &Conn{
		s:         s,
		raddr:     raddr,
		key:       connKey{raddr, recvID},
		recvID:    recvID,
		sendID:    sendID,
		connected: make(chan struct{}),
		dead:      make(chan struct{}),
		readable:  make(chan struct{}, 1),
		writable:  make(chan struct{}, 1),
		seq:       s.cfg.initialSeq(),
		cwnd:      4 * maxPayload,
		ssthresh:  float64(s.cfg.SendBuffer),
		rto:       time.Second, // RFC 6298 initial RTO
		peerWnd:   maxPayload,
		ooo:       make(map[uint16][]byte),
	}
	c.rdl.ch, c.wdl.ch = c.readable, c.writable
	c.lastAck = c.seq - 1
	c.lossSeq = c.seq
	c.lastSend = time.Now()
	c.lastRecv = c.lastSend
	return c
}

func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Stats counts what a connection did.
type Stats struct {
	PacketsSent     int64 // DATA, FIN and SYN packets, retransmissions included
	Retransmits     int64
	FastRetransmits int64 // on duplicate or selective acks
	Timeouts        int64 // retransmission timer expiries
	Cwnd            int   // congestion window, bytes
	RTT             time.Duration
}

// Stats returns the connection's counters.
func (c *Conn) Stats() Stats {
	c.lock()
	defer c.unlock()
	st := c.stats
	st.Cwnd, st.RTT = int(c.cwnd), c.srtt
	return st
}

// LocalAddr returns the socket's address.
func (c *Conn) LocalAddr() net.Addr { return c.s.Addr() }

// RemoteAddr returns the peer's address, a *net.UDPAddr.
func (c *Conn) RemoteAddr() net.Addr { return net.UDPAddrFromAddrPort(c.raddr) }

// Read reads received bytes; io.EOF after the peer's FIN.
func (c *Conn) Read(p []byte) (int, error) {
	c.lock()
	defer c.unlock()
	for {
		if c.closed {
			return 0, net.ErrClosed
		}
		if c.rqBytes > 0 {
			n := c.readQueued(p)
			// Tell a sender stalled on our window that it opened.
			if c.state == stateConnected && c.lastWnd < c.s.cfg.RecvBuffer/2 && c.recvWindow() >= c.s.cfg.RecvBuffer/2 {
				c.sendState(time.Now())
			}
			return n, nil
		}
		if c.eof {
			return 0, io.EOF
		}
		if c.err != nil {
			return 0, c.err
		}
		if len(p) == 0 {
			return 0, nil
		}
		if err := c.wait(&c.rdl); err != nil {
			return 0, err
		}
	}
}

// Write queues p for sending; it blocks while the send buffer is full.
func (c *Conn) Write(p []byte) (int, error) {
	c.lock()
	defer c.unlock()
	n := 0
	for len(p) > 0 {
		if c.closed || c.shut {
			return n, net.ErrClosed
		}
		if c.err != nil {
			return n, c.err
		}
		room := c.s.cfg.SendBuffer - c.outBytes - len(c.pending)
		if room <= 0 {
			if err := c.wait(&c.wdl); err != nil {
				return n, err
			}
			continue
		}
		k := min(room, len(p))
		c.pending = append(c.pending, p[:k]...)
		p = p[k:]
		n += k
		c.flush(time.Now())
	}
	return n, nil
}

// Close sends what was written, then a FIN, without waiting. Reads and writes
// after Close fail with net.ErrClosed.
func (c *Conn) Close() error {
	c.lock()
	defer c.unlock()
	if c.closed {
		return net.ErrClosed
	}
	c.closed = true
	c.closedAt = time.Now()
	c.shut = true
	poke(c.readable)
	poke(c.writable)
	if c.err != nil {
		return nil
	}
	if c.state != stateConnected {
		c.sendReset()
		c.fail(net.ErrClosed)
		return nil
	}
	c.flush(time.Now())
	return nil
}

// CloseWrite sends what was written, then a FIN; the peer reads EOF and may
// go on writing to us.
func (c *Conn) CloseWrite() error {
	c.lock()
	defer c.unlock()
	if c.closed {
		return net.ErrClosed
	}
	if c.err != nil {
		return c.err
	}
	c.shut = true
	poke(c.writable)
	c.flush(time.Now())
	return nil
}

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the deadline of Read.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.lock()
	c.setDeadline(&c.rdl, t)
	c.unlock()
	return nil
}

// SetWriteDeadline sets the deadline of Write.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.lock()
	c.setDeadline(&c.wdl, t)
	c.unlock()
	return nil
}

func (c *Conn) lock()   { c.mu.Lock() }
func (c *Conn) unlock() { c.mu.Unlock() }

// fail ends the connection with err and forgets it. c.mu is held.
func (c *Conn) fail(err error) {
	if c.state == stateDead {
		return
	}
	c.s.remove(c)
	c.state = stateDead
	if c.err == nil {
		c.err = err
	}
	close(c.dead)
	c.stopTimers()
	c.out, c.pending, c.ooo = nil, nil, nil
	c.outBytes, c.inFlight, c.inFlightN, c.resendN = 0, 0, 0, 0
}

func (c *Conn) recvWindow() int {
	return max(0, c.s.cfg.RecvBuffer-c.rqBytes-c.oooBytes)
}

// send writes one packet with our current ack state. c.mu is held.
func (c *Conn) send(typ uint8, seq uint16, payload []byte, now time.Time) {
	h := header{
		typ:    typ,
		connID: c.sendID,
		ts:     c.s.micros(now),
		tsDiff: c.replyMicro,
		wnd:    uint32(c.advertised()),
		seq:    seq,
		ack:    c.ack,
	}
	if typ == stSyn {
		h.connID = c.recvID
	}
	if typ == stState && len(c.ooo) > 0 {
		h.sack = c.sackMask()
	}
	n := h.marshal(c.scratch[:])
	n += copy(c.scratch[n:], payload)
	c.lastWnd = c.recvWindow()
	c.ackOwed, c.ackOwedN, c.ackNow = 0, 0, false
	c.lastSend = now
	c.s.write(c.scratch[:n], c.raddr)
}

// sackMask builds the selective ACK bitmask of what we hold past c.ack+1.
func (c *Conn) sackMask() []byte {
	var m [maxSACKBytes]byte
	last := -1
	for seq := range c.ooo {
		i := int(seq - c.ack - 2)
		if i < 0 || i >= 8*maxSACKBytes {
			continue
		}
		m[i/8] |= 1 << (i % 8)
		last = max(last, i)
	}
	if last < 0 {
		return nil
	}
	n := (last/8 + 4) / 4 * 4 // whole 32-bit words, as libutp expects
	return m[:n]
}

func (c *Conn) sendState(now time.Time) { c.send(stState, c.seq, nil, now) }

func (c *Conn) sendReset() {
	h := header{typ: stReset, connID: c.sendID, ts: c.s.micros(time.Now()), seq: c.seq, ack: c.ack}
	n := h.marshal(c.scratch[:])
	c.s.write(c.scratch[:n], c.raddr)
}

func (c *Conn) sendSyn(now time.Time) {
	c.queue(stSyn, nil)
	c.flush(now)
}

// queue appends a packet to the unacknowledged list, to be sent by flush.
func (c *Conn) queue(typ uint8, payload []byte) {
	p := &outPacket{seq: c.seq, typ: typ, payload: payload, resend: true}
	c.resendN++
	c.seq++
	c.out = append(c.out, p)
	c.outBytes += len(payload)
}

// window is how many bytes may be in flight.
func (c *Conn) window() int {
	return min(int(c.cwnd), int(c.peerWnd))
}

// flush sends what the window allows: retransmissions first, then new data,
// then our FIN once everything written went out. c.mu is held.
func (c *Conn) flush(now time.Time) {
	if c.state == stateDead {
		return
	}
	for i := 0; c.resendN > 0 && i < len(c.out); i++ {
		p := c.out[i]
		if !p.resend {
			continue
		}
		if c.inFlightN > 0 && c.inFlight+len(p.payload) > c.window() {
			return
		}
		c.transmit(p, now)
	}
	if c.state != stateConnected {
		return
	}
	for len(c.pending) > 0 {
		n := min(len(c.pending), maxPayload)
		if c.inFlightN > 0 && c.inFlight+n > c.window() {
			return
		}
		if c.inFlightN == 0 && n > int(c.peerWnd) {
			// The peer's window is shut: tick probes it after a timeout.
			if c.zeroWndAt.IsZero() {
				c.zeroWndAt = now.Add(c.rto)
			}
			return
		}
		payload := make([]byte, n)
		copy(payload, c.pending)
		c.pending = c.pending[n:]
		if len(c.pending) == 0 {
			c.pending = nil
		}
		c.queue(stData, payload)
		c.transmit(c.out[len(c.out)-1], now)
	}
	if c.shut && !c.finSent && len(c.pending) == 0 {
		c.finSent = true
		c.finSeq = c.seq
		c.queue(stFin, nil)
		c.transmit(c.out[len(c.out)-1], now)
	}
}

func (c *Conn) transmit(p *outPacket, now time.Time) {
	if c.inFlightN == 0 {
		c.rtoAt = now.Add(c.rto)
	}
	if p.resend {
		p.resend = false
		c.resendN--
	}
	p.sends++
	c.stats.PacketsSent++
	if p.sends > 1 {
		c.stats.Retransmits++
	}
	p.sentAt = now
	if !p.inFlights {
		p.inFlights = true
		c.inFlight += len(p.payload)
		c.inFlightN++
	}
	c.send(p.typ, p.seq, p.payload, now)
}

// uncount takes p out of the bytes in flight.
func (c *Conn) uncount(p *outPacket) {
	if p.inFlights {
		p.inFlights = false
		c.inFlight -= len(p.payload)
		c.inFlightN--
	}
}

// handle processes one packet for this connection. c.mu is held.
func (c *Conn) handle(h header, payload []byte, now time.Time) {
	if c.state == stateDead {
		return
	}
	if h.typ == stReset {
		c.fail(ErrReset)
		return
	}
	// Only acks of what we sent count; anything else is forged or stale.
	if seqLess(c.seq-1, h.ack) {
		return
	}
	switch c.state {
	case stateSynSent:
		if h.typ != stState && h.typ != stData {
			return // a DATA may overtake the SYN-ACK (its STATE)
		}
		c.ack = h.seq - 1
		c.state = stateConnected
		close(c.connected)
		// Let the acceptor know we are here even if we write nothing yet.
		defer c.sendState(now)
	case stateSynRecv:
		if h.typ == stSyn || h.ack != c.seq-1 {
			return
		}
		c.state = stateConnected
		close(c.connected)
		c.s.promote(c)
		if c.state == stateDead {
			return
		}
	}
	c.lastRecv = now
	c.replyMicro = c.s.micros(now) - h.ts
	c.rwndRTT(h.tsDiff)
	wndChanged := c.peerWnd != h.wnd
	c.peerWnd = h.wnd
	if c.peerWnd >= maxPayload {
		c.zeroWndAt = time.Time{}
	}
	c.onAck(h, wndChanged, now)
	if c.state == stateDead {
		return
	}
	if h.typ == stData || h.typ == stFin {
		c.onData(h, payload, now)
	}
	c.flush(now)
	if c.closed && c.finAcked && (c.gotFin || c.eof) {
		c.fail(net.ErrClosed)
	}
}

// onAck processes the cumulative and selective acks of h.
func (c *Conn) onAck(h header, wndChanged bool, now time.Time) {
	acked := 0
	newAck := false
	for len(c.out) > 0 && !seqLess(h.ack, c.out[0].seq) {
		p := c.out[0]
		c.out[0] = nil
		c.out = c.out[1:]
		newAck = true
		if !p.sacked {
			acked += len(p.payload)
		}
		c.uncount(p)
		c.outBytes -= len(p.payload)
		if p.sends == 1 && !p.sacked {
			c.rttSample(now.Sub(p.sentAt))
		}
		if p.resend {
			c.resendN--
		}
		if p.typ == stFin {
			c.finAcked = true
			c.finAckedAt = now
		}
	}
	if len(c.out) == 0 {
		c.out = nil
	}
	if newAck {
		c.timeouts = 0
		c.dupAcks = 0
		c.rtoAt = now.Add(c.rto)
		poke(c.writable)
	} else if h.ack == c.lastAck && h.typ == stState && len(c.out) > 0 && len(h.sack) == 0 && !wndChanged {
		// A duplicate ack (a window update is not one).
		c.dupAcks++
		if c.dupAcks == 3 {
			c.fastRetransmit(c.out[0], now)
		}
	}
	c.lastAck = h.ack
	// BEP 29 selective ack: bit i of the mask is packet ack+2+i.
	if len(h.sack) > 0 {
		later := 0 // packets acked selectively after the one looked at
		// c.out holds consecutive sequence numbers from c.out[0].seq, which
		// is h.ack+1 now: only the first 1+8*len(sack) can be in the mask.
		for i := min(len(c.out), 1+8*len(h.sack)) - 1; i >= 0; i-- {
			p := c.out[i]
			d := int(int16(p.seq - h.ack - 2))
			if d >= 0 && d < 8*len(h.sack) && h.sack[d/8]&(1<<(d%8)) != 0 {
				if !p.sacked {
					p.sacked = true
					acked += len(p.payload)
					c.uncount(p)
					if p.resend {
						p.resend = false
						c.resendN--
					}
					if p.sends == 1 {
						c.rttSample(now.Sub(p.sentAt))
					}
				}
				later++
				continue
			}
			if p.sacked {
				later++
			} else if later >= 3 && d >= -1 && p.sends > 0 && !p.fastRetx {
				c.fastRetransmit(p, now)
			}
		}
	}
	if acked > 0 && h.tsDiff != 0 {
		c.ledbat(acked, h.tsDiff, now)
	}
}

// fastRetransmit resends p at once, cutting the window once per round trip.
func (c *Conn) fastRetransmit(p *outPacket, now time.Time) {
	c.stats.FastRetransmits++
	p.fastRetx = true
	if !seqLess(p.seq, c.lossSeq) {
		c.cwnd = max(c.cwnd/2, minCwnd)
		c.ssthresh = c.cwnd
		c.lossSeq = c.seq
	}
	c.uncount(p)
	c.transmit(p, now)
}

func (c *Conn) rttSample(r time.Duration) {
	// RFC 6298.
	if c.srtt == 0 {
		c.srtt, c.rttVar = r, r/2
	} else {
		d := c.srtt - r
		if d < 0 {
			d = -d
		}
		c.rttVar = (3*c.rttVar + d) / 4
		c.srtt = (7*c.srtt + r) / 8
	}
	c.rto = min(max(c.srtt+4*c.rttVar, c.s.cfg.MinRTO), maxRTO)
}

const maxRTO = 60 * time.Second

// closeLinger bounds how long a closed connection goes on delivering what
// was written before it.
const closeLinger = 2 * time.Minute

// onData takes a DATA or FIN packet.
func (c *Conn) onData(h header, payload []byte, now time.Time) {
	if h.typ == stFin && !c.gotFin {
		c.gotFin = true
		c.eofSeq = h.seq
	}
	// A packet shorter than the sender's full ones ends its burst: nothing
	// more comes soon, so the ack and the reader's wake-up go at once.
	short := len(payload) < fullPayload
	d := h.seq - c.ack
	switch {
	case d == 0 || d > 0x8000:
		// A duplicate: ack again below.
	case c.gotFin && seqLess(c.eofSeq, h.seq):
		// Past the end of the stream.
	case d == 1:
		if c.rqBytes+len(payload) > c.s.cfg.RecvBuffer {
			break // no room: the sender will try again
		}
		c.deliver(payload)
		c.rwndReceive(len(payload), now)
		c.ack = h.seq
		for {
			next, ok := c.ooo[c.ack+1]
			if !ok {
				break
			}
			delete(c.ooo, c.ack+1)
			c.oooBytes -= len(next)
			c.deliver(next)
			c.ack++
			short = true // a hole filled: the reader waited for it
		}
		if c.wake && (short || c.rqBytes >= wakeBytes) {
			c.wakeNow = true
		}
		if c.gotFin && c.ack == c.eofSeq {
			c.eof = true
			poke(c.readable)
		}
		if len(c.ooo) == 0 && !c.eof {
			// In order: ack every second packet once the socket has read
			// what is queued (Socket.flushAcks), every maxAckDelay bytes,
			// at the end of the sender's burst, or within a tick.
			c.ackOwed += max(1, len(payload))
			c.ackOwedN++
			c.ackNow = c.ackNow || short
			if c.ackOwed < maxAckDelay {
				c.deferFlush()
				return
			}
		}
	case d < maxOOO:
		if _, ok := c.ooo[h.seq]; ok || len(payload)+maxPayload > c.recvWindow() {
			break
		}
		b := bytes.Clone(payload)
		c.ooo[h.seq] = b
		c.oooBytes += len(b)
		c.rwndReceive(len(b), now)
		c.rwndGap(h.seq, now)
	}
	c.sendState(now)
}

// deliver copies b into the queue for Read.
func (c *Conn) deliver(b []byte) {
	if len(b) == 0 {
		return
	}
	if c.closed {
		return // nobody will read it
	}
	c.rqBytes += len(b)
	for len(b) > 0 {
		if len(c.rq) == 0 || c.rq[len(c.rq)-1].w == chunkSize {
			c.rq = append(c.rq, chunk{buf: chunkPool.Get().(*[chunkSize]byte)})
		}
		last := &c.rq[len(c.rq)-1]
		n := copy(last.buf[last.w:], b)
		last.w += n
		b = b[n:]
	}
	// Wake the reader once the socket has read what is queued, and only
	// once enough came (onData sets c.wakeNow): one wake-up for a burst, not
	// one per packet.
	c.wake = true
	c.deferFlush()
}

// deferFlush queues c for Socket.flushAcks. c.mu is held.
func (c *Conn) deferFlush() {
	if !c.ackQueued {
		c.ackQueued = true
		c.s.deferAck(c)
	}
}

// flushDeferred sends a deferred ack and wakes a reader, unless both may
// wait for the next packet or tick. c.mu is held.
func (c *Conn) flushDeferred(now time.Time) {
	c.ackQueued = false
	if c.ackOwed > 0 && (c.ackOwedN >= ackEvery || c.ackNow) && c.state != stateDead {
		c.sendState(now)
	}
	if c.wake && c.wakeNow {
		c.wake, c.wakeNow = false, false
		poke(c.readable)
	}
}

const chunkSize = 64 << 10

// chunk is a piece of the receive queue: bytes [r, w) of buf are unread.
type chunk struct {
	buf  *[chunkSize]byte
	r, w int
}

var chunkPool = sync.Pool{New: func() any { return new([chunkSize]byte) }}

// readQueued copies queued bytes to p and returns drained chunks to the pool.
func (c *Conn) readQueued(p []byte) int {
	n := 0
	for n < len(p) && len(c.rq) > 0 {
		ch := &c.rq[0]
		k := copy(p[n:], ch.buf[ch.r:ch.w])
		n += k
		ch.r += k
		if ch.r == ch.w {
			chunkPool.Put(ch.buf)
			c.rq[0] = chunk{}
			c.rq = c.rq[1:]
		}
	}
	c.rqBytes -= n
	if len(c.rq) == 0 {
		c.rq = nil
	}
	return n
}

// tick runs the timers. c.mu is held.
func (c *Conn) tick(now time.Time) {
	cfg := &c.s.cfg
	switch c.state {
	case stateDead:
		return
	case stateSynRecv:
		if now.Sub(c.lastRecv) > cfg.HalfOpenTimeout {
			c.fail(ErrTimeout)
		}
		return
	}
	if now.Sub(c.lastRecv) > cfg.IdleTimeout {
		c.fail(ErrTimeout)
		return
	}
	if c.closed && c.finAcked && now.Sub(c.finAckedAt) > 2*c.rto+time.Second {
		c.fail(net.ErrClosed) // the peer's FIN did not come; enough
		return
	}
	if c.closed && now.Sub(c.closedAt) > closeLinger {
		// What was written could not all go (a peer that reads nothing):
		// give up on it rather than keep the connection forever.
		c.sendReset()
		c.fail(net.ErrClosed)
		return
	}
	if c.inFlightN > 0 && !now.Before(c.rtoAt) {
		c.timeout(now)
		if c.state == stateDead {
			return
		}
	}
	if !c.zeroWndAt.IsZero() && !now.Before(c.zeroWndAt) {
		c.zeroWndAt = time.Time{}
		c.peerWnd = maxPayload // probe a shut window with one packet
		c.flush(now)
	}
	if c.wake {
		c.wake, c.wakeNow = false, false
		poke(c.readable)
	}
	if c.ackOwed > 0 || c.state == stateConnected && now.Sub(c.lastSend) > cfg.KeepAlive {
		c.sendState(now)
	}
}

// timeout handles an expired retransmission timer: everything in flight is
// due again, the window drops to one packet and the timer backs off.
func (c *Conn) timeout(now time.Time) {
	if c.lastRecv.After(c.lastTimeout) && c.state == stateConnected {
		// The peer is alive (a shut window refusing our probe, say): only
		// timeouts in a row without a word from it count toward giving up.
		c.timeouts = 0
	}
	c.lastTimeout = now
	c.timeouts++
	c.stats.Timeouts++
	limit := c.s.cfg.MaxRetransmits
	if c.state == stateSynSent {
		limit = 2
	}
	if c.timeouts > limit {
		c.fail(ErrTimeout)
		return
	}
	c.ssthresh = max(c.cwnd/2, minCwnd)
	c.cwnd = maxPayload
	c.lossSeq = c.seq
	c.rto = min(2*c.rto, maxRTO)
	for _, p := range c.out {
		if p.sacked {
			continue
		}
		c.uncount(p)
		if !p.resend {
			p.resend = true
			c.resendN++
		}
	}
	c.rtoAt = now.Add(c.rto)
	c.flush(now)
}
