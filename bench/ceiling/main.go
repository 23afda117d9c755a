// Command ceiling measures two of the benchmark's ceilings on this machine: one
// TCP stream over loopback, and SHA-1 (the piece hash) on one core, with the same
// crypto/sha1 that Hyperblow's engine uses. It prints one JSON line.
//
//	ceiling tcp  [-seconds 2] [-buf 1MiB]
//	ceiling sha1 [-seconds 2] [-block 1MiB]
package main

import (
	"crypto/sha1"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// result is what each measurement prints.
type result struct {
	What    string  `json:"what"`
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
	Bps     float64 `json:"Bps"`
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: ceiling tcp|sha1 [-seconds S]")
		os.Exit(2)
	}
	fl := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	seconds := fl.Float64("seconds", 2, "how long to measure")
	size := fl.Int("buf", 1<<20, "bytes per write (tcp) or per hash (sha1)")
	fl.Parse(os.Args[2:])
	d := time.Duration(*seconds * float64(time.Second))
	var r result
	var err error
	switch os.Args[1] {
	case "tcp":
		r, err = tcp(d, *size)
	case "sha1":
		r = hash(d, *size)
	default:
		err = fmt.Errorf("unknown measurement %q (tcp, sha1)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ceiling:", err)
		os.Exit(1)
	}
	json.NewEncoder(os.Stdout).Encode(r)
}

// tcp sends for d over one loopback connection and measures at the receiver.
func tcp(d time.Duration, size int) (result, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return result{}, err
	}
	defer l.Close()
	sent := make(chan error, 1)
	go func() {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			sent <- err
			return
		}
		defer c.Close()
		buf := make([]byte, size)
		end := time.Now().Add(d)
		for time.Now().Before(end) {
			if _, err := c.Write(buf); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	l.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
	c, err := l.Accept()
	if err != nil {
		return result{}, err
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(d + 10*time.Second))
	buf := make([]byte, size)
	var n int64
	var start time.Time
	for {
		k, err := c.Read(buf)
		if k > 0 && start.IsZero() {
			start = time.Now()
		}
		n += int64(k)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return result{}, err
		}
	}
	took := time.Since(start).Seconds()
	if err := <-sent; err != nil {
		return result{}, err
	}
	return result{What: "tcp", Bytes: n, Seconds: took, Bps: float64(n) / took}, nil
}

// hash runs SHA-1 over one block again and again for d on the calling goroutine.
func hash(d time.Duration, size int) result {
	buf := make([]byte, size)
	for i := range buf {
		buf[i] = byte(i*7 + i>>8)
	}
	var n int64
	start := time.Now()
	end := start.Add(d)
	for time.Now().Before(end) {
		for range 16 {
			sum := sha1.Sum(buf)
			buf[0] ^= sum[0]
			n += int64(size)
		}
	}
	took := time.Since(start).Seconds()
	return result{What: "sha1", Bytes: n, Seconds: took, Bps: float64(n) / took}
}
