package wire

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hyperblow/hyperblow/engine/bt"
)

// sampleMessages holds one of each message type, valid under sampleLimits.
func sampleMessages() []Message {
	block := bytes.Repeat([]byte{0xAB}, bt.BlockSize)
	return []Message{
		{Keepalive: true},
		{ID: Choke}, {ID: Unchoke}, {ID: Interested}, {ID: NotInterested},
		{ID: Have, Index: 99},
		{ID: Bitfield, Payload: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf0}}, // 100 pieces
		{ID: Request, Index: 1, Begin: 16384, Length: 16384},
		{ID: Piece, Index: 2, Begin: 32768, Payload: block},
		{ID: Piece, Index: 3, Begin: 0, Payload: []byte{}},
		{ID: Cancel, Index: 4, Begin: 0, Length: 100},
		{ID: Port, Port: 6881},
		{ID: Suggest, Index: 5}, {ID: HaveAll}, {ID: HaveNone},
		{ID: Reject, Index: 6, Begin: 16384, Length: 16384},
		{ID: AllowedFast, Index: 7},
		{ID: Extended, ExtID: 0, Payload: []byte("d1:md11:ut_metadatai1eee")},
		{ID: Extended, ExtID: 3, Payload: []byte{}},
		{ID: 0x42, Payload: []byte("future")},
		{ID: 0x15},
	}
}

var sampleLimits = Limits{NumPieces: 100}

func sameMessage(a, b Message) bool {
	return a.Keepalive == b.Keepalive && (a.Keepalive || a.ID == b.ID && a.Index == b.Index &&
		a.Begin == b.Begin && a.Length == b.Length && a.ExtID == b.ExtID && a.Port == b.Port &&
		bytes.Equal(a.Payload, b.Payload))
}

func TestRoundTrip(t *testing.T) {
	for _, m := range sampleMessages() {
		t.Run(m.String(), func(t *testing.T) {
			b := AppendMessage([]byte("prefix"), m)[len("prefix"):]
			if len(b) != m.EncodedLen() {
				t.Fatalf("encoded %d bytes, EncodedLen %d", len(b), m.EncodedLen())
			}
			got, n, err := Parse(b, sampleLimits)
			if err != nil || n != len(b) || !sameMessage(got, m) {
				t.Fatalf("Parse = %v, %d, %v; want %v, %d", got, n, err, m, len(b))
			}
			// Every proper prefix is ErrShort, never an error or a message.
			for i := range len(b) {
				if _, n, err := Parse(b[:i], sampleLimits); !errors.Is(err, ErrShort) || n != 0 {
					t.Fatalf("Parse(%d of %d bytes) = %d, %v; want ErrShort", i, len(b), n, err)
				}
			}
			// Trailing bytes are left alone.
			if _, n, err := Parse(append(b, 0, 0, 0), sampleLimits); err != nil || n != len(b) {
				t.Fatalf("with trailing bytes: n = %d, %v", n, err)
			}
		})
	}
}

func TestFastPaths(t *testing.T) {
	if got, want := AppendRequest(nil, 1, 2, 3), AppendMessage(nil, Message{ID: Request, Index: 1, Begin: 2, Length: 3}); !bytes.Equal(got, want) {
		t.Errorf("AppendRequest = %x, want %x", got, want)
	}
	if got, want := AppendHave(nil, 9), AppendMessage(nil, Message{ID: Have, Index: 9}); !bytes.Equal(got, want) {
		t.Errorf("AppendHave = %x, want %x", got, want)
	}
	block := []byte("blockdata")
	got := append(AppendPieceHeader(nil, 4, 5, len(block)), block...)
	if want := AppendMessage(nil, Message{ID: Piece, Index: 4, Begin: 5, Payload: block}); !bytes.Equal(got, want) {
		t.Errorf("AppendPieceHeader = %x, want %x", got, want)
	}
}

// frame builds a message with an arbitrary length prefix and body.
func frame(n uint32, id ID, body ...byte) []byte {
	b := []byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n), byte(id)}
	return append(b, body...)
}

