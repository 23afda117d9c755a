// Package webseed fetches a torrent's bytes from an HTTP mirror (BEP 19,
// "url-list"). It knows URLs, ranges and HTTP, not pieces or hashes: the engine
// hands it a byte range of the torrent and verifies what comes back like any
// peer's blocks, so a mirror that lies is caught by the piece hash.
//
// What a mirror may do wrong, and what Fetch does about it:
//   - answer 200 (the whole file) to a Range request: the part before the
//     wanted range is skipped when it is at most MaxSkip bytes; otherwise the
//     mirror is unusable for this torrent (ErrNoRange): every request would
//     cost a download of the file up to the wanted bytes;
//   - redirect: followed, at most MaxRedirects times, to http or https only;
//   - answer 404/410 (ErrNotFound), 5xx or 429 (ErrUnavailable): returned for the
//     caller's back-off;
//   - close the connection in the middle of the body: the rest is asked again,
//     up to Retries times in a row without progress;
//   - stall: no byte for StallTimeout ends the request (ErrStalled);
//   - send more than asked: only the asked bytes are read (bodies are never
//     read whole); a Content-Range that does not start where asked is an error.
//
// A sequential reader's Fetches share one request, whose body each reads on
// from where the last stopped (stream.go).
package webseed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Limits.
const (
	MaxRedirects = 5
	// MaxSkip is how much of a 200 answer's body may be read and thrown away
	// to reach the wanted range.
	MaxSkip = 1 << 20
	// Retries is how many requests in a row may fail without a byte of
	// progress before Fetch gives up.
	Retries = 3
	// StallTimeout ends a request that delivers nothing for this long.
	StallTimeout = 10 * time.Second
)

// Errors a caller tells apart (wrapped with the URL and details).
var (
	ErrNotFound    = errors.New("not found on the mirror")
	ErrUnavailable = errors.New("mirror unavailable")
	ErrNoRange     = errors.New("mirror ignores Range requests")
	ErrStalled     = errors.New("mirror stalled")
	ErrBadReply    = errors.New("bad reply from the mirror")
)

// File is one file of the torrent as a mirror holds it.
type File struct {
	// Path holds the file's path components under the torrent's folder; empty
	// for a single-file torrent.
	Path   []string
	Offset int64 // in the torrent's data, files laid end to end
	Length int64
	// Padding files (BEP 47) are zeros that no mirror holds.
	Padding bool
}

// Layout is what a mirror needs to know of a torrent.
type Layout struct {
	Name  string
	Multi bool
	Files []File
}

// FileURL returns the URL of file f of l at mirror base (BEP 19): for a
// single-file torrent the URL is the file, unless it ends in "/", where the
// torrent's name is appended; for a multi-file torrent, base + "/" (unless it
// ends in one) + name + "/" + path, each component escaped.
func FileURL(base string, l Layout, f int) (string, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("web seed %q: not an http or https URL", base)
	}
	if !l.Multi {
		if strings.HasSuffix(base, "/") {
			return base + url.PathEscape(l.Name), nil
		}
		return base, nil
	}
	var b strings.Builder
	b.WriteString(base)
	if !strings.HasSuffix(base, "/") {
		b.WriteByte('/')
	}
	b.WriteString(url.PathEscape(l.Name))
	for _, c := range l.Files[f].Path {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(c))
	}
	return b.String(), nil
}

// Segment is the part of a torrent byte range that lies in one file.
type Segment struct {
	File     int
	Off, Len int64 // within the file
}

// Segments splits [off, off+n) of the torrent's data by file, skipping empty
// files. A range beyond the data is cut at its end.
func (l Layout) Segments(off, n int64) []Segment {
	var out []Segment
	end := off + n
	// Binary search for the first file that ends after off.
	lo, hi := 0, len(l.Files)
	for lo < hi {
		m := (lo + hi) / 2
		if f := l.Files[m]; f.Offset+f.Length <= off {
			lo = m + 1
		} else {
			hi = m
		}
	}
	for i := lo; i < len(l.Files) && l.Files[i].Offset < end; i++ {
		f := l.Files[i]
		s := max(off, f.Offset)
		e := min(end, f.Offset+f.Length)
		if e > s {
			out = append(out, Segment{File: i, Off: s - f.Offset, Len: e - s})
		}
	}
	return out
}

// Mirror is one web seed of one torrent.
type Mirror struct {
	base    string
	layout  Layout
	client  *http.Client
	streams streams
}

// NewMirror checks base and returns a mirror that fetches with client (whose
// redirects should be bounded, see NewClient).
func NewMirror(base string, l Layout, client *http.Client) (*Mirror, error) {
	if _, err := FileURL(base, l, 0); err != nil {
		return nil, err
	}
	return &Mirror{base: base, layout: l, client: client}, nil
}

// URL returns the mirror's base URL.
func (m *Mirror) URL() string { return m.base }

