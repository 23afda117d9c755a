package webseed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{7}).Read(b)
	return b
}

func TestFileURL(t *testing.T) {
	single := Layout{Name: "a b.iso", Files: []File{{Length: 10}}}
	multi := Layout{Name: "dir #1", Multi: true, Files: []File{{Path: []string{"sub", "x?y.txt"}, Length: 10}}}
	for _, c := range []struct {
		base string
		l    Layout
		want string
	}{
		{"http://h/files/a.iso", single, "http://h/files/a.iso"},
		{"http://h/files/", single, "http://h/files/a%20b.iso"},
		{"https://h/m", multi, "https://h/m/dir%20%231/sub/x%3Fy.txt"},
		{"https://h/m/", multi, "https://h/m/dir%20%231/sub/x%3Fy.txt"},
	} {
		got, err := FileURL(c.base, c.l, 0)
		if err != nil || got != c.want {
			t.Errorf("FileURL(%q) = %q, %v; want %q", c.base, got, err, c.want)
		}
	}
	for _, bad := range []string{"ftp://h/x", "http://", "/local", "::"} {
		if _, err := FileURL(bad, single, 0); err == nil {
			t.Errorf("FileURL(%q): no error", bad)
		}
	}
}

func TestSegments(t *testing.T) {
	l := Layout{Multi: true, Files: []File{
		{Path: []string{"a"}, Offset: 0, Length: 10},
		{Path: []string{"empty"}, Offset: 10, Length: 0},
		{Path: []string{"b"}, Offset: 10, Length: 5},
		{Path: []string{"c"}, Offset: 15, Length: 20},
	}}
	got := fmt.Sprint(l.Segments(8, 10))
	if want := "[{0 8 2} {2 0 5} {3 0 3}]"; got != want {
		t.Errorf("Segments(8, 10) = %s, want %s", got, want)
	}
	if got := fmt.Sprint(l.Segments(30, 100)); got != "[{3 15 5}]" {
		t.Errorf("Segments past the end = %s", got)
	}
}

