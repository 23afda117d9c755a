package metainfo

import (
	"net/url"
	"strings"

	"github.com/hyperblow/hyperblow/engine/internal/benc"
)

// announceList builds BEP 12 tiers from announce-list, or from announce alone when the
// list is absent or has nothing usable. URLs are trimmed; empty ones, ones whose scheme
// Hyperblow cannot announce to (only http, https and udp), and repeats (across all
// tiers) are dropped, and so are tiers left empty; so is everything after MaxTrackers
// URLs. Entries of the wrong type are dropped too: a torrent is still usable without
// its trackers.
func announceList(announce string, list benc.Value) [][]string {
	seen := map[string]bool{}
	var tiers [][]string
	for tv := range list.Items() {
		var tier []string
		for uv := range tv.Items() {
			if len(seen) == MaxTrackers {
				break
			}
			b, _ := uv.Bytes()
			u := strings.TrimSpace(string(b))
			if seen[u] || !isTrackerURL(u) {
				continue
			}
			seen[u] = true
			tier = append(tier, u)
		}
		if len(tier) > 0 {
			tiers = append(tiers, tier)
		}
	}
	if len(tiers) == 0 && isTrackerURL(announce) {
		tiers = [][]string{{announce}}
	}
	return tiers
}

// isTrackerURL reports whether u is an absolute http, https or udp URL with a host.
func isTrackerURL(u string) bool {
	return hasScheme(u, "http", "https", "udp")
}

// webSeeds reads BEP 19 url-list, which is one string or a list of strings. Only http
// and https seeds are kept, trimmed, without repeats, at most MaxWebSeeds.
func webSeeds(v benc.Value) []string {
	var raw [][]byte
	if b, ok := v.Bytes(); ok {
		raw = append(raw, b)
	}
	for it := range v.Items() {
		if b, ok := it.Bytes(); ok && len(raw) < MaxWebSeeds {
			raw = append(raw, b)
		}
	}
	var out []string
	seen := map[string]bool{}
	for _, b := range raw {
		u := strings.TrimSpace(string(b))
		if !seen[u] && hasScheme(u, "http", "https") {
			seen[u] = true
			out = append(out, u)
		}
	}
	return out
}

func hasScheme(u string, schemes ...string) bool {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return false
	}
	for _, s := range schemes {
		if strings.EqualFold(p.Scheme, s) {
			return true
		}
	}
	return false
}
