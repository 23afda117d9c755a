package session

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/hyperblow/hyperblow/engine/enginetest"
)

// TestHandlerCompactJSON: /status is one line of JSON (indenting 200 torrents'
// status cost most of a query), /status?pretty the same fields indented.
func TestHandlerCompactJSON(t *testing.T) {
	mt, _ := enginetest.Torrent(t, "h.bin", 64<<10, []enginetest.File{{Data: enginetest.RandomBytes(3, 100<<10)}})
	s, _ := newTestSession(t, newFakeFolders())
	if err := s.Add("h.torrent", Source{Torrent: mt}); err != nil {
		t.Fatal(err)
	}
	get := func(path string) (Snapshot, []byte) {
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		var st Snapshot
		if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &st) != nil || len(st.Torrents) != 1 {
			t.Fatalf("%s: %d\n%s", path, w.Code, w.Body.String())
		}
		return st, w.Body.Bytes()
	}
	st, compact := get("/status")
	if bytes.Count(compact, []byte("\n")) != 1 || st.Torrents[0].Name != "h.bin" {
		t.Errorf("/status is not one line, or not the torrent:\n%s", compact)
	}
	pst, pretty := get("/status?pretty")
	if !bytes.Contains(pretty, []byte("\n  \"torrents\": [\n")) || pst.Torrents[0].InfoHash != st.Torrents[0].InfoHash {
		t.Errorf("/status?pretty is not indented, or not the same torrent:\n%s", pretty)
	}
}
