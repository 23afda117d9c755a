package wire

import (
	"bytes"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func v4peers(n int) []netip.AddrPort {
	out := make([]netip.AddrPort, n)
	for i := range out {
		out[i] = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), uint16(1000+i))
	}
	return out
}

func v6peers(n int) []netip.AddrPort {
	out := make([]netip.AddrPort, n)
	for i := range out {
		out[i] = netip.AddrPortFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i >> 8), 15: byte(i)}), uint16(2000+i))
	}
	return out
}

func TestPexRoundTrip(t *testing.T) {
	mapped := netip.AddrPortFrom(netip.AddrFrom16(netip.MustParseAddr("::ffff:1.2.3.4").As16()), 5)
	for _, m := range []PexMsg{
		{},
		{Added: v4peers(3), AddedFlags: []byte{PexSeed, PexUTP | PexReachable, 0}, Dropped: v4peers(2)[1:]},
		{Added6: append(v6peers(2), mapped), Added6Flags: []byte{PexEncryption, PexHolepunch, 0}, Dropped6: v6peers(1)},
		{Added: v4peers(25), Added6: v6peers(25), Dropped: v4peers(50)},
		{Added: v4peers(2)}, // no flags
	} {
		b := AppendPexMsg(nil, m)
		got, err := ParsePexMsg(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("%q:\n got %+v\nwant %+v", b, got, m)
		}
	}
	if got := string(AppendPexMsg(nil, PexMsg{})); got != "d5:added0:7:added.f0:7:dropped0:e" {
		t.Fatalf("empty message encodes to %q", got)
	}
}

