package engine_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/enginetest"
)

// BenchmarkMirrorRead reads a 64 MiB file, 1 MiB pieces, from a fresh client
// whose only source is an HTTP web seed on loopback (net/http's server, from
// memory): the engine's web-seed path without FUSE.
func BenchmarkMirrorRead(b *testing.B) {
	data := enginetest.RandomBytes(21, 64<<20)
	mt, _ := enginetest.Torrent(b, "big.bin", 1<<20, []enginetest.File{{Data: data}})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
	}))
	defer ts.Close()
	f := mt.Info.Files[0]
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for range b.N {
		c, err := engine.NewClient(engine.Config{Listen: "127.0.0.1:0", Logger: enginetest.Logger(b)})
		if err != nil {
			b.Fatal(err)
		}
		tor, err := c.AddTorrent(mt, engine.TorrentOptions{NoTrackers: true, WebSeeds: []string{ts.URL + "/big.bin"}})
		if err != nil {
			b.Fatal(err)
		}
		r := tor.NewReader(f)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		for off := int64(0); ; {
			n, err := r.ReadAt(ctx, buf, off)
			off += int64(n)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		cancel()
		r.Close()
		c.Close()
	}
}

// BenchmarkMirrorFirstByte times the first 64 KiB read at offset 0 of a fresh
// client whose only source is an HTTP web seed on loopback (net/http's server,
// from memory, 1 MiB pieces), against the first byte of a plain GET of the same
// range from the same server (get-ms; x-get: the ratio): the engine's part of a web-seed
// mount's first byte, without FUSE. HYPERBLOW_BENCH_WEBSEED_FILE and
// HYPERBLOW_BENCH_WEBSEED (a file and the URL another server serves it at,
// nginx for one) use that server instead.
func BenchmarkMirrorFirstByte(b *testing.B) {
	data := enginetest.RandomBytes(22, 16<<20)
	if f := os.Getenv("HYPERBLOW_BENCH_WEBSEED_FILE"); f != "" {
		var err error
		if data, err = os.ReadFile(f); err != nil {
			b.Fatal(err)
		}
	}
	mt, _ := enginetest.Torrent(b, "big.bin", 1<<20, []enginetest.File{{Data: data}})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
	}))
	defer ts.Close()
	url := ts.URL + "/big.bin"
	if u := os.Getenv("HYPERBLOW_BENCH_WEBSEED"); u != "" {
		url = u
	}
	f := mt.Info.Files[0]
	buf := make([]byte, 64<<10)
	var plain, ours time.Duration
	for range b.N {
		b.StopTimer()
		t0 := time.Now()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Range", "bytes=0-65535")
		tr := &http.Transport{}
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(resp.Body, buf[:1]); err != nil {
			b.Fatal(err)
		}
		plain += time.Since(t0)
		resp.Body.Close()
		tr.CloseIdleConnections()
		c, err := engine.NewClient(engine.Config{Listen: "127.0.0.1:0", Logger: enginetest.Logger(b)})
		if err != nil {
			b.Fatal(err)
		}
		tor, err := c.AddTorrent(mt, engine.TorrentOptions{NoTrackers: true, WebSeeds: []string{url}})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		b.StartTimer()
		t0 = time.Now()
		r := tor.NewReader(f)
		if _, err := r.ReadAt(ctx, buf, 0); err != nil {
			b.Fatal(err)
		}
		ours += time.Since(t0)
		b.StopTimer()
		cancel()
		r.Close()
		c.Close()
	}
	b.ReportMetric(float64(ours.Microseconds())/1e3/float64(b.N), "ms/read")
	b.ReportMetric(float64(plain.Microseconds())/1e3/float64(b.N), "get-ms")
	b.ReportMetric(float64(ours)/float64(plain), "x-get")
}
