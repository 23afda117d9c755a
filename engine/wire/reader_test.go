package wire

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"
	"testing/iotest"
)

// sampleStream is a handshake followed by every sample message, a message too large
// for the Reader's buffer, and a bitfield right after the handshake, as real clients
// send them (often in one TCP segment).
func sampleStream(t testing.TB) ([]byte, []Message) {
	msgs := sampleMessages()
	big := Message{ID: Extended, ExtID: 1, Payload: bytes.Repeat([]byte("x"), 300<<10)}
	msgs = append(msgs[:1:1], append(msgs[1:], big, Message{ID: Have, Index: 1})...)
	// The bitfield first, then the rest.
	for i, m := range msgs {
		if m.ID == Bitfield && !m.Keepalive {
			msgs[0], msgs[i] = msgs[i], msgs[0]
		}
	}
	b := AppendHandshake(nil, testHandshake())
	for _, m := range msgs {
		b = AppendMessage(b, m)
	}
	return b, msgs
}

func readAll(t *testing.T, src io.Reader, want []Message) {
	t.Helper()
	r := NewReader(src, sampleLimits)
	h, err := r.ReadHandshake()
	if err != nil || h != testHandshake() {
		t.Fatalf("ReadHandshake = %+v, %v", h, err)
	}
	for i, w := range want {
		m, err := r.ReadMessage()
		if err != nil {
			t.Fatalf("message %d (%v): %v", i, w, err)
		}
		if !sameMessage(m, w) {
			t.Fatalf("message %d = %v, want %v", i, m, w)
		}
	}
	if m, err := r.ReadMessage(); err != io.EOF {
		t.Fatalf("after the last message: %v, %v; want io.EOF", m, err)
	}
	if _, err := r.ReadMessage(); err != io.EOF {
		t.Fatalf("error is not sticky: %v", err)
	}
}

func TestReaderFraming(t *testing.T) {
	stream, want := sampleStream(t)
	t.Run("all at once", func(t *testing.T) { readAll(t, bytes.NewReader(stream), want) })
	t.Run("byte by byte", func(t *testing.T) { readAll(t, iotest.OneByteReader(bytes.NewReader(stream)), want) })
	t.Run("halves", func(t *testing.T) { readAll(t, iotest.HalfReader(bytes.NewReader(stream)), want) })
	t.Run("EOF with data", func(t *testing.T) { readAll(t, iotest.DataErrReader(bytes.NewReader(stream)), want) })
	t.Run("odd chunks", func(t *testing.T) {
		readAll(t, &chunkReader{b: stream, sizes: []int{1, 67, 3, 70, 5, 16000, 7, 40000}}, want)
	})
}

// chunkReader returns its bytes in reads of the given sizes, cycling.
type chunkReader struct {
	b     []byte
	sizes []int
	i     int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(c.b), c.sizes[c.i%len(c.sizes)])
	c.i++
	copy(p, c.b[:n])
	c.b = c.b[n:]
	return n, nil
}

// TestReaderHeaderThenPeerID reads the way a listener does: header, then (after
// answering) the peer id; the bitfield that came in the same segment is not lost.
func TestReaderHeaderThenPeerID(t *testing.T) {
	h := testHandshake()
	bf := Message{ID: Bitfield, Payload: make([]byte, 13)}
	in := AppendMessage(AppendHandshake(nil, h), bf)
	for _, src := range []io.Reader{bytes.NewReader(in), iotest.OneByteReader(bytes.NewReader(in))} {
		r := NewReader(src, Limits{})
		hdr, err := r.ReadHandshakeHeader()
		if err != nil || hdr.InfoHash != h.InfoHash || hdr.Reserved != h.Reserved {
			t.Fatalf("ReadHandshakeHeader = %+v, %v", hdr, err)
		}
		r.SetLimits(sampleLimits) // the listener now knows the torrent
		id, err := r.ReadPeerID()
		if err != nil || id != h.PeerID {
			t.Fatalf("ReadPeerID = %v, %v", id, err)
		}
		m, err := r.ReadMessage()
		if err != nil || !sameMessage(m, bf) {
			t.Fatalf("ReadMessage = %v, %v; want %v", m, err, bf)
		}
	}
}