// server serves files of a multi-file torrent "t" under /m/t/, through a hook
// that may misbehave.
type server struct {
	files map[string][]byte
	hook  func(w http.ResponseWriter, r *http.Request) bool // true: handled
	hits  atomic.Int64
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.hits.Add(1)
	if s.hook != nil && s.hook(w, r) {
		return
	}
	b, ok := s.files[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
}

func setup(t *testing.T, hook func(w http.ResponseWriter, r *http.Request) bool) (*Mirror, []byte, *server) {
	t.Helper()
	a, b := randomBytes(3<<20), randomBytes(100_000)
	s := &server{files: map[string][]byte{"/m/t/a": a, "/m/t/d/b": b}, hook: hook}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	l := Layout{Name: "t", Multi: true, Files: []File{
		{Path: []string{"a"}, Length: int64(len(a))},
		{Path: []string{".pad", "1"}, Offset: int64(len(a)), Length: 1000, Padding: true},
		{Path: []string{"d", "b"}, Offset: int64(len(a)) + 1000, Length: int64(len(b))},
	}}
	c := NewClient()
	t.Cleanup(c.CloseIdleConnections)
	m, err := NewMirror(ts.URL+"/m", l, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	data := append(append(append([]byte{}, a...), make([]byte, 1000)...), b...)
	return m, data, s
}

func fetch(m *Mirror, off int64, n int) ([]byte, int, error) {
	dst := make([]byte, n)
	last := 0
	k, err := m.Fetch(context.Background(), off, Buffers{dst[:n/3], dst[n/3:]}, func(n int) {
		if n < last {
			panic("progress went back")
		}
		last = n
	})
	if last != k {
		return dst, k, fmt.Errorf("progress %d, returned %d", last, k)
	}
	return dst, k, err
}

func TestFetchAcrossFiles(t *testing.T) {
	m, data, _ := setup(t, nil)
	off := int64(3<<20 - 5000)
	got, n, err := fetch(m, off, 20000)
	if err != nil || n != 20000 || !bytes.Equal(got, data[off:off+20000]) {
		t.Fatalf("Fetch across a file, padding and another file: n=%d err=%v equal=%v", n, err, bytes.Equal(got, data[off:off+20000]))
	}
}

func TestFetch404(t *testing.T) {
	m, _, _ := setup(t, func(w http.ResponseWriter, r *http.Request) bool {
		http.NotFound(w, r)
		return true
	})
	if _, _, err := fetch(m, 0, 100); !errors.Is(err, ErrNotFound) {
		t.Fatalf("got %v, want ErrNotFound", err)
	}
}

func TestFetch5xx(t *testing.T) {
	m, _, s := setup(t, func(w http.ResponseWriter, r *http.Request) bool {
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return true
	})
	if _, _, err := fetch(m, 0, 100); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
	if s.hits.Load() != 1 {
		t.Errorf("%d requests after a 503, want 1 (the caller backs off)", s.hits.Load())
	}
}

// A server that ignores Range: a small offset is skipped, a large one refused.
func TestFetch200(t *testing.T) {
	m, data, _ := setup(t, func(w http.ResponseWriter, r *http.Request) bool {
		r.Header.Del("Range")
		return false
	})
	got, _, err := fetch(m, 1000, 5000)
	if err != nil || !bytes.Equal(got, data[1000:6000]) {
		t.Fatalf("200 at a small offset: %v", err)
	}
	if _, _, err := fetch(m, 2<<20, 5000); !errors.Is(err, ErrNoRange) {
		t.Fatalf("200 at 2 MiB: got %v, want ErrNoRange", err)
	}
}

func TestFetchRedirects(t *testing.T) {
	var target string
	m, data, _ := setup(t, func(w http.ResponseWriter, r *http.Request) bool {
		if strings.HasPrefix(r.URL.Path, "/m/") {
			http.Redirect(w, r, target+"/r1"+strings.TrimPrefix(r.URL.Path, "/m"), http.StatusFound)
			return true
		}
		if p, ok := strings.CutPrefix(r.URL.Path, "/r1"); ok {
			http.Redirect(w, r, "/m2"+p, http.StatusMovedPermanently)
			return true
		}
		if p, ok := strings.CutPrefix(r.URL.Path, "/m2"); ok {
			r.URL.Path = "/m" + p
			return false
		}
		return false
	})
	target = strings.TrimSuffix(m.base, "/m")
	// The hook would loop for /m2 -> /m -> ...: give it a served path.
	got, _, err := fetch(m, 10, 100)
	if err != nil || !bytes.Equal(got, data[10:110]) {
		t.Fatalf("two redirects: %v", err)
	}

	loop, _, _ := setup(t, func(w http.ResponseWriter, r *http.Request) bool {
		http.Redirect(w, r, r.URL.Path, http.StatusFound)
		return true
	})
	if _, _, err := fetch(loop, 0, 100); err == nil || !strings.Contains(err.Error(), "redirects") {
		t.Fatalf("a redirect loop: got %v", err)
	}
}

// A mirror that closes the connection mid-body: the rest is asked again.
func TestFetchClosedMidBody(t *testing.T) {
	var cut atomic.Int64
	m, data, s := setup(t, func(w http.ResponseWriter, r *http.Request) bool {
		if cut.Add(1) > 2 {
			return false
		}
		// Promise the whole range, send 1000 bytes, hang up.
		var first, last int64
		fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-%d", &first, &last)
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", first, last, 3<<20))
		w.Header().Set("Content-Length", fmt.Sprint(last-first+1))
		w.WriteHeader(http.StatusPartialContent)
		w.Write(randomBytes(3 << 20)[first : first+1000])
		panic(http.ErrAbortHandler)
	})
	got, _, err := fetch(m, 0, 100_000)
	if err != nil || !bytes.Equal(got, data[:100_000]) {
		t.Fatalf("after two cut bodies: %v", err)
	}
	if s.hits.Load() != 3 {
		t.Errorf("%d requests, want 3", s.hits.Load())
	}
}

// A mirror that always hangs up before a byte: Fetch gives up after Retries.
func TestFetchAlwaysClosed(t *testing.T) {
	m, _, s := setup(t, func(w http.ResponseWriter, r *http.Request) bool {
		panic(http.ErrAbortHandler)
	})
	if _, _, err := fetch(m, 0, 100); err == nil {
		t.Fatal("no error")
	}
	if s.hits.Load() != Retries {
		t.Errorf("%d requests, want %d", s.hits.Load(), Retries)
	}
}

// A mirror whose Content-Range is not what was asked.
func TestFetchWrongRange(t *testing.T) {
	m, _, _ := setup(t, func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Content-Range", "bytes 0-99/1000")
		w.WriteHeader(http.StatusPartialContent)
		w.Write(make([]byte, 100))
		return true
	})
	if _, _, err := fetch(m, 50, 100); !errors.Is(err, ErrBadReply) {
		t.Fatalf("got %v, want ErrBadReply", err)
	}
}

// A mirror that sends more than asked: only the asked bytes are read.
func TestFetchOversizedBody(t *testing.T) {
	m, _, _ := setup(t, func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Content-Range", "bytes 0-99/1000")
		w.WriteHeader(http.StatusPartialContent)
		for i := 0; i < 1000; i++ { // 64 MiB, never read
			if _, err := w.Write(make([]byte, 64<<10)); err != nil {
				return true
			}
		}
		return true
	})
	if _, n, err := fetch(m, 0, 100); err != nil || n != 100 {
		t.Fatalf("got %d, %v", n, err)
	}
}

