package tracker

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
)

// awkwardHash holds bytes that naive encoders get wrong: space, '+', '%', '&', '=', NUL,
// high bytes, and unreserved characters that must stay literal.
var awkwardHash = bt.InfoHash{' ', '+', '%', '&', '=', 0, 0xff, 0x80, '~', '-', '.', '_', 'a', 'Z', '9', '/', '?', '#', 0x7f, '\n'}

// fakeHTTPTracker starts an httptest server on 127.0.0.1 answering every request with
// reply(r).
func fakeHTTPTracker(t *testing.T, reply func(w http.ResponseWriter, r *http.Request)) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(reply))
	t.Cleanup(srv.Close)
	return srv
}

func TestHTTPAnnounceQuery(t *testing.T) {
	got := make(chan *http.Request, 1)
	srv := fakeHTTPTracker(t, func(w http.ResponseWriter, r *http.Request) {
		got <- r
		w.Write([]byte("d8:intervali1800e5:peers6:\x7f\x00\x00\x01\x1a\xe1e"))
	})
	c := NewClient(Config{UserAgent: "test-agent"})
	defer c.Close()
	peerID := bt.NewPeerID()
	req := AnnounceRequest{InfoHash: awkwardHash, PeerID: peerID, Port: 6881, Uploaded: 1, Downloaded: 2, Left: 3,
		Event: EventStarted, NumWant: 25, Key: 0xdeadbeef}
	resp, err := c.Announce(context.Background(), srv.URL+"/announce?passkey=s3cret", req)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Peers) != 1 || resp.Peers[0].String() != "127.0.0.1:6881" || resp.Interval != 30*time.Minute {
		t.Fatalf("got %+v", resp)
	}
	r := <-got
	if r.URL.Path != "/announce" {
		t.Errorf("path %q, want /announce", r.URL.Path)
	}
	if strings.Contains(r.URL.RawQuery, "+") {
		t.Errorf("raw query %q contains '+'", r.URL.RawQuery)
	}
	q := r.URL.Query()
	want := map[string]string{
		"info_hash": string(awkwardHash[:]), "peer_id": string(peerID[:]), "port": "6881",
		"uploaded": "1", "downloaded": "2", "left": "3", "compact": "1", "event": "started",
		"numwant": "25", "key": "deadbeef", "passkey": "s3cret",
	}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, q.Get(k), v)
		}
	}
	if ua := r.Header.Get("User-Agent"); ua != "test-agent" {
		t.Errorf("User-Agent %q", ua)
	}
}

func TestHTTPAnnounceNoEventNoNumWant(t *testing.T) {
	got := make(chan url.Values, 1)
	srv := fakeHTTPTracker(t, func(w http.ResponseWriter, r *http.Request) {
		got <- r.URL.Query()
		w.Write([]byte("de"))
	})
	c := NewClient(Config{})
	if _, err := c.Announce(context.Background(), srv.URL+"/announce", AnnounceRequest{}); err != nil {
		t.Fatal(err)
	}
	q := <-got
	if q.Has("event") || q.Has("numwant") {
		t.Fatalf("query %v: want no event and no numwant", q)
	}
}

func TestHTTPAnnounceErrors(t *testing.T) {
	big := bytes.Repeat([]byte{'x'}, MaxHTTPReply+1)
	// A gzip stream may hold several members, decompressed one after another: 40 copies
	// of 64 KiB of zeros make 2.5 MiB from a few kilobytes, cheaply.
	var member, gz bytes.Buffer
	zw := gzip.NewWriter(&member)
	zw.Write(make([]byte, 64<<10))
	zw.Close()
	for range 40 {
		gz.Write(member.Bytes())
	}
	tests := []struct {
		name    string
		handler func(w http.ResponseWriter, r *http.Request)
		check   func(err error) bool
	}{
		{"failure reason", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("d14:failure reason12:unregisterede"))
		}, func(err error) bool {
			var fe *FailureError
			return errors.As(err, &fe) && strings.Contains(err.Error(), "unregistered")
		}},
		{"failure reason with status 400", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte("d14:failure reason3:no!e"))
		}, func(err error) bool { var fe *FailureError; return errors.As(err, &fe) && fe.Reason == "no!" }},
		{"status 404", func(w http.ResponseWriter, r *http.Request) {
			http.NotFound(w, r)
		}, func(err error) bool { return strings.Contains(err.Error(), "404") }},
		{"oversized body", func(w http.ResponseWriter, r *http.Request) {
			w.Write(big)
		}, func(err error) bool { return errors.Is(err, ErrReplyTooLarge) }},
		{"oversized after gunzip", func(w http.ResponseWriter, r *http.Request) {
			if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
				t.Error("client did not offer gzip")
			}
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(gz.Bytes())
		}, func(err error) bool { return errors.Is(err, ErrReplyTooLarge) }},
		{"malformed peers", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("d5:peersld2:ipi1e4:port2:xxeee"))
		}, func(err error) bool { return err != nil }},
	}
	c := NewClient(Config{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := fakeHTTPTracker(t, tt.handler)
			u := srv.URL + "/announce"
			_, err := c.Announce(context.Background(), u, AnnounceRequest{})
			if err == nil || !tt.check(err) {
				t.Fatalf("got error %v", err)
			}
			if !strings.Contains(err.Error(), "tracker "+u) {
				t.Fatalf("error %q does not name the tracker", err)
			}
		})
	}
}

