package main

import "testing"

// --listen takes IPv6 addresses in brackets (BEP 7 peers, BEP 32 DHT).
func TestCheckHostPortIPv6(t *testing.T) {
	for v, ok := range map[string]bool{
		"[::]:6881":      true,
		"[::1]:0":        true,
		"[fe80::1%lo]:1": true,
		":6881":          true,
		"::1:6881":       false, // unbracketed: ambiguous
		"[::1]":          false,
		"[::1]:70000":    false,
	} {
		if err := checkHostPort(v); (err == nil) != ok {
			t.Errorf("checkHostPort(%q) = %v, want ok=%v", v, err, ok)
		}
	}
}
