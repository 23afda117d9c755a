package metainfo

import (
	"bytes"
	"errors"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/hyperblow/hyperblow/engine/bt"
)

const (
	testHex    = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a"
	testBase32 = "YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK" // the same 20 bytes
)

var testHash = func() bt.InfoHash {
	h, err := bt.ParseInfoHash(testHex)
	if err != nil {
		panic(err)
	}
	return h
}()

var testV2 = [32]byte(bytes.Repeat([]byte{0xab}, 32))

func TestParseMagnet(t *testing.T) {
	ap := netip.MustParseAddrPort
	tests := []struct {
		name string
		uri  string
		want Magnet
	}{
		{"hex", "magnet:?xt=urn:btih:" + testHex, Magnet{InfoHash: testHash}},
		{"upper-case hex and scheme", "MAGNET:?xt=URN:BTIH:" + strings.ToUpper(testHex), Magnet{InfoHash: testHash}},
		{"base32", "magnet:?xt=urn:btih:" + testBase32, Magnet{InfoHash: testHash}},
		{"lower-case base32", "magnet:?xt=urn:btih:" + strings.ToLower(testBase32), Magnet{InfoHash: testHash}},
		{"numbered xt", "magnet:?xt.1=urn:btih:" + testHex, Magnet{InfoHash: testHash}},
		{"pasted with newline", " magnet:?xt=urn:btih:" + testHex + "\n", Magnet{InfoHash: testHash}},
		{"btmh beside btih", "magnet:?xt=urn:btmh:1220" + strings.Repeat("ab", 32) + "&xt=urn:btih:" + testHex, Magnet{InfoHash: testHash, InfoHashV2: testV2}},
		{"btmh only", "magnet:?xt=urn:btmh:1220" + strings.Repeat("AB", 32), Magnet{InfoHash: bt.InfoHash(testV2[:20]), InfoHashV2: testV2}},
		{"same btih twice", "magnet:?xt=urn:btih:" + testHex + "&xt.2=urn:btih:" + testBase32, Magnet{InfoHash: testHash}},
		{"other xt ignored", "magnet:?xt=urn:sha1:ABCD&xt=urn:btih:" + testHex, Magnet{InfoHash: testHash}},
		{"empty and unknown params", "magnet:?&&xt=urn:btih:" + testHex + "&kt=a+b&as=http://x/&", Magnet{InfoHash: testHash}},
		{
			"everything",
			"magnet:?xt=urn:btih:" + testHex + "&dn=Big+Buck%20Bunny&xl=276445467" +
				"&tr=udp%3A%2F%2Ftracker.example%3A1337%2Fannounce&tr=http://t.example/a%3Fk%3Dv" +
				"&ws=https%3A%2F%2Fseed.example%2Fbbb%2F&x.pe=192.0.2.1:6881&x.pe=%5B2001:db8::1%5D:51413",
			Magnet{
				InfoHash: testHash,
				Name:     "Big Buck Bunny",
				Length:   276445467,
				Trackers: [][]string{{"udp://tracker.example:1337/announce"}, {"http://t.example/a?k=v"}},
				WebSeeds: []string{"https://seed.example/bbb/"},
				Peers:    []netip.AddrPort{ap("192.0.2.1:6881"), ap("[2001:db8::1]:51413")},
			},
		},
		{
			"trackers filtered, trimmed, deduped, numbered",
			"magnet:?xt=urn:btih:" + testHex + "&tr=+http://a/ann+&tr=http://a/ann&tr.1=udp://b:1&tr=wss://c/&tr=dht://x&tr=&tr=http://",
			Magnet{InfoHash: testHash, Trackers: [][]string{{"http://a/ann"}, {"udp://b:1"}}},
		},
		{
			"web seeds filtered and deduped",
			"magnet:?xt=urn:btih:" + testHex + "&ws=http://s/&ws=http://s/&ws=ftp://s/&ws=/relative",
			Magnet{InfoHash: testHash, WebSeeds: []string{"http://s/"}},
		},
		{
			"peers: literal IPs only",
			"magnet:?xt=urn:btih:" + testHex + "&x.pe=peer.example:6881&x.pe=1.2.3.4:0&x.pe=0.0.0.0:1&x.pe=[fe80::1%25eth0]:1" +
				"&x.pe=[::ffff:1.2.3.4]:5&x.pe=1.2.3.4:5&x.pe=1.2.3.4&x.pe=1.2.3.4:70000",
			Magnet{InfoHash: testHash, Peers: []netip.AddrPort{ap("1.2.3.4:5")}},
		},
		{"dn sanitized", "magnet:?xt=urn:btih:" + testHex + "&dn=../etc/passwd%00%1b[2J", Magnet{InfoHash: testHash, Name: ".._etc_passwd__[2J"}},
		{"dn dot dropped", "magnet:?xt=urn:btih:" + testHex + "&dn=.", Magnet{InfoHash: testHash}},
		{"dn invalid UTF-8", "magnet:?xt=urn:btih:" + testHex + "&dn=a%FFb", Magnet{InfoHash: testHash, Name: "a\uFFFDb"}},
		{"dn first wins", "magnet:?xt=urn:btih:" + testHex + "&dn=one&dn=two", Magnet{InfoHash: testHash, Name: "one"}},
		{"bad xl ignored", "magnet:?xt=urn:btih:" + testHex + "&xl=-5&xl=abc&xl=99999999999999999999", Magnet{InfoHash: testHash}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMagnet(tt.uri)
			if err != nil {
				t.Fatalf("ParseMagnet: %v", err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Fatalf("got  %#v\nwant %#v", *got, tt.want)
			}
			again, err := ParseMagnet(got.String())
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("String() = %s re-parses to %+v, %v", got.String(), again, err)
			}
		})
	}
}

