package dht

import (
	"net"
	"testing"
	"time"
)

// TestFloodOverSocket floods a node with default limits (5 queries/s per IP) from one
// UDP socket on 127.0.0.1 and counts the replies: at most the burst plus the rate over
// the flood's duration, each under maxReply bytes.
func TestFloodOverSocket(t *testing.T) {
	n := startNode(t, Config{RateLimitPerIP: defaultRatePerIP, UploadRate: defaultUploadRate})
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	q := mustQuery(t, "fl", methodFindNode, queryArgs{ID: testID("flooder"), Target: testID("t")})
	start := time.Now()
	const sent = 200
	for range sent {
		if _, err := c.WriteToUDPAddrPort(q, n.Addr()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	replies := 0
	buf := make([]byte, 4096)
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	for {
		sz, _, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			break
		}
		if sz > maxReply {
			t.Fatalf("reply of %d bytes", sz)
		}
		if m, err := parseMessage(buf[:sz]); err == nil && m.Type == typeResponse {
			replies++
		}
	}
	// The node may answer until the last reply is read, not only while we send
	// (a loaded machine runs it late): the limit counts that whole time.
	elapsed := time.Since(start)
	limit := defaultRatePerIP + int(elapsed.Seconds()*defaultRatePerIP) + 1
	t.Logf("%d queries in %v: %d replies (limit %d)", sent, elapsed.Round(time.Millisecond), replies, limit)
	if replies == 0 || replies > limit {
		t.Fatalf("%d replies, want 1..%d", replies, limit)
	}
	// The rest are counted as dropped, once the node has read them all.
	waitFor(t, "the flood counted as dropped", func() bool { return n.Stats().DroppedRateLimit >= int64(sent-limit) })
}
