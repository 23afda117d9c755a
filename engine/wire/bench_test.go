package wire

import (
	"bytes"
	"io"
	"testing"

	"github.com/hyperblow/hyperblow/engine/bt"
)

func BenchmarkParsePiece(b *testing.B) {
	msg := AppendMessage(nil, Message{ID: Piece, Index: 1, Begin: 0, Payload: make([]byte, bt.BlockSize)})
	lim := Limits{NumPieces: 1000}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Parse(msg, lim); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendRequest(b *testing.B) {
	buf := make([]byte, 0, 17)
	b.ReportAllocs()
	var i uint32
	for b.Loop() {
		buf = AppendRequest(buf[:0], i, 16384, bt.BlockSize)
		i++
	}
}

// BenchmarkReaderPieces reads a stream of 16 KiB PIECE messages through a Reader, as
// a downloading connection does; the source returns 64 KiB per Read like a socket.
func BenchmarkReaderPieces(b *testing.B) {
	const n = 256 // 4 MiB
	var stream []byte
	block := make([]byte, bt.BlockSize)
	for i := range n {
		stream = AppendMessage(stream, Message{ID: Piece, Index: uint32(i / 16), Begin: uint32(i%16) * bt.BlockSize, Payload: block})
	}
	lim := Limits{NumPieces: n}
	src := bytes.NewReader(stream)
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		src.Reset(stream)
		r := NewReader(&limitedReads{r: src, max: 64 << 10}, lim)
		for {
			_, err := r.ReadMessage()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}

// limitedReads returns at most max bytes per Read.
type limitedReads struct {
	r   io.Reader
	max int
}

func (l *limitedReads) Read(p []byte) (int, error) { return l.r.Read(p[:min(len(p), l.max)]) }

// BenchmarkReaderPiecesDrained is BenchmarkReaderPieces with one message per Read, as
// from a socket that a fast reader keeps empty: the buffer drains after every message.
func BenchmarkReaderPiecesDrained(b *testing.B) {
	const n = 256 // 4 MiB
	var stream []byte
	block := make([]byte, bt.BlockSize)
	for i := range n {
		stream = AppendMessage(stream, Message{ID: Piece, Index: uint32(i / 16), Begin: uint32(i%16) * bt.BlockSize, Payload: block})
	}
	msgLen := len(stream) / n
	lim := Limits{NumPieces: n}
	src := bytes.NewReader(stream)
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		src.Reset(stream)
		r := NewReader(&limitedReads{r: src, max: msgLen}, lim)
		for {
			_, err := r.ReadMessage()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}
