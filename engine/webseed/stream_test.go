package webseed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rangeLog records the Range header of every GET (the test's server calls it
// from its handlers, one goroutine each).
type rangeLog struct {
	mu     sync.Mutex
	ranges []string
}

func (l *rangeLog) hook(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet {
		l.mu.Lock()
		l.ranges = append(l.ranges, r.URL.Path+" "+r.Header.Get("Range"))
		l.mu.Unlock()
	}
	return false
}

func (l *rangeLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ranges)
}

func (l *rangeLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprint(l.ranges)
}

// Fetches one after another through a file are one request: the first asks
// for the rest of the file, the next ones go on reading its body.
func TestStreamContinues(t *testing.T) {
	var log rangeLog
	m, data, _ := setup(t, log.hook)
	for off := int64(0); off < 1<<20; off += 100_000 {
		got, n, err := fetch(m, off, 100_000)
		if err != nil || n != 100_000 || !bytes.Equal(got, data[off:off+100_000]) {
			t.Fatalf("fetch at %d: n=%d err=%v", off, n, err)
		}
	}
	if want := "[/m/t/a bytes=0-3145727]"; log.String() != want {
		t.Errorf("requests %s, want %s", log.String(), want)
	}
	if held, parked := m.Streams(); held != 0 || parked != 1 {
		t.Errorf("streams: %d held, %d parked; want 0, 1", held, parked)
	}
}

// A Fetch for where another still reads the stream waits for it and goes on
// on the same body (a pipelined reader's next run).
func TestStreamPipelined(t *testing.T) {
	var log rangeLog
	m, data, _ := setup(t, log.hook)
	a, b := make([]byte, 1<<20), make([]byte, 1<<20)
	errs := make(chan error, 2)
	var once sync.Once
	go func() {
		_, err := m.Fetch(t.Context(), 0, Buffers{a}, func(int) {
			once.Do(func() { // A's stream is open: B queues behind it
				go func() {
					_, err := m.Fetch(t.Context(), 1<<20, Buffers{b}, func(int) {})
					errs <- err
				}()
			})
		})
		errs <- err
	}()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(a, data[:1<<20]) || !bytes.Equal(b, data[1<<20:2<<20]) {
		t.Fatal("content differs")
	}
	if want := "[/m/t/a bytes=0-3145727]"; log.String() != want {
		t.Errorf("requests %s, want %s", log.String(), want)
	}
}

// A Fetch that does not continue an earlier one (random access) asks for its
// own range only: closing a body not read to its end would cost the
// connection.
func TestStreamRandomAccessOwnRange(t *testing.T) {
	var log rangeLog
	m, data, _ := setup(t, log.hook)
	got, _, err := fetch(m, 5000, 1000)
	if err != nil || !bytes.Equal(got, data[5000:6000]) {
		t.Fatal(err)
	}
	got, _, err = fetch(m, 6000, 1000) // continues it: a stream from here
	if err != nil || !bytes.Equal(got, data[6000:7000]) {
		t.Fatal(err)
	}
	if want := "[/m/t/a bytes=5000-5999 /m/t/a bytes=6000-3145727]"; log.String() != want {
		t.Errorf("requests %s, want %s", log.String(), want)
	}
}

// A parked stream nobody continues is closed after streamIdle.
func TestStreamIdleClosed(t *testing.T) {
	defer func(d time.Duration) { streamIdle = d }(streamIdle)
	streamIdle = 50 * time.Millisecond
	m, _, _ := setup(t, nil)
	if _, _, err := fetch(m, 0, 1000); err != nil {
		t.Fatal(err)
	}
	if _, parked := m.Streams(); parked != 1 {
		t.Fatalf("%d parked streams after a fetch at 0, want 1", parked)
	}
	deadline := time.After(10 * time.Second)
	for {
		held, parked := m.Streams()
		if held == 0 && parked == 0 {
			break
		}
		select {
		case <-deadline:
			t.Fatalf("streams %d held, %d parked: the parked one was not closed", held, parked)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// A Fetch cancelled in the middle of a stream closes it: the next Fetch at
// where it stood makes a request of its own.
func TestStreamCancelled(t *testing.T) {
	var log rangeLog
	var first atomic.Bool
	var data []byte
	m, data, _ := setup(t, func(w http.ResponseWriter, r *http.Request) bool {
		log.hook(w, r)
		if r.Method != http.MethodGet || first.Swap(true) {
			return false
		}
		// 1000 bytes of the stream, then nothing until the client gives up.
		w.Header().Set("Content-Range", fmt.Sprintf("bytes 0-%d/%d", 3<<20-1, 3<<20))
		w.WriteHeader(http.StatusPartialContent)
		w.Write(data[:1000])
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		return true
	})
	ctx, cancel := context.WithCancel(t.Context())
	dst := make([]byte, 1<<20)
	n, err := m.Fetch(ctx, 0, Buffers{dst}, func(n int) {
		if n >= 1000 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %d, %v; want context.Canceled", n, err)
	}
	if held, parked := m.Streams(); held != 0 || parked != 0 {
		t.Errorf("streams after a cancel: %d held, %d parked; want none", held, parked)
	}
	got, _, err := fetch(m, int64(n), 1000)
	if err != nil || !bytes.Equal(got, data[n:n+1000]) {
		t.Fatal(err)
	}
	if log.count() != 2 {
		t.Errorf("requests %s, want 2", log.String())
	}
}

// Close closes the parked streams and parks none after.
func TestStreamClose(t *testing.T) {
	m, _, _ := setup(t, nil)
	if _, _, err := fetch(m, 0, 1000); err != nil {
		t.Fatal(err)
	}
	m.Close()
	if _, _, err := fetch(m, 1000, 1000); err != nil {
		t.Fatal(err)
	}
	if held, parked := m.Streams(); held != 0 || parked != 0 {
		t.Errorf("streams after Close: %d held, %d parked; want none", held, parked)
	}
}

// At most maxParked streams stay parked: the one that delivered least goes.
func TestStreamParkedBounded(t *testing.T) {
	m, _, _ := setup(t, nil)
	// The main stream: 100000 bytes from 0. Then small scattered streams.
	if _, _, err := fetch(m, 0, 100_000); err != nil {
		t.Fatal(err)
	}
	for k := 1; k <= 2*maxParked; k++ {
		off := int64(k) * 200_000
		m.streams.sequential(0, off-1, 1) // as if a request had ended at off: a stream from there
		if _, _, err := fetch(m, off, 1000); err != nil {
			t.Fatal(err)
		}
	}
	if _, parked := m.Streams(); parked > maxParked {
		t.Errorf("%d parked streams, want at most %d", parked, maxParked)
	}
	before := m.Continued()
	if _, _, err := fetch(m, 100_000, 1000); err != nil {
		t.Fatal(err)
	}
	if m.Continued() != before+1 {
		t.Error("the stream that delivered most was closed for smaller ones")
	}
}
