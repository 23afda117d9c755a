package tracker

import (
	"encoding/binary"
	"log/slog"
	"net/netip"
	"runtime"
	"testing"

	"github.com/hyperblow/hyperblow/engine/bt"
)

// FuzzHTTPResponse parses arbitrary bytes as an HTTP announce and scrape reply: no
// panic, what is returned is bounded by the input, and so is what parsing allocates
// (loosely: twice the bound TestHTTPReplyAllocations holds each parser to). The seeds in
// testdata/fuzz were captured from opentracker (see testdata/README.md); the ones added
// here cover reply forms opentracker does not send.
func FuzzHTTPResponse(f *testing.F) {
	f.Add([]byte("d8:intervali900e5:peersld2:ip8:10.0.0.27:peer id20:abcdefghijklmnopqrst4:porti6881eeee"))
	f.Add([]byte("d8:intervali60e5:peers0:6:peers618:\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1a\xe1e"))
	f.Add([]byte("d15:warning message4:slow8:intervali1e5:peersld2:ipi1eeee"))
	f.Add([]byte("d5:peersld2:ip14:fe80::1%eth0zz4:porti1eed2:ip16:::ffff:1.2.3.4%x4:porti1eed2:ip8:1.2.3.4%4:porti1eeee"))
	f.Add([]byte("d14:failure reason3:bad8:interval2:60e"))
	f.Add([]byte("d7:unknownldededeee"))
	f.Fuzz(func(t *testing.T, body []byte) {
		var h bt.InfoHash
		if len(body) >= 20 {
			copy(h[:], body[len(body)-20:])
		}
		var resp *AnnounceResponse
		var res []ScrapeResult
		var aerr, serr error
		parse := func() {
			resp, aerr = parseHTTPAnnounce(body)
			res, serr = parseHTTPScrape(body, []bt.InfoHash{h, {}})
		}
		// Measure cheaply (no GC); only a parse over the bound is measured again
		// properly. Small bodies are not measured: ReadMemStats stops the world,
		// and below 1 KiB the bound's 64 KiB of slack decides anyway. Big ones are
		// left to TestHTTPReplyAllocations: measuring them slows the workers so
		// much that the fuzzing driver's deadline can pass.
		limit := 2 * 2 * replyAllocBound(len(body))
		if len(body) < 1024 || len(body) > 64<<10 {
			parse()
		} else {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			parse()
			runtime.ReadMemStats(&after)
			if got := after.TotalAlloc - before.TotalAlloc; got > limit {
				if got = allocated(limit, parse); got > limit {
					t.Fatalf("parsing %d bytes allocated %d, want <= %d", len(body), got, limit)
				}
			}
		}
		if aerr == nil {
			// A compact peer takes 6 bytes, a dictionary peer at least 16.
			if len(resp.Peers) > len(body)/6 || len(resp.Peers) > maxReplyPeers {
				t.Fatalf("%d peers from %d bytes", len(resp.Peers), len(body))
			}
			if resp.Interval < 0 || resp.MinInterval < 0 || resp.Seeders < 0 || resp.Leechers < 0 {
				t.Fatalf("negative value in %+v", resp)
			}
		}
		if serr == nil && len(res) != 2 {
			t.Fatalf("%d scrape results for 2 hashes", len(res))
		}
	})
}

// FuzzUDPResponse parses arbitrary bytes as every kind of BEP 15 reply, and routes them
// through the shared socket's dispatcher: no panic, and peers are bounded by the input.
func FuzzUDPResponse(f *testing.F) {
	f.Add(udpAnnounceReply(1, 60, 1, 1, bt.AppendCompactPeer(nil, netip.MustParseAddrPort("[2001:db8::1]:1"))))
	f.Fuzz(func(t *testing.T, b []byte) {
		parseUDPConnect(b)
		for _, ipv6 := range []bool{false, true} {
			if resp, err := parseUDPAnnounce(b, ipv6); err == nil && len(resp.Peers) > len(b)/6 {
				t.Fatalf("%d peers from %d bytes", len(resp.Peers), len(b))
			}
		}
		for _, n := range []int{0, 1, (len(b) - udpHeaderLen) / udpScrapeEntryLen, 74} {
			if res, err := parseUDPScrape(b, n); err == nil && len(res) != n {
				t.Fatalf("%d scrape results for %d hashes", len(res), n)
			}
		}
		fuzzRoute(t, b)
	})
}

// fuzzRoute feeds b to a socket's dispatcher with one request pending for the
// transaction id that b names, from the right and from a wrong address.
func fuzzRoute(t *testing.T, b []byte) {
	s := &udpSocket{log: slog.New(slog.DiscardHandler), pending: make(map[uint32]*udpWaiter)}
	tracker := netip.MustParseAddrPort("127.0.0.1:6969")
	w := &udpWaiter{to: tracker, reply: make(chan []byte, 1)}
	if len(b) >= udpHeaderLen {
		s.pending[binary.BigEndian.Uint32(b[4:])] = w
	}
	s.route(b, netip.MustParseAddrPort("127.0.0.2:6969"))
	if len(w.reply) != 0 {
		t.Fatal("datagram from a wrong address was delivered")
	}
	s.route(b, netip.AddrPortFrom(netip.AddrFrom16(tracker.Addr().As16()), tracker.Port()))
	delivered := len(w.reply) == 1
	if want := len(b) >= udpHeaderLen && len(b) <= udpReadBuffer; delivered != want {
		t.Fatalf("delivered %v, want %v (len %d)", delivered, want, len(b))
	}
}
