package utp

import (
	"encoding/binary"
	"net/netip"
	"sync"
	"testing"
	"time"
)

func FuzzHeader(f *testing.F) {
	h := header{typ: stData, connID: 7, seq: 9, ack: 3, wnd: 1000, sack: []byte{0xff, 0, 0, 1}}
	var b [64]byte
	f.Add(b[:h.marshal(b[:])])
	f.Add([]byte("d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe"))
	f.Add([]byte{0x41, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 255})
	f.Fuzz(func(t *testing.T, p []byte) {
		h, payload, err := parseHeader(p)
		if err != nil {
			return
		}
		if len(payload) > len(p)-headerSize || len(h.sack) > maxSACKBytes {
			t.Fatalf("payload %d of %d, sack %d", len(payload), len(p), len(h.sack))
		}
		var out [headerSize + 2 + maxSACKBytes]byte
		n := h.marshal(out[:])
		g, _, err := parseHeader(out[:n])
		if err != nil || g.typ != h.typ || g.connID != h.connID || g.seq != h.seq || g.ack != h.ack || string(g.sack) != string(h.sack) {
			t.Fatalf("round trip: %+v -> %+v, %v", h, g, err)
		}
	})
}

var fuzzOnce struct {
	sync.Once
	a, b *Socket
	d    *Conn // the dialling side on a
	c    *Conn // accepted on b, from a
	from netip.AddrPort
}

// FuzzPacket feeds any bytes to a socket as if from the peer of a live
// connection: nothing panics and the connection's bounds hold. The first
// byte chooses whether the packet gets the live connection's id.
func FuzzPacket(f *testing.F) {
	for _, typ := range []uint8{stData, stFin, stState, stReset, stSyn} {
		h := header{typ: typ, seq: 2, ack: 1, wnd: 1 << 16, sack: []byte{0xf0, 0, 0, 0}}
		var b [64]byte
		n := h.marshal(b[1:])
		b[0] = 1
		f.Add(append(b[:1+n], "payload"...))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		fuzzOnce.Do(func() {
			fuzzOnce.a = New(listenUDP(t), Config{})
			fuzzOnce.b = New(listenUDP(t), Config{MaxConns: 64})
			fuzzOnce.from, _ = addrPort(fuzzOnce.a.Addr())
		})
		if len(p) == 0 {
			return
		}
		if c := fuzzOnce.c; c == nil || isDead(c) {
			// A reset or a FIN ended it: a fresh connection for the next input.
			if c != nil {
				c.Close()
			}
			// The dialling side never hears of a reset the input made up:
			// end it here, or a's table fills over many inputs.
			if d := fuzzOnce.d; d != nil {
				d.mu.Lock()
				d.fail(ErrReset)
				d.mu.Unlock()
			}
			dc, ac, err := connect(fuzzOnce.a, fuzzOnce.b)
			if err != nil {
				t.Fatal(err)
			}
			fuzzOnce.d, fuzzOnce.c = dc, ac
		}
		s, c := fuzzOnce.b, fuzzOnce.c
		pkt := p[1:]
		if p[0]&1 == 1 && len(pkt) >= headerSize {
			pkt = append([]byte(nil), pkt...)
			binary.BigEndian.PutUint16(pkt[2:], c.recvID)
			c.mu.Lock()
			if p[0]&2 == 2 {
				binary.BigEndian.PutUint16(pkt[18:], c.seq-1) // a valid ack
			}
			c.mu.Unlock()
		}
		s.handle(pkt, fuzzOnce.from)
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.oooBytes > s.cfg.RecvBuffer || len(c.ooo) > maxOOO || c.rqBytes > 2*s.cfg.RecvBuffer {
			t.Fatalf("buffers over their bounds: ooo %d in %d, rbuf %d", c.oooBytes, len(c.ooo), c.rqBytes)
		}
		c.tick(time.Now())
		c.mu.Unlock()
		// Half-open connections the input made would fill the table over many
		// inputs; each input starts with only the live connection.
		var others []*Conn
		s.mu.Lock()
		for _, o := range s.conns {
			if o != c {
				others = append(others, o)
			}
		}
		s.mu.Unlock()
		for _, o := range others {
			o.mu.Lock()
			o.fail(ErrReset)
			o.mu.Unlock()
		}
		c.mu.Lock()
	})
}

func isDead(c *Conn) bool {
	select {
	case <-c.dead:
		return true
	default:
		return false
	}
}
