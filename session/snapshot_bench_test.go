package session

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/enginetest"
)

// quietFolders is a mount that names each folder after its torrent.
type quietFolders struct{}

func (quietFolders) Add(e *Entry) (string, error)  { return e.InfoHash().String(), nil }
func (quietFolders) Attach(*Entry)                 {}
func (quietFolders) Failed(*Entry, error)          {}
func (quietFolders) Remove(*Entry) <-chan struct{} { c := make(chan struct{}); close(c); return c }

// BenchmarkSnapshot200 is what one status query of bench/idle costs: the snapshot
// of 200 torrents of 256 KiB (64 KiB pieces, no peers) and its JSON.
func BenchmarkSnapshot200(b *testing.B) {
	s, err := New(Config{Engine: engine.Config{Listen: "127.0.0.1:0"}, CacheSize: 8 << 20, NoTrackers: true, Folders: quietFolders{}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for i := range 200 {
		mt, _ := enginetest.Torrent(b, fmt.Sprintf("t%03d.bin", i), 64<<10, []enginetest.File{{Data: enginetest.RandomBytes(byte(i), 256<<10)}})
		if err := s.Add(fmt.Sprintf("t%03d.torrent", i), Source{Torrent: mt}); err != nil {
			b.Fatal(err)
		}
	}
	h := s.Handler()
	var size int
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/status", nil))
		if w.Code != 200 {
			b.Fatalf("status %d", w.Code)
		}
		size = w.Body.Len()
	}
	b.ReportMetric(float64(size), "json-bytes")
	var st Snapshot
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/status", nil))
	if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil || len(st.Torrents) != 200 {
		b.Fatalf("%d torrents, %v", len(st.Torrents), err)
	}
}
