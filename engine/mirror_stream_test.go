package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/enginetest"
	"github.com/hyperblow/hyperblow/engine/webseed"
)

// holdAfter answers a range request of data with its first n bytes, then
// nothing until release closes (then the rest of the range) or the request
// ends. It reports whether it sent the whole range.
func holdAfter(w http.ResponseWriter, r *http.Request, data []byte, n int64, release <-chan struct{}) bool {
	var first, last int64
	if _, err := fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-%d", &first, &last); err != nil {
		http.Error(w, "no range", http.StatusBadRequest)
		return false
	}
	last = min(last, int64(len(data))-1)
	w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", first, last, len(data)))
	w.Header().Set("Content-Length", fmt.Sprint(last-first+1))
	w.WriteHeader(http.StatusPartialContent)
	n = min(n, last-first+1)
	w.Write(data[first : first+n])
	w.(http.Flusher).Flush()
	select {
	case <-release:
	case <-r.Context().Done():
		return false
	}
	_, err := w.Write(data[first+n : last+1])
	return err == nil
}

// A file read from start to end comes in one request (a stream: the first
// asks for the rest of the file and each job goes on reading its body), not
// a request per job; every piece comes verified by its job, in order.
func TestMirrorStreamOneRequest(t *testing.T) {
	const plen = 256 << 10
	files := []enginetest.File{{Data: enginetest.RandomBytes(31, 40*plen)}}
	mt, _ := enginetest.Torrent(t, "tor", plen, files)
	var mu sync.Mutex
	var ranges []string
	ts, _ := mirrorServer(t, mt, files, func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet {
			mu.Lock()
			ranges = append(ranges, r.Header.Get("Range"))
			mu.Unlock()
		}
		return false
	})
	tor := mirrorLeecher(t, mt, ts.URL+"/m/tor")
	if got := readAll(t, tor, mt.Info.Files[0], 128<<10); !bytes.Equal(got, files[0].Data) {
		t.Fatal("content differs")
	}
	mu.Lock()
	defer mu.Unlock()
	// Each job in torrent order after the first goes on with the stream
	// (here the reader outruns the read-ahead, and pieces it waits for may
	// go out as requests of their own: mirror_seek.go).
	cont := engine.MirrorContinued(tor)
	t.Logf("%d requests %v, %d reads went on with a stream", len(ranges), ranges, cont)
	if cont == 0 || int64(len(ranges)) > cont {
		t.Errorf("%d requests and %d reads that went on with a stream, for a file read in order", len(ranges), cont)
	}
	if n := engine.MirrorVerified(tor); n != int64(mt.Info.NumPieces) {
		t.Errorf("%d of %d pieces verified by their job", n, mt.Info.NumPieces)
	}
}

