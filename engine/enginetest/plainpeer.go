package enginetest

import (
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/wire"
)

// StartPlainPeer starts a peer on 127.0.0.1 that answers the handshake for
// infoHash without the extension protocol (BEP 10), as ctorrent does, and then
// only reads. It stops in t.Cleanup.
func StartPlainPeer(t testing.TB, infoHash bt.InfoHash) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				r := wire.NewReader(c, wire.Limits{})
				if _, err := r.ReadHandshake(); err != nil {
					return
				}
				c.Write(wire.AppendHandshake(nil, wire.Handshake{InfoHash: infoHash, PeerID: bt.NewPeerID()}))
				io.Copy(io.Discard, c)
			}()
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String())
}