func TestBadLengths(t *testing.T) {
	fixed := map[ID]uint32{
		Choke: 1, Unchoke: 1, Interested: 1, NotInterested: 1, HaveAll: 1, HaveNone: 1,
		Have: 5, Suggest: 5, AllowedFast: 5, Request: 13, Cancel: 13, Reject: 13, Port: 3,
	}
	for id, want := range fixed {
		for _, n := range []uint32{want - 1, want + 1, want + 1000} {
			if n == 0 {
				continue // a zero length is a keep-alive
			}
			// Only the 5-byte header is given: the length must be refused from it alone.
			_, _, err := Parse(frame(n, id), sampleLimits)
			var le *LengthError
			if !errors.As(err, &le) || !errors.Is(err, ErrBadLength) || le.ID != id || le.Len != n {
				t.Errorf("%v with length %d: %v, want LengthError", id, n, err)
			}
		}
	}
	cases := []struct {
		name string
		in   []byte
		lim  Limits
	}{
		{"piece shorter than its header", frame(8, Piece), Limits{}},
		{"piece block over 16 KiB", frame(9+bt.BlockSize+1, Piece), Limits{}},
		{"piece block over a configured 1 KiB", frame(9+1025, Piece), Limits{MaxBlockLen: 1024}},
		{"bitfield one byte short", frame(13, Bitfield), sampleLimits},
		{"bitfield one byte long", frame(15, Bitfield), sampleLimits},
		{"empty bitfield for 100 pieces", frame(1, Bitfield), sampleLimits},
		{"extended without ext id", frame(1, Extended), Limits{}},
	}
	for _, c := range cases {
		if _, _, err := Parse(c.in, c.lim); !errors.Is(err, ErrBadLength) {
			t.Errorf("%s: %v, want ErrBadLength", c.name, err)
		}
	}
	// A configured larger block is accepted.
	if _, _, err := Parse(frame(9+bt.BlockSize+1, Piece), Limits{MaxBlockLen: 2 * bt.BlockSize}); !errors.Is(err, ErrShort) {
		t.Errorf("32 KiB block limit: %v, want ErrShort", err)
	}
}

func TestTooLong(t *testing.T) {
	for _, c := range []struct {
		n   uint32
		lim Limits
	}{
		{DefaultMaxMessageLen + 1, Limits{}},
		{0xFFFFFFFF, Limits{}},
		{1001, Limits{MaxMessageLen: 1000}},
	} {
		// Four bytes suffice: nothing after the prefix is needed to refuse it.
		in := frame(c.n, Extended)[:4]
		if _, _, err := Parse(in, c.lim); !errors.Is(err, ErrMessageTooLong) {
			t.Errorf("length %d: %v, want ErrMessageTooLong", c.n, err)
		}
	}
	// Exactly the cap is fine.
	if _, _, err := Parse(frame(DefaultMaxMessageLen, Extended, 0), Limits{}); !errors.Is(err, ErrShort) {
		t.Errorf("length at cap: %v, want ErrShort", err)
	}
}

func TestBitfieldSpareBits(t *testing.T) {
	lim := Limits{NumPieces: 10} // 2 bytes, 6 spare bits
	if _, _, err := Parse(frame(3, Bitfield, 0xff, 0xc0), lim); err != nil {
		t.Fatalf("valid bitfield: %v", err)
	}
	if _, _, err := Parse(frame(3, Bitfield, 0xff, 0xc1), lim); !errors.Is(err, bt.ErrBitfield) {
		t.Fatalf("spare bit set: %v, want bt.ErrBitfield", err)
	}
	// Unknown piece count: any length, spare bits unknowable.
	if _, _, err := Parse(frame(4, Bitfield, 0xff, 0xff, 0xff), Limits{}); err != nil {
		t.Fatalf("unknown count: %v", err)
	}
}

func TestIndexOutOfRange(t *testing.T) {
	for _, m := range []Message{
		{ID: Have, Index: 100}, {ID: Have, Index: 0xFFFFFFFF}, {ID: Suggest, Index: 100},
		{ID: AllowedFast, Index: 100}, {ID: Request, Index: 100}, {ID: Cancel, Index: 100},
		{ID: Reject, Index: 100}, {ID: Piece, Index: 100, Payload: []byte{1}},
	} {
		b := AppendMessage(nil, m)
		if _, _, err := Parse(b, sampleLimits); !errors.Is(err, ErrIndexOutOfRange) {
			t.Errorf("%v: %v, want ErrIndexOutOfRange", m, err)
		}
		if _, _, err := Parse(b, Limits{}); err != nil {
			t.Errorf("%v with unknown piece count: %v", m, err)
		}
	}
}

func TestParseDoesNotAllocate(t *testing.T) {
	var stream []byte
	for _, m := range sampleMessages() {
		stream = AppendMessage(stream, m)
	}
	allocs := testing.AllocsPerRun(100, func() {
		for b := stream; len(b) > 0; {
			_, n, err := Parse(b, sampleLimits)
			if err != nil {
				panic(err)
			}
			b = b[n:]
		}
	})
	if allocs != 0 {
		t.Fatalf("Parse allocated %v times per stream", allocs)
	}
}

func TestMessageString(t *testing.T) {
	for _, m := range sampleMessages() {
		if s := m.String(); s == "" || strings.Contains(s, "%!") {
			t.Errorf("String() = %q", s)
		}
	}
	if got := fmt.Sprint(ID(0x42)); got != "unknown(0x42)" {
		t.Errorf("ID(0x42) = %q", got)
	}
}
