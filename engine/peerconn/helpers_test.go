package peerconn

import (
	"context"
	"errors"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/wire"
)

var testInfoHash = bt.InfoHash{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}

const testPieces = 100

var testTorrent = Torrent{InfoHash: testInfoHash, NumPieces: testPieces}

// testConfig returns a config with a fresh peer id that serves testTorrent.
func testConfig() Config {
	return Config{
		PeerID:   bt.NewPeerID(),
		Reserved: wire.Reserved{}.WithFast().WithExtended(),
		Lookup: func(ih bt.InfoHash) (Torrent, bool) {
			return testTorrent, ih == testInfoHash
		},
	}
}

// checkGoroutines fails the test if goroutines started during it are still running
// a moment after it ends. Tests in this package do not run in parallel.
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				t.Errorf("goroutine leak: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// rawPeer is the far end of a connection, speaking raw wire bytes.
type rawPeer struct {
	t  *testing.T
	nc net.Conn
	rd *wire.Reader
	id bt.PeerID
}

// startPeer returns a started Conn over net.Pipe whose remote is a rawPeer, with
// its events channel. The Conn accepted the rawPeer's handshake.
func startPeer(t *testing.T, cfg Config, events chan Event) (*Conn, *rawPeer) {
	t.Helper()
	a, b := net.Pipe()
	p := &rawPeer{t: t, nc: b, rd: wire.NewReader(b, wire.Limits{MaxBlockLen: 1 << 20, MaxMessageLen: 16 << 20}), id: bt.NewPeerID()}
	t.Cleanup(func() { b.Close() })
	// net.Pipe is synchronous: the raw peer writes and reads its handshake while
	// Accept runs.
	raw := make(chan error, 1)
	go func() {
		if _, err := b.Write(wire.AppendHandshake(nil, wire.Handshake{Reserved: wire.Reserved{}.WithFast(), InfoHash: testInfoHash, PeerID: p.id})); err != nil {
			raw <- err
			return
		}
		h, err := p.rd.ReadHandshake()
		if err == nil && h.InfoHash != testInfoHash {
			err = errors.New("wrong info-hash")
		}
		raw <- err
	}()
	c, err := Accept(testContext(t), a, cfg)
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	if err := <-raw; err != nil {
		t.Fatalf("raw peer handshake: %v", err)
	}
	c.Start(events)
	return c, p
}

func (p *rawPeer) send(msgs ...wire.Message) {
	var b []byte
	for _, m := range msgs {
		b = wire.AppendMessage(b, m)
	}
	p.write(b)
}

func (p *rawPeer) write(b []byte) {
	p.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := p.nc.Write(b); err != nil {
		p.t.Errorf("raw peer write: %v", err)
	}
}

func (p *rawPeer) read() wire.Message {
	p.t.Helper()
	p.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	m, err := p.rd.ReadMessage()
	if err != nil {
		p.t.Fatalf("raw peer read: %v", err)
	}
	return m
}

// next returns the next event, failing the test after a few seconds.
func next(t *testing.T, events <-chan Event) Event {
	t.Helper()
	select {
	case ev := <-events:
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
		return nil
	}
}

// waitClosed skips Msg events until Closed and returns its error; then checks that
// no event follows.
func waitClosed(t *testing.T, c *Conn, events <-chan Event) error {
	t.Helper()
	for {
		switch ev := next(t, events).(type) {
		case Closed:
			if ev.Conn != c {
				t.Fatalf("Closed for another Conn")
			}
			if ev.Err == nil {
				t.Fatal("Closed with nil Err")
			}
			select {
			case extra := <-events:
				t.Fatalf("event after Closed: %#v", extra)
			case <-time.After(20 * time.Millisecond):
			}
			return ev.Err
		case Msg:
		}
	}
}
