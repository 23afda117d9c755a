package wire_test

// An external test package, so that the assembler can be checked against real info
// dictionaries from metainfo without wire itself importing a sibling.

import (
	"bytes"
	"errors"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/metainfo"
	"github.com/hyperblow/hyperblow/engine/wire"
)

// realInfo builds a torrent whose info dictionary spans several metadata pieces (many
// files with long names), and returns its raw info bytes and info-hash.
func realInfo(t *testing.T) ([]byte, bt.InfoHash) {
	t.Helper()
	var files []metainfo.InputFile
	for i := range 600 {
		name := strings.Repeat(string(rune('a'+i%26)), 60) + "-" + strings.Repeat("x", i%7) + "-" + string(rune('A'+i/26)) + ".txt"
		files = append(files, metainfo.FileBytes([]byte{byte(i)}, name))
	}
	raw, err := metainfo.CreateFromFiles("many files", files, metainfo.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tor, err := metainfo.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if n := wire.MetadataPieces(int64(len(tor.RawInfo))); n < 3 || len(tor.RawInfo)%wire.MetadataPieceLen == 0 {
		t.Fatalf("info of %d bytes: want several pieces and a short last one", len(tor.RawInfo))
	}
	return tor.RawInfo, tor.InfoHash
}

// serve returns the ut_metadata data message a peer holding info sends for piece.
func serve(info []byte, piece int) []byte {
	end := min((piece+1)*wire.MetadataPieceLen, len(info))
	return wire.AppendMetadataMsg(nil, wire.MetadataMsg{
		Type: wire.MetadataData, Piece: piece, TotalSize: int64(len(info)),
		Data: info[piece*wire.MetadataPieceLen : end],
	})
}

func TestMetadataAssemblerRealInfo(t *testing.T) {
	info, hash := realInfo(t)
	a, err := wire.NewMetadataAssembler(int64(len(info)), hash)
	if err != nil {
		t.Fatal(err)
	}
	n := a.NumPieces()
	if got := a.Missing(); len(got) != n || got[0] != 0 || got[n-1] != n-1 {
		t.Fatalf("Missing() = %v at start", got)
	}
	if _, err := a.Verify(); err == nil || !strings.Contains(err.Error(), "incomplete: 0 of") {
		t.Fatalf("Verify before Done: %v", err)
	}
	// Pieces arrive as messages, out of order, one twice.
	order := []int{n - 1, 1, 1, 0}
	for i := 2; i < n-1; i++ {
		order = append(order, i)
	}
	for k, p := range order {
		if a.Done() {
			t.Fatalf("Done after %d of %d pieces", k, n)
		}
		m, err := wire.ParseMetadataMsg(serve(info, p))
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Add(m.Piece, m.Data); err != nil {
			t.Fatal(err)
		}
	}
	if !a.Done() || a.Missing() != nil {
		t.Fatalf("Done %v, Missing %v", a.Done(), a.Missing())
	}
	got, err := a.Verify()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, info) {
		t.Fatal("assembled bytes differ from the info dictionary")
	}
	parsed, err := metainfo.ParseInfo(got)
	if err != nil || parsed.Name != "many files" || len(parsed.Files) != 600 {
		t.Fatalf("ParseInfo: %v", err)
	}
	if again, err := a.Verify(); err != nil || !bytes.Equal(again, info) {
		t.Fatalf("second Verify: %v", err)
	}
}

