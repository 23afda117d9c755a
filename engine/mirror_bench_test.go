package engine_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/enginetest"
)

// mirrorBenchServer serves data at the returned URL: net/http's server on
// loopback, from memory; or, when HYPERBLOW_BENCH_WEBSEED_FILE and
// HYPERBLOW_BENCH_WEBSEED are set (a file and the URL another server serves
// it at, nginx for one), that file and URL.
func mirrorBenchServer(b *testing.B, data []byte) ([]byte, string) {
	if f := os.Getenv("HYPERBLOW_BENCH_WEBSEED_FILE"); f != "" {
		var err error
		if data, err = os.ReadFile(f); err != nil {
			b.Fatal(err)
		}
		return data, os.Getenv("HYPERBLOW_BENCH_WEBSEED")
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
	}))
	b.Cleanup(ts.Close)
	return data, ts.URL + "/big.bin"
}

// cpuTime is the process's user and system time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkMirrorRead reads a 64 MiB file, 1 MiB pieces, from a fresh client
// whose only source is an HTTP web seed on loopback (mirrorBenchServer): the
// engine's web-seed path without FUSE. cpu-s/GiB is the process's CPU time
// (the server's too, when it is net/http's) per GiB read.
func BenchmarkMirrorRead(b *testing.B) {
	data, url := mirrorBenchServer(b, enginetest.RandomBytes(21, 64<<20))
	mt, _ := enginetest.Torrent(b, "big.bin", 1<<20, []enginetest.File{{Data: data}})
	f := mt.Info.Files[0]
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	cpu0 := cpuTime()
	defer func() {
		b.ReportMetric((cpuTime()-cpu0).Seconds()/(float64(b.N)*float64(len(data))/(1<<30)), "cpu-s/GiB")
	}()
	for range b.N {
		c, err := engine.NewClient(engine.Config{Listen: "127.0.0.1:0", Logger: enginetest.Logger(b)})
		if err != nil {
			b.Fatal(err)
		}
		tor, err := c.AddTorrent(mt, engine.TorrentOptions{NoTrackers: true, WebSeeds: []string{url}})
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
// from memory, 1 MiB pieces; or mirrorBenchServer's other server), against the
// first byte of a plain GET of the same range from the same server (get-ms;
// x-get: the ratio): the engine's part of a web-seed mount's first byte,
// without FUSE.
func BenchmarkMirrorFirstByte(b *testing.B) {
	data, url := mirrorBenchServer(b, enginetest.RandomBytes(22, 16<<20))
	mt, _ := enginetest.Torrent(b, "big.bin", 1<<20, []enginetest.File{{Data: data}})
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
