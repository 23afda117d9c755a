package tracker

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"math"
	"net/netip"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
)

func TestParseHTTPAnnounce(t *testing.T) {
	tests := []struct {
		name string
		body string
		want AnnounceResponse
	}{
		{
			name: "compact",
			body: "d8:completei5e10:incompletei7e8:intervali1800e12:min intervali60e5:peers12:" +
				"\x0a\x00\x00\x01\x1a\xe1\x7f\x00\x00\x01\x00\x50e",
			want: AnnounceResponse{
				Interval: 1800 * time.Second, MinInterval: time.Minute, Seeders: 5, Leechers: 7,
				Peers: []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:6881"), netip.MustParseAddrPort("127.0.0.1:80")},
			},
		},
		{
			name: "dictionary peers",
			body: "d8:intervali900e5:peersld2:ip8:10.0.0.27:peer id20:abcdefghijklmnopqrst4:porti6881eed2:ip3:::14:porti1eed2:ip11:example.org4:porti5eed2:ip7:1.2.3.44:porti0eeee",
			want: AnnounceResponse{
				Interval: 900 * time.Second,
				Peers:    []netip.AddrPort{netip.MustParseAddrPort("10.0.0.2:6881"), netip.MustParseAddrPort("[::1]:1")},
			},
		},
		{
			name: "peers6",
			body: "d8:intervali60e5:peers0:6:peers618:\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1a\xe1e",
			want: AnnounceResponse{
				Interval: time.Minute,
				Peers:    []netip.AddrPort{netip.MustParseAddrPort("[2001:db8::1]:6881")},
			},
		},
		{
			name: "warning and no peers",
			body: "d8:intervali60e15:warning message9:slow\x07downe",
			want: AnnounceResponse{Interval: time.Minute, Warning: "slow?down"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseHTTPAnnounce([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Peers) == 0 {
				got.Peers = nil
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Fatalf("got %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestParseHTTPAnnounceFailure(t *testing.T) {
	_, err := parseHTTPAnnounce([]byte("d14:failure reason21:torrent not whiteliste"))
	var fe *FailureError
	if !errors.As(err, &fe) || fe.Reason != "torrent not whitelist" {
		t.Fatalf("got %v, want a FailureError with the reason", err)
	}
	if !strings.Contains(err.Error(), "torrent not whitelist") {
		t.Fatalf("error %q does not contain the reason", err)
	}
}

// TestParseHTTPAnnounceMalformed: wrong types and out-of-range values are errors, never
// panics (anacrolix #1055).
func TestParseHTTPAnnounceMalformed(t *testing.T) {
	bodies := map[string]string{
		"not bencode":          "<html>",
		"not a dict":           "li1ee",
		"truncated":            "d8:intervali60e",
		"huge string length":   "2000000000:x",
		"peers int":            "d5:peersi5ee",
		"peers dict":           "d5:peersdee",
		"peers list of ints":   "d5:peersli1ei2eee",
		"peers list of lists":  "d5:peerslleee",
		"dict peer ip int":     "d5:peersld2:ipi5e4:porti1eeee",
		"dict peer port str":   "d5:peersld2:ip7:1.2.3.44:port2:80eee",
		"dict peer port range": "d5:peersld2:ip7:1.2.3.44:porti70000eeee",
		"dict peer port neg":   "d5:peersld2:ip7:1.2.3.44:porti-1eeee",
		"compact bad length":   "d5:peers5:abcdee",
		"peers6 bad length":    "d6:peers66:abcdefe",
		"peers6 list":          "d6:peers6lee",
		"interval string":      "d8:interval2:60e",
		"interval negative":    "d8:intervali-5ee",
		"interval huge":        "d8:intervali99999999999ee",
		"min interval list":    "d12:min intervallee",
		"complete negative":    "d8:completei-1ee",
		"failure reason int":   "d14:failure reasoni1ee",
		"warning dict":         "d15:warning messagedee",
		"peers6 list of ints":  "d6:peers6li1ei2ei3ei4ei5ei6ei7ei8ei9ei10ei11ei12ei13ei14ei15ei16ei17ei18eee",
		"trailing bytes":       "d8:intervali60eexyz",
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			if got, err := parseHTTPAnnounce([]byte(body)); err == nil {
				t.Fatalf("got %+v, want an error", got)
			}
		})
	}
}

func TestParseHTTPScrape(t *testing.T) {
	var h1, h2 bt.InfoHash
	h1[0], h2[0] = 1, 2
	body := "d5:filesd20:" + string(h1[:]) + "d8:completei3e10:downloadedi9e10:incompletei4eeee"
	got, err := parseHTTPScrape([]byte(body), []bt.InfoHash{h1, h2})
	if err != nil {
		t.Fatal(err)
	}
	want := []ScrapeResult{{Seeders: 3, Completed: 9, Leechers: 4}, {}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	bad := "d5:filesd20:" + string(h1[:]) + "d8:complete1:xeee"
	if _, err := parseHTTPScrape([]byte(bad), []bt.InfoHash{h1}); err == nil {
		t.Fatal("wrong type in scrape reply: want an error")
	}
}

// allocated returns the bytes f allocates, measured after a GC. If that is over limit
// it measures again (twice at most) and returns the smallest, so that an allocation by
// some other goroutine cannot fail the caller. Tests that use it must not run in
// parallel.
func allocated(limit uint64, f func()) uint64 {
	best := uint64(math.MaxUint64)
	for range 3 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		if best = min(best, after.TotalAlloc-before.TotalAlloc); best <= limit {
			break
		}
	}
	return best
}

// replyAllocBound is the most parsing an HTTP reply of n bytes may allocate: a small
// multiple of the input, whatever the input is.
func replyAllocBound(n int) uint64 { return 8*uint64(n) + 64<<10 }

// hostileReplies yields replies just under MaxHTTPReply built to make a decoder
// allocate: many values the parser does not read, many values it does, and peers far
// over maxReplyPeers. All are valid bencode, and most are valid replies. Each is built
// when it is yielded, so that only one is in memory at a time.
func hostileReplies() iter.Seq2[string, []byte] {
	const size = MaxHTTPReply - 64 // room for a prefix and a suffix
	repeat := func(prefix, unit, suffix string) []byte {
		b := make([]byte, 0, size+len(prefix)+len(suffix))
		b = append(b, prefix...)
		b = append(b, strings.Repeat(unit, size/len(unit))...)
		return append(b, suffix...)
	}
	// keys returns a dictionary of n keys "k0000000"... with the value v each, in
	// order or in reverse (which costs the scanner a key buffer to find duplicates).
	keys := func(v string, reverse bool) []byte {
		n := size / (len("8:k0000000") + len(v))
		b := make([]byte, 0, size+64)
		b = append(b, "d8:intervali60e"...)
		for i := range n {
			if reverse {
				i = n - 1 - i
			}
			b = append(b, "8:"...)
			k := len(b)
			b = strconv.AppendInt(b, int64(i)+1e7, 10) // "1" and 7 digits
			b[k] = 'k'
			b = append(b, v...)
		}
		return append(b, 'e')
	}
	// files returns a scrape reply whose "files" holds n info-hashes, each with entry e.
	files := func(e string) []byte {
		n := size / (23 + len(e))
		b := make([]byte, 0, size+64)
		b = append(b, "d5:filesd"...)
		for i := range n {
			var h bt.InfoHash
			binary.BigEndian.PutUint32(h[16:], uint32(i))
			b = append(b, "20:"...)
			b = append(b, h[:]...)
			b = append(b, e...)
		}
		return append(b, "ee"...)
	}
	nested := strings.Repeat("l", 60) + strings.Repeat("e", 60)
	cases := []struct {
		name  string
		build func() []byte
	}{
		{"unknown keys", func() []byte { return keys("de", false) }},
		{"unknown keys unsorted", func() []byte { return keys("de", true) }},
		{"de in an unknown list", func() []byte { return repeat("d7:unknownl", "de", "ee") }},
		{"deep lists unknown", func() []byte { return repeat("d7:unknownl", nested, "ee") }},
		{"de as dict peers", func() []byte { return repeat("d5:peersl", "de", "ee") }},
		{"short dict peers", func() []byte { return repeat("d5:peersl", "d2:ip2:::4:porti1ee", "ee") }},
		{"dict peers with ids", func() []byte {
			return repeat("d5:peersl", "d2:ip8:10.0.0.17:peer id20:abcdefghijklmnopqrst4:porti6881ee", "ee")
		}},
		{"dict peers zoned", func() []byte { return repeat("d5:peersl", "d2:ip14:fe80::1%eth0zz4:porti1ee", "ee") }},
		{"dict peers hostnames", func() []byte { return repeat("d5:peersl", "d2:ip9:cafe.beef4:porti1ee", "ee") }},
		{"dict peers unknown keys", func() []byte {
			return repeat("d5:peersl", "d1:xde1:yle1:zi1e2:ip7:1.2.3.44:porti1ee", "ee")
		}},
		{"compact peers", func() []byte {
			return repeat(fmt.Sprintf("d8:intervali60e5:peers%d:", size/6*6), "\x0a\x00\x00\x01\x1a\xe1", "e")
		}},
		{"compact peers6", func() []byte {
			return repeat(fmt.Sprintf("d8:intervali60e5:peers0:6:peers6%d:", size/18*18),
				"\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1a\xe1", "e")
		}},
		{"huge failure reason", func() []byte { return repeat(fmt.Sprintf("d14:failure reason%d:", size), "x", "e") }},
		{"huge warning", func() []byte { return repeat(fmt.Sprintf("d15:warning message%d:", size), "x", "e") }},
		{"scrape files", func() []byte { return files("d8:completei1e10:downloadedi2e10:incompletei3e4:name1:xe") }},
		{"scrape files de", func() []byte { return files("de") }},
	}
	return func(yield func(string, []byte) bool) {
		for _, c := range cases {
			if !yield(c.name, c.build()) {
				return
			}
		}
	}
}

// TestHTTPReplyAllocations: no reply makes the parsers allocate more than a small
// multiple of its size (zeebo, behind benc.Unmarshal, allocated up to ~70 bytes per
// input byte on these).
func TestHTTPReplyAllocations(t *testing.T) {
	var h0, h1 bt.InfoHash
	binary.BigEndian.PutUint32(h1[16:], 1)
	hashes := []bt.InfoHash{h0, h1, {19: 0xff}}
	for name, body := range hostileReplies() {
		if len(body) > MaxHTTPReply || len(body) < MaxHTTPReply-1024 {
			t.Fatalf("%s: %d bytes, want just under %d", name, len(body), MaxHTTPReply)
		}
		var resp *AnnounceResponse
		var err error
		got := allocated(replyAllocBound(len(body)), func() { resp, err = parseHTTPAnnounce(body) })
		if got > replyAllocBound(len(body)) {
			t.Errorf("%s: announce parse allocated %d bytes for %d (%.1f per byte), want <= %d",
				name, got, len(body), float64(got)/float64(len(body)), replyAllocBound(len(body)))
		}
		var fe *FailureError
		if err != nil && !errors.As(err, &fe) {
			t.Errorf("%s: %v", name, err)
		}
		if err == nil && len(resp.Peers) > maxReplyPeers {
			t.Errorf("%s: %d peers, want at most %d", name, len(resp.Peers), maxReplyPeers)
		}
		if bytes.HasPrefix(body, []byte("d5:peersl")) {
			continue // to the scrape parser, "peers" is one more unknown key (covered above)
		}
		got = allocated(replyAllocBound(len(body)), func() { _, err = parseHTTPScrape(body, hashes) })
		if got > replyAllocBound(len(body)) {
			t.Errorf("%s: scrape parse allocated %d bytes for %d (%.1f per byte), want <= %d",
				name, got, len(body), float64(got)/float64(len(body)), replyAllocBound(len(body)))
		}
	}
}

// TestParseHTTPAnnouncePeerCap: the first maxReplyPeers peers are kept, "peers" before
// "peers6", and entries past the cap are still checked.
func TestParseHTTPAnnouncePeerCap(t *testing.T) {
	peer := func(i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 1)
	}
	var compact, dict bytes.Buffer
	for i := range maxReplyPeers + 5 {
		compact.Write(bt.AppendCompactPeer(nil, peer(i)))
		fmt.Fprintf(&dict, "d2:ip%d:%s4:porti1ee", len(peer(i).Addr().String()), peer(i).Addr())
	}
	p6 := bt.AppendCompactPeer(nil, netip.MustParseAddrPort("[2001:db8::1]:1"))
	for name, body := range map[string]string{
		"compact":         fmt.Sprintf("d5:peers%d:%s6:peers618:%se", compact.Len(), compact.Bytes(), p6),
		"dictionary":      "d5:peersl" + dict.String() + "e6:peers618:" + string(p6) + "e",
		"compact short":   fmt.Sprintf("d5:peers%d:%s6:peers618:%se", 6*(maxReplyPeers-1), compact.Bytes()[:6*(maxReplyPeers-1)], p6),
		"dictionary port": "d5:peersl" + dict.String() + "d2:ip7:1.2.3.44:porti70000eeee",
	} {
		resp, err := parseHTTPAnnounce([]byte(body))
		if name == "dictionary port" {
			if err == nil {
				t.Errorf("%s: a bad peer past the cap was not an error", name)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(resp.Peers) != maxReplyPeers {
			t.Fatalf("%s: %d peers, want %d", name, len(resp.Peers), maxReplyPeers)
		}
		if resp.Peers[0] != peer(0) {
			t.Errorf("%s: first peer %v, want %v", name, resp.Peers[0], peer(0))
		}
		want := peer(maxReplyPeers - 1)
		if name == "compact short" {
			want = netip.MustParseAddrPort("[2001:db8::1]:1")
		}
		if last := resp.Peers[maxReplyPeers-1]; last != want {
			t.Errorf("%s: last peer %v, want %v", name, last, want)
		}
	}
}
