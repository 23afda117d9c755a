package dht

import (
	"context"
	"errors"
	"net"
	"runtime"
	"testing"
	"time"
)

// TestCloseNoLeak: nodes that bootstrapped, looked up and pinged leave no goroutine
// behind after Close, and Close is idempotent.
func TestCloseNoLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		var nodes []*Node
		for i := range 6 {
			cfg := Config{Addr: "127.0.0.1:0", RateLimitPerIP: -1, UploadRate: -1, QueryTimeout: time.Second, Logger: testLogger()}
			if i > 0 {
				cfg.Bootstrap = []string{nodes[0].Addr().String()}
			}
			n, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			nodes = append(nodes, n)
			if i > 0 {
				if err := n.Bootstrap(testCtx(t, 3*time.Second)); err != nil {
					t.Fatal(err)
				}
			}
		}
		nodes[3].GetPeers(testCtx(t, 3*time.Second), [20]byte{1})
		nodes[2].AddNode(nodes[5].Addr())
		for _, n := range nodes {
			if err := n.Close(); err != nil {
				t.Fatal(err)
			}
			if err := n.Close(); err != nil {
				t.Fatal("second Close:", err)
			}
		}
		if _, err := nodes[1].FindNode(context.Background(), RandomID()); !errors.Is(err, ErrClosed) {
			t.Fatalf("FindNode after Close: %v", err)
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before {
		buf := make([]byte, 1<<20)
		t.Fatalf("%d goroutines before, %d after Close:\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}

// TestCloseInterruptsLookup: Close during a lookup whose nodes never answer returns
// promptly with ErrClosed; a cancelled context does the same with its error.
func TestCloseInterruptsLookup(t *testing.T) {
	silent, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	n := startNode(t, Config{Bootstrap: []string{silent.LocalAddr().String()}, QueryTimeout: time.Minute})
	done := make(chan error, 1)
	go func() { done <- n.Bootstrap(context.Background()) }()
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	n.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Bootstrap after Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Bootstrap still running 10 s after Close")
	}
	if d := time.Since(start); d > 10*time.Second { // a bound on a hang
		t.Fatalf("Close took %v", d)
	}

	n2 := startNode(t, Config{Bootstrap: []string{silent.LocalAddr().String()}, QueryTimeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := n2.Bootstrap(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Bootstrap with an expiring context: %v", err)
	}
}

// TestQueryTimeout: a silent node costs QueryTimeout, then counts as failed.
func TestQueryTimeout(t *testing.T) {
	silent, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	n := startNode(t, Config{Bootstrap: []string{silent.LocalAddr().String()}, QueryTimeout: 100 * time.Millisecond})
	start := time.Now()
	err = n.Bootstrap(context.Background())
	if !errors.Is(err, ErrNoNodes) {
		t.Fatalf("bootstrap from a silent node: %v", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond || d > 10*time.Second { // the upper bound: a hang
		t.Fatalf("took %v", d)
	}
	if s := n.Stats(); s.Timeouts != 1 {
		t.Fatalf("stats %+v", s)
	}
}
