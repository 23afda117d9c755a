package engine

import (
	"context"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/metainfo"
	"github.com/hyperblow/hyperblow/engine/wire"
)

// holdingPeer listens on 127.0.0.1 and answers each connection's handshake for
// mt with HAVE_ALL, then holds it open, as a seed with nothing asked of it does,
// until the test closes it: each accepted connection is sent on conns.
func holdingPeer(t *testing.T, mt *metainfo.Torrent) (netip.AddrPort, <-chan net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	conns := make(chan net.Conn, 100)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			c.SetDeadline(time.Now().Add(30 * time.Second))
			if _, err := io.ReadFull(c, make([]byte, wire.HandshakeLen)); err != nil {
				c.Close()
				continue
			}
			hs := wire.AppendHandshake(nil, wire.Handshake{Reserved: wire.Reserved{}.WithFast(), InfoHash: mt.InfoHash, PeerID: bt.NewPeerID()})
			c.Write(wire.AppendMessage(hs, wire.Message{ID: wire.HaveAll}))
			go io.Copy(io.Discard, c) // our messages: read and dropped, nothing answered
			conns <- c
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String()), conns
}

func nextConn(t *testing.T, conns <-chan net.Conn, what string) net.Conn {
	t.Helper()
	select {
	case c := <-conns:
		return c
	case <-time.After(20 * time.Second): // the hold under test is minutes
		t.Fatalf("%s: no connection", what)
		return nil
	}
}

// A peer that closes, after a minute, a connection in which nothing was asked
// of it (as libtorrent does) is not redialled 2 s later but held for minutes;
// a read that needs a piece then dials it at once, awake or asleep.
func TestQuietCloseHoldsUntilRead(t *testing.T) {
	for _, asleep := range []bool{false, true} {
		name := map[bool]string{false: "awake", true: "asleep"}[asleep]
		t.Run(name, func(t *testing.T) {
			mt, _ := testTorrent(t, 64<<10)
			addr, conns := holdingPeer(t, mt)
			c, err := NewClient(Config{CacheSize: 4 << 20, NoUTP: true, Idle: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			tor, err := c.AddTorrent(mt, TorrentOptions{NoTrackers: true})
			if err != nil {
				t.Fatal(err)
			}
			tor.AddPeers([]netip.AddrPort{addr})
			first := nextConn(t, conns, "first dial")
			waitAddr(t, tor, addr, "connected", func(s *addrState) bool { return s.connected })
			// The connection has lasted quietMinAge: move its start back
			// rather than wait.
			tor.onOwner(func() {
				for _, p := range tor.peers {
					p.connectedAt = p.connectedAt.Add(-quietMinAge)
				}
			})
			before := time.Now()
			first.Close()
			st := waitAddr(t, tor, addr, "after the quiet close", func(s *addrState) bool { return !s.connected && s.held })
			if st.quiet != 1 || st.failures != 0 || st.nextTry.Before(before.Add(quietRedialWait-time.Second)) {
				t.Fatalf("after the quiet close: %+v, want held for %v", st, quietRedialWait)
			}
			if asleep {
				tor.idle.lastRead.Store(time.Now().Add(-2 * time.Hour).UnixNano())
				tor.send(sleepMsg{})
				deadline := time.After(20 * time.Second)
				for tor.State() != StateSleeping {
					ch := tor.StateChanged()
					if tor.State() == StateSleeping {
						break
					}
					select {
					case <-ch:
					case <-deadline:
						t.Fatalf("state %v, want asleep", tor.State())
					}
				}
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			read := make(chan error, 1)
			go func() {
				_, err := tor.NewReader(mt.Info.Files[0]).ReadAt(ctx, make([]byte, 10), 0)
				read <- err
			}()
			nextConn(t, conns, "the read's dial") // the peer never sends a block: the read waits
			cancel()
			if err := <-read; err == nil {
				t.Fatal("read returned without a block")
			}
		})
	}
}

func TestQuietWait(t *testing.T) {
	for n, want := range map[int]time.Duration{1: 5 * time.Minute, 2: 10 * time.Minute, 3: 20 * time.Minute, 4: 30 * time.Minute, 100: 30 * time.Minute} {
		if got := quietWait(n); got != want {
			t.Errorf("quietWait(%d) = %v, want %v", n, got, want)
		}
	}
}
