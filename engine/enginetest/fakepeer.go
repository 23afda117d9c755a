package enginetest

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/metainfo"
	"github.com/hyperblow/hyperblow/engine/wire"
)

// FakePeer is a scripted peer connected to a Hyperblow client: the test writes
// raw bytes or messages and waits for the client to hang up.
type FakePeer struct {
	t    testing.TB
	Conn net.Conn
	// Remote is the handshake the client sent.
	Remote wire.Handshake
	r      *wire.Reader
}

// DialFake connects to a client listening at addr, handshakes for mt with the
// given reserved bits, and returns the peer. It is closed in t.Cleanup.
func DialFake(t testing.TB, addr netip.AddrPort, mt *metainfo.Torrent, reserved wire.Reserved) *FakePeer {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(wire.AppendHandshake(nil, wire.Handshake{Reserved: reserved, InfoHash: mt.InfoHash, PeerID: bt.NewPeerID()})); err != nil {
		t.Fatal(err)
	}
	r := wire.NewReader(c, wire.Limits{NumPieces: mt.Info.NumPieces})
	h, err := r.ReadHandshake()
	if err != nil {
		t.Fatalf("fake peer handshake: %v", err)
	}
	c.SetDeadline(time.Time{})
	fp := &FakePeer{t: t, Conn: c, Remote: h, r: r}
	return fp
}

// Send writes messages.
func (fp *FakePeer) Send(ms ...wire.Message) {
	fp.t.Helper()
	var b []byte
	for _, m := range ms {
		b = wire.AppendMessage(b, m)
	}
	fp.Write(b)
}

// Write writes raw bytes; an error (the client hung up) is ignored.
func (fp *FakePeer) Write(b []byte) { fp.Conn.Write(b) }

// WaitClosed reports whether the client closes the connection within d; it
// discards whatever the client sends meanwhile.
func (fp *FakePeer) WaitClosed(d time.Duration) bool {
	fp.Conn.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, fp.Conn)
	return err == nil // EOF: closed by the client; a timeout is an error
}

// LogBuffer is a concurrency-safe log sink for tests that check log lines.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns everything logged so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Logger returns a debug-level logger writing to l.
func (l *LogBuffer) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Expect reads messages until one satisfies match or d passes; it returns the
// messages read (copies) and whether one matched.
func (fp *FakePeer) Expect(d time.Duration, match func(wire.Message) bool) ([]wire.Message, bool) {
	fp.Conn.SetReadDeadline(time.Now().Add(d))
	defer fp.Conn.SetReadDeadline(time.Time{})
	if fp.r == nil {
		fp.r = wire.NewReader(fp.Conn, wire.Limits{})
	}
	var got []wire.Message
	for {
		m, err := fp.r.ReadMessage()
		if err != nil {
			return got, false
		}
		m.Payload = bytes.Clone(m.Payload)
		got = append(got, m)
		if match(m) {
			return got, true
		}
	}
}