func TestHTTPAnnounceContext(t *testing.T) {
	srv := fakeHTTPTracker(t, func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	c := NewClient(Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Announce(ctx, srv.URL+"/announce", AnnounceRequest{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
}

func TestUnsupportedScheme(t *testing.T) {
	c := NewClient(Config{})
	for _, u := range []string{"wss://tracker.example/announce", "ftp://x/announce", "udp:///announce", "::bad"} {
		if _, err := c.Announce(context.Background(), u, AnnounceRequest{}); err == nil {
			t.Errorf("%s: want an error", u)
		}
	}
	_, err := c.Announce(context.Background(), "wss://tracker.example/announce", AnnounceRequest{})
	if !errors.Is(err, ErrUnsupportedScheme) || !strings.Contains(err.Error(), "wss") {
		t.Fatalf("got %v", err)
	}
}

func TestScrapeURL(t *testing.T) {
	tests := map[string]string{
		"http://t.example/announce":           "http://t.example/scrape",
		"http://t.example/x/announce.php?k=1": "http://t.example/x/scrape.php?k=1",
		"http://t.example/a/b/announce":       "http://t.example/a/b/scrape",
		"http://t.example/announce/x":         "",
		"http://t.example/a":                  "",
	}
	for in, want := range tests {
		u, _ := url.Parse(in)
		got, err := scrapeURL(u)
		if want == "" {
			if !errors.Is(err, ErrScrapeUnsupported) {
				t.Errorf("%s: got %v, want ErrScrapeUnsupported", in, err)
			}
			continue
		}
		if err != nil || got.String() != want {
			t.Errorf("%s: got %v %v, want %s", in, got, err, want)
		}
	}
}

func TestHTTPScrape(t *testing.T) {
	var other bt.InfoHash
	other[0] = 9
	srv := fakeHTTPTracker(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/scrape" {
			http.NotFound(w, r)
			return
		}
		hashes := r.URL.Query()["info_hash"]
		if len(hashes) != 2 || hashes[0] != string(awkwardHash[:]) || hashes[1] != string(other[:]) {
			t.Errorf("info_hash params %q", hashes)
		}
		w.Write([]byte("d5:filesd20:" + string(awkwardHash[:]) + "d8:completei1e10:downloadedi2e10:incompletei3eeee"))
	})
	c := NewClient(Config{})
	got, err := c.Scrape(context.Background(), srv.URL+"/announce", []bt.InfoHash{awkwardHash, other})
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != (ScrapeResult{1, 2, 3}) || got[1] != (ScrapeResult{}) {
		t.Fatalf("got %+v", got)
	}
}

func TestEscapeBytes(t *testing.T) {
	got := escapeBytes([]byte("a Z~-._+%\x00\xff"))
	if want := "a%20Z~-._%2B%25%00%FF"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// BEP 7: our IPv6 address goes out as "ipv6=" when set, never a mapped or
// unspecified one.
func TestAnnounceQueryIPv6(t *testing.T) {
	for addr, want := range map[string]string{
		"2001:db8::1":    "&ipv6=2001%3Adb8%3A%3A1",
		"::1":            "&ipv6=%3A%3A1",
		"::":             "",
		"::ffff:1.2.3.4": "",
		"1.2.3.4":        "",
	} {
		q := announceQuery(AnnounceRequest{IPv6: netip.MustParseAddr(addr)})
		_, got, _ := strings.Cut(q, "&ipv6=")
		if got != "" {
			got = "&ipv6=" + got
		}
		if got != want {
			t.Errorf("%s: query ends %q, want %q", addr, got, want)
		}
	}
	if q := announceQuery(AnnounceRequest{}); strings.Contains(q, "ipv6") {
		t.Errorf("no address: %s", q)
	}
}
