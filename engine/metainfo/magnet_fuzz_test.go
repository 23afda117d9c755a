package metainfo

import (
	"reflect"
	"strings"
	"testing"
)

// FuzzParseMagnet: ParseMagnet never panics, allocates a bounded multiple of its input,
// keeps its caps, and a Magnet it returns prints (String) to a URI that parses back to
// the same Magnet.
func FuzzParseMagnet(f *testing.F) {
	for _, s := range []string{
		"magnet:?xt=urn:btih:" + testHex,
		"magnet:?xt=urn:btih:" + testBase32 + "&dn=a+b%2Fc&xl=10",
		"magnet:?xt.1=urn:btih:" + testHex + "&tr=udp%3A%2F%2Ft%3A1&tr=http://a/&tr.2=https://b/x?y=z&ws=http://w/",
		"magnet:?xt=urn:btmh:1220" + strings.Repeat("ab", 32) + "&xt=urn:btih:" + testHex + "&x.pe=1.2.3.4:5&x.pe=[::1]:6",
		"magnet:?xt=urn:btih:" + testHex + "&dn=%FF..%00&x.pe=[::ffff:1.2.3.4]:9",
		"magnet:?xt=urn:btmh:1220",
		"magnet:?dn=x",
		"magnet:?xt=urn:btih:%zz",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		var m *Magnet
		var err error
		got := allocated(func() { m, err = ParseMagnet(uri) })
		if limit := uint64(32*len(uri) + 64<<10); got > limit {
			t.Fatalf("ParseMagnet of %d bytes allocated %d, want <= %d", len(uri), got, limit)
		}
		if err != nil {
			if m != nil {
				t.Fatal("error with a Magnet")
			}
			return
		}
		if len(m.Trackers) > MaxTrackers || len(m.WebSeeds) > MaxWebSeeds || m.Length < 0 {
			t.Fatalf("caps broken: %+v", m)
		}
		if m.Name != "" {
			assertSafe(t, m.Name)
		}
		s := m.String()
		again, err := ParseMagnet(s)
		if err != nil {
			t.Fatalf("String() = %q does not parse: %v", s, err)
		}
		if !reflect.DeepEqual(again, m) {
			t.Fatalf("round trip through %q:\n got %#v\nwant %#v", s, again, m)
		}
		if again.String() != s {
			t.Fatalf("String not canonical: %q then %q", s, again.String())
		}
	})
}
