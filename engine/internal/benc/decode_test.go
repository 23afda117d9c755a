package benc

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

type announce struct {
	Interval int64      `bencode:"interval"`
	Peers    RawMessage `bencode:"peers"`
	Failure  string     `bencode:"failure reason,omitempty"`
	Private  bool       `bencode:"private,omitempty"`
	ID       []byte     `bencode:"tracker id,omitempty"`
}

func TestUnmarshalStruct(t *testing.T) {
	in := []byte("d8:intervali1800e5:peersl1:a1:be7:privatei1e10:tracker id2:xy7:unknownd1:xleee")
	var a announce
	if err := Unmarshal(in, &a); err != nil {
		t.Fatal(err)
	}
	want := announce{Interval: 1800, Peers: RawMessage("l1:a1:be"), Private: true, ID: []byte("xy")}
	if !reflect.DeepEqual(a, want) {
		t.Fatalf("got %+v, want %+v", a, want)
	}
}

func TestUnmarshalRejectsBeforeDecoding(t *testing.T) {
	for _, in := range []string{"i00e", "i-0e", "i+5e", "d1:ai1e1:ai2ee", "i1ei2e", "2000000000:x", "d8:intervali01ee"} {
		var v any
		if err := Unmarshal([]byte(in), &v); !errors.Is(err, ErrSyntax) {
			t.Errorf("Unmarshal(%q) = %v, want ErrSyntax", in, err)
		}
	}
}

func TestUnmarshalTypeMismatchIsAnError(t *testing.T) {
	for _, tc := range []struct {
		in string
		v  any
	}{
		{"d8:interval4:slowe", &announce{}},
		{"d8:intervallee", &announce{}},
		{"li1ei2ei3ee", new([2]int)}, // zeebo panics here; we must not
		{"i5e", new(string)},
		{"le", new(int)},
		{"i1e", nil},
	} {
		if err := Unmarshal([]byte(tc.in), tc.v); err == nil {
			t.Errorf("Unmarshal(%q, %T) = nil, want an error", tc.in, tc.v)
		}
	}
}

func TestDecodePrefix(t *testing.T) {
	in := []byte("d8:msg_typei1e5:piecei3e10:total_sizei5ee" + "hello")
	var m struct {
		Type  int `bencode:"msg_type"`
		Piece int `bencode:"piece"`
		Total int `bencode:"total_size"`
	}
	n, err := DecodePrefix(in, &m)
	if err != nil {
		t.Fatal(err)
	}
	if string(in[n:]) != "hello" || m.Type != 1 || m.Piece != 3 || m.Total != 5 {
		t.Fatalf("n=%d rest=%q m=%+v", n, in[n:], m)
	}
	if _, err := DecodePrefix([]byte("d8:msg_typei1e"), &m); err == nil {
		t.Fatal("truncated prefix accepted")
	}
}

func TestMarshal(t *testing.T) {
	b, err := Marshal(map[string]any{"z": int64(1), "a": "x", "m": []any{"q", int64(-2)}, "n": nil})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "d1:a1:x1:ml1:qi-2ee1:zi1ee" {
		t.Fatalf("got %q", b)
	}
	if err := Scan(b, Limits{SortedKeys: true}); err != nil {
		t.Fatalf("output not canonical: %v", err)
	}
	b, err = Marshal(announce{Interval: 5, Peers: RawMessage("0:")})
	if err != nil || string(b) != "d8:intervali5e5:peers0:e" {
		t.Fatalf("struct: %q %v", b, err)
	}
	if _, err := Marshal(map[int]string{1: "a"}); err == nil {
		t.Fatal("map[int]string: want an error, zeebo writes integer keys")
	}
	if _, err := Marshal(nil); err == nil {
		t.Fatal("nil: want an error")
	}
	if _, err := Marshal(1.5); err == nil {
		t.Fatal("float: want an error")
	}
	deep := any("x")
	for range 70 {
		deep = []any{deep}
	}
	if _, err := Marshal(deep); err == nil || !strings.Contains(err.Error(), "nesting") {
		t.Fatalf("too deep for peers: %v", err)
	}
}

func TestMarshalUnmarshalRoundTrip(t *testing.T) {
	in := announce{Interval: -7, Peers: RawMessage("d1:ai1ee"), Failure: "no", Private: true, ID: []byte{0, 1, 2}}
	b, err := Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out announce
	if err := Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("got %+v, want %+v", out, in)
	}
}
