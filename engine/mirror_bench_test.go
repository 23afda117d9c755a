package engine_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
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
