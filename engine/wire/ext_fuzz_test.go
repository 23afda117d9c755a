package wire

import (
	"bytes"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// The extension fuzz targets share one property set: the parser never panics,
// allocates at most 32 bytes per input byte plus 64 KiB, fails only with errors
// matching ErrBadExtPayload (or ErrUnknownMetadataType), and what it accepts encodes
// to a payload that parses back to the same value.

func checkExtAlloc(t *testing.T, in []byte, parse func()) {
	t.Helper()
	if got, limit := extAllocated(parse), extAllocLimit(len(in)); got > limit {
		t.Fatalf("parsing %d bytes allocated %d, want <= %d", len(in), got, limit)
	}
}

func FuzzExtHandshake(f *testing.F) {
	f.Add([]byte("d1:md11:ut_metadatai1e6:ut_pexi2ee13:metadata_sizei31235e1:pi6881e4:reqqi500e1:v17:libtorrent/2.0.106:yourip4:\x7f\x00\x00\x01e"))
	f.Add(AppendExtHandshake(nil, ExtHandshake{M: map[string]uint8{ExtMetadata: 0}, V: "x\x00", YourIP: netip.MustParseAddr("::1"), UploadOnly: true}))
	f.Add([]byte("d1:md1:ai300e1:bi-1e0:i1ee13:metadata_sizei-1ee"))
	f.Add([]byte("d13:metadata_sizei16777217ee"))
	f.Add([]byte("d1:v4:\xff\x1b\u202ee"))
	f.Add([]byte("2000000000:x"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var h ExtHandshake
		var err error
		checkExtAlloc(t, in, func() { h, err = ParseExtHandshake(in) })
		if err != nil {
			if !errors.Is(err, ErrBadExtPayload) || !reflect.DeepEqual(h, ExtHandshake{}) {
				t.Fatalf("error %v with %+v", err, h)
			}
			return
		}
		if len(h.M) > MaxExtNames || h.MetadataSize < 0 || h.MetadataSize > MaxMetadataSize || h.ReqQ < 0 || h.ReqQ > MaxReqQ || len(h.V) > MaxClientNameLen {
			t.Fatalf("limits broken: %+v", h)
		}
		if strings.ContainsFunc(h.V, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("unprintable client name %q", h.V)
		}
		enc := AppendExtHandshake(nil, h)
		again, err := ParseExtHandshake(enc)
		if err != nil || !reflect.DeepEqual(again, h) {
			t.Fatalf("round trip through %q: %+v, %v; want %+v", enc, again, err, h)
		}
	})
}

func FuzzMetadataMsg(f *testing.F) {
	f.Add(AppendMetadataMsg(nil, MetadataMsg{Type: MetadataRequest, Piece: 3}))
	f.Add(AppendMetadataMsg(nil, MetadataMsg{Type: MetadataReject, Piece: 1023}))
	f.Add(AppendMetadataMsg(nil, MetadataMsg{Type: MetadataData, Piece: 1, TotalSize: MetadataPieceLen + 5, Data: []byte("tail!")}))
	f.Add([]byte("d8:msg_typei1e5:piecei0e10:total_sizei-1eex"))
	f.Add([]byte("d5:piecei0e8:msg_typei7ee"))
	f.Add([]byte("d8:msg_typei1e5:piecei0e10:total_size2000000000:e"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var m MetadataMsg
		var err error
		checkExtAlloc(t, in, func() { m, err = ParseMetadataMsg(in) })
		if err != nil {
			if !errors.Is(err, ErrBadExtPayload) && !errors.Is(err, ErrUnknownMetadataType) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if m.Piece < 0 || m.Piece >= MaxMetadataPieces || m.Type < 0 || m.Type > 2 {
			t.Fatalf("limits broken: %+v", m)
		}
		if m.Type == MetadataData {
			if m.TotalSize < 1 || m.TotalSize > MaxMetadataSize || len(m.Data) != MetadataPieceSize(m.TotalSize, m.Piece) || len(m.Data) == 0 {
				t.Fatalf("bad data message: piece %d, total %d, %d bytes", m.Piece, m.TotalSize, len(m.Data))
			}
			if !bytes.HasSuffix(in, m.Data) {
				t.Fatal("data is not the end of the payload")
			}
		} else if m.TotalSize != 0 || m.Data != nil {
			t.Fatalf("non-data message with data: %+v", m)
		}
		enc := AppendMetadataMsg(nil, m)
		again, err := ParseMetadataMsg(enc)
		if err != nil || !reflect.DeepEqual(again, m) {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, m)
		}
	})
}

func FuzzPex(f *testing.F) {
	f.Add(AppendPexMsg(nil, PexMsg{Added: v4peers(3), AddedFlags: []byte{1, 2, 3}, Added6: v6peers(2), Dropped: v4peers(1), Dropped6: v6peers(1)}))
	f.Add(AppendPexMsg(nil, PexMsg{Added: v4peers(60)}))
	f.Add([]byte("d5:added7:12345677:added.f1:xe"))
	f.Add([]byte("d6:added618:\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x01\x02\x03\x04\x00\x018:added6.f1:\x02e"))
	f.Add([]byte("d7:dropped0:8:dropped60:e"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var m PexMsg
		var err error
		checkExtAlloc(t, in, func() { m, err = ParsePexMsg(in) })
		if err != nil {
			if !errors.Is(err, ErrBadExtPayload) || !reflect.DeepEqual(m, PexMsg{}) {
				t.Fatalf("error %v with %+v", err, m)
			}
			return
		}
		if len(m.Added)+len(m.Added6) > MaxPexPeers || len(m.Dropped)+len(m.Dropped6) > MaxPexPeers {
			t.Fatalf("over %d peers: %d+%d added, %d+%d dropped", MaxPexPeers, len(m.Added), len(m.Added6), len(m.Dropped), len(m.Dropped6))
		}
		if (m.AddedFlags != nil && len(m.AddedFlags) != len(m.Added)) || (m.Added6Flags != nil && len(m.Added6Flags) != len(m.Added6)) {
			t.Fatalf("flags do not match peers: %+v", m)
		}
		enc := AppendPexMsg(nil, m)
		again, err := ParsePexMsg(enc)
		if err != nil || !reflect.DeepEqual(again, m) {
			t.Fatalf("round trip through %q: %+v, %v; want %+v", enc, again, err, m)
		}
	})
}
