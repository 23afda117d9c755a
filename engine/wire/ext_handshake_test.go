package wire

import (
	"errors"
	"net/netip"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/hyperblow/hyperblow/engine/internal/benc"
)

// extAllocated returns the bytes f allocates. Tests that use it must not run in parallel.
func extAllocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// extAllocLimit is the allocation budget of one parse: 32 bytes per input byte plus
// 64 KiB.
func extAllocLimit(n int) uint64 { return uint64(32*n + 64<<10) }

// wantExtError checks that err is a parse error that matches ErrBadExtPayload and says
// what is wrong.
func wantExtError(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", want)
	}
	if !errors.Is(err, ErrBadExtPayload) || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "wire: ") {
		t.Fatalf("error %q, want a wire error matching ErrBadExtPayload and containing %q", err, want)
	}
}

func TestExtHandshakeRoundTrip(t *testing.T) {
	for _, h := range []ExtHandshake{
		{},
		{M: map[string]uint8{ExtMetadata: 1, ExtPex: 2, "lt_donthave": 0}, MetadataSize: 31235, V: "Hyperblow 0.1", ReqQ: 250, Port: 6881, YourIP: netip.MustParseAddr("192.0.2.7"), UploadOnly: true},
		{M: map[string]uint8{ExtMetadata: 255}, MetadataSize: MaxMetadataSize, YourIP: netip.MustParseAddr("2001:db8::1")},
	} {
		b := AppendExtHandshake([]byte("prefix"), h)
		if !strings.HasPrefix(string(b), "prefix") {
			t.Fatalf("dst not kept: %q", b)
		}
		if err := benc.Scan(b[6:], benc.Limits{SortedKeys: true}); err != nil {
			t.Fatalf("%q is not canonical bencode: %v", b[6:], err)
		}
		if !strings.Contains(string(b), "1:md") {
			t.Fatalf("no m dictionary in %q", b)
		}
		got, err := ParseExtHandshake(b[6:])
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, h) {
			t.Fatalf("got  %+v\nwant %+v", got, h)
		}
	}
}