// A seek away from a stream cancels it (its job is read-ahead), and the
// seek's piece comes first, from a request of its own, while the stream's
// server holds it; the stream's cancel is no failure of the mirror.
func TestMirrorStreamSeekCancels(t *testing.T) {
	const plen = 1 << 20
	files := []enginetest.File{{Data: enginetest.RandomBytes(32, 16*plen)}}
	mt, _ := enginetest.Torrent(t, "tor", plen, files)
	const seekTo = 10 * plen
	release, streamHeld, streamCancelled := make(chan struct{}), make(chan struct{}), make(chan struct{})
	ts, _ := mirrorServer(t, mt, files, func(w http.ResponseWriter, r *http.Request) bool {
		rg := r.Header.Get("Range")
		switch {
		case r.Method != http.MethodGet:
			return false
		case strings.HasPrefix(rg, "bytes=0-"): // the head: piece 0, then the stream stalls
			go func() {
				select {
				case streamHeld <- struct{}{}:
				case <-r.Context().Done():
				}
			}()
			if !holdAfter(w, r, files[0].Data, plen, release) {
				close(streamCancelled)
			}
			return true
		case strings.HasPrefix(rg, fmt.Sprintf("bytes=%d-", seekTo)):
			return false
		default: // the tail: held too
			holdAfter(w, r, files[0].Data, 0, release)
			return true
		}
	})
	defer close(release)
	tor := mirrorLeecher(t, mt, ts.URL+"/m/tor")
	r := tor.NewReader(mt.Info.Files[0])
	defer r.Close()
	buf := make([]byte, 64<<10)
	if _, err := r.ReadAt(t.Context(), buf, 0); err != nil || !bytes.Equal(buf, files[0].Data[:len(buf)]) {
		t.Fatalf("read at 0: %v", err)
	}
	<-streamHeld
	// Until a job reads the stream past piece 0 (the head's next piece), beside the tail's.
	waitMirrorState(t, "two held streams", func() bool { held, _ := engine.MirrorStreams(tor); return held >= 2 })
	ctx, cancel := context.WithTimeout(t.Context(), 7*time.Second) // well before a job's deadline
	defer cancel()
	if _, err := r.ReadAt(ctx, buf, seekTo); err != nil || !bytes.Equal(buf, files[0].Data[seekTo:seekTo+len(buf)]) {
		t.Fatalf("read at %d behind a stalled stream: %v", seekTo, err)
	}
	select {
	case <-streamCancelled:
	case <-ctx.Done():
		t.Fatal("the stalled stream was not cancelled for the seek")
	}
	if ms := tor.Mirrors(); ms[0].Error != "" || ms[0].State == "backing off" {
		t.Errorf("after a seek the mirror is %+v: the cancelled stream counted as a failure", ms[0])
	}
}