// A mirror that stops sending: the request ends after StallTimeout, or when
// the caller's context ends (the engine's deadline), whichever is first.
func TestFetchSlowMirror(t *testing.T) {
	release := make(chan struct{})
	m, _, _ := setup(t, func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Content-Range", "bytes 0-99/1000")
		w.WriteHeader(http.StatusPartialContent)
		w.Write(make([]byte, 10))
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return true
	})
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	dst := make([]byte, 100)
	errc := make(chan error, 1)
	go func() {
		_, err := m.Fetch(ctx, 0, Buffers{dst}, func(n int) {
			if n == 10 {
				cancel() // the first bytes came, then nothing: the owner gives up
			}
		})
		errc <- err
	}()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
	case <-time.After(StallTimeout / 2):
		t.Fatal("Fetch did not return when its context ended")
	}
}

func TestParseContentRange(t *testing.T) {
	for _, c := range []struct {
		h    string
		a, b int64
		ok   bool
	}{
		{"bytes 0-99/100", 0, 99, true},
		{"bytes 5-9/*", 5, 9, true},
		{"bytes 5-9/9", 0, 0, false},
		{"bytes 9-5/100", 0, 0, false},
		{"bytes -1-5/100", 0, 0, false},
		{"items 0-1/2", 0, 0, false},
		{"bytes */100", 0, 0, false},
		{"", 0, 0, false},
	} {
		a, b, err := ParseContentRange(c.h)
		if (err == nil) != c.ok || a != c.a || b != c.b {
			t.Errorf("ParseContentRange(%q) = %d, %d, %v", c.h, a, b, err)
		}
	}
}

func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-99/100", "bytes 5-9/*", "bytes 1-0/5", "bytes 9223372036854775807-9223372036854775807/*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		a, b, err := ParseContentRange(h)
		if err == nil && (a < 0 || b < a) {
			t.Fatalf("%q: %d-%d accepted", h, a, b)
		}
	})
}

// Warm makes the connection the first Fetch uses: one connection in all, and
// the mirror saw a HEAD of the first file before the range request.
func TestWarm(t *testing.T) {
	var methods []string
	m, data, _ := setup(t, func(w http.ResponseWriter, r *http.Request) bool {
		methods = append(methods, r.Method+" "+r.URL.Path) // the test's requests come one at a time
		return false
	})
	ts := m.client.Transport.(*http.Transport)
	var conns atomic.Int64
	dial := ts.DialContext
	ts.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conns.Add(1)
		return dial(ctx, network, addr)
	}
	if err := m.Warm(t.Context()); err != nil {
		t.Fatal(err)
	}
	got, _, err := fetch(m, 0, 1<<20)
	if err != nil || !bytes.Equal(got, data[:1<<20]) {
		t.Fatalf("fetch after Warm: %v", err)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
	if want := "[HEAD /m/t/a GET /m/t/a]"; fmt.Sprint(methods) != want {
		t.Errorf("requests %v, want %s", methods, want)
	}
}
