package mse

import (
	"bytes"
	"context"
	"errors"
	"io"
	mrand "math/rand/v2"
	"net"
	"testing"
	"time"
)

var (
	testSKEY  = [20]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}
	otherSKEY = [20]byte{0: 0xff, 19: 0xee}
)

// tcpPair returns the two ends of a loopback TCP connection, closed at cleanup.
func tcpPair(t testing.TB) (a, b net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		ch <- res{c, err}
	}()
	a, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		a.Close()
		t.Fatal(r.err)
	}
	t.Cleanup(func() { a.Close(); r.c.Close() })
	return a, r.c
}

type result struct {
	c   *Conn
	err error
}

// handshake runs both sides on a and b with a deadline of 5 s.
func handshake(t *testing.T, a, b net.Conn, ic InitiateConfig, rc ReceiveConfig) (ini, rcv result) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	ch := make(chan result, 1)
	go func() {
		c, err := Receive(ctx, b, rc)
		if err != nil {
			b.Close() // as callers do: unblocks the initiator
		}
		ch <- result{c, err}
	}()
	c, err := Initiate(ctx, a, ic)
	if err != nil {
		a.Close()
	}
	return result{c, err}, <-ch
}

func known(keys ...[20]byte) func() [][20]byte { return func() [][20]byte { return keys } }

func TestHandshakeMethods(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		provide, allow, prefer Method
		want                   Method
	}{
		{"both prefer rc4", Plaintext | RC4, 0, 0, RC4},
		{"both prefer plaintext", Plaintext | RC4, 0, Plaintext, Plaintext},
		{"rc4 only", RC4, Plaintext | RC4, Plaintext, RC4},
		{"plaintext only", Plaintext, 0, 0, Plaintext},
		{"receiver rc4 only", Plaintext | RC4, RC4, Plaintext, RC4},
	} {
		for _, transport := range []string{"tcp", "pipe"} {
			t.Run(tc.name+"/"+transport, func(t *testing.T) {
				var a, b net.Conn
				if transport == "tcp" {
					a, b = tcpPair(t)
				} else {
					a, b = net.Pipe()
					t.Cleanup(func() { a.Close(); b.Close() })
				}
				ia := []byte("\x13BitTorrent protocol initial payload")
				ini, rcv := handshake(t, a, b,
					InitiateConfig{SKEY: testSKEY, Provide: tc.provide, IA: ia},
					ReceiveConfig{SKEYs: known(otherSKEY, testSKEY), Allow: tc.allow, Prefer: tc.prefer})
				if ini.err != nil || rcv.err != nil {
					t.Fatalf("initiator: %v; receiver: %v", ini.err, rcv.err)
				}
				if ini.c.Method() != tc.want || rcv.c.Method() != tc.want {
					t.Fatalf("methods %v / %v, want %v", ini.c.Method(), rcv.c.Method(), tc.want)
				}
				if rcv.c.SKEY() != testSKEY {
					t.Fatalf("receiver SKEY %x, want %x", rcv.c.SKEY(), testSKEY)
				}
				got := make([]byte, len(ia))
				if _, err := io.ReadFull(rcv.c, got); err != nil || !bytes.Equal(got, ia) {
					t.Fatalf("IA read %q, %v; want %q", got, err, ia)
				}
				exchange(t, ini.c, rcv.c, 200<<10)
				exchange(t, rcv.c, ini.c, 200<<10)
			})
		}
	}
}

// exchange sends n random bytes from w to r and checks they arrive intact.
func exchange(t *testing.T, w, r net.Conn, n int) {
	t.Helper()
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(mrand.N(256))
	}
	orig := bytes.Clone(data)
	errc := make(chan error, 1)
	go func() {
		_, err := w.Write(data)
		errc <- err
	}()
	got := make([]byte, n)
	if _, err := io.ReadFull(r, got); err != nil {
		t.Fatalf("reading: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("writing: %v", err)
	}
	if !bytes.Equal(got, orig) {
		t.Fatal("data corrupted in transit")
	}
	if !bytes.Equal(data, orig) {
		t.Fatal("Write modified its argument")
	}
}

