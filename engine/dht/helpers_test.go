package dht

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"
)

// testLogger logs to stderr at debug level when DHT_TEST_LOG=1, else discards.
func testLogger() *slog.Logger {
	if os.Getenv("DHT_TEST_LOG") == "1" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}

// startNode starts a node on 127.0.0.1 with loopback-friendly limits (all test nodes
// share one IP, so the per-IP limit is off unless cfg sets one) and closes it when the
// test ends.
func startNode(t testing.TB, cfg Config) *Node {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.RateLimitPerIP == 0 {
		cfg.RateLimitPerIP = -1
	}
	if cfg.UploadRate == 0 {
		cfg.UploadRate = -1
	}
	if cfg.QueryTimeout == 0 {
		cfg.QueryTimeout = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// testCtx is a context bounded well under the package's time budget.
func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond, a condition that only becomes true, for up to 10 s (a
// bound on a hang: a loaded machine is slow).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
