package wire

import (
	"bytes"
	"strings"
	"testing"
)

func testHashReq() HashReq {
	return HashReq{Root: [32]byte{1, 2, 3}, BaseLayer: 1, Index: 8, Length: 4, ProofLayers: 3}
}

func TestHashMessagesRoundTrip(t *testing.T) {
	r := testHashReq()
	for _, id := range []ID{HashRequest, HashReject} {
		b := AppendMessage(nil, r.Message(id))
		m, n, err := Parse(b, Limits{})
		if err != nil || n != len(b) || m.ID != id {
			t.Fatalf("Parse(%v) = %v, %d, %v", id, m, n, err)
		}
		got, err := ParseHashRequest(m.Payload)
		if err != nil || got != r {
			t.Fatalf("ParseHashRequest = %+v, %v; want %+v", got, err, r)
		}
	}
	h := HashesMsg{HashReq: r, Hashes: bytes.Repeat([]byte{7}, 32*6)}
	b := AppendMessage(nil, h.Message())
	if len(b) != 4+1+48+32*6 {
		t.Fatalf("hashes message is %d bytes", len(b))
	}
	m, _, err := Parse(b, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseHashes(m.Payload)
	if err != nil || got.HashReq != r || !bytes.Equal(got.Hashes, h.Hashes) {
		t.Fatalf("ParseHashes = %+v, %v", got, err)
	}
}

func TestHashMessagesBounds(t *testing.T) {
	r := testHashReq()
	mod := func(f func(*HashReq)) []byte { x := r; f(&x); return x.AppendPayload(nil) }
	for _, tc := range []struct {
		name    string
		payload []byte
		hashes  bool
		want    string
	}{
		{"short", r.AppendPayload(nil)[:47], false, "47 bytes, want 48"},
		{"long", append(r.AppendPayload(nil), 0), false, "49 bytes, want 48"},
		{"zero length", mod(func(x *HashReq) { x.Length = 0 }), false, "power of two"},
		{"length not a power of two", mod(func(x *HashReq) { x.Length, x.Index = 3, 0 }), false, "power of two"},
		{"length too big", mod(func(x *HashReq) { x.Length, x.Index = 1<<14, 0 }), false, "power of two in 1..8192"},
		{"misaligned index", mod(func(x *HashReq) { x.Index = 2 }), false, "not a multiple"},
		{"layer", mod(func(x *HashReq) { x.BaseLayer = 64 }), false, "over 64"},
		{"proof layers", mod(func(x *HashReq) { x.ProofLayers = 1 << 31 }), false, "over 64"},
		{"hashes head only short", r.AppendPayload(nil)[:40], true, "shorter than its 48-byte head"},
		{"too few hashes", append(r.AppendPayload(nil), make([]byte, 32*3)...), true, "3 hashes for 4 asked"},
		{"too many hashes", append(r.AppendPayload(nil), make([]byte, 32*8)...), true, "8 hashes for 4 asked with 3 proof layers"},
		{"partial hash", append(r.AppendPayload(nil), make([]byte, 32*4+1)...), true, "not a multiple of 32"},
	} {
		var err error
		if tc.hashes {
			_, err = ParseHashes(tc.payload)
		} else {
			_, err = ParseHashRequest(tc.payload)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

// FuzzHashMessages: the BEP 52 hash message parsers never panic, and what they accept
// re-encodes to exactly the input.
func FuzzHashMessages(f *testing.F) {
	r := testHashReq()
	f.Add(r.AppendPayload(nil))
	f.Add(HashesMsg{HashReq: r, Hashes: make([]byte, 32*5)}.Message().Payload)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, p []byte) {
		if r, err := ParseHashRequest(p); err == nil && !bytes.Equal(r.AppendPayload(nil), p) {
			t.Fatalf("request %+v re-encodes differently", r)
		}
		if h, err := ParseHashes(p); err == nil {
			if !bytes.Equal(h.Message().Payload, p) {
				t.Fatalf("hashes %+v re-encode differently", h.HashReq)
			}
			if len(h.Hashes) > 32*(MaxHashesPerRequest+MaxTreeLayers) {
				t.Fatalf("%d bytes of hashes accepted", len(h.Hashes))
			}
		}
	})
}
