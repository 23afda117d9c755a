package peerconn

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/wire"
)

type result struct {
	c   *Conn
	err error
}

// handshakePipe runs Initiate and Accept on the two ends of a net.Pipe.
func handshakePipe(t *testing.T, icfg, acfg Config, tor Torrent) (ini, acc result) {
	t.Helper()
	a, b := net.Pipe()
	ctx := testContext(t)
	done := make(chan result)
	go func() {
		c, err := Accept(ctx, b, acfg)
		done <- result{c, err}
	}()
	c, err := Initiate(ctx, a, tor, icfg)
	ini = result{c, err}
	acc = <-done
	return ini, acc
}

func closeAll(rs ...result) {
	for _, r := range rs {
		if r.c != nil {
			r.c.Close(nil)
		}
	}
}

func TestHandshakePipe(t *testing.T) {
	checkGoroutines(t)
	icfg, acfg := testConfig(), testConfig()
	acfg.Reserved = wire.Reserved{}.WithDHT()
	ini, acc := handshakePipe(t, icfg, acfg, testTorrent)
	defer closeAll(ini, acc)
	if ini.err != nil || acc.err != nil {
		t.Fatalf("Initiate: %v; Accept: %v", ini.err, acc.err)
	}
	if ini.c.PeerID() != acfg.PeerID || acc.c.PeerID() != icfg.PeerID {
		t.Errorf("peer ids: initiator sees %v, acceptor sees %v", ini.c.PeerID(), acc.c.PeerID())
	}
	if ini.c.Reserved() != acfg.Reserved || acc.c.Reserved() != icfg.Reserved {
		t.Errorf("reserved: initiator sees %v, acceptor sees %v", ini.c.Reserved(), acc.c.Reserved())
	}
	if ini.c.InfoHash() != testInfoHash || acc.c.InfoHash() != testInfoHash {
		t.Errorf("info-hashes %v %v", ini.c.InfoHash(), acc.c.InfoHash())
	}
	if ini.c.BytesWritten() != int64(wire.HandshakeLen) || acc.c.BytesRead() != int64(wire.HandshakeLen) {
		t.Errorf("counters: %d written, %d read", ini.c.BytesWritten(), acc.c.BytesRead())
	}
}

