package peerconn

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/hyperblow/hyperblow/engine/wire"
	"io"
	"os"
)

// readLoop reads messages and delivers them to events until an error or Close, then
// waits for the writer to stop and delivers Closed — so Closed is the last event and
// the Conn's goroutines are gone once the owner has received it.
func (c *Conn) readLoop(events chan<- Event) {
	defer func() {
		<-c.writerDone
		events <- Closed{Conn: c, Err: c.Err()}
	}()
	lim := c.rd.Limits()
	for {
		if n := int(c.numPieces.Load()); n != lim.NumPieces {
			lim.NumPieces = n
			c.rd.SetLimits(lim)
		}
		m, err := c.rd.ReadMessage()
		if err != nil {
			c.Close(c.readErr(err))
			return
		}
		if m.Keepalive || !m.ID.Known() && !wire.IsHashMessage(m.ID) {
			continue // the read itself refreshed the idle deadline
		}
		if len(m.Payload) > 0 {
			// The Reader's buffer is reused by the next read: the owner gets a copy.
			if m.ID == wire.Piece && c.cfg.BlockAlloc != nil {
				b := c.cfg.BlockAlloc(len(m.Payload))
				copy(b, m.Payload)
				m.Payload = b
			} else {
				m.Payload = bytes.Clone(m.Payload)
			}
		}
		select {
		case events <- Msg{Conn: c, M: m}:
		case <-c.done:
			return
		}
	}
}

func (c *Conn) readErr(err error) error {
	switch {
	case errors.Is(err, io.EOF):
		return ErrPeerClosed
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("%w: nothing received for %v", ErrIdle, c.cfg.IdleTimeout)
	}
	return fmt.Errorf("peerconn: read from %v: %w", c.nc.RemoteAddr(), err)
}
