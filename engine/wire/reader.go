package wire

import (
	"encoding/binary"
	"errors"
	"io"
	"sync"

	"github.com/hyperblow/hyperblow/engine/bt"
)

// minBufSize is the smallest large buffer: room for a 16 KiB PIECE and the messages
// that arrive with it, so the common case needs one copy-free parse.
const minBufSize = 32 << 10

// smallBufSize is the buffer a Reader holds while its large buffer is empty: the
// keep-alives, HAVEs and short control messages of a quiet connection fit, and a
// Reader blocked on a silent socket holds no more than this.
const smallBufSize = 512

// largeChunk is the first allocation, and the growth step's floor, for a message that
// does not fit the buffer. A peer that announces 1 MiB and sends 5 bytes costs 64 KiB,
// not 1 MiB; memory follows the bytes that actually arrive.
const largeChunk = 64 << 10

// maxEmptyReads is how many (0, nil) reads in a row are taken as a broken reader.
const maxEmptyReads = 100

// pooledBufSize is the large buffer's size under the default limits; buffers of this
// size are shared by all Readers through bigBufs.
var pooledBufSize = bufSize(Limits{})

// bigBufs holds large buffers (*[]byte of pooledBufSize bytes) that no Reader holds.
var bigBufs sync.Pool

// Reader reads a handshake and then messages from an io.Reader, one at a time. It
// reads ahead into its buffer as far as the source allows, so one read of a socket
// may serve many messages, and bytes that arrived with the handshake are kept for
// the first message. A message too large for the buffer (a big BITFIELD or EXTENDED)
// is read into a separate slice that grows as its bytes arrive.
//
// Its large buffer (about 40 KiB) is held only while bytes are buffered: when a read
// would start on an empty buffer, the Reader hands it back to a pool shared by all
// Readers and reads into a small one, taking a large one again when a message does
// not fit. So the many connections of an idle client, each waiting on its socket,
// hold a few hundred bytes each. A read that filled the large buffer keeps it: the
// source has more at once, and a busy connection does not swap buffers.
//
// A Reader is not safe for concurrent use. After any error it returns that error
// forever. Every Message it returns aliases its buffers and is valid only until the
// next call on the Reader.
type Reader struct {
	src     io.Reader
	lim     Limits
	bigSize int     // bufSize(lim): the large buffer's size
	buf     []byte  // small or *big
	small   []byte  // smallBufSize bytes, held for the Reader's life
	big     *[]byte // the large buffer while held; nil while buf is small
	r, w    int     // buf[r:w] holds bytes read but not consumed
	full    bool    // the last read filled all the room it was given
	srcErr  error   // error from src, reported once the buffered bytes are used up
	err     error   // sticky protocol error
}

// NewReader returns a Reader over src enforcing lim.
func NewReader(src io.Reader, lim Limits) *Reader {
	small := make([]byte, smallBufSize)
	return &Reader{src: src, lim: lim, bigSize: bufSize(lim), buf: small, small: small}
}

// bufSize leaves room for two maximal PIECE messages, and at least minBufSize,
// rounded up to whole 8 KiB pages since the allocator would round it anyway.
func bufSize(lim Limits) int {
	n := max(minBufSize, 2*(4+9+int(lim.maxBlockLen())))
	return (n + 8<<10 - 1) &^ (8<<10 - 1)
}

// takeBig moves the buffered bytes into a large buffer, from the pool when its size
// is the pooled one.
func (r *Reader) takeBig() {
	var b *[]byte
	if r.bigSize == pooledBufSize {
		b, _ = bigBufs.Get().(*[]byte)
	}
	if b == nil {
		s := make([]byte, r.bigSize)
		b = &s
	}
	r.w = copy(*b, r.buf[r.r:r.w])
	r.r = 0
	old := r.big
	r.buf, r.big = *b, b
	if old != nil { // a larger size replaced it (SetLimits)
		putBig(old)
	}
}

// dropBig hands the large buffer back and reads into the small one; the buffer must
// be empty.
func (r *Reader) dropBig() {
	if r.big == nil {
		return
	}
	putBig(r.big)
	r.big, r.buf, r.r, r.w = nil, r.small, 0, 0
}

func putBig(b *[]byte) {
	if len(*b) == pooledBufSize {
		bigBufs.Put(b)
	}
}

// fail records the sticky error err and returns it; the buffers are no longer needed.
func (r *Reader) fail(err error) error {
	r.err = err
	r.r, r.w = 0, 0
	r.dropBig()
	return err
}

// Limits returns the limits in force.
func (r *Reader) Limits() Limits { return r.lim }

// SetLimits changes the limits for the following messages, e.g. once a listener has
// looked up the torrent, or once a magnet link's metadata gives the piece count.
func (r *Reader) SetLimits(lim Limits) {
	r.lim = lim
	if n := bufSize(lim); n > r.bigSize {
		r.bigSize = n
		if r.big != nil {
			r.takeBig()
		}
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
			return zero, r.fail(err)
		}
		if err := r.fill(n); err != nil {
			if errors.Is(err, io.EOF) && r.Buffered() > 0 {
				err = io.ErrUnexpectedEOF
			}
			return zero, r.fail(err)
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
			return Message{}, r.fail(err)
		}
		need := 5 // enough for Parse to check the length against the id
		if avail := r.w - r.r; avail >= 5 {
			// Parse has accepted the length prefix for this id.
			need = 4 + int(binary.BigEndian.Uint32(r.buf[r.r:]))
		}
		if need > r.bigSize {
			return r.readLarge(need)
		}
		if err := r.fill(need); err != nil {
			if errors.Is(err, io.EOF) && r.Buffered() > 0 {
				err = io.ErrUnexpectedEOF
			}
			return Message{}, r.fail(err)
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
	r.dropBig()
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
			return Message{}, r.fail(err)
		}
	}
	m, _, err := Parse(big, r.lim)
	if err != nil { // cannot happen: the header was checked and the size is exact
		return Message{}, r.fail(err)
	}
	return m, nil
}

// fill reads at least one more byte into the buffer, first making room so that need
// bytes from r.r fit (need <= r.bigSize). On an empty buffer it reads into the small
// one unless the last read filled its room; it takes the large one when need does
// not fit the small one, or when the last read filled the small one (a stream of
// small messages, such as a leecher's REQUESTs, is read in large reads too).
func (r *Reader) fill(need int) error {
	if r.r == r.w {
		r.r, r.w = 0, 0
		if !r.full {
			r.dropBig()
		}
	}
	if need > len(r.buf) || r.full && r.big == nil {
		r.takeBig()
	} else if r.r+need > len(r.buf) || r.w == len(r.buf) {
		r.w = copy(r.buf, r.buf[r.r:r.w])
		r.r = 0
	}
	n, err := r.read(r.buf[r.w:])
	r.full = r.w+n == len(r.buf)
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
