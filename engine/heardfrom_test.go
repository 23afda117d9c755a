package engine

import (
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/wire"
)

// A peer that connected to us and gave its listen address (the extension
// handshake's port) is not dialled at that address while the connection is
// open: libtorrent 2.0 uses a new peer id per connection, so the two would not
// be taken for duplicates, and a seed closes the second one as redundant (200
// idle torrents redialled it 100 times a minute). Once the incoming connection
// closes, the address is dialled.
func TestNoDialToAPeerConnectedToUs(t *testing.T) {
	mt, _ := testTorrent(t, 64<<10)
	addr, accepts := closingPeer(t, mt, wire.Reserved{}, nil) // the peer's listen address
	c, err := NewClient(Config{Listen: "127.0.0.1:0", CacheSize: 4 << 20, NoUTP: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tor, err := c.AddTorrent(mt, TorrentOptions{NoTrackers: true})
	if err != nil {
		t.Fatal(err)
	}

	// The peer connects to us from 127.0.0.1 and says it listens on addr.
	conn, err := net.Dial("tcp", c.ListenAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	hs := wire.AppendHandshake(nil, wire.Handshake{Reserved: wire.Reserved{}.WithExtended(), InfoHash: mt.InfoHash, PeerID: bt.NewPeerID()})
	ext := wire.AppendExtHandshake(nil, wire.ExtHandshake{Port: addr.Port()})
	if _, err := conn.Write(append(hs, wire.AppendMessage(nil, wire.Message{ID: wire.Extended, ExtID: 0, Payload: ext})...)); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, conn) // what we send it
	deadline := time.Now().Add(20 * time.Second)
	for {
		var heard bool
		tor.onOwner(func() { heard = tor.heardFrom(addr) })
		if heard {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the incoming connection's listen address never became known")
		}
		time.Sleep(5 * time.Millisecond)
	}

	tor.AddPeers([]netip.AddrPort{addr}) // handled before the next onOwner
	var st addrState
	tor.onOwner(func() { st = *tor.addrs[addr] })
	if st.tried || st.dialing {
		t.Fatalf("dialled %v while it is connected to us (%+v)", addr, st)
	}

	conn.Close()
	select {
	case <-accepts:
	case <-time.After(20 * time.Second):
		t.Fatal("not dialled once its connection to us closed")
	}
}
