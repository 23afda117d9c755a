package engine

import (
	"slices"
	"testing"
)

// The DHT nodes a listen host gets: both families for a wildcard, else its own.
func TestDHTHosts(t *testing.T) {
	for h, want := range map[string][]string{
		"":                {"0.0.0.0", "::"},
		"::":              {"0.0.0.0", "::"},
		"0.0.0.0":         {"0.0.0.0"},
		"127.0.0.1":       {"127.0.0.1"},
		"::1":             {"::1"},
		"::ffff:10.0.0.1": {"10.0.0.1"},
	} {
		if got := dhtHosts(h); !slices.Equal(got, want) {
			t.Errorf("dhtHosts(%q) = %q, want %q", h, got, want)
		}
	}
}
