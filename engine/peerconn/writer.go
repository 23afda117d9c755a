package peerconn

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/hyperblow/hyperblow/engine/wire"
)

// writeBufSize is the writer's batch buffer: a few blocks per write system call.
const writeBufSize = 64 << 10

// Send queues m for the peer and returns at once. It returns false if the Conn is
// closed, or if m made the queue exceed its bound — the Conn is then closed with
// ErrSendQueueOverflow, since a peer that does not read must not stall its owner.
// m.Payload is retained until written and must not be modified.
func (c *Conn) Send(m wire.Message) bool {
	n := m.EncodedLen()
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return false
	}
	c.queue = append(c.queue, m)
	c.queuedBytes += n
	msgs, bytes := len(c.queue), c.queuedBytes
	c.mu.Unlock()
	if bytes > c.cfg.MaxQueueBytes || msgs > c.cfg.MaxQueueLen {
		c.Close(fmt.Errorf("%w: %d messages, %d bytes queued (bounds %d, %d)",
			ErrSendQueueOverflow, msgs, bytes, c.cfg.MaxQueueLen, c.cfg.MaxQueueBytes))
		return false
	}
	select {
	case c.wake <- struct{}{}:
	default: // the writer has been woken already
	}
	return true
}

// CancelQueued removes the queued, not yet written, messages for which drop returns
// true, and returns how many it removed: a CANCEL can take back a queued PIECE, a
// choke can drop queued PIECEs, a withdrawn want can drop queued REQUESTs. drop runs
// under the Conn's lock and must not call methods of the Conn.
func (c *Conn) CancelQueued(drop func(wire.Message) bool) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	kept := c.queue[:0]
	bytes := 0
	for _, m := range c.queue {
		if !drop(m) {
			kept = append(kept, m)
			bytes += m.EncodedLen()
		}
	}
	removed := len(c.queue) - len(kept)
	clear(c.queue[len(kept):])
	c.queue, c.queuedBytes = kept, bytes
	return removed
}

// NotifyDrain sets where drain notices go: once armed with ArmDrain, the writer
// sends c on ch, without blocking, after it has written its next batch. The owner
// can then top up the send queue from requests it holds back (so that what is
// queued stays small while a peer may ask for much). A notice is dropped when ch
// is full; the owner must also poll. Call it before Start.
func (c *Conn) NotifyDrain(ch chan<- *Conn) { c.drain = ch }

// ArmDrain asks for one drain notice (see NotifyDrain).
func (c *Conn) ArmDrain() { c.drainArmed.Store(true) }

// Queued returns the number of messages and encoded bytes waiting in the send queue
// (not counting a batch the writer is writing).
func (c *Conn) Queued() (msgs, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue), c.queuedBytes
}

// writeBufs holds the writers' batch buffers.
var writeBufs = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, writeBufSize) }}

// writeLoop takes everything queued, writes it as one buffered batch, and repeats;
// after KeepaliveInterval without writing it writes a keep-alive.
func (c *Conn) writeLoop() {
	defer close(c.writerDone)
	keepalive := time.NewTimer(c.cfg.KeepaliveInterval)
	defer keepalive.Stop()
	var spare []wire.Message // the previous batch's array, reused as the next queue
	for {
		idle := false
		select {
		case <-c.done:
			return
		case <-c.wake:
		case <-keepalive.C:
			idle = true
		}
		c.mu.Lock()
		batch := c.queue
		c.queue, c.queuedBytes = spare[:0], 0
		c.mu.Unlock()
		if len(batch) == 0 && !idle {
			spare = batch
			continue
		}
		if len(batch) == 0 {
			batch = append(batch, wire.Message{Keepalive: true})
		}
		// The 64 KiB buffer is the pool's between batches: an idle connection
		// (most of them, with many torrents) holds none.
		bw := writeBufs.Get().(*bufio.Writer)
		bw.Reset(c.out)
		err := c.writeBatch(bw, batch)
		bw.Reset(nil) // what an error left in it is dropped with the connection
		writeBufs.Put(bw)
		clear(batch)
		spare = batch
		if err != nil {
			c.Close(c.writeErr(err))
			return
		}
		keepalive.Reset(c.cfg.KeepaliveInterval)
		if d := c.drain; d != nil && c.drainArmed.Swap(false) {
			select {
			case d <- c:
			default: // the owner's channel is full: it also polls
			}
		}
	}
}

func (c *Conn) writeBatch(bw *bufio.Writer, batch []wire.Message) error {
	for _, m := range batch {
		var err error
		if !m.Keepalive && m.ID == wire.Piece {
			if lim := c.cfg.UploadLimiter; lim != nil {
				if err := bw.Flush(); err != nil {
					return err
				}
				if !lim.Take(len(m.Payload), c.done) {
					return ErrClosed
				}
			}
			// The block goes from the caller's buffer to the socket with no copy
			// into a message; bufio writes a large one straight through.
			if _, err = bw.Write(wire.AppendPieceHeader(bw.AvailableBuffer(), m.Index, m.Begin, len(m.Payload))); err == nil {
				_, err = bw.Write(m.Payload)
			}
		} else {
			_, err = bw.Write(wire.AppendMessage(bw.AvailableBuffer(), m))
		}
		if err != nil {
			return err
		}
	}
	return bw.Flush()
}

func (c *Conn) writeErr(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w: no progress for %v", ErrWriteStalled, c.cfg.WriteTimeout)
	}
	return fmt.Errorf("peerconn: write to %v: %w", c.nc.RemoteAddr(), err)
}