// A mirror that lies in the middle of a stream (good pieces, then a bad one)
// is banned: the reads before were served, the bad piece never is.
func TestMirrorStreamLyingIsBanned(t *testing.T) {
	const plen = 256 << 10
	data := enginetest.RandomBytes(33, 16*plen)
	files := []enginetest.File{{Data: data}}
	mt, _ := enginetest.Torrent(t, "tor", plen, files)
	lie := bytes.Clone(data)
	lie[6*plen+100] ^= 0xff
	ts, hits := mirrorServer(t, mt, []enginetest.File{{Data: lie}}, nil)
	tor := mirrorLeecher(t, mt, ts.URL+"/m/tor")
	r := tor.NewReader(mt.Info.Files[0])
	defer r.Close()
	buf := make([]byte, 64<<10)
	for off := 0; off < 4*plen; off += len(buf) {
		if _, err := r.ReadAt(t.Context(), buf, int64(off)); err != nil || !bytes.Equal(buf, data[off:off+len(buf)]) {
			t.Fatalf("read at %d: %v", off, err)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	readErr := make(chan error, 1)
	go func() {
		_, err := r.ReadAt(ctx, buf, 6*plen) // never served: only the liar has it
		readErr <- err
	}()
	for {
		ms := tor.Mirrors()
		if ms[0].State == "banned" {
			if !strings.Contains(ms[0].Error, "hash") {
				t.Fatalf("banned for %q", ms[0].Error)
			}
			break
		}
		select {
		case err := <-readErr:
			t.Fatalf("the lied-about piece was read: %v", err)
		case <-t.Context().Done():
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	n := hits.Load()
	tor.Stats()
	if hits.Load() > n+2 {
		t.Fatalf("%d requests after the ban", hits.Load()-n)
	}
	cancel()
	if err := <-readErr; err == nil {
		t.Fatal("the lied-about piece was read")
	}
}

// A mirror that closes its stream mid-body and then fails every request backs
// off; the blocks it held go back to the picker, and the other mirror
// delivers them.
func TestMirrorStreamClosedBacksOff(t *testing.T) {
	const plen = 256 << 10
	files := []enginetest.File{{Data: enginetest.RandomBytes(34, 16*plen)}}
	mt, _ := enginetest.Torrent(t, "tor", plen, files)
	var served atomic.Int32
	bad, badHits := mirrorServer(t, mt, files, func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet {
			return false
		}
		if served.Add(1) == 1 { // a stream: 1.5 pieces, then the connection drops
			w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", len(files[0].Data)-1, len(files[0].Data)))
			w.Header().Set("Content-Length", fmt.Sprint(len(files[0].Data)))
			w.WriteHeader(http.StatusPartialContent)
			w.Write(files[0].Data[:plen+plen/2])
			w.(http.Flusher).Flush()
		}
		panic(http.ErrAbortHandler)
	})
	// The good mirror answers once the bad one has failed: the bad one's
	// blocks are the ones it delivers.
	good, _ := mirrorServer(t, mt, files, func(w http.ResponseWriter, r *http.Request) bool {
		for r.Method == http.MethodGet && served.Load() < 1+webseed.Retries {
			select {
			case <-r.Context().Done():
				return true
			case <-time.After(time.Millisecond):
			}
		}
		return false
	})
	tor := mirrorLeecher(t, mt, bad.URL+"/m/tor", good.URL+"/m/tor")
	if got := readAll(t, tor, mt.Info.Files[0], 64<<10); !bytes.Equal(got, files[0].Data) {
		t.Fatal("content differs")
	}
	if badHits.Load() == 0 {
		t.Fatal("the bad mirror was asked nothing")
	}
	// (Its back-off may be over by now on a loaded machine: its error stays.)
	if ms := tor.Mirrors(); ms[0].Error == "" || ms[1].Downloaded == 0 {
		t.Fatalf("mirrors %+v: want the one that closed its stream failed, with its error, and the other delivering", ms)
	}
}

// A reader that stops holds the stream no further than the picker asked: the
// mirror's body is not read on, the server is held by TCP flow control, and
// the parked stream is closed after webseed.StreamIdle.
func TestMirrorStreamBoundedWhenReaderStops(t *testing.T) {
	const plen = 1 << 20
	files := []enginetest.File{{Data: enginetest.RandomBytes(35, 64*plen)}}
	mt, _ := enginetest.Torrent(t, "tor", plen, files)
	var written atomic.Int64
	ts, _ := mirrorServer(t, mt, files, func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet {
			return false
		}
		http.ServeContent(&countWriter{ResponseWriter: w, n: &written}, r, "", time.Time{}, bytes.NewReader(files[0].Data))
		return true
	})
	tor := mirrorLeecher(t, mt, ts.URL+"/m/tor")
	r := tor.NewReader(mt.Info.Files[0])
	defer r.Close()
	buf := make([]byte, 128<<10)
	for off := 0; off < 4*plen; off += len(buf) {
		if _, err := r.ReadAt(t.Context(), buf, int64(off)); err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
	}
	// The reader stops (its handle stays open): every request ends, the
	// stream's at last by its idle timer.
	deadline := time.After(webseed.StreamIdle + 20*time.Second)
	for {
		held, parked := engine.MirrorStreams(tor)
		if held == 0 && parked == 0 {
			break
		}
		select {
		case <-deadline:
			t.Fatalf("streams %d held, %d parked: never closed", held, parked)
		case <-time.After(20 * time.Millisecond):
		}
	}
	down := tor.Mirrors()[0].Downloaded
	// 4 MiB read, the read-ahead window after them, and for the server the
	// socket buffers on both sides; the file is 64 MiB.
	if down > 32*plen {
		t.Errorf("%d bytes taken from the mirror for a reader that stopped after 4 MiB", down)
	}
	if w := written.Load(); w > 48*plen {
		t.Errorf("the server wrote %d of %d bytes for a reader that stopped after 4 MiB", w, len(files[0].Data))
	}
}

type countWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (w *countWriter) Write(p []byte) (int, error) {
	k, err := w.ResponseWriter.Write(p)
	w.n.Add(int64(k))
	return k, err
}