// TestHandshakeTCP dials a real listener on 127.0.0.1 and exchanges a message each way.
func TestHandshakeTCP(t *testing.T) {
	checkGoroutines(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx := testContext(t)
	icfg, acfg := testConfig(), testConfig()
	accepted := make(chan result, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			accepted <- result{nil, err}
			return
		}
		c, err := Accept(ctx, nc, acfg)
		accepted <- result{c, err}
	}()
	ic, err := Dial(ctx, ln.Addr().String(), testTorrent, icfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	acc := <-accepted
	if acc.err != nil {
		t.Fatalf("Accept: %v", acc.err)
	}
	if got := ic.AddrPort().String(); got != ln.Addr().String() {
		t.Errorf("AddrPort %v, want %v", got, ln.Addr())
	}
	iev, aev := make(chan Event, 4), make(chan Event, 4)
	ic.Start(iev)
	acc.c.Start(aev)
	ic.Send(wire.Message{ID: wire.Interested})
	acc.c.Send(wire.Message{ID: wire.Unchoke})
	if ev, ok := next(t, aev).(Msg); !ok || ev.M.ID != wire.Interested || ev.Conn != acc.c {
		t.Fatalf("acceptor got %#v", ev)
	}
	if ev, ok := next(t, iev).(Msg); !ok || ev.M.ID != wire.Unchoke {
		t.Fatalf("initiator got %#v", ev)
	}
	ic.Close(nil)
	if err := waitClosed(t, ic, iev); !errors.Is(err, ErrClosed) {
		t.Errorf("initiator closed with %v", err)
	}
	if err := waitClosed(t, acc.c, aev); !errors.Is(err, ErrPeerClosed) {
		t.Errorf("acceptor closed with %v", err)
	}
}

func TestUnknownInfoHashRefused(t *testing.T) {
	checkGoroutines(t)
	other := Torrent{InfoHash: bt.InfoHash{0xee}, NumPieces: 1}
	ini, acc := handshakePipe(t, testConfig(), testConfig(), other)
	defer closeAll(ini, acc)
	if !errors.Is(acc.err, ErrUnknownTorrent) {
		t.Errorf("Accept: %v, want ErrUnknownTorrent", acc.err)
	}
	if ini.err == nil {
		t.Errorf("Initiate succeeded against a refusing peer")
	}
}

// TestInfoHashMismatch: the dialled peer answers for another torrent.
func TestInfoHashMismatch(t *testing.T) {
	checkGoroutines(t)
	a, b := net.Pipe()
	defer b.Close()
	go func() {
		rd := wire.NewReader(b, wire.Limits{})
		if _, err := rd.ReadHandshake(); err == nil {
			b.Write(wire.AppendHandshake(nil, wire.Handshake{InfoHash: bt.InfoHash{0xee}, PeerID: bt.NewPeerID()}))
		}
	}()
	_, err := Initiate(testContext(t), a, testTorrent, testConfig())
	if !errors.Is(err, ErrInfoHashMismatch) {
		t.Fatalf("Initiate: %v, want ErrInfoHashMismatch", err)
	}
}

// TestSelfConnectionRefused dials our own listener with our own peer id.
func TestSelfConnectionRefused(t *testing.T) {
	checkGoroutines(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := testConfig()
	ctx := testContext(t)
	accepted := make(chan error, 1)
	go func() {
		nc, err := ln.Accept()
		if err == nil {
			var c *Conn
			if c, err = Accept(ctx, nc, cfg); c != nil {
				c.Close(nil)
			}
		}
		accepted <- err
	}()
	c, err := Dial(ctx, ln.Addr().String(), testTorrent, cfg)
	if c != nil {
		c.Close(nil)
	}
	if !errors.Is(err, ErrSelf) {
		t.Errorf("Dial: %v, want ErrSelf", err)
	}
	if err := <-accepted; !errors.Is(err, ErrSelf) {
		t.Errorf("Accept: %v, want ErrSelf", err)
	}
}

func TestHandshakeTimeout(t *testing.T) {
	checkGoroutines(t)
	a, b := net.Pipe()
	defer b.Close()
	go func() { // reads our handshake, never answers
		buf := make([]byte, 1024)
		for {
			if _, err := b.Read(buf); err != nil {
				return
			}
		}
	}()
	cfg := testConfig()
	cfg.HandshakeTimeout = 50 * time.Millisecond
	start := time.Now()
	_, err := Initiate(testContext(t), a, testTorrent, cfg)
	if !errors.Is(err, ErrHandshakeTimeout) {
		t.Fatalf("Initiate: %v, want ErrHandshakeTimeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
}

func TestHandshakeContextCanceled(t *testing.T) {
	checkGoroutines(t)
	a, b := net.Pipe()
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	_, err := Accept(ctx, a, testConfig()) // the peer sends nothing
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Accept: %v, want context.Canceled", err)
	}
}

func TestAcceptBadProtocol(t *testing.T) {
	checkGoroutines(t)
	a, b := net.Pipe()
	defer b.Close()
	go b.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	if _, err := Accept(testContext(t), a, testConfig()); !errors.Is(err, wire.ErrBadProtocol) {
		t.Fatalf("Accept: %v, want wire.ErrBadProtocol", err)
	}
}

// TestHandshakeAndBitfieldTogether: a peer sends its handshake and bitfield in one
// write, as real clients do; the bitfield read along with the handshake is delivered.
func TestHandshakeAndBitfieldTogether(t *testing.T) {
	checkGoroutines(t)
	a, b := net.Pipe()
	defer b.Close()
	bf := wire.Message{ID: wire.Bitfield, Payload: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf0}}
	in := wire.AppendHandshake(nil, wire.Handshake{InfoHash: testInfoHash, PeerID: bt.NewPeerID()})
	in = wire.AppendMessage(in, bf)
	go func() {
		b.Write(in)
		wire.NewReader(b, wire.Limits{}).ReadHandshake()
	}()
	c, err := Accept(testContext(t), a, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan Event, 2)
	c.Start(events)
	if ev, ok := next(t, events).(Msg); !ok || ev.M.ID != wire.Bitfield || string(ev.M.Payload) != string(bf.Payload) {
		t.Fatalf("got %#v", ev)
	}
	c.Close(nil)
	waitClosed(t, c, events)
}
