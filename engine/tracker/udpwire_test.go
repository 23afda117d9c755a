package tracker

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
)

func TestUDPAnnounceRequestLayout(t *testing.T) {
	req := AnnounceRequest{InfoHash: awkwardHash, PeerID: bt.NewPeerID(), Port: 6881, Downloaded: 1, Left: 2, Uploaded: 3,
		Event: EventStopped, NumWant: 30, Key: 0x01020304}
	b := appendAnnounceRequest(nil, 0x1122334455667788, 0xaabbccdd, &req)
	if len(b) != udpAnnounceLen {
		t.Fatalf("length %d, want %d", len(b), udpAnnounceLen)
	}
	be := binary.BigEndian
	checks := []struct {
		name      string
		got, want uint64
	}{
		{"connection id", be.Uint64(b), 0x1122334455667788},
		{"action", uint64(be.Uint32(b[8:])), actionAnnounce},
		{"transaction id", uint64(be.Uint32(b[12:])), 0xaabbccdd},
		{"downloaded", be.Uint64(b[56:]), 1},
		{"left", be.Uint64(b[64:]), 2},
		{"uploaded", be.Uint64(b[72:]), 3},
		{"event", uint64(be.Uint32(b[80:])), 3},
		{"ip", uint64(be.Uint32(b[84:])), 0},
		{"key", uint64(be.Uint32(b[88:])), 0x01020304},
		{"num_want", uint64(be.Uint32(b[92:])), 30},
		{"port", uint64(be.Uint16(b[96:])), 6881},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
		}
	}
	if string(b[16:36]) != string(req.InfoHash[:]) || string(b[36:56]) != string(req.PeerID[:]) {
		t.Error("info_hash or peer_id misplaced")
	}
	req.NumWant = 0
	if b := appendAnnounceRequest(nil, 0, 0, &req); be.Uint32(b[92:]) != 0xffffffff {
		t.Errorf("num_want default = %#x, want -1", be.Uint32(b[92:]))
	}
	for ev, code := range map[Event]uint32{EventNone: 0, EventCompleted: 1, EventStarted: 2, EventStopped: 3} {
		if udpEvent(ev) != code {
			t.Errorf("event %v: code %d, want %d", ev, udpEvent(ev), code)
		}
	}
}

func TestUDPConnectRequestLayout(t *testing.T) {
	b := appendConnectRequest(nil, 7)
	want := []byte{0, 0, 4, 0x17, 0x27, 0x10, 0x19, 0x80, 0, 0, 0, 0, 0, 0, 0, 7}
	if !reflect.DeepEqual(b, want) {
		t.Fatalf("got %x, want %x", b, want)
	}
}

// udpAnnounceReply builds a BEP 15 announce reply.
func udpAnnounceReply(tx uint32, interval, leechers, seeders uint32, peers []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, actionAnnounce)
	b = binary.BigEndian.AppendUint32(b, tx)
	b = binary.BigEndian.AppendUint32(b, interval)
	b = binary.BigEndian.AppendUint32(b, leechers)
	b = binary.BigEndian.AppendUint32(b, seeders)
	return append(b, peers...)
}

func TestParseUDPAnnounce(t *testing.T) {
	p4 := []byte{10, 0, 0, 1, 0x1a, 0xe1}
	got, err := parseUDPAnnounce(udpAnnounceReply(1, 120, 4, 5, p4), false)
	if err != nil {
		t.Fatal(err)
	}
	want := &AnnounceResponse{Interval: 2 * time.Minute, Leechers: 4, Seeders: 5,
		Peers: []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:6881")}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	// BEP 15: a tracker reached over IPv6 sends 18-byte peers.
	p6 := bt.AppendCompactPeer(nil, netip.MustParseAddrPort("[2001:db8::2]:51413"))
	got, err = parseUDPAnnounce(udpAnnounceReply(1, 60, 0, 0, p6), true)
	if err != nil || len(got.Peers) != 1 || got.Peers[0] != netip.MustParseAddrPort("[2001:db8::2]:51413") {
		t.Fatalf("IPv6: got %+v, %v", got, err)
	}
}

func TestParseUDPMalformed(t *testing.T) {
	errReply := append(binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, actionError), 1), "bad\x00torrent"...)
	tests := []struct {
		name string
		fn   func() error
	}{
		{"announce empty", func() error { _, err := parseUDPAnnounce(nil, false); return err }},
		{"announce short", func() error { _, err := parseUDPAnnounce(udpAnnounceReply(1, 1, 1, 1, nil)[:19], false); return err }},
		{"announce ragged peers", func() error {
			_, err := parseUDPAnnounce(udpAnnounceReply(1, 1, 1, 1, []byte{1, 2, 3}), false)
			return err
		}},
		{"announce 6-byte peers over IPv6", func() error {
			_, err := parseUDPAnnounce(udpAnnounceReply(1, 1, 1, 1, make([]byte, 12)), true)
			return err
		}},
		{"announce negative interval", func() error {
			_, err := parseUDPAnnounce(udpAnnounceReply(1, 0xffffffff, 1, 1, nil), false)
			return err
		}},
		{"announce wrong action", func() error {
			b := udpAnnounceReply(1, 1, 1, 1, nil)
			b[3] = actionScrape
			_, err := parseUDPAnnounce(b, false)
			return err
		}},
		{"connect short", func() error { _, err := parseUDPConnect(make([]byte, 15)); return err }},
		{"scrape short", func() error {
			_, err := parseUDPScrape(append(make([]byte, 3), actionScrape, 0, 0, 0, 0), 1)
			return err
		}},
	}
	for _, tt := range tests {
		if err := tt.fn(); err == nil {
			t.Errorf("%s: want an error", tt.name)
		}
	}
	_, err := parseUDPAnnounce(errReply, false)
	var fe *FailureError
	if !errors.As(err, &fe) || fe.Reason != "bad?torrent" {
		t.Fatalf("error reply: got %v", err)
	}
}

func TestRetryDelay(t *testing.T) {
	if got := retryDelay(15*time.Second, 8); got != 3840*time.Second {
		t.Fatalf("15 s · 2^8 = %v, want 3840 s", got)
	}
	if got := retryDelay(time.Hour, 200); got <= 0 {
		t.Fatalf("overflowed to %v", got)
	}
}
