package mse

import (
	"bufio"
	"crypto/rc4"
	"net"
	"sync"
)

// Conn is a net.Conn carrying the payload stream after the handshake: through RC4
// when RC4 was selected, as is when Plaintext was. Bytes the handshake read ahead
// (and the receiver's IA) are returned first. Deadlines and Close act on the
// underlying connection.
type Conn struct {
	net.Conn
	method Method
	skey   [20]byte

	rmu     sync.Mutex
	pending []byte      // plaintext to return before reading the socket
	dec     *rc4.Cipher // nil: plaintext

	wmu  sync.Mutex
	enc  *rc4.Cipher // nil: plaintext
	wbuf []byte
}

func newConn(nc net.Conn, br *bufio.Reader, m Method, enc, dec *rc4.Cipher, skey [20]byte, ia []byte) *Conn {
	ahead, _ := br.Peek(br.Buffered()) // never fails for Buffered bytes
	if m != RC4 {
		enc, dec = nil, nil
	}
	pending := append(ia, ahead...)
	if dec != nil {
		dec.XORKeyStream(pending[len(ia):], pending[len(ia):])
	}
	if len(pending) == 0 {
		pending = nil
	}
	return &Conn{Conn: nc, method: m, skey: skey, pending: pending, enc: enc, dec: dec}
}

// Method returns the selected method: RC4 or Plaintext.
func (c *Conn) Method() Method { return c.method }

// SKEY returns the info-hash the handshake was for.
func (c *Conn) SKEY() [20]byte { return c.skey }

// Read reads and, with RC4, decrypts.
func (c *Conn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	n, err := c.Conn.Read(p)
	if c.dec != nil && n > 0 {
		c.dec.XORKeyStream(p[:n], p[:n])
	}
	return n, err
}

// writeChunk bounds the encryption buffer.
const writeChunk = 64 << 10

// Write encrypts with RC4 (into its own buffer: p is not modified) and writes.
func (c *Conn) Write(p []byte) (int, error) {
	if c.enc == nil {
		return c.Conn.Write(p)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var done int
	for len(p) > 0 {
		chunk := p[:min(len(p), writeChunk)]
		if cap(c.wbuf) < len(chunk) {
			c.wbuf = make([]byte, min(writeChunk, max(len(chunk), 4<<10)))
		}
		buf := c.wbuf[:len(chunk)]
		c.enc.XORKeyStream(buf, chunk)
		n, err := c.Conn.Write(buf)
		done += n
		if err != nil {
			// The key stream has moved past bytes not sent: the stream is
			// broken, as any write error leaves a net.Conn.
			return done, err
		}
		p = p[len(chunk):]
	}
	return done, nil
}
