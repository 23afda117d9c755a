package engine_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"
	"unsafe"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/enginetest"
)

// TestReadSharedIsThePiece: ReadShared hands out the verified piece's own
// memory, one slice per piece the range touches, each capped at its end; a
// second read of the same piece gets the same memory (no copy made for
// either), and the bytes are the file's.
func TestReadSharedIsThePiece(t *testing.T) {
	const plen = 64 << 10
	data := enginetest.RandomBytes(7, 4*plen+1000)
	mt, all := enginetest.Torrent(t, "shared.bin", plen, []enginetest.File{{Data: data}})
	seeder := enginetest.Seed(t, mt, all)
	_, tor := enginetest.Leecher(t, mt, engine.Config{}, seeder)
	r := tor.NewReader(mt.Info.Files[0])
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	inside, err := r.ReadShared(ctx, plen+100, 1000)
	if err != nil || len(inside) != 1 {
		t.Fatalf("ReadShared inside piece 1: %d parts, %v; want 1 part", len(inside), err)
	}
	if !bytes.Equal(inside[0], data[plen+100:plen+1100]) {
		t.Fatal("the bytes differ from the file's")
	}
	if cap(inside[0]) != len(inside[0]) {
		t.Fatalf("cap %d, want %d: an append could reach the piece's other bytes", cap(inside[0]), len(inside[0]))
	}
	again, err := r.ReadShared(ctx, plen+200, 100)
	if err != nil || len(again) != 1 {
		t.Fatalf("second ReadShared: %d parts, %v", len(again), err)
	}
	if unsafe.SliceData(again[0]) != (*byte)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(inside[0])), 100)) {
		t.Fatal("a second read of the piece got other memory: a copy was made")
	}

	across, err := r.ReadShared(ctx, 2*plen-10, plen+20) // the end of 1, all of 2, the start of 3
	if err != nil || len(across) != 3 {
		t.Fatalf("ReadShared across pieces: %d parts, %v; want 3", len(across), err)
	}
	if got := bytes.Join(across, nil); !bytes.Equal(got, data[2*plen-10:3*plen+10]) {
		t.Fatal("the bytes across pieces differ from the file's")
	}
	if unsafe.SliceData(across[0]) != (*byte)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(inside[0])), plen-10-100)) {
		t.Fatal("the part in piece 1 is not piece 1's memory")
	}

	tail, err := r.ReadShared(ctx, int64(len(data))-10, 100)
	if !errors.Is(err, io.EOF) || len(tail) != 1 || !bytes.Equal(tail[0], data[len(data)-10:]) {
		t.Fatalf("ReadShared past the end: %d parts, %v; want the last 10 bytes and io.EOF", len(tail), err)
	}
	if parts, err := r.ReadShared(ctx, int64(len(data)), 10); len(parts) != 0 || err != io.EOF {
		t.Fatalf("ReadShared at the end: %d parts, %v; want none and io.EOF", len(parts), err)
	}
}
