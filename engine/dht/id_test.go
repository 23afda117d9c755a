package dht

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// closer reports whether a is strictly closer to target than b, computed byte by byte
// as BEP 5 defines it, independently of cmpDistance.
func closer(target, a, b ID) bool {
	for i := range target {
		da, db := a[i]^target[i], b[i]^target[i]
		if da != db {
			return da < db
		}
	}
	return false
}

// TestXOROrdering checks distance ordering against BEP 5's definition: the XOR of the
// ids read as an unsigned integer.
func TestXOROrdering(t *testing.T) {
	var target ID
	target[0] = 0x80
	mk := func(b0, b19 byte) ID {
		var id ID
		id[0], id[19] = b0, b19
		return id
	}
	// Distances to target: 0x80^b0 in the top byte dominates any low byte.
	ids := []ID{mk(0x00, 0xff), mk(0x81, 0x00), mk(0x80, 0x01), mk(0xc0, 0x00), mk(0x80, 0x00), mk(0x7f, 0x00)}
	want := []ID{mk(0x80, 0x00), mk(0x80, 0x01), mk(0x81, 0x00), mk(0xc0, 0x00), mk(0x00, 0xff), mk(0x7f, 0x00)}
	slices.SortFunc(ids, func(a, b ID) int { return cmpDistance(target, a, b) })
	if !slices.Equal(ids, want) {
		t.Fatalf("sorted %x\nwant   %x", ids, want)
	}
	for i := range len(want) - 1 {
		if !closer(target, want[i], want[i+1]) || closer(target, want[i+1], want[i]) {
			t.Errorf("closer disagrees with the order at %d", i)
		}
	}
	if closer(target, want[0], want[0]) {
		t.Error("a node is closer than itself")
	}
	if d := xor(want[2], target); d != mk(0x01, 0x00) {
		t.Errorf("xor = %x", d)
	}
}

func TestCommonPrefixLen(t *testing.T) {
	var a, b ID
	if got := commonPrefixLen(a, b); got != 160 {
		t.Fatalf("equal ids: %d", got)
	}
	b[0] = 0x80
	if got := commonPrefixLen(a, b); got != 0 {
		t.Fatalf("first bit differs: %d", got)
	}
	b[0], b[2] = 0, 0x10
	if got := commonPrefixLen(a, b); got != 19 {
		t.Fatalf("bit 19 differs: %d", got)
	}
}

// TestRandomIDWithPrefix: refresh targets fall in the bucket they refresh.
func TestRandomIDWithPrefix(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		var self ID
		for i := range self {
			self[i] = byte(rng.Uint32())
		}
		cpl := rng.IntN(160)
		if got := commonPrefixLen(self, randomIDWithPrefix(self, cpl)); got != cpl {
			t.Fatalf("cpl %d: got an id with cpl %d", cpl, got)
		}
	}
}
