package dht

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCaptures decodes the packets captured from libtorrent (testdata/README.md) and
// answers its queries.
func TestCaptures(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "captures", "lt-*.bin"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no captures: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(filepath.Base(f), ".bin")
		m, err := parseMessage(b)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		switch {
		case strings.HasSuffix(name, "-reply"):
			if m.Type != typeResponse || m.Reply.ID.IsZero() || !m.Requester.IsValid() {
				t.Errorf("%s: %+v", name, m)
			}
			if strings.HasPrefix(name, "lt-get_peers") && len(m.Reply.Token) == 0 {
				t.Errorf("%s: no token", name)
			}
		case strings.HasSuffix(name, "-error"):
			if m.Type != typeError || m.Code != CodeProtocol || m.Text == "" {
				t.Errorf("%s: %+v", name, m)
			}
		case strings.HasSuffix(name, "-query"):
			if m.Type != typeQuery || m.Method == methodUnknown {
				t.Errorf("%s: %+v", name, m)
			}
			n, w := handlerNode(t, Config{})
			from := netip.MustParseAddrPort("127.0.0.1:6881")
			ms := exchange(t, n, w, b, from, time.Now())
			// announce_peer carries a token of another node: 203; others succeed.
			wantType := byte(typeResponse)
			if m.Method == methodAnnouncePeer {
				wantType = typeError
			}
			if len(ms) != 1 || ms[0].Type != wantType {
				t.Errorf("%s: answered %+v", name, ms)
			}
		default:
			t.Errorf("%s: unknown capture kind", name)
		}
	}
}
