package utp

import (
	"io"
	"net"
	"testing"
	"time"
)

// BenchmarkLoopback moves the same bytes over TCP and over uTP on loopback
// in one run and reports both rates and their ratio (utp/tcp).
func BenchmarkLoopback(b *testing.B) {
	const size = 32 << 20
	data := randomBytes(1 << 20)
	move := func(w, r net.Conn) time.Duration {
		start := time.Now()
		done := make(chan struct{})
		go func() {
			defer close(done)
			io.Copy(io.Discard, io.LimitReader(r, size))
		}()
		for n := 0; n < size; n += len(data) {
			if _, err := w.Write(data); err != nil {
				b.Fatal(err)
			}
		}
		<-done
		return time.Since(start)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() { c, _ := ln.Accept(); accepted <- c }()
	tw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer tw.Close()
	tr := <-accepted
	defer tr.Close()

	sa, sb := newSocket(b, Config{}, nil), newSocket(b, Config{}, nil)
	uw, ur := pair(b, sa, sb)

	var tcp, utp time.Duration
	b.ResetTimer()
	for range b.N {
		tcp += move(tw, tr)
		utp += move(uw, ur)
	}
	b.Logf("%+v", uw.Stats())
	mb := float64(size) * float64(b.N) / 1e6
	b.ReportMetric(mb/tcp.Seconds(), "tcp-MB/s")
	b.ReportMetric(mb/utp.Seconds(), "utp-MB/s")
	b.ReportMetric(tcp.Seconds()/utp.Seconds(), "utp/tcp")
}