func TestMetadataAssemblerWrongHash(t *testing.T) {
	info, hash := realInfo(t)
	wrong := hash
	wrong[0] ^= 1
	a, err := wire.NewMetadataAssembler(int64(len(info)), wrong)
	if err != nil {
		t.Fatal(err)
	}
	fill := func(corrupt int) {
		for p := range a.NumPieces() {
			m, err := wire.ParseMetadataMsg(serve(info, p))
			if err != nil {
				t.Fatal(err)
			}
			if p == corrupt {
				m.Data = bytes.Clone(m.Data)
				m.Data[len(m.Data)/2] ^= 0xff
			}
			if err := a.Add(m.Piece, m.Data); err != nil {
				t.Fatal(err)
			}
		}
	}
	fill(-1)
	if _, err := a.Verify(); !errors.Is(err, wire.ErrMetadataHash) {
		t.Fatalf("Verify with the wrong hash: %v, want ErrMetadataHash", err)
	}
	if a.Done() || len(a.Missing()) != a.NumPieces() {
		t.Fatalf("after a failed Verify: Done %v, Missing %v; want everything reset", a.Done(), a.Missing())
	}

	// The right hash, but one peer sent a bad piece.
	a, _ = wire.NewMetadataAssembler(int64(len(info)), hash)
	fill(1)
	if _, err := a.Verify(); !errors.Is(err, wire.ErrMetadataHash) {
		t.Fatalf("Verify with a corrupt piece: %v, want ErrMetadataHash", err)
	}
	fill(-1) // fetched again from a good peer
	if got, err := a.Verify(); err != nil || !bytes.Equal(got, info) {
		t.Fatalf("after refetching: %v", err)
	}
}

func TestMetadataAssemblerLimits(t *testing.T) {
	if wire.MaxMetadataSize != metainfo.MaxInfoSize {
		t.Fatalf("wire.MaxMetadataSize %d, metainfo.MaxInfoSize %d", wire.MaxMetadataSize, metainfo.MaxInfoSize)
	}
	for _, size := range []int64{0, -1, -1 << 62, wire.MaxMetadataSize + 1, 1 << 40} {
		if a, err := wire.NewMetadataAssembler(size, bt.InfoHash{}); err == nil || !strings.Contains(err.Error(), "is not in 1..16777216") {
			t.Errorf("size %d: %v, %v; want an error", size, a, err)
		}
	}
	a, err := wire.NewMetadataAssembler(wire.MaxMetadataSize, bt.InfoHash{})
	if err != nil || a.NumPieces() != wire.MaxMetadataPieces {
		t.Fatalf("16 MiB: %v", err)
	}

	size := int64(2*wire.MetadataPieceLen + 100)
	a, _ = wire.NewMetadataAssembler(size, bt.InfoHash{})
	full := make([]byte, wire.MetadataPieceLen)
	for _, tc := range []struct {
		piece int
		data  []byte
		want  string
	}{
		{-1, full, "piece -1 is not in 0..2"},
		{3, full[:100], "piece 3 is not in 0..2"},
		{0, full[:wire.MetadataPieceLen-1], "piece 0 has 16383 bytes, want 16384"},
		{1, append(full, 0), "piece 1 has 16385 bytes, want 16384"},
		{2, full, "piece 2 has 16384 bytes, want 100"},
		{2, full[:99], "piece 2 has 99 bytes, want 100"},
		{0, nil, "piece 0 has 0 bytes"},
	} {
		if err := a.Add(tc.piece, tc.data); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Add(%d, %d bytes) = %v, want %q", tc.piece, len(tc.data), err, tc.want)
		}
	}
	if a.Done() || !reflect.DeepEqual(a.Missing(), []int{0, 1, 2}) {
		t.Fatalf("rejected pieces were kept: Missing %v", a.Missing())
	}
}

// TestMetadataAssemblerAllocatesLazily: a peer's metadata_size costs next to nothing
// until a piece arrives, and then the declared size.
func TestMetadataAssemblerAllocatesLazily(t *testing.T) {
	var a *wire.MetadataAssembler
	var err error
	if got := allocated(func() { a, err = wire.NewMetadataAssembler(wire.MaxMetadataSize, bt.InfoHash{}) }); err != nil || got > 4<<10 {
		t.Fatalf("NewMetadataAssembler(16 MiB) allocated %d bytes, err %v", got, err)
	}
	piece := make([]byte, wire.MetadataPieceLen)
	if got := allocated(func() { err = a.Add(0, piece) }); err != nil || got < wire.MaxMetadataSize || got > wire.MaxMetadataSize+64<<10 {
		t.Fatalf("first Add allocated %d bytes, err %v", got, err)
	}
	if got := allocated(func() { err = a.Add(1, piece) }); err != nil || got > 1<<10 { // the runtime may allocate a little meanwhile
		t.Fatalf("second Add allocated %d bytes, err %v", got, err)
	}
}

func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