func TestParseExtHandshake(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    ExtHandshake
	}{
		{
			"libtorrent-like",
			"d12:complete_agoi-1e1:md11:lt_donthavei7e10:share_modei8e11:upload_onlyi3e12:ut_holepunchi4e11:ut_metadatai2e6:ut_pexi1ee13:metadata_sizei31235e1:pi6881e4:reqqi500e11:upload_onlyi1e1:v17:libtorrent/2.0.106:yourip4:\x7f\x00\x00\x01e",
			ExtHandshake{
				M:            map[string]uint8{"lt_donthave": 7, "share_mode": 8, "upload_only": 3, "ut_holepunch": 4, ExtMetadata: 2, ExtPex: 1},
				MetadataSize: 31235, V: "libtorrent/2.0.10", ReqQ: 500, Port: 6881,
				YourIP: netip.MustParseAddr("127.0.0.1"), UploadOnly: true,
			},
		},
		{"empty dictionary", "de", ExtHandshake{}},
		{"empty m", "d1:mdee", ExtHandshake{}},
		{"disabled extension kept", "d1:md6:ut_pexi0eee", ExtHandshake{M: map[string]uint8{ExtPex: 0}}},
		{
			"bad m entries skipped",
			"d1:md0:i1e1:ai256e1:bi-1e1:c1:x1:di3e" + bs(strings.Repeat("n", MaxExtNameLen+1)) + "i4eee",
			ExtHandshake{M: map[string]uint8{"d": 3}},
		},
		{"m of the wrong type", "d1:mli1eee", ExtHandshake{}},
		{"wrong types ignored", "d13:metadata_size1:x1:pd1:ai1ee4:reqq1:x1:vi5e6:yourip0:11:upload_only1:xe", ExtHandshake{}},
		{"metadata_size 0 is absent", "d13:metadata_sizei0ee", ExtHandshake{}},
		{"out-of-range values dropped", "d1:pi70000e4:reqqi-5e6:yourip5:abcdee", ExtHandshake{}},
		{"port 0 dropped", "d1:pi0ee", ExtHandshake{}},
		{"reqq capped", "d4:reqqi1000000000ee", ExtHandshake{ReqQ: MaxReqQ}},
		{"yourip IPv6", "d6:yourip16:\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01e", ExtHandshake{YourIP: netip.MustParseAddr("2001:db8::1")}},
		{"yourip IPv4-mapped", "d6:yourip16:\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x01\x02\x03\x04e", ExtHandshake{YourIP: netip.MustParseAddr("1.2.3.4")}},
		{"client name sanitized", "d1:v" + bs("evil\x1b[2J\xff\u202eexe\x00!") + "e", ExtHandshake{V: "evil\uFFFD[2J\uFFFD\uFFFDexe\uFFFD!"}},
		{"client name cut", "d1:v" + bs(strings.Repeat("é", 40)) + "e", ExtHandshake{V: strings.Repeat("é", MaxClientNameLen/2)}},
		{"upload_only 0", "d11:upload_onlyi0ee", ExtHandshake{}},
		{"unsorted keys", "d1:v1:x1:md1:ai1eee", ExtHandshake{M: map[string]uint8{"a": 1}, V: "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseExtHandshake([]byte(tt.payload))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestParseExtHandshakeErrors(t *testing.T) {
	var manyM strings.Builder
	for i := range MaxExtNames + 1 {
		manyM.WriteString(bs(string(rune('A'+i/26)) + string(rune('a'+i%26))))
		manyM.WriteString("i1e")
	}
	tests := []struct {
		name, payload, want string
	}{
		{"empty", "", "bad bencode"},
		{"not bencode", "hello", "bad bencode"},
		{"trailing bytes", "dex", "bad bencode"},
		{"list", "le", "want a dictionary, got list"},
		{"duplicate keys", "d1:pi1e1:pi2ee", "bad bencode"},
		{"negative metadata_size", "d13:metadata_sizei-1ee", "metadata_size -1 is negative"},
		{"huge negative metadata_size", "d13:metadata_sizei-9223372036854775808ee", "is negative"},
		{"oversized metadata_size", "d13:metadata_sizei16777217ee", "metadata_size 16777217 is over the limit of 16777216"},
		{"too many extensions", "d1:md" + manyM.String() + "ee", "m has 65 entries, over the limit of 64"},
		{"oversized payload", "d1:v" + bs(strings.Repeat("x", MaxExtHandshakeLen)) + "e", "over the limit of 65536"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := ParseExtHandshake([]byte(tt.payload))
			wantExtError(t, err, tt.want)
			if !reflect.DeepEqual(h, ExtHandshake{}) {
				t.Fatalf("error with a non-zero result %+v", h)
			}
		})
	}
}

// TestExtHandshakeInMessage: the payload travels in an EXTENDED message with id 0.
func TestExtHandshakeInMessage(t *testing.T) {
	h := ExtHandshake{M: map[string]uint8{ExtMetadata: 3}, MetadataSize: 100}
	frame := AppendMessage(nil, Message{ID: Extended, ExtID: ExtHandshakeID, Payload: AppendExtHandshake(nil, h)})
	m, n, err := Parse(frame, Limits{})
	if err != nil || n != len(frame) || m.ID != Extended || m.ExtID != ExtHandshakeID {
		t.Fatalf("Parse: %v, %d, %v", m, n, err)
	}
	got, err := ParseExtHandshake(m.Payload)
	if err != nil || got.M[ExtMetadata] != 3 || got.MetadataSize != 100 {
		t.Fatalf("got %+v, %v", got, err)
	}
}

// bs bencodes a string.
func bs(s string) string { return strconv.Itoa(len(s)) + ":" + s }
