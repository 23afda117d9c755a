package utp

import (
	"context"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/netem"
)

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkLoopback moves the same bytes over TCP and over uTP on loopback
// in one run (both ends in this process) and reports both rates, the CPU
// seconds per GiB of each, and the ratios utp/tcp (rate: higher is better;
// CPU: lower is better). On a loaded machine trust the CPU figures more
// than the rates.
func BenchmarkLoopback(b *testing.B) {
	const size = 32 << 20
	data := randomBytes(1 << 20)
	move := func(w, r net.Conn) (wall, cpu time.Duration) {
		start, cpu0 := time.Now(), cpuTime()
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
		return time.Since(start), cpuTime() - cpu0
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

	var tcp, utp, tcpCPU, utpCPU time.Duration
	b.ResetTimer()
	for range b.N {
		w, c := move(tw, tr)
		tcp, tcpCPU = tcp+w, tcpCPU+c
		w, c = move(uw, ur)
		utp, utpCPU = utp+w, utpCPU+c
	}
	mb := float64(size) * float64(b.N) / 1e6
	gib := float64(size) * float64(b.N) / (1 << 30)
	b.ReportMetric(mb/tcp.Seconds(), "tcp-MB/s")
	b.ReportMetric(mb/utp.Seconds(), "utp-MB/s")
	b.ReportMetric(tcp.Seconds()/utp.Seconds(), "utp/tcp-rate")
	b.ReportMetric(tcpCPU.Seconds()/gib, "tcp-cpu-s/GiB")
	b.ReportMetric(utpCPU.Seconds()/gib, "utp-cpu-s/GiB")
	b.ReportMetric(utpCPU.Seconds()/tcpCPU.Seconds(), "utp/tcp-cpu")
	st := uw.Stats()
	b.Logf("sender: %d packets, %d retransmitted, %d timeouts, cwnd %d, rtt %v", st.PacketsSent, st.Retransmits, st.Timeouts, st.Cwnd, st.RTT)
}

// BenchmarkWAN moves the same bytes over TCP and over uTP through netem
// relays with an 80 ms round trip and a 4 MB/s bottleneck each way, in one
// run, and reports both rates and utp/tcp. LEDBAT keeps the bottleneck's
// queue near its 100 ms target, so uTP should fill the link as TCP does.
// The log line shows the sender's retransmissions and the link's drops; on
// a loaded machine most losses happen before the link, in the kernel
// buffers of the relay's own UDP sockets (UdpRcvbufErrors in nstat), which
// bursts from an unpaced sender overflow.
func BenchmarkWAN(b *testing.B) {
	const size = 8 << 20
	// A bottleneck queue of 150 ms: LEDBAT aims at 100 ms of queueing delay
	// (the UDP link drops what does not fit; the TCP relay pushes back).
	shape := netem.Shape{Delay: 40 * time.Millisecond, Rate: 4e6, Queue: 600 << 10}
	data := randomBytes(size)
	move := func(w, r net.Conn) time.Duration {
		start := time.Now()
		done := make(chan struct{})
		go func() {
			defer close(done)
			io.Copy(io.Discard, io.LimitReader(r, size))
		}()
		if _, err := w.Write(data); err != nil {
			b.Fatal(err)
		}
		<-done
		return time.Since(start)
	}
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	tcpRelay, err := netem.ListenTCP(ctx, "127.0.0.1:0", ln.Addr().String(), shape)
	if err != nil {
		b.Fatal(err)
	}
	defer tcpRelay.Close()
	accepted := make(chan net.Conn, 1)
	go func() { c, _ := ln.Accept(); accepted <- c }()
	tw, err := net.Dial("tcp", tcpRelay.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer tw.Close()
	tr := <-accepted
	defer tr.Close()

	sa, sb := newSocket(b, Config{}, nil), newSocket(b, Config{}, nil)
	udpRelay, err := netem.ListenUDP(ctx, "127.0.0.1:0", sb.Addr().String(), shape)
	if err != nil {
		b.Fatal(err)
	}
	defer udpRelay.Close()
	uaccepted := make(chan net.Conn, 1)
	go func() { c, _ := sb.Accept(); uaccepted <- c }()
	uw, err := sa.Dial(ctx, udpRelay.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer uw.Close()
	ur := <-uaccepted
	defer ur.Close()

	var tcp, utp time.Duration
	b.ResetTimer()
	for range b.N {
		tcp += move(tw, tr)
		utp += move(uw, ur)
	}
	mb := float64(size) * float64(b.N) / 1e6
	b.ReportMetric(mb/tcp.Seconds(), "tcp-MB/s")
	b.ReportMetric(mb/utp.Seconds(), "utp-MB/s")
	b.ReportMetric(tcp.Seconds()/utp.Seconds(), "utp/tcp-rate")
	st := uw.Stats()
	rs := udpRelay.Stats()
	b.Logf("sender: %d packets, %d retransmitted (%d fast), %d timeouts, cwnd %d, rtt %v; link drops %d up, %d down",
		st.PacketsSent, st.Retransmits, st.FastRetransmits, st.Timeouts, st.Cwnd, st.RTT, rs.Up.Dropped, rs.Down.Dropped)
}
