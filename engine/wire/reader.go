package wire

import (
	"encoding/binary"
	"errors"
	"io"

	"github.com/hyperblow/hyperblow/engine/bt"
)

// minBufSize is the smallest Reader buffer: room for a 16 KiB PIECE and the
// messages that arrive with it, so the common case needs one copy-free parse.
const minBufSize = 32 << 10

// largeChunk is the first allocation, and the growth step's floor, for a message that
// does not fit the buffer. A peer that announces 1 MiB and sends 5 bytes costs 64 KiB,
// not 1 MiB; memory follows the bytes that actually arrive.
const largeChunk = 64 << 10

// maxEmptyReads is how many (0, nil) reads in a row are taken as a broken reader.
const maxEmptyReads = 100

// Reader reads a handshake and then messages from an io.Reader, one at a time. It
// reads ahead into its buffer as far as the source allows, so one read of a socket
// may serve many messages, and bytes that arrived with the handshake are kept for
// the first message. A message too large for the buffer (a big BITFIELD or EXTENDED)
// is read into a separate slice that grows as its bytes arrive.
//
// A Reader is not safe for concurrent use. After any error it returns that error
// forever. Every Message it returns aliases its buffers and is valid only until the
// next call on the Reader.
type Reader struct {
	src    io.Reader
	lim    Limits
	buf    []byte
	r, w   int   // buf[r:w] holds bytes read but not consumed
	srcErr error // error from src, reported once the buffered bytes are used up
	err    error // sticky protocol error
}

// NewReader returns a Reader over src enforcing lim.
func NewReader(src io.Reader, lim Limits) *Reader {
	return &Reader{src: src, lim: lim, buf: make([]byte, bufSize(lim))}
}

// bufSize leaves room for two maximal PIECE messages, and at least minBufSize,
// rounded up to whole 8 KiB pages since the allocator would round it anyway.
func bufSize(lim Limits) int {
	n := max(minBufSize, 2*(4+9+int(lim.maxBlockLen())))
	return (n + 8<<10 - 1) &^ (8<<10 - 1)
}

// Limits returns the limits in force.
func (r *Reader) Limits() Limits { return r.lim }

// SetLimits changes the limits for the following messages, e.g. once a listener has
// looked up the torrent, or once a magnet link's metadata gives the piece count.
func (r *Reader) SetLimits(lim Limits) {
	r.lim = lim
	if n := bufSize(lim); n > len(r.buf) {
		buf := make([]byte, n)
		r.w = copy(buf, r.buf[r.r:r.w])
		r.r = 0
		r.buf = buf
	}
}

// Buffered returns the number of bytes read from the source but not yet consumed.
func (r *Reader) Buffered() int { return r.w - r.r }

// ReadHandshake reads a whole BEP 3 handshake.
func (r *Reader) ReadHandshake() (Handshake, error) {
	h, err := readFixed(r, HandshakeLen, ParseHandshake)
	if err != nil {
		return Handshake{}, err
	}
	r.r += HandshakeLen
	return h, nil
}

// ReadHandshakeHeader reads the handshake through the info-hash ([HandshakeHeaderLen]
// bytes); the returned PeerID is zero. A listener calls it, looks the torrent up and
// sends its own handshake, then calls [Reader.ReadPeerID].
func (r *Reader) ReadHandshakeHeader() (Handshake, error) {
	h, err := readFixed(r, HandshakeHeaderLen, ParseHandshakeHeader)
	if err != nil {
		return Handshake{}, err
	}
	r.r += HandshakeHeaderLen
	return h, nil
}

// ReadPeerID reads the 20-byte peer id that ends a handshake whose header was read
// with [Reader.ReadHandshakeHeader].
func (r *Reader) ReadPeerID() (bt.PeerID, error) {
	id, err := readFixed(r, len(bt.PeerID{}), func(b []byte) (bt.PeerID, error) {
		var id bt.PeerID
		if len(b) < len(id) {
			return id, ErrShort
		}
		copy(id[:], b)
		return id, nil
	})
	if err != nil {
		return bt.PeerID{}, err
	}
	r.r += len(id)
	return id, nil
}