func TestReaderBadProtocol(t *testing.T) {
	// The source fails if read past the first bytes: the stranger is refused early.
	src := io.MultiReader(bytes.NewReader([]byte("GET / HTTP/1.1\r\n")), iotest.ErrReader(errors.New("read too far")))
	r := NewReader(iotest.OneByteReader(src), Limits{})
	if _, err := r.ReadHandshakeHeader(); !errors.Is(err, ErrBadProtocol) {
		t.Fatalf("got %v, want ErrBadProtocol", err)
	}
}

func TestReaderEOF(t *testing.T) {
	msg := AppendHave(nil, 1)
	for _, c := range []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, io.EOF},
		{"between messages", msg, io.EOF},
		{"inside a message", append(msg, msg[:6]...), io.ErrUnexpectedEOF},
		{"inside a large message", frame(200<<10, Extended, 1, 2, 3), io.ErrUnexpectedEOF},
	} {
		r := NewReader(bytes.NewReader(c.in), Limits{})
		var err error
		for err == nil {
			_, err = r.ReadMessage()
		}
		if err != c.want {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	r := NewReader(bytes.NewReader(AppendHandshake(nil, testHandshake())[:30]), Limits{})
	if _, err := r.ReadHandshake(); err != io.ErrUnexpectedEOF {
		t.Errorf("truncated handshake: %v", err)
	}
}

func TestReaderProtocolErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		in   []byte
		want error
	}{
		{"too long", frame(DefaultMaxMessageLen+1, Extended), ErrMessageTooLong},
		{"bad length", frame(6, Have, 0, 0, 0, 0, 0), ErrBadLength},
		{"index", AppendHave(nil, 100), ErrIndexOutOfRange},
	} {
		// After the bad header the source fails: the error must come from the header.
		src := io.MultiReader(bytes.NewReader(AppendHave(c.in[:0:0], 1)), bytes.NewReader(c.in), iotest.ErrReader(errors.New("read too far")))
		r := NewReader(iotest.OneByteReader(src), sampleLimits)
		if _, err := r.ReadMessage(); err != nil {
			t.Fatalf("%s: first message: %v", c.name, err)
		}
		_, err := r.ReadMessage()
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
		if _, again := r.ReadMessage(); again != err {
			t.Errorf("%s: error not sticky: %v", c.name, again)
		}
	}
}

