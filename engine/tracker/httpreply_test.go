package tracker

import (
	"errors"
	"net/netip"
	"reflect"
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
