package dht

import (
	"net/netip"
	"testing"
	"time"
)

// TestTokens: a token is valid for the IP it was made for, through one rotation, and
// not after two (BEP 5: "up to ten minutes old").
func TestTokens(t *testing.T) {
	tk := newTokens(t0)
	ip := netip.MustParseAddr("10.1.2.3")
	other := netip.MustParseAddr("10.1.2.4")
	tok := tk.make(ip, t0)
	if len(tok) != tokenLen {
		t.Fatalf("token of %d bytes", len(tok))
	}
	for _, tc := range []struct {
		name string
		tok  []byte
		ip   netip.Addr
		at   time.Duration
		want bool
	}{
		{"same ip", tok, ip, time.Minute, true},
		{"mapped form of the same ip", tok, netip.AddrFrom16(ip.As16()), time.Minute, true},
		{"other ip", tok, other, time.Minute, false},
		{"truncated", tok[:4], ip, time.Minute, false},
		{"empty", nil, ip, time.Minute, false},
		{"after one rotation", tok, ip, 6 * time.Minute, true},
		{"after two rotations", tok, ip, 11 * time.Minute, false},
	} {
		if got := tk.valid(tc.tok, tc.ip, t0.Add(tc.at)); got != tc.want {
			t.Errorf("%s: valid = %v, want %v", tc.name, got, tc.want)
		}
	}
	// A long silence replaces both secrets.
	tk2 := newTokens(t0)
	tok2 := tk2.make(ip, t0)
	if tk2.valid(tok2, ip, t0.Add(time.Hour)) {
		t.Error("token valid an hour later")
	}
	// Tokens are per node: another node's secret does not accept ours.
	if newTokens(t0).valid(tok, ip, t0) {
		t.Error("a fresh secret accepted an old token")
	}
}
