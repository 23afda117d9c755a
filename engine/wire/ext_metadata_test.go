package wire

import (
	"bytes"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestMetadataMsgRoundTrip(t *testing.T) {
	full := bytes.Repeat([]byte{0xab}, MetadataPieceLen)
	for _, m := range []MetadataMsg{
		{Type: MetadataRequest, Piece: 0},
		{Type: MetadataRequest, Piece: MaxMetadataPieces - 1},
		{Type: MetadataReject, Piece: 7},
		{Type: MetadataData, Piece: 0, TotalSize: 5, Data: []byte("hello")},
		{Type: MetadataData, Piece: 1, TotalSize: MetadataPieceLen + 3, Data: []byte("end")},
		{Type: MetadataData, Piece: 2, TotalSize: 3 * MetadataPieceLen, Data: full},
		{Type: MetadataData, Piece: MaxMetadataPieces - 1, TotalSize: MaxMetadataSize, Data: full},
	} {
		b := AppendMetadataMsg(nil, m)
		if len(b) > MaxMetadataMsgLen {
			t.Fatalf("%d bytes encoded", len(b))
		}
		got, err := ParseMetadataMsg(b)
		if err != nil {
			t.Fatalf("%+v: %v", m, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("got %+v, want %+v", got, m)
		}
	}
	if got := string(AppendMetadataMsg(nil, MetadataMsg{Type: MetadataRequest, Piece: 3, TotalSize: 99})); got != "d8:msg_typei0e5:piecei3ee" {
		t.Fatalf("request encodes to %q", got)
	}
	if got := string(AppendMetadataMsg(nil, MetadataMsg{Type: MetadataData, Piece: 0, TotalSize: 2, Data: []byte("de")})); got != "d8:msg_typei1e5:piecei0e10:total_sizei2eede" {
		t.Fatalf("data encodes to %q", got)
	}
}

func TestParseMetadataMsgLenient(t *testing.T) {
	// Unsorted keys, unknown keys, and total_size on a request are all fine.
	m, err := ParseMetadataMsg([]byte("d5:piecei2e1:xle10:total_sizei5e8:msg_typei0ee"))
	if err != nil || !reflect.DeepEqual(m, MetadataMsg{Type: MetadataRequest, Piece: 2}) {
		t.Fatalf("got %+v, %v", m, err)
	}
}

func TestParseMetadataMsgErrors(t *testing.T) {
	piece := strings.Repeat("x", MetadataPieceLen)
	data := func(p, total int, rest string) string {
		return "d8:msg_typei1e5:piecei" + itoa(p) + "e10:total_sizei" + itoa(total) + "ee" + rest
	}
	tests := []struct {
		name, payload, want string
	}{
		{"empty", "", "bad bencode"},
		{"not a dictionary", "i1e", "want a dictionary, got integer"},
		{"no msg_type", "d5:piecei0ee", "msg_type missing"},
		{"msg_type string", "d8:msg_type1:05:piecei0ee", "msg_type missing or not an integer"},
		{"no piece", "d8:msg_typei0ee", "piece missing"},
		{"negative piece", "d8:msg_typei0e5:piecei-1ee", "piece -1 is not in 0..1023"},
		{"piece past 16 MiB", "d8:msg_typei2e5:piecei1024ee", "piece 1024 is not in 0..1023"},
		{"huge piece", "d8:msg_typei0e5:piecei9223372036854775807ee", "is not in 0..1023"},
		{"bytes after a request", "d8:msg_typei0e5:piecei0eeXY", "2 bytes after a message without data"},
		{"bytes after a reject", "d8:msg_typei2e5:piecei0eede", "2 bytes after"},
		{"data without total_size", "d8:msg_typei1e5:piecei0eexx", "without an integer total_size"},
		{"total_size 0", data(0, 0, ""), "total_size 0 is not in 1..16777216"},
		{"negative total_size", data(0, -5, "x"), "total_size -5 is not in"},
		{"total_size over 16 MiB", data(0, MaxMetadataSize+1, piece), "total_size 16777217 is not in"},
		{"piece past total_size", data(2, 2*MetadataPieceLen, piece), "piece 2 is past the end of 32768 bytes (2 pieces)"},
		{"short piece", data(0, 2*MetadataPieceLen, piece[1:]), "has 16383 bytes of data, want 16384"},
		{"long last piece", data(1, MetadataPieceLen+10, piece[:11]), "has 11 bytes of data, want 10"},
		{"empty data", data(0, 10, ""), "has 0 bytes of data, want 10"},
		{"oversized message", data(0, 2*MetadataPieceLen, piece+strings.Repeat("y", 1<<10)), "over the limit of 17408"},
		{"oversized dictionary", "d1:x" + bs(strings.Repeat("z", MaxMetadataMsgLen)) + "8:msg_typei0e5:piecei0ee", "over the limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseMetadataMsg([]byte(tt.payload))
			wantExtError(t, err, tt.want)
			if m.Data != nil || m.TotalSize != 0 {
				t.Fatalf("error with data: %+v", m)
			}
		})
	}
}

// TestUnknownMetadataType: BEP 9 says to ignore unknown msg_types, so the error is its
// own and does not say "malformed".
func TestUnknownMetadataType(t *testing.T) {
	for _, p := range []string{"d8:msg_typei3e5:piecei0ee", "d8:msg_typei-1ee", "d8:msg_typei99e1:xi1eeJUNK"} {
		_, err := ParseMetadataMsg([]byte(p))
		if !errors.Is(err, ErrUnknownMetadataType) || errors.Is(err, ErrBadExtPayload) {
			t.Fatalf("%q: %v, want ErrUnknownMetadataType only", p, err)
		}
	}
}

// TestMetadataMsgInMessage: a full data message fits the framing's limits.
func TestMetadataMsgInMessage(t *testing.T) {
	m := MetadataMsg{Type: MetadataData, Piece: 5, TotalSize: MaxMetadataSize, Data: bytes.Repeat([]byte{1}, MetadataPieceLen)}
	frame := AppendMessage(nil, Message{ID: Extended, ExtID: 2, Payload: AppendMetadataMsg(nil, m)})
	msg, _, err := Parse(frame, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseMetadataMsg(msg.Payload)
	if err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("got %+v, %v", got.Piece, err)
	}
}

func TestMetadataPieceGeometry(t *testing.T) {
	for _, tc := range []struct {
		size       int64
		pieces     int
		lastLength int
	}{{1, 1, 1}, {MetadataPieceLen, 1, MetadataPieceLen}, {MetadataPieceLen + 1, 2, 1}, {MaxMetadataSize, MaxMetadataPieces, MetadataPieceLen}} {
		if got := MetadataPieces(tc.size); got != tc.pieces {
			t.Errorf("MetadataPieces(%d) = %d, want %d", tc.size, got, tc.pieces)
		}
		if got := MetadataPieceSize(tc.size, tc.pieces-1); got != tc.lastLength {
			t.Errorf("last piece of %d: %d bytes, want %d", tc.size, got, tc.lastLength)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