func TestRC4IsEncrypted(t *testing.T) {
	a, b := tcpPair(t)
	// A recording proxy would be heavier: check instead that the raw bytes
	// after the handshake are not the plaintext.
	ini, rcv := handshake(t, a, b, InitiateConfig{SKEY: testSKEY, Provide: RC4}, ReceiveConfig{SKEYs: known(testSKEY)})
	if ini.err != nil || rcv.err != nil {
		t.Fatalf("initiator: %v; receiver: %v", ini.err, rcv.err)
	}
	msg := bytes.Repeat([]byte("plain"), 20)
	go ini.c.Write(msg)
	raw := make([]byte, len(msg))
	if _, err := io.ReadFull(rcv.c.Conn, raw); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(raw, msg) {
		t.Fatal("RC4 selected but the bytes on the wire are the plaintext")
	}
}

func TestUnknownSKEY(t *testing.T) {
	a, b := tcpPair(t)
	ini, rcv := handshake(t, a, b, InitiateConfig{SKEY: testSKEY}, ReceiveConfig{SKEYs: known(otherSKEY)})
	if !errors.Is(rcv.err, ErrUnknownSKEY) {
		t.Fatalf("receiver error %v, want ErrUnknownSKEY", rcv.err)
	}
	if ini.err == nil {
		t.Fatal("initiator succeeded against a receiver that refused it")
	}
}

func TestNoCommonMethod(t *testing.T) {
	a, b := tcpPair(t)
	_, rcv := handshake(t, a, b, InitiateConfig{SKEY: testSKEY, Provide: Plaintext}, ReceiveConfig{SKEYs: known(testSKEY), Allow: RC4})
	if !errors.Is(rcv.err, ErrNoMethod) {
		t.Fatalf("receiver error %v, want ErrNoMethod", rcv.err)
	}
}

// receiveBytes feeds in to a receiver (which knows testSKEY) over a connection
// that ends after in and swallows what the receiver sends, and returns the
// receiver's result; it fails the test if the receiver takes longer than limit.
func receiveBytes(t testing.TB, in []byte, random io.Reader, limit time.Duration) (*Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	start := time.Now()
	c, err := Receive(ctx, &fakeConn{r: bytes.NewReader(in)}, ReceiveConfig{SKEYs: known(testSKEY), random: random})
	if d := time.Since(start); d > limit+time.Second {
		t.Fatalf("Receive took %v with a %v deadline", d, limit)
	}
	return c, err
}

// fakeConn reads from r (io.EOF at its end) and discards writes.
type fakeConn struct {
	net.Conn // nil: other methods panic
	r        *bytes.Reader
}

func (f *fakeConn) Read(p []byte) (int, error)  { return f.r.Read(p) }
func (f *fakeConn) Write(p []byte) (int, error) { return len(p), nil }
func (f *fakeConn) SetDeadline(time.Time) error { return nil }
func (f *fakeConn) RemoteAddr() net.Addr        { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

func TestReceiveGarbage(t *testing.T) {
	plainBT := append([]byte("\x13BitTorrent protocol"), make([]byte, 48)...)
	for _, in := range [][]byte{
		nil,
		{0x13},
		plainBT,
		bytes.Repeat([]byte{0}, 96),    // Y = 0: degenerate
		bytes.Repeat([]byte{0xff}, 96), // Y > P
		bytes.Repeat([]byte{7}, 96+MaxPad+20+4096), // no req1 within the bound
	} {
		c, err := receiveBytes(t, in, nil, 300*time.Millisecond)
		if err == nil {
			t.Fatalf("input of %d bytes accepted as MSE: %v", len(in), c.Method())
		}
	}
}

func TestInitiateAgainstSilence(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go io.Copy(io.Discard, b)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Initiate(ctx, a, InitiateConfig{SKEY: testSKEY})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want the context's deadline", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Initiate took %v after its context ended", d)
	}
}

func TestInitiateNoVC(t *testing.T) {
	a, b := tcpPair(t)
	// A receiver that answers with a valid key and then random bytes: the
	// initiator must give up after MaxPad+8 bytes, not read forever.
	go func() {
		buf := make([]byte, 96)
		io.ReadFull(b, buf)
		_, y, _ := newKey(orRand(nil))
		b.Write(append(y, bytes.Repeat([]byte{9}, 10000)...))
		io.Copy(io.Discard, b)
	}()
	a.SetDeadline(time.Now().Add(5 * time.Second))
	_, err := Initiate(t.Context(), a, InitiateConfig{SKEY: testSKEY})
	if !errors.Is(err, ErrNoSync) {
		t.Fatalf("error %v, want ErrNoSync", err)
	}
}

