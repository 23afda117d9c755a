package peerconn

import (
	"net"
	"sync/atomic"
	"time"
)

// deadlineReader counts the bytes read from a net.Conn and, once armed, pushes the
// read deadline idle ahead before every Read, so a peer is closed after idle of
// silence however long the reader goroutine spent delivering to the owner.
type deadlineReader struct {
	nc   net.Conn
	n    *atomic.Int64
	idle time.Duration // 0 while handshaking: the handshake deadline stands
}

func (r *deadlineReader) Read(p []byte) (int, error) {
	if r.idle > 0 {
		if err := r.nc.SetReadDeadline(time.Now().Add(r.idle)); err != nil {
			return 0, err
		}
	}
	n, err := r.nc.Read(p)
	r.n.Add(int64(n))
	return n, err
}

// deadlineWriter counts the bytes written and, once armed, gives every Write its own
// deadline: a slow peer may take long for a big batch, but not stall for timeout.
type deadlineWriter struct {
	nc      net.Conn
	n       *atomic.Int64
	timeout time.Duration // 0 while handshaking
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	if w.timeout > 0 {
		if err := w.nc.SetWriteDeadline(time.Now().Add(w.timeout)); err != nil {
			return 0, err
		}
	}
	n, err := w.nc.Write(p)
	w.n.Add(int64(n))
	return n, err
}