// TestAppendPexMisplaced: addresses of the wrong family in an IPv4 list are skipped
// together with their flags; IPv4 in an IPv6 list is written mapped.
func TestAppendPexMisplaced(t *testing.T) {
	v6 := v6peers(1)[0]
	m := PexMsg{
		Added:      []netip.AddrPort{v4peers(1)[0], v6, {}, netip.MustParseAddrPort("[::ffff:9.9.9.9]:9")},
		AddedFlags: []byte{1, 2, 3, 4},
		Added6:     []netip.AddrPort{netip.MustParseAddrPort("8.8.8.8:53")},
	}
	got, err := ParsePexMsg(AppendPexMsg(nil, m))
	if err != nil {
		t.Fatal(err)
	}
	want := PexMsg{
		Added:      []netip.AddrPort{v4peers(1)[0], netip.MustParseAddrPort("9.9.9.9:9")},
		AddedFlags: []byte{1, 4},
		Added6:     []netip.AddrPort{netip.MustParseAddrPort("[::ffff:8.8.8.8]:53")},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func compact(peers []netip.AddrPort, ipLen int) string {
	var b []byte
	for _, p := range peers {
		if ipLen == 4 {
			ip := p.Addr().As4()
			b = append(b, ip[:]...)
		} else {
			ip := p.Addr().As16()
			b = append(b, ip[:]...)
		}
		b = append(b, byte(p.Port()>>8), byte(p.Port()))
	}
	return string(b)
}

func TestParsePexTruncates(t *testing.T) {
	flags := strings.Repeat("\x02", 60)
	tests := []struct {
		name    string
		payload string
		want    PexMsg
	}{
		{
			"60 IPv4 added",
			"d5:added" + bs(compact(v4peers(60), 4)) + "7:added.f" + bs(flags) + "6:added6" + bs(compact(v6peers(5), 16)) + "e",
			PexMsg{Added: v4peers(MaxPexPeers), AddedFlags: []byte(flags[:MaxPexPeers])},
		},
		{
			"30 + 30 added",
			"d5:added" + bs(compact(v4peers(30), 4)) + "6:added6" + bs(compact(v6peers(30), 16)) + "8:added6.f" + bs(flags[:30]) + "e",
			PexMsg{Added: v4peers(30), Added6: v6peers(20), Added6Flags: []byte(flags[:20])},
		},
		{
			"dropped capped separately",
			"d5:added" + bs(compact(v4peers(50), 4)) + "7:dropped" + bs(compact(v4peers(40), 4)) + "8:dropped6" + bs(compact(v6peers(40), 16)) + "e",
			PexMsg{Added: v4peers(50), Dropped: v4peers(40), Dropped6: v6peers(10)},
		},
		{
			"flags of the wrong length dropped",
			"d5:added" + bs(compact(v4peers(3), 4)) + "7:added.f" + bs("\x01\x02") + "e",
			PexMsg{Added: v4peers(3)},
		},
		{
			"too many flags dropped",
			"d5:added" + bs(compact(v4peers(2), 4)) + "7:added.f" + bs("\x01\x02\x03") + "e",
			PexMsg{Added: v4peers(2)},
		},
		{
			"wrong types and unknown keys ignored",
			"d5:addedi1e7:added.fle1:xi1e7:dropped" + bs(compact(v4peers(1), 4)) + "e",
			PexMsg{Dropped: v4peers(1)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePexMsg([]byte(tt.payload))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParsePexErrors(t *testing.T) {
	tests := []struct {
		name, payload, want string
	}{
		{"empty", "", "bad bencode"},
		{"not a dictionary", "l5:addede", "want a dictionary, got list"},
		{"bad added length", "d5:added7:1234567e", "added is 7 bytes, not a multiple of 6"},
		{"bad added6 length", "d6:added66:123456e", "added6 is 6 bytes, not a multiple of 18"},
		{"bad dropped length", "d7:dropped1:xe", "dropped is 1 bytes, not a multiple of 6"},
		{"bad dropped6 length", "d8:dropped619:0123456789abcdefghie", "dropped6 is 19 bytes"},
		{"oversized", "d5:added" + bs(strings.Repeat("\x01", MaxPexLen-6)) + "e", "over the limit of 512000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParsePexMsg([]byte(tt.payload))
			wantExtError(t, err, tt.want)
			if !reflect.DeepEqual(m, PexMsg{}) {
				t.Fatalf("error with a result %+v", m)
			}
		})
	}
}

// TestExtAllocationBounded: the largest payloads each parser accepts (and a little over)
// allocate at most 32 bytes per input byte plus 64 KiB.
func TestExtAllocationBounded(t *testing.T) {
	maxPex := "d5:added" + bs(compact(v4peers(MaxPexLen/6-4), 4)) + "e"
	var manyNames strings.Builder
	for i := range MaxExtNames {
		manyNames.WriteString(bs(strings.Repeat(string(rune('a'+i%26)), 1+i/26+i)) + "i1e")
	}
	inputs := map[string]struct {
		payload string
		parse   func([]byte) error
	}{
		"pex 500 KiB":            {maxPex, func(b []byte) error { _, err := ParsePexMsg(b); return err }},
		"pex 2 MB":               {strings.Repeat(maxPex, 4), func(b []byte) error { _, err := ParsePexMsg(b); return err }},
		"pex nested":             {strings.Repeat("l", 100_000), func(b []byte) error { _, err := ParsePexMsg(b); return err }},
		"handshake 64 names":     {"d1:md" + manyNames.String() + "ee", func(b []byte) error { _, err := ParseExtHandshake(b); return err }},
		"handshake long v":       {"d1:v" + bs(strings.Repeat("\x00", MaxExtHandshakeLen-20)) + "e", func(b []byte) error { _, err := ParseExtHandshake(b); return err }},
		"handshake unknown keys": {"d1:xl" + strings.Repeat("de", 30_000) + "ee", func(b []byte) error { _, err := ParseExtHandshake(b); return err }},
		"handshake 2 GB string":  {"2000000000:x", func(b []byte) error { _, err := ParseExtHandshake(b); return err }},
		"metadata data":          {string(AppendMetadataMsg(nil, MetadataMsg{Type: MetadataData, TotalSize: MaxMetadataSize, Data: bytes.Repeat([]byte{1}, MetadataPieceLen)})), func(b []byte) error { _, err := ParseMetadataMsg(b); return err }},
		"metadata 2 GB string":   {"d8:msg_typei1e5:piecei0e10:total_size2000000000:e", func(b []byte) error { _, err := ParseMetadataMsg(b); return err }},
	}
	for name, in := range inputs {
		var err error
		b := []byte(in.payload)
		got := extAllocated(func() { err = in.parse(b) })
		t.Logf("%-24s %8d bytes in, %8d allocated, err=%v", name, len(in.payload), got, err)
		if limit := extAllocLimit(len(in.payload)); got > limit {
			t.Errorf("%s: %d bytes allocated, want <= %d", name, got, limit)
		}
	}
}