func TestParseMagnetErrors(t *testing.T) {
	hash := "xt=urn:btih:" + testHex
	tests := []struct {
		name, uri, want string
	}{
		{"empty", "", "not a magnet URI"},
		{"http URL", "http://example.com/a.torrent", "not a magnet URI"},
		{"no question mark", "magnet:" + hash, "no '?' after magnet:"},
		{"missing xt", "magnet:?dn=x&tr=http://a/", "missing xt=urn:btih:"},
		{"only other xt", "magnet:?xt=urn:sha1:YNCKHTQCWBTRNJIV4WNAE52SJUQCZO5C", "no BitTorrent info-hash"},
		{"btmh short", "magnet:?xt=urn:btmh:1220" + strings.Repeat("ab", 31), "is 66 characters, want 68"},
		{"btmh not sha256", "magnet:?xt=urn:btmh:1114" + strings.Repeat("ab", 32), "multihash 1114 is not SHA-256"},
		{"btmh sha1 code", "magnet:?xt=urn:btmh:1320" + strings.Repeat("ab", 32), "multihash 1320 is not SHA-256"},
		{"btmh bad hex", "magnet:?xt=urn:btmh:1220" + strings.Repeat("ag", 32), "invalid hex digit"},
		{"two btmh", "magnet:?xt=urn:btmh:1220" + strings.Repeat("ab", 32) + "&xt=urn:btmh:1220" + strings.Repeat("cd", 32), "second v2 info-hash"},
		{"empty btih", "magnet:?xt=urn:btih:", "is 0 characters, want 40 hex digits or 32 base32"},
		{"short hex", "magnet:?xt=urn:btih:" + testHex[:39], "is 39 characters"},
		{"long hex", "magnet:?xt=urn:btih:" + testHex + "0", "is 41 characters"},
		{"v2 hash as btih", "magnet:?xt=urn:btih:" + strings.Repeat("ab", 32), "is 64 characters"},
		{"bad hex", "magnet:?xt=urn:btih:" + testHex[:39] + "g", "invalid hex digit"},
		{"bad base32 digit", "magnet:?xt=urn:btih:" + testBase32[:31] + "1", "invalid base32 character"},
		{"base32 padding", "magnet:?xt=urn:btih:" + testBase32[:28] + "====", "invalid base32 character"},
		{"base32 newline", "magnet:?xt=urn:btih:" + testBase32[:31] + "%0A", "invalid base32 character"},
		{"base32 non-ASCII", "magnet:?xt=urn:btih:" + testBase32[:30] + "%C4%B1", "invalid base32 character"},
		{"two hashes", "magnet:?" + hash + "&xt.2=urn:btih:" + strings.Repeat("0", 40), "second info-hash"},
		{"bad escape in value", "magnet:?" + hash + "&dn=%zz", `parameter "dn": bad percent-encoding`},
		{"bad escape in key", "magnet:?" + hash + "&d%n=x", "bad percent-encoding in its name"},
		{"bad escape in xt", "magnet:?xt=urn:btih:%4", "bad percent-encoding"},
		{"overlong", "magnet:?" + hash + "&dn=" + strings.Repeat("a", MaxMagnetLen), "over the 64 KiB limit"},
		{"too many params", "magnet:?" + hash + strings.Repeat("&", MaxMagnetParams), "1025 parameters, over the limit of 1024"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseMagnet(tt.uri)
			if err == nil {
				t.Fatalf("ParseMagnet(%.100q) = %+v, want error containing %q", tt.uri, m, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "metainfo: magnet URI: ") {
				t.Fatalf("error %q, want it to contain %q", err, tt.want)
			}
			if len(err.Error()) > 300 {
				t.Fatalf("error echoes too much input: %d bytes", len(err.Error()))
			}
		})
	}
}

