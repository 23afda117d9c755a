package benc

import (
	"errors"
	"math"
	"testing"
)

func TestValueNavigation(t *testing.T) {
	in := []byte("d4:infod6:lengthi-42e4:name5:hello5:piecel1:ai9223372036854775807ei-9223372036854775808eee1:zi0ee")
	v, err := Parse(in, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if v.Kind() != Dict || v.Len() != 2 {
		t.Fatalf("top: kind %v len %d", v.Kind(), v.Len())
	}
	info, ok := v.Get("info")
	if !ok || info.Kind() != Dict {
		t.Fatalf("info: %v %v", ok, info.Kind())
	}
	if string(info.Raw()) != "d6:lengthi-42e4:name5:hello5:piecel1:ai9223372036854775807ei-9223372036854775808eee" {
		t.Fatalf("info raw = %q", info.Raw())
	}
	if n, ok := mustGet(t, info, "length").Int(); !ok || n != -42 {
		t.Fatalf("length = %d %v", n, ok)
	}
	if b, ok := mustGet(t, info, "name").Bytes(); !ok || string(b) != "hello" {
		t.Fatalf("name = %q %v", b, ok)
	}
	var got []Value
	for it := range mustGet(t, info, "piece").Items() {
		got = append(got, it)
	}
	if len(got) != 3 {
		t.Fatalf("items = %d", len(got))
	}
	if b, _ := got[0].Bytes(); string(b) != "a" {
		t.Fatalf("item 0 = %q", b)
	}
	if n, _ := got[1].Int(); n != math.MaxInt64 {
		t.Fatalf("item 1 = %d", n)
	}
	if n, _ := got[2].Int(); n != math.MinInt64 {
		t.Fatalf("item 2 = %d", n)
	}
	if _, ok := v.Get("missing"); ok {
		t.Fatal("Get(missing) ok")
	}
	// Wrong kinds answer "not ok", never panic.
	if _, ok := info.Int(); ok {
		t.Fatal("dict.Int ok")
	}
	if _, ok := got[1].Bytes(); ok {
		t.Fatal("int.Bytes ok")
	}
	if _, ok := got[0].Get("x"); ok {
		t.Fatal("string.Get ok")
	}
	if (Value{}).Kind() != Invalid || (Value{}).Len() != 0 {
		t.Fatal("zero Value")
	}
	// Appending to a returned slice must not overwrite the input.
	b, _ := got[0].Bytes()
	_ = append(b, 'X')
	if string(in) != "d4:infod6:lengthi-42e4:name5:hello5:piecel1:ai9223372036854775807ei-9223372036854775808eee1:zi0ee" {
		t.Fatalf("input changed: %q", in)
	}
}

func mustGet(t *testing.T, v Value, key string) Value {
	t.Helper()
	val, ok := v.Get(key)
	if !ok {
		t.Fatalf("missing key %q", key)
	}
	return val
}

func TestEntriesUnsortedOrder(t *testing.T) {
	v, err := Parse([]byte("d1:bi1e1:ai2ee"), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var keys string
	for k := range v.Entries() {
		keys += string(k)
	}
	if keys != "ba" {
		t.Fatalf("keys in order %q, want input order ba", keys)
	}
}

func TestParsePrefix(t *testing.T) {
	in := []byte("d8:msg_typei1e5:piecei0eeRAW")
	v, n, err := ParsePrefix(in, Limits{})
	if err != nil || n != 25 || string(v.Raw()) != string(in[:25]) {
		t.Fatalf("got %q %d %v", v.Raw(), n, err)
	}
}

func TestRawValue(t *testing.T) {
	in := []byte("d8:announce3:url4:infod4:name1:x1:ai1ee5:otheri1ee")
	raw, err := RawValue(in, "info")
	if err != nil || string(raw) != "d4:name1:x1:ai1ee" {
		t.Fatalf("got %q %v", raw, err)
	}
	if _, err := RawValue(in, "nope"); !errors.Is(err, ErrNoKey) {
		t.Fatalf("missing key: %v", err)
	}
	if _, err := RawValue([]byte("li1ee"), "info"); err == nil {
		t.Fatal("list accepted")
	}
	if _, err := RawValue([]byte("d4:info"), "info"); !errors.Is(err, ErrSyntax) {
		t.Fatalf("truncated: %v", err)
	}
}
