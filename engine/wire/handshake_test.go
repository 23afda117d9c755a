package wire

import (
	"bytes"
	"errors"
	"testing"

	"github.com/hyperblow/hyperblow/engine/bt"
)

func testHandshake() Handshake {
	h := Handshake{Reserved: Reserved{}.WithFast().WithExtended().WithDHT()}
	copy(h.InfoHash[:], "0123456789abcdefghij")
	copy(h.PeerID[:], "-HB0001-ABCDEFGHIJKL")
	return h
}

func TestHandshakeRoundTrip(t *testing.T) {
	h := testHandshake()
	b := AppendHandshake(nil, h)
	if len(b) != HandshakeLen {
		t.Fatalf("len = %d, want %d", len(b), HandshakeLen)
	}
	if !bytes.HasPrefix(b, []byte("\x13BitTorrent protocol")) {
		t.Fatalf("prefix = %q", b[:20])
	}
	got, err := ParseHandshake(b)
	if err != nil || got != h {
		t.Fatalf("ParseHandshake = %+v, %v; want %+v", got, err, h)
	}
	hdr, err := ParseHandshakeHeader(b[:HandshakeHeaderLen])
	if err != nil || hdr.InfoHash != h.InfoHash || hdr.Reserved != h.Reserved || hdr.PeerID != (bt.PeerID{}) {
		t.Fatalf("ParseHandshakeHeader = %+v, %v", hdr, err)
	}
}

func TestHandshakeShortAndBad(t *testing.T) {
	b := AppendHandshake(nil, testHandshake())
	for i := range HandshakeLen {
		if _, err := ParseHandshake(b[:i]); !errors.Is(err, ErrShort) {
			t.Errorf("ParseHandshake(%d bytes) = %v, want ErrShort", i, err)
		}
	}
	// A stranger is recognised as soon as its first differing byte arrives.
	for _, in := range []string{"G", "GET / HTTP/1.1\r\n", "\x13BitTorrent Protocol", "\x13Bit", "\x12BitTorrent protocol"} {
		if in == "\x13Bit" {
			if _, err := ParseHandshakeHeader([]byte(in)); !errors.Is(err, ErrShort) {
				t.Errorf("%q: %v, want ErrShort", in, err)
			}
			continue
		}
		if _, err := ParseHandshakeHeader([]byte(in)); !errors.Is(err, ErrBadProtocol) {
			t.Errorf("%q: %v, want ErrBadProtocol", in, err)
		}
	}
}

func TestReservedBits(t *testing.T) {
	var r Reserved
	if r.Fast() || r.Extended() || r.DHT() {
		t.Fatal("zero Reserved has bits set")
	}
	r = r.WithFast()
	if r != (Reserved{7: 0x04}) || !r.Fast() {
		t.Fatalf("WithFast = %x", r)
	}
	r = r.WithExtended()
	if r != (Reserved{5: 0x10, 7: 0x04}) || !r.Extended() {
		t.Fatalf("WithExtended = %x", r)
	}
	r = r.WithDHT()
	if r != (Reserved{5: 0x10, 7: 0x05}) || !r.DHT() {
		t.Fatalf("WithDHT = %x", r)
	}
	if got, want := r.String(), "0000000000100005 ext,fast,dht"; got != want {
		t.Fatalf("String = %q, want %q", got, want)
	}
}
