package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/dht"
	"github.com/hyperblow/hyperblow/engine/enginetest"
)

// TestDHTSharesUTPPort: the DHT runs on the uTP socket, on the listen port
// number: a node that queries that address gets its answers from it, and the
// client's own queries come from it.
func TestDHTSharesUTPPort(t *testing.T) {
	router, err := dht.New(dht.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer router.Close()
	c, err := engine.NewClient(engine.Config{Listen: "127.0.0.1:0", DHT: true, CacheSize: 1 << 20,
		DHTBootstrap: []string{router.Addr().String()}, Logger: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.DHTAddr() != c.ListenAddr() || c.UTPAddr() != c.ListenAddr() {
		t.Fatalf("TCP on %v, uTP on %v, DHT on %v: want one port", c.ListenAddr(), c.UTPAddr(), c.DHTAddr())
	}
	// The router answers only from the address it queried: a node table
	// entry for the client, queried, proves both ways through the shared socket.
	router.AddNode(c.DHTAddr()) // pings it; an answer makes it a good node
	deadline := time.Now().Add(20 * time.Second)
	for router.Stats().Nodes == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the client never answered the router's ping: %+v", router.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	found, err := router.FindNode(ctx, dht.RandomID())
	if err != nil {
		t.Fatal(err)
	}
	ok := false
	for _, n := range found {
		ok = ok || n.Addr == c.DHTAddr()
	}
	if st := router.Stats(); !ok || st.Timeouts != 0 {
		t.Fatalf("the router's lookup found %v (want %v among them), stats %+v", found, c.DHTAddr(), st)
	}
}
