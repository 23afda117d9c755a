package netem

import (
	"context"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// hangGuard bounds every blocking socket call of a test: a broken relay
// fails the test instead of hanging the suite.
const hangGuard = 60 * time.Second

// waitFor polls cond until it holds: for states that, once reached, stay
// (counters that only grow, a connection count that reached zero).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// noRelayGoroutines fails if a goroutine of a relay is still running.
// Close waits for all of them to call Done; one that did may still be on
// its way out, so this waits (briefly) for those to go.
func noRelayGoroutines(t *testing.T) {
	t.Helper()
	var leaked string
	deadline := time.Now().Add(10 * time.Second)
	for {
		leaked = relayGoroutine()
		if leaked == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a relay goroutine outlived Close:\n%s", leaked)
		}
		time.Sleep(time.Millisecond)
	}
}

func relayGoroutine() string {
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	for _, g := range strings.Split(string(buf[:n]), "\n\n") {
		for _, fn := range []string{"netem.(*Relay)", "netem.(*pipe)", "netem.(*tcpPair)"} {
			if strings.Contains(g, fn) {
				return g
			}
		}
	}
	return ""
}

// startRelay starts a TCP relay to target and closes it (checking for
// leaked goroutines) when the test ends.
func startRelay(t *testing.T, target string, cfg Config) *Relay {
	t.Helper()
	r, err := cfg.ListenTCP(context.Background(), "127.0.0.1:0", target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Close()
		noRelayGoroutines(t)
	})
	return r
}

// tcpTarget listens on loopback and runs handle for every connection; the
// test's cleanup closes the listener and waits for the handlers.
func tcpTarget(t *testing.T, handle func(c *net.TCPConn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(hangGuard))
				handle(c.(*net.TCPConn))
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

// dial connects to a relay, with the hang guard set.
func dial(t *testing.T, r *Relay) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", r.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(hangGuard))
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// pattern fills b with the bytes of a stream at offset off: any lost,
// repeated or reordered chunk shows.
func pattern(b []byte, off int64) {
	for i := range b {
		x := uint64(off) + uint64(i)
		b[i] = byte(x ^ x>>8 ^ x>>16 ^ x>>24)
	}
}

func shapes(up, down Shape) Config { return Config{Up: up, Down: down} }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	t.Cleanup(cancel)
	return ctx
}