func TestIATooLong(t *testing.T) {
	a, _ := net.Pipe()
	defer a.Close()
	_, err := Initiate(t.Context(), a, InitiateConfig{SKEY: testSKEY, IA: make([]byte, MaxIA+1)})
	if !errors.Is(err, ErrTooLong) {
		t.Fatalf("error %v, want ErrTooLong", err)
	}
}

// seeded returns a deterministic random source.
func seeded(seed byte) io.Reader { return mrand.NewChaCha8([32]byte{seed}) }

// recordInitiator returns what an initiator with fixed randomness sends to a
// receiver with fixed randomness seeded(2): the handshake with ia, then after
// written through the negotiated stream.
func recordInitiator(t testing.TB, provide Method, ia, after []byte) []byte {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	a.SetDeadline(time.Now().Add(5 * time.Second)) // nothing here may hang
	b.SetDeadline(time.Now().Add(5 * time.Second))
	var rec bytes.Buffer
	tee := &recordConn{Conn: b, rec: &rec}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		c, err := Receive(ctx, tee, ReceiveConfig{SKEYs: known(testSKEY), random: seeded(2)})
		if err == nil {
			_, err = io.ReadFull(c, make([]byte, len(ia)+len(after)))
		}
		errc <- err
	}()
	c, err := Initiate(ctx, a, InitiateConfig{SKEY: testSKEY, Provide: provide, IA: ia, random: seeded(1)})
	if err != nil {
		t.Fatal(err)
	}
	if len(after) > 0 { // an empty Write on net.Pipe waits for a Read
		if _, err := c.Write(after); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return rec.Bytes()
}

type recordConn struct {
	net.Conn
	rec *bytes.Buffer
}

func (r *recordConn) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.rec.Write(p[:n])
	return n, err
}

// TestReceiveReplay replays a recorded initiator whose payload came in the same
// read as the handshake: the receiver returns the IA, then the payload
// decrypted, read ahead or not.
func TestReceiveReplay(t *testing.T) {
	for _, m := range []Method{RC4, Plaintext} {
		full := recordInitiator(t, m, []byte("hello, "), []byte("world"))
		c, err := receiveBytes(t, full, seeded(2), time.Second)
		if err != nil {
			t.Fatalf("%v: the recorded exchange fails on replay: %v", m, err)
		}
		if c.Method() != m {
			t.Fatalf("replayed method %v, want %v", c.Method(), m)
		}
		got, err := io.ReadAll(c)
		if string(got) != "hello, world" || err != nil {
			t.Fatalf("%v: read %q, %v; want the IA and the payload", m, got, err)
		}
	}
}

func TestReceiveTruncated(t *testing.T) {
	full := recordInitiator(t, RC4, []byte("hello"), nil)
	if _, err := receiveBytes(t, full, seeded(2), time.Second); err != nil {
		t.Fatalf("the recorded exchange fails on replay: %v", err)
	}
	for _, n := range []int{0, 50, 96, 100, len(full) - 6, len(full) - 1} {
		if _, err := receiveBytes(t, full[:n], seeded(2), 200*time.Millisecond); err == nil {
			t.Fatalf("truncated to %d of %d bytes: accepted", n, len(full))
		}
	}
}

// FuzzReceive feeds arbitrary bytes to a receiver whose randomness is fixed, so
// that the seeds (recorded valid exchanges) reach every length check. Property:
// no panic, and Receive returns within its deadline.
func FuzzReceive(f *testing.F) {
	f.Add(recordInitiator(f, RC4, []byte("\x13BitTorrent protocol"), []byte("payload")))
	f.Add(recordInitiator(f, Plaintext, nil, nil))
	f.Add(recordInitiator(f, Plaintext|RC4, make([]byte, MaxIA), nil))
	f.Add([]byte("\x13BitTorrent protocol"))
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 8<<10 {
			return
		}
		c, err := receiveBytes(t, in, seeded(2), 100*time.Millisecond)
		if err == nil && c.Method() != RC4 && c.Method() != Plaintext {
			t.Fatalf("accepted with method %v", c.Method())
		}
	})
}

func TestInitiateCancelled(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go io.Copy(io.Discard, b)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := Initiate(ctx, a, InitiateConfig{SKEY: testSKEY})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 10*time.Second { // a bound on a hang
		t.Fatalf("Initiate took %v after cancel", d)
	}
}