// NewClient returns an HTTP client for mirrors: the system's roots for HTTPS
// (net/http's default), at most MaxRedirects redirects to http or https, a
// bounded wait for headers.
func NewClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = 15 * time.Second
	tr.MaxIdleConnsPerHost = 4
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= MaxRedirects {
				return fmt.Errorf("%w: more than %d redirects", ErrBadReply, MaxRedirects)
			}
			if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
				return fmt.Errorf("%w: redirect to %s", ErrBadReply, req.URL.Scheme)
			}
			return nil
		},
	}
}

func (m *Mirror) fileURL(f int) string {
	u, _ := FileURL(m.base, m.layout, f) // base checked in NewMirror
	return u
}

// Buffers are buffers laid end to end, filled as one: a caller can fetch a
// run of pieces into one buffer per piece.
type Buffers [][]byte

// Len is the buffers' total length.
func (b Buffers) Len() int {
	n := 0
	for _, x := range b {
		n += len(x)
	}
	return n
}

// slice returns bytes [from, to) of b as Buffers.
func (b Buffers) slice(from, to int) Buffers {
	var out Buffers
	pos := 0
	for _, x := range b {
		lo, hi := max(from-pos, 0), min(to-pos, len(x))
		if lo < hi {
			out = append(out, x[lo:hi])
		}
		pos += len(x)
		if pos >= to {
			break
		}
	}
	return out
}

// span returns the contiguous bytes of b from pos, up to limit.
func (b Buffers) span(pos, limit int) []byte {
	for _, x := range b {
		if pos < len(x) {
			return x[pos:min(len(x), limit)]
		}
		pos -= len(x)
		limit -= len(x)
	}
	return nil
}

// Warm opens a connection to the mirror ahead of the first Fetch, with a HEAD
// request of the torrent's first file that holds data: the client keeps the
// connection for the next request, so a mount's first read does not wait for
// a TCP (and TLS) handshake with the mirror. The answer is not judged (Fetch
// does that); an error says only that no connection was made.
func (m *Mirror) Warm(ctx context.Context) error {
	f := -1
	for k, x := range m.layout.Files {
		if !x.Padding && x.Length > 0 {
			f = k
			break
		}
	}
	if f < 0 {
		return nil
	}
	u := m.fileURL(f)
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, u, nil)
	if err != nil {
		return fmt.Errorf("web seed %s: %w", u, err)
	}
	resp, err := m.client.Do(req)
	if err != nil {
		return fmt.Errorf("web seed %s: %w", u, err)
	}
	resp.Body.Close()
	return nil
}

// Fetch fills dst with the torrent's bytes from off, file by file, and calls
// got(n) each time the first n bytes of dst are complete (n grows; they are
// not written again). Padding is zeros. It returns how many bytes it filled
// and, if fewer than dst.Len(), why. Several Fetches of one Mirror may run at
// once, into different buffers.
func (m *Mirror) Fetch(ctx context.Context, off int64, dst Buffers, got func(n int)) (int, error) {
	done, total := 0, dst.Len()
	for _, s := range m.layout.Segments(off, int64(total)) {
		part := dst.slice(done, done+int(s.Len))
		if m.layout.Files[s.File].Padding {
			for _, x := range part {
				clear(x)
			}
			done += int(s.Len)
			got(done)
			continue
		}
		base := done
		n, err := m.fetchSegment(ctx, s, part, func(k int) { got(base + k) })
		done += n
		if err != nil {
			return done, err
		}
	}
	if done < total {
		return done, fmt.Errorf("%w: range beyond the torrent's data", ErrBadReply)
	}
	return done, nil
}

// fetchSegment fills part with bytes [s.Off, s.Off+part.Len()) of one file,
// asking again for the rest after a body that ended early.
func (m *Mirror) fetchSegment(ctx context.Context, s Segment, part Buffers, got func(int)) (int, error) {
	done, fails, total := 0, 0, part.Len()
	for done < total {
		n, err := m.get(ctx, s.File, s.Off+int64(done), part.slice(done, total), func(k int) { got(done + k) })
		done += n
		if err == nil {
			continue // a shorter 206 than asked: ask for the rest
		}
		if ctx.Err() != nil {
			return done, fmt.Errorf("web seed %s: %w", m.fileURL(s.File), context.Cause(ctx))
		}
		if n > 0 {
			fails = 0
		} else {
			fails++
		}
		if !retryable(err) || fails >= Retries {
			return done, err
		}
	}
	return done, nil
}

// retryable reports an error after which asking again at once may help: the
// connection broke or the body ended early.
func retryable(err error) bool {
	return !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrUnavailable) &&
		!errors.Is(err, ErrNoRange) && !errors.Is(err, ErrBadReply) && !errors.Is(err, ErrStalled)
}

