package engine

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

// On waking, the address that delivered most is dialled first: with one
// half-open slot, it is the one dial under way.
func TestWakeDialsBestFirst(t *testing.T) {
	mt, _ := testTorrent(t, 64<<10)
	ln, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers: the dial stays half-open
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	c, err := NewClient(Config{CacheSize: 4 << 20, MaxHalfOpen: 1, NoUTP: true, Idle: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tor, err := c.AddTorrent(mt, TorrentOptions{NoTrackers: true})
	if err != nil {
		t.Fatal(err)
	}
	best := netip.MustParseAddrPort(ln.Addr().String())
	delivered := map[netip.AddrPort]int64{best: 5 << 20}
	for i := 1; i <= 6; i++ {
		a := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), uint16(40000+i))
		delivered[a] = int64(i) << 10
	}
	var dialing []netip.AddrPort
	tor.onOwner(func() {
		for a := range delivered {
			tor.addAddrs([]netip.AddrPort{a}, false)
		}
		tor.idle.delivered = delivered
		tor.dialBest(time.Now())
		for a, st := range tor.addrs {
			if st.dialing {
				dialing = append(dialing, a)
			}
		}
	})
	if len(dialing) != 1 || dialing[0] != best {
		t.Fatalf("dialling %v, want only %v (it delivered most)", dialing, best)
	}
}
