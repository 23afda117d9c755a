package integration

import (
	"encoding/hex"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestInfoMagnetPeerWithoutExtension: `info` on a magnet whose only peer
// speaks BitTorrent without the extension protocol (as ctorrent does) says
// so, at once, instead of "could not connect". The peer is a few lines of
// stdlib: it answers the handshake with no reserved bit set.
func TestInfoMagnetPeerWithoutExtension(t *testing.T) {
	bin := buildBinary(t)
	hash := strings.Repeat("ab", 20)
	ih, _ := hex.DecodeString(hash)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				in := make([]byte, 68)
				if _, err := io.ReadFull(c, in); err != nil {
					return
				}
				out := append([]byte("\x13BitTorrent protocol"), make([]byte, 8)...)
				out = append(out, ih...)
				out = append(out, []byte("-CD0303-ctorrentlike")...)
				c.Write(out)
				io.Copy(io.Discard, c)
			}()
		}
	}()
	r := run(t, time.Minute, procOpts{}, bin, "info", "--no-dht", "--peer", ln.Addr().String(), "magnet:?xt=urn:btih:"+hash)
	want := "connected to 1 peer; it does not support the extension protocol (BEP 10), so it cannot send metadata"
	if r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Fatalf("info: %v\nwant exit 1 and %q", r, want)
	}
}
