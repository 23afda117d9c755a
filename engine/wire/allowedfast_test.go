package wire

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/hyperblow/hyperblow/engine/bt"
)

// TestAllowedFastSet checks the example in BEP 6: peer 80.4.4.200, info-hash of 20
// bytes 0xaa, 1313 pieces.
func TestAllowedFastSet(t *testing.T) {
	var ih bt.InfoHash
	for i := range ih {
		ih[i] = 0xaa
	}
	ip := netip.MustParseAddr("80.4.4.200")
	if got, want := AllowedFastSet(ip, ih, 1313, 7), []uint32{1059, 431, 808, 1217, 287, 376, 1188}; !slices.Equal(got, want) {
		t.Errorf("k=7: %v, want %v", got, want)
	}
	if got, want := AllowedFastSet(ip, ih, 1313, 9), []uint32{1059, 431, 808, 1217, 287, 376, 1188, 353, 508}; !slices.Equal(got, want) {
		t.Errorf("k=9: %v, want %v", got, want)
	}
	if got := AllowedFastSet(netip.MustParseAddr("::ffff:80.4.4.1"), ih, 1313, 7); !slices.Equal(got, AllowedFastSet(ip, ih, 1313, 7)) {
		t.Errorf("same /24 (v4-mapped) gives %v", got)
	}
	if got := AllowedFastSet(netip.MustParseAddr("2001:db8::1"), ih, 1313, 7); got != nil {
		t.Errorf("IPv6: %v, want nil", got)
	}
	if got := AllowedFastSet(ip, ih, 3, 10); len(got) != 3 {
		t.Errorf("k > pieces: %v", got)
	}
}
