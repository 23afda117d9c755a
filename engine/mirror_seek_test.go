package engine_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/enginetest"
)

// A seek on a mirror busy with read-ahead (the head and tail that opening a
// file wants) does not wait for those jobs to end: the waited piece gets a job
// at once, and the read-ahead jobs far from it are cancelled without counting
// as the mirror's failure. Here the read-ahead requests hang until the test
// lets them go; before mirror_seek.go the seek's read waited for their
// deadline (5 s + 4 s per MiB) and then the mirror's back-off.
func TestMirrorSeekPreemptsReadahead(t *testing.T) {
	files := []enginetest.File{{Data: enginetest.RandomBytes(17, 16<<20)}}
	mt, _ := enginetest.Torrent(t, "tor", 1<<20, files)
	const seekTo = 10 << 20
	release, bothHung := make(chan struct{}), make(chan struct{})
	var held, cancelled atomic.Int32
	ts, _ := mirrorServer(t, mt, files, func(w http.ResponseWriter, r *http.Request) bool {
		rg := r.Header.Get("Range")
		if r.Method != http.MethodGet || strings.HasPrefix(rg, "bytes=10485760-") {
			return false
		}
		// The head's stream serves piece 0, then hangs (the head's next
		// piece); any other request (the tail) hangs at once.
		n := int64(0)
		if strings.HasPrefix(rg, "bytes=0-") {
			n = 1 << 20
		}
		if held.Add(1) == 2 {
			close(bothHung)
		}
		if !holdAfter(w, r, files[0].Data, n, release) {
			cancelled.Add(1)
		}
		return true
	})
	tor := mirrorLeecher(t, mt, ts.URL+"/m/tor")
	r := tor.NewReader(mt.Info.Files[0])
	defer r.Close()
	buf := make([]byte, 64<<10)
	if _, err := r.ReadAt(t.Context(), buf, 0); err != nil || !bytes.Equal(buf, files[0].Data[:len(buf)]) {
		t.Fatalf("read at 0: %v", err)
	}
	<-bothHung // both read-ahead jobs (the head's next piece, the tail) hang on the mirror
	// The head's next piece: its job reads the stream (webseed/stream.go).
	waitMirrorState(t, "two held streams", func() bool { held, _ := engine.MirrorStreams(tor); return held >= 2 })
	// Well before a hung job's deadline (9 s for 1 MiB).
	ctx, cancel := context.WithTimeout(t.Context(), 7*time.Second)
	defer cancel()
	if _, err := r.ReadAt(ctx, buf, seekTo); err != nil || !bytes.Equal(buf, files[0].Data[seekTo:seekTo+len(buf)]) {
		t.Fatalf("read at %d behind hung read-ahead jobs: %v", seekTo, err)
	}
	close(release)
	if ms := tor.Mirrors(); ms[0].Error != "" || ms[0].State == "backing off" {
		t.Errorf("after a seek the mirror is %+v: the cancelled read-ahead counted as a failure", ms[0])
	}
	if got := readAll(t, tor, mt.Info.Files[0], 1<<20); !bytes.Equal(got, files[0].Data) {
		t.Fatal("content differs after the cancelled read-ahead")
	}
	if cancelled.Load() == 0 {
		t.Error("no hung read-ahead request was cancelled")
	}
}
