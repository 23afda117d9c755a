package wire

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/hyperblow/hyperblow/engine/bt"
)

// fuzzLimits derives small limits from the fuzzer's numbers so that every limit is
// exercised without megabyte inputs.
func fuzzLimits(numPieces uint16, maxLen uint16) Limits {
	return Limits{MaxMessageLen: uint32(maxLen) + 1, MaxBlockLen: 64, NumPieces: int(numPieces % 200)}
}

func addSeeds(f *testing.F) {
	for _, m := range sampleMessages() {
		if m.ID == Piece {
			m.Payload = m.Payload[:min(len(m.Payload), 64)]
		}
		f.Add(AppendMessage(nil, m), uint16(100), uint16(1000))
	}
	stream := AppendHandshake(nil, testHandshake())
	stream = AppendMessage(stream, Message{ID: Bitfield, Payload: []byte{0xff, 0x80}})
	f.Add(stream[HandshakeLen:], uint16(9), uint16(100))
	f.Add(frame(0xFFFFFFFF, Extended), uint16(0), uint16(0))
	f.Add(frame(14, Bitfield, 0xff), uint16(100), uint16(1000))
}

// FuzzParse: Parse never panics, never claims more bytes than it got, only fails with
// the package's errors, and a message it accepts re-encodes to exactly its input.
// Parse cannot allocate (TestParseDoesNotAllocate), so the cap bounds nothing here
// but the claimed length, which must respect it.
func FuzzParse(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte, numPieces, maxLen uint16) {
		lim := fuzzLimits(numPieces, maxLen)
		m, n, err := Parse(b, lim)
		if err != nil {
			if n != 0 {
				t.Fatalf("error %v with n = %d", err, n)
			}
			if !knownError(err) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if n < 4 || n > len(b) || uint32(n-4) > lim.maxMessageLen() {
			t.Fatalf("n = %d for %d bytes, cap %d", n, len(b), lim.maxMessageLen())
		}
		if enc := AppendMessage(nil, m); !bytes.Equal(enc, b[:n]) {
			t.Fatalf("%v re-encodes to %x, input %x", m, enc, b[:n])
		}
		if m.EncodedLen() != n {
			t.Fatalf("EncodedLen %d, parsed %d", m.EncodedLen(), n)
		}
		if m.ID == Piece && !m.Keepalive && len(m.Payload) > int(lim.maxBlockLen()) {
			t.Fatalf("block of %d bytes accepted", len(m.Payload))
		}
		if m.ID == Bitfield && !m.Keepalive && lim.NumPieces > 0 {
			if _, err := bt.BitfieldFromBytes(m.Payload, lim.NumPieces); err != nil {
				t.Fatalf("accepted bitfield fails bt validation: %v", err)
			}
		}
	})
}

// FuzzReader: a Reader fed one byte per Read, or reads of varied sizes (which move it
// between its small and large buffers), returns exactly the messages that repeated
// Parse finds in the same bytes, and the same error class at the end.
func FuzzReader(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte, numPieces, maxLen uint16) {
		lim := fuzzLimits(numPieces, maxLen)
		checkReader(t, NewReader(iotest.OneByteReader(bytes.NewReader(b)), lim), b, lim)
		sizes := []int{1 + int(numPieces)%700, 4, smallBufSize, 1 + int(maxLen)%3000}
		checkReader(t, NewReader(&chunkReader{b: b, sizes: sizes}, lim), b, lim)
	})
}

func checkReader(t *testing.T, r *Reader, b []byte, lim Limits) {
	t.Helper()
	rest := b
	for {
		want, n, perr := Parse(rest, lim)
		got, rerr := r.ReadMessage()
		if perr != nil {
			switch {
			case errors.Is(perr, ErrShort) && len(rest) == 0:
				if rerr != io.EOF {
					t.Fatalf("at end: %v, want io.EOF", rerr)
				}
			case errors.Is(perr, ErrShort):
				if rerr != io.ErrUnexpectedEOF {
					t.Fatalf("truncated: %v, want io.ErrUnexpectedEOF", rerr)
				}
			default:
				if rerr == nil || rerr.Error() != perr.Error() {
					t.Fatalf("Reader error %v, Parse error %v", rerr, perr)
				}
			}
			return
		}
		if rerr != nil || !sameMessage(got, want) {
			t.Fatalf("Reader %v, %v; Parse %v", got, rerr, want)
		}
		rest = rest[n:]
	}
}

func knownError(err error) bool {
	var le *LengthError
	return errors.Is(err, ErrShort) || errors.Is(err, ErrMessageTooLong) ||
		errors.As(err, &le) || errors.Is(err, ErrIndexOutOfRange) || errors.Is(err, bt.ErrBitfield)
}
