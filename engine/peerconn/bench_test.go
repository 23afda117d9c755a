package peerconn

import (
	"net"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/wire"
)

// BenchmarkConnReadPieces measures a Conn receiving 16 KiB PIECE messages over
// loopback TCP from a raw sender that writes perWrite messages per system call: the
// reader goroutine's path (socket, wire.Reader, copy to the owner). perWrite=1 ends
// every write on a message boundary, the case where the Reader's buffer drains most.
func BenchmarkConnReadPieces(b *testing.B) {
	for _, perWrite := range []int{1, 8} {
		b.Run("perWrite="+strconv.Itoa(perWrite), func(b *testing.B) { benchReadPieces(b, perWrite) })
	}
}

func benchReadPieces(b *testing.B, perWrite int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	const pieces = 64 // 1 MiB per round
	block := make([]byte, bt.BlockSize)
	var chunk []byte
	for i := range perWrite {
		chunk = wire.AppendMessage(chunk, wire.Message{ID: wire.Piece, Index: uint32(i % testPieces), Payload: block})
	}
	rounds := make(chan int)
	senderDone := make(chan error, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			senderDone <- err
			return
		}
		defer nc.Close()
		if _, err := nc.Write(wire.AppendHandshake(nil, wire.Handshake{InfoHash: testInfoHash, PeerID: bt.NewPeerID()})); err != nil {
			senderDone <- err
			return
		}
		for n := range rounds {
			for sent := 0; sent < n; sent += perWrite {
				if _, err := nc.Write(chunk); err != nil {
					senderDone <- err
					return
				}
			}
		}
		senderDone <- nil
	}()
	tc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	nc := &countingConn{Conn: tc}
	c, err := Initiate(b.Context(), nc, testTorrent, testConfig())
	if err != nil {
		b.Fatal(err)
	}
	events := make(chan Event, 16)
	c.Start(events)
	defer func() {
		close(rounds)
		c.Close(nil)
		for ev := range events {
			if _, ok := ev.(Closed); ok {
				break
			}
		}
	}()
	n := pieces - pieces%perWrite
	b.SetBytes(int64(n * bt.BlockSize))
	b.ReportAllocs()
	reads0 := nc.reads.Load()
	for b.Loop() {
		rounds <- n
		for got := 0; got < n; {
			switch ev := (<-events).(type) {
			case Msg:
				got++
			case Closed:
				b.Fatalf("closed: %v", ev.Err)
			}
		}
	}
	b.ReportMetric(float64(nc.reads.Load()-reads0)/float64(b.N), "reads/op")
}

// countingConn counts the Read calls on a connection: the system calls a reader
// makes for the same bytes.
type countingConn struct {
	net.Conn
	reads atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	c.reads.Add(1)
	return c.Conn.Read(p)
}
