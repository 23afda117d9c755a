package lsd

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/hyperblow/hyperblow/engine/bt"
)

func ih(b byte) bt.InfoHash {
	var h bt.InfoHash
	for i := range h {
		h[i] = b
	}
	return h
}

func TestParse(t *testing.T) {
	good := "BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 6881\r\n" +
		"Infohash: " + strings.Repeat("AB", 20) + "\r\nInfohash: " + strings.Repeat("01", 20) + "\r\ncookie: xyz\r\n\r\n\r\n"
	a, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if a.Port != 6881 || a.Cookie != "xyz" || a.Host != "239.192.152.143:6771" || len(a.InfoHashes) != 2 || a.InfoHashes[0] != ih(0xab) || a.InfoHashes[1] != ih(0x01) {
		t.Fatalf("got %+v", a)
	}
	bad := map[string]string{
		"not search":  "M-SEARCH * HTTP/1.1\r\nPort: 1\r\nInfohash: " + strings.Repeat("ab", 20) + "\r\n\r\n",
		"no port":     "BT-SEARCH * HTTP/1.1\r\nInfohash: " + strings.Repeat("ab", 20) + "\r\n\r\n",
		"port 0":      "BT-SEARCH * HTTP/1.1\r\nPort: 0\r\nInfohash: " + strings.Repeat("ab", 20) + "\r\n\r\n",
		"port big":    "BT-SEARCH * HTTP/1.1\r\nPort: 65536\r\nInfohash: " + strings.Repeat("ab", 20) + "\r\n\r\n",
		"no infohash": "BT-SEARCH * HTTP/1.1\r\nPort: 1\r\n\r\n",
		"short hash":  "BT-SEARCH * HTTP/1.1\r\nPort: 1\r\nInfohash: abcd\r\n\r\n",
		"no colon":    "BT-SEARCH * HTTP/1.1\r\nPort 1\r\n\r\n",
		"too long":    "BT-SEARCH * HTTP/1.1\r\nPort: 1\r\nX: " + strings.Repeat("a", MaxMessage) + "\r\n\r\n",
		"many lines":  "BT-SEARCH * HTTP/1.1\r\n" + strings.Repeat("X: y\r\n", maxHeaders+1) + "\r\n",
		"long cookie": "BT-SEARCH * HTTP/1.1\r\nPort: 1\r\nInfohash: " + strings.Repeat("ab", 20) + "\r\ncookie: " + strings.Repeat("c", maxCookie+1) + "\r\n\r\n",
	}
	for name, msg := range bad {
		if _, err := Parse([]byte(msg)); err == nil {
			t.Errorf("%s: parsed, want an error", name)
		}
	}
}

func TestEncodeSplits(t *testing.T) {
	var ihs []bt.InfoHash
	for i := range 70 {
		ihs = append(ihs, ih(byte(i)))
	}
	msgs := Encode(Group.String(), 6881, ihs, "cafe")
	if len(msgs) < 3 {
		t.Fatalf("%d messages for 70 infohashes, want at least 3", len(msgs))
	}
	var got []bt.InfoHash
	for _, m := range msgs {
		if len(m) > MaxMessage {
			t.Fatalf("message of %d bytes", len(m))
		}
		a, err := Parse(m)
		if err != nil {
			t.Fatal(err)
		}
		if a.Port != 6881 || a.Cookie != "cafe" {
			t.Fatalf("got %+v", a)
		}
		got = append(got, a.InfoHashes...)
	}
	if len(got) != len(ihs) {
		t.Fatalf("%d infohashes back, want %d", len(got), len(ihs))
	}
	for i := range got {
		if got[i] != ihs[i] {
			t.Fatalf("infohash %d: got %s, want %s", i, got[i], ihs[i])
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, m := range Encode(Group.String(), 6881, []bt.InfoHash{ih(1), ih(2)}, "c00k1e") {
		f.Add(m)
	}
	f.Add([]byte("BT-SEARCH * HTTP/1.1\r\nPort: 1\r\nInfohash: " + strings.Repeat("ab", 20)))
	f.Add([]byte("BT-SEARCH * HTTP/1.1\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := Parse(b)
		if err != nil {
			return
		}
		if a.Port == 0 || len(a.InfoHashes) == 0 || len(a.InfoHashes) > maxInfoHashes || len(a.Cookie) > maxCookie {
			t.Fatalf("accepted %+v", a)
		}
		// What we accept, we can say again and read back the same.
		msgs := Encode("h", a.Port, a.InfoHashes, "")
		var back []bt.InfoHash
		for _, m := range msgs {
			b, err := Parse(m)
			if err != nil {
				t.Fatalf("re-encoded message refused: %v", err)
			}
			back = append(back, b.InfoHashes...)
		}
		if !bytes.Equal(flat(back), flat(a.InfoHashes)) {
			t.Fatal("round trip changed the infohashes")
		}
	})
}

func flat(ihs []bt.InfoHash) []byte {
	var b []byte
	for _, h := range ihs {
		b = append(b, h[:]...)
	}
	return b
}

func TestLocalSource(t *testing.T) {
	for ip, want := range map[string]bool{
		"10.1.2.3": true, "192.168.0.7": true, "172.16.0.1": true, "169.254.1.1": true, "127.0.0.1": true,
		"fe80::1": true, "fd00::5": true, "8.8.8.8": false, "2001:db8::1": false, "203.0.113.1": false,
	} {
		if got := LocalSource(netip.MustParseAddr(ip)); got != want {
			t.Errorf("LocalSource(%s) = %v, want %v", ip, got, want)
		}
	}
}