// readFixed fills the buffer until parse, given the buffered bytes, stops returning
// ErrShort; parse sees at most n bytes. The caller consumes n bytes on success.
func readFixed[T any](r *Reader, n int, parse func([]byte) (T, error)) (T, error) {
	var zero T
	if r.err != nil {
		return zero, r.err
	}
	for {
		v, err := parse(r.buf[r.r:min(r.w, r.r+n)])
		if err == nil {
			return v, nil
		}
		if !errors.Is(err, ErrShort) {
			r.err = err
			return zero, err
		}
		if err := r.fill(n); err != nil {
			if errors.Is(err, io.EOF) && r.Buffered() > 0 {
				err = io.ErrUnexpectedEOF
			}
			r.err = err
			return zero, err
		}
	}
}

// ReadMessage returns the next message. At a clean end of stream between messages it
// returns io.EOF; in the middle of one, io.ErrUnexpectedEOF. The Message (its Payload
// in particular) is valid until the next call on r.
func (r *Reader) ReadMessage() (Message, error) {
	if r.err != nil {
		return Message{}, r.err
	}
	for {
		m, n, err := Parse(r.buf[r.r:r.w], r.lim)
		if err == nil {
			r.r += n
			return m, nil
		}
		if !errors.Is(err, ErrShort) {
			r.err = err
			return Message{}, err
		}
		need := 5 // enough for Parse to check the length against the id
		if avail := r.w - r.r; avail >= 5 {
			// Parse has accepted the length prefix for this id.
			need = 4 + int(binary.BigEndian.Uint32(r.buf[r.r:]))
		}
		if need > len(r.buf) {
			return r.readLarge(need)
		}
		if err := r.fill(need); err != nil {
			if errors.Is(err, io.EOF) && r.Buffered() > 0 {
				err = io.ErrUnexpectedEOF
			}
			r.err = err
			return Message{}, err
		}
	}
}

// readLarge reads a message of need bytes (length prefix included, already checked
// by Parse) that does not fit the buffer. It never reads past the message, so the
// buffer simply starts empty afterwards.
func (r *Reader) readLarge(need int) (Message, error) {
	avail := r.w - r.r
	big := make([]byte, avail, min(need, max(avail, largeChunk)))
	copy(big, r.buf[r.r:r.w])
	r.r, r.w = 0, 0
	for len(big) < need {
		if len(big) == cap(big) {
			next := min(need, 2*cap(big))
			grown := make([]byte, len(big), next)
			copy(grown, big)
			big = grown
		}
		n, err := r.read(big[len(big):cap(big)])
		big = big[:len(big)+n]
		if err != nil && len(big) < need {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			r.err = err
			return Message{}, err
		}
	}
	m, _, err := Parse(big, r.lim)
	if err != nil { // cannot happen: the header was checked and the size is exact
		r.err = err
		return Message{}, err
	}
	return m, nil
}

// fill reads at least one more byte into the buffer, first making room so that need
// bytes from r.r fit (need <= len(r.buf)).
func (r *Reader) fill(need int) error {
	if r.r+need > len(r.buf) || r.w == len(r.buf) {
		r.w = copy(r.buf, r.buf[r.r:r.w])
		r.r = 0
	}
	n, err := r.read(r.buf[r.w:])
	r.w += n
	if n > 0 {
		return nil
	}
	return err
}

// read reads from the source into p, returning n > 0 or an error. An error that comes
// with bytes is kept and returned by the next call, once those bytes are used.
func (r *Reader) read(p []byte) (int, error) {
	if r.srcErr != nil {
		return 0, r.srcErr
	}
	for range maxEmptyReads {
		n, err := r.src.Read(p)
		if n < 0 || n > len(p) {
			return 0, errors.New("wire: source returned an invalid count from Read")
		}
		if err != nil {
			r.srcErr = err
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		if n > 0 {
			return n, nil
		}
	}
	return 0, io.ErrNoProgress
}