// get reads bytes [off, off+dst.Len()) of file f: from the mirror's stream
// that stands at off (stream.go), or from a new request.
func (m *Mirror) get(ctx context.Context, f int, off int64, dst Buffers, got func(int)) (int, error) {
	u := m.fileURL(f)
	want := dst.Len()
	s, err := m.streams.take(ctx, f, off, want)
	if err != nil {
		return 0, fmt.Errorf("web seed %s: %w", u, err)
	}
	if s == nil {
		if s, err = m.open(ctx, f, off, want); err != nil {
			return 0, err
		}
	}
	want = int(min(int64(want), s.end-off))
	// The request outlives the Fetch (a parked stream): the Fetch's context
	// and the stall timer end it while this Fetch reads.
	stop := context.AfterFunc(ctx, func() { s.cancel(context.Cause(ctx)) })
	stall := time.AfterFunc(StallTimeout, func() { s.cancel(ErrStalled) })
	n := 0
	for n < want {
		k, err := s.body.Read(dst.span(n, want))
		if k > 0 {
			n += k
			stall.Reset(StallTimeout)
			got(n)
		}
		if err != nil {
			if n == want {
				break
			}
			if errors.Is(context.Cause(s.ctx), ErrStalled) {
				err = ErrStalled
			} else if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			stall.Stop()
			stop()
			m.streams.release(s, n, false)
			return n, fmt.Errorf("web seed %s: body ended after %d of %d bytes: %w", u, n, want, err)
		}
	}
	keep := stall.Stop()
	keep = stop() && keep
	m.streams.release(s, n, keep)
	return n, nil
}

// open makes a request for file f from off, of want bytes or, when it looks
// like a sequential read, of the rest of the file (StreamSpan at most), and
// returns its body as a stream standing at off, held by the caller.
func (m *Mirror) open(ctx context.Context, f int, off int64, want int) (*stream, error) {
	u := m.fileURL(f)
	flen := m.layout.Files[f].Length
	end := off + int64(want) - 1
	if m.streams.sequential(f, off, int64(want)) {
		end = max(end, min(flen, off+StreamSpan)-1)
	}
	rctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() { cancel(context.Cause(ctx)) })
	defer stop()
	stall := time.AfterFunc(StallTimeout, func() { cancel(ErrStalled) })
	defer stall.Stop()
	fail := func(err error) (*stream, error) {
		cancel(err)
		return nil, err
	}
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, u, nil)
	if err != nil {
		return fail(fmt.Errorf("web seed %s: %w", u, err))
	}
	req.Header.Set("Range", "bytes="+strconv.FormatInt(off, 10)+"-"+strconv.FormatInt(end, 10))
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := m.client.Do(req)
	if err != nil {
		if errors.Is(context.Cause(rctx), ErrStalled) {
			err = ErrStalled
		}
		return fail(fmt.Errorf("web seed %s: %w", u, err))
	}
	failBody := func(err error) (*stream, error) {
		resp.Body.Close()
		return fail(err)
	}
	s := &stream{file: f, body: resp.Body, ctx: rctx, cancel: cancel, end: end + 1}
	switch code := resp.StatusCode; {
	case code == http.StatusPartialContent:
		start, last, err := ParseContentRange(resp.Header.Get("Content-Range"))
		if err != nil || start != off || last < start {
			return failBody(fmt.Errorf("web seed %s: %w: asked for bytes %d-%d, got Content-Range %q", u, ErrBadReply, off, end, resp.Header.Get("Content-Range")))
		}
		s.end = min(s.end, last+1) // never more than asked
	case code == http.StatusOK:
		if off > MaxSkip {
			return failBody(fmt.Errorf("web seed %s: %w (200 for bytes %d-%d)", u, ErrNoRange, off, end))
		}
		if k, err := io.CopyN(io.Discard, resp.Body, off); err != nil {
			return failBody(fmt.Errorf("web seed %s: body ended after %d bytes, before offset %d: %w", u, k, off, io.ErrUnexpectedEOF))
		}
	case code == http.StatusNotFound || code == http.StatusGone:
		return failBody(fmt.Errorf("web seed %s: %w (%s)", u, ErrNotFound, resp.Status))
	case code == http.StatusRequestedRangeNotSatisfiable:
		return failBody(fmt.Errorf("web seed %s: %w: %s for bytes %d-%d (the file is shorter than the torrent says)", u, ErrBadReply, resp.Status, off, end))
	case code >= 500 || code == http.StatusTooManyRequests:
		return failBody(fmt.Errorf("web seed %s: %w (%s)", u, ErrUnavailable, resp.Status))
	default:
		return failBody(fmt.Errorf("web seed %s: %w: %s", u, ErrBadReply, resp.Status))
	}
	m.streams.add(s, off, want)
	return s, nil
}

// ParseContentRange reads a Content-Range header "bytes FIRST-LAST/TOTAL"
// (TOTAL may be "*").
func ParseContentRange(h string) (first, last int64, err error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(h), "bytes ")
	if !ok {
		return 0, 0, fmt.Errorf("content-range %q: not a byte range", h)
	}
	r, total, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, fmt.Errorf("content-range %q: no total", h)
	}
	a, b, ok := strings.Cut(r, "-")
	if !ok {
		return 0, 0, fmt.Errorf("content-range %q: no range", h)
	}
	first, err1 := strconv.ParseInt(a, 10, 64)
	last, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || first < 0 || last < first {
		return 0, 0, fmt.Errorf("content-range %q: bad numbers", h)
	}
	if total != "*" {
		n, err := strconv.ParseInt(total, 10, 64)
		if err != nil || n <= last {
			return 0, 0, fmt.Errorf("content-range %q: bad total", h)
		}
	}
	return first, last, nil
}