// TestReaderAllocationBound: a peer that announces a message at the cap and sends a
// few bytes costs a small constant, not the announced size.
func TestReaderAllocationBound(t *testing.T) {
	in := frame(DefaultMaxMessageLen, Extended, 1, 2, 3)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const runs = 20
	for range runs {
		r := NewReader(bytes.NewReader(in), Limits{})
		if _, err := r.ReadMessage(); err != io.ErrUnexpectedEOF {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	per := (after.TotalAlloc - before.TotalAlloc) / runs
	if limit := uint64(bufSize(Limits{}) + largeChunk + 4096); per > limit {
		t.Fatalf("allocated %d bytes per truncated 1 MiB message, want <= %d", per, limit)
	}
}

func TestReaderLargeMessageExact(t *testing.T) {
	// A message at exactly the cap, followed by another: nothing is read past it.
	big := Message{ID: Extended, ExtID: 2, Payload: bytes.Repeat([]byte{7}, DefaultMaxMessageLen-2)}
	in := AppendHave(AppendMessage(nil, big), 3)
	r := NewReader(&chunkReader{b: in, sizes: []int{4096, 100000, 1}}, sampleLimits)
	m, err := r.ReadMessage()
	if err != nil || !sameMessage(m, big) {
		t.Fatalf("big: %v, %v", m, err)
	}
	if m, err := r.ReadMessage(); err != nil || m.ID != Have || m.Index != 3 {
		t.Fatalf("after big: %v, %v", m, err)
	}
}

// waitingReads records the size of every Read that finds its source empty: the
// buffer a Reader holds while it waits on a quiet socket.
type waitingReads struct {
	chunks  [][]byte // each Read returns the next chunk whole (the buffer must fit it)
	waiting []int    // len(p) of each Read after the chunks are used up
}

func (w *waitingReads) Read(p []byte) (int, error) {
	if len(w.chunks) == 0 {
		w.waiting = append(w.waiting, len(p))
		return 0, io.EOF
	}
	n := copy(p, w.chunks[0])
	if n < len(w.chunks[0]) {
		w.chunks[0] = w.chunks[0][n:]
	} else {
		w.chunks = w.chunks[1:]
	}
	return n, nil
}

// TestReaderIdleHoldsSmallBuffer: after a burst of PIECEs (which needs the large
// buffer), a Reader waiting on its source between messages reads into its small
// buffer, so an idle connection holds no large one; and it still reads the next
// burst correctly.
func TestReaderIdleHoldsSmallBuffer(t *testing.T) {
	block := bytes.Repeat([]byte{5}, 1<<14)
	var burst []byte
	for i := range 3 {
		burst = AppendMessage(burst, Message{ID: Piece, Index: uint32(i), Payload: block})
	}
	for _, tc := range []struct {
		name   string
		chunks [][]byte
	}{
		{"burst then quiet", [][]byte{burst}},
		{"burst, keep-alive, quiet", [][]byte{burst, AppendMessage(nil, Message{Keepalive: true})}},
		{"HAVE then quiet", [][]byte{AppendHave(nil, 1)}},
	} {
		src := &waitingReads{chunks: tc.chunks}
		r := NewReader(src, sampleLimits)
		var err error
		for err == nil {
			_, err = r.ReadMessage()
		}
		if err != io.EOF {
			t.Fatalf("%s: %v, want io.EOF", tc.name, err)
		}
		if len(src.waiting) != 1 || src.waiting[0] > smallBufSize {
			t.Errorf("%s: waited with buffers of %v bytes, want one of <= %d", tc.name, src.waiting, smallBufSize)
		}
	}
}

// TestReaderBusyKeepsLargeBuffer: while every read fills the room it is given (the
// source has more at once), the Reader reads into its large buffer, never the small
// one: a busy connection does not pay an extra read per message.
func TestReaderBusyKeepsLargeBuffer(t *testing.T) {
	block := bytes.Repeat([]byte{5}, 1<<14)
	var stream []byte
	for i := range 64 {
		stream = AppendMessage(stream, Message{ID: Piece, Index: uint32(i % 10), Payload: block})
	}
	src := &sizeRecorder{r: bytes.NewReader(stream)}
	r := NewReader(src, sampleLimits)
	for i := range 64 {
		if m, err := r.ReadMessage(); err != nil || m.ID != Piece || !bytes.Equal(m.Payload, block) {
			t.Fatalf("message %d: %v, %v", i, m, err)
		}
	}
	small := 0
	for _, n := range src.sizes[1:] { // the first read is into the small buffer
		if n <= smallBufSize {
			small++
		}
	}
	if small > 0 {
		t.Errorf("%d of %d reads into the small buffer during a stream: %v", small, len(src.sizes), src.sizes)
	}
}

// TestReaderSmallMessagesInLargeReads: a burst of small messages (a leecher's
// REQUESTs, 20 KiB at once) is read in a few large reads, not in reads of the
// small buffer: a reader that fell behind catches up in one system call, and
// leaves nothing unread in the socket when it stops.
func TestReaderSmallMessagesInLargeReads(t *testing.T) {
	var stream []byte
	for i := range 1200 {
		stream = AppendRequest(stream, uint32(i%10), 0, 1<<14)
	}
	src := &sizeRecorder{r: bytes.NewReader(stream)}
	r := NewReader(src, sampleLimits)
	for i := range 1200 {
		if m, err := r.ReadMessage(); err != nil || m.ID != Request {
			t.Fatalf("message %d: %v, %v", i, m, err)
		}
	}
	if len(src.sizes) > 3 {
		t.Errorf("%d reads for %d bytes (sizes %v), want at most 3", len(src.sizes), len(stream), src.sizes)
	}
}

type sizeRecorder struct {
	r     io.Reader
	sizes []int
}

func (s *sizeRecorder) Read(p []byte) (int, error) {
	s.sizes = append(s.sizes, len(p))
	return s.r.Read(p)
}