// TestParseMagnetCaps: the counts a magnet may carry stop at their limits.
func TestParseMagnetCaps(t *testing.T) {
	var b strings.Builder
	b.WriteString("magnet:?xt=urn:btih:" + testHex)
	for i := range MaxMagnetParams - 2 {
		b.WriteString("&ws=http://s/" + strconv.Itoa(i))
	}
	m, err := ParseMagnet(b.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(m.WebSeeds) != MaxWebSeeds { // 1022 given
		t.Fatalf("%d web seeds, want the cap %d", len(m.WebSeeds), MaxWebSeeds)
	}
	b.WriteString("&tr=http://x/")
	if _, err := ParseMagnet(b.String()); err != nil {
		t.Fatalf("exactly %d parameters: %v", MaxMagnetParams, err)
	}
}

func TestParseSource(t *testing.T) {
	for _, s := range []string{testHex, strings.ToUpper(testHex), testBase32, strings.ToLower(testBase32) + "\n", "magnet:?xt=urn:btih:" + testHex + "&dn=x"} {
		m, err := ParseSource(s)
		if err != nil || m.InfoHash != testHash {
			t.Errorf("ParseSource(%q) = %+v, %v", s, m, err)
		}
	}
	for _, s := range []string{"movie.torrent", testHex[:39], testHex + "0", strings.Repeat("g", 40), "http://x/a.torrent", ""} {
		if _, err := ParseSource(s); !errors.Is(err, ErrNotMagnet) {
			t.Errorf("ParseSource(%q): %v, want ErrNotMagnet", s, err)
		}
	}
	if _, err := ParseSource("magnet:?dn=x"); err == nil || errors.Is(err, ErrNotMagnet) || !strings.Contains(err.Error(), "missing xt") {
		t.Errorf("broken magnet: %v, want the magnet error", err)
	}
}

// TestMagnetFromTorrent: the magnet of a created torrent names its hash, trackers and
// web seeds, and String is canonical.
func TestMagnetFromTorrent(t *testing.T) {
	raw, err := CreateFromFiles("My Files", []InputFile{FileBytes([]byte("hello"), "a.txt")}, CreateOptions{
		Trackers: [][]string{{"http://t.example/announce", "udp://u.example:80"}},
		WebSeeds: []string{"http://w.example/"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tor := mustParse(t, raw)
	m := &Magnet{InfoHash: tor.InfoHash, Name: tor.Info.Name, Trackers: tor.AnnounceList, WebSeeds: tor.URLList}
	want := "magnet:?xt=urn:btih:" + tor.InfoHash.String() + "&dn=My+Files&tr=http%3A%2F%2Ft.example%2Fannounce&tr=udp%3A%2F%2Fu.example%3A80&ws=http%3A%2F%2Fw.example%2F"
	if got := m.String(); got != want {
		t.Fatalf("String() = %s\nwant       %s", got, want)
	}
	got, err := ParseMagnet(want)
	if err != nil {
		t.Fatal(err)
	}
	if got.InfoHash != tor.InfoHash || got.Name != "My Files" || len(got.Trackers) != 2 || got.Trackers[1][0] != "udp://u.example:80" {
		t.Fatalf("parsed %+v", got)
	}
}
