package portmap

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// NATPMPPort is the gateway's NAT-PMP port (RFC 6886 section 3).
const NATPMPPort = 5351

// NAT-PMP opcodes (RFC 6886 sections 3.2 and 3.3); a reply's is 128 + the request's.
const (
	opExternalAddr = 0
	opMapUDP       = 1
	opMapTCP       = 2
)

// natpmpResult names the result codes of RFC 6886 section 3.5.
var natpmpResult = map[uint16]string{
	1: "unsupported version",
	2: "not authorized or refused",
	3: "network failure",
	4: "out of resources",
	5: "unsupported opcode",
}

// NATPMPReply is a parsed NAT-PMP reply.
type NATPMPReply struct {
	Op       byte // the request's opcode
	Epoch    uint32
	External netip.Addr // opExternalAddr
	Internal uint16     // a mapping's
	Mapped   uint16
	Lifetime time.Duration
}

// ParseNATPMPReply reads the reply to a request of opcode op: exactly 12
// bytes for the external address, 16 for a mapping; a non-zero result code
// is an error naming it.
func ParseNATPMPReply(b []byte, op byte) (NATPMPReply, error) {
	var r NATPMPReply
	want := 16
	if op == opExternalAddr {
		want = 12
	}
	if len(b) < 4 {
		return r, fmt.Errorf("nat-pmp reply of %d bytes: too short", len(b))
	}
	if b[0] != 0 {
		return r, fmt.Errorf("nat-pmp reply version %d: want 0", b[0])
	}
	if b[1] != 128+op {
		return r, fmt.Errorf("nat-pmp reply opcode %d: want %d: %w", b[1], 128+int(op), errWrongOp)
	}
	if code := binary.BigEndian.Uint16(b[2:4]); code != 0 {
		name := natpmpResult[code]
		if name == "" {
			name = "unknown"
		}
		return r, fmt.Errorf("nat-pmp: result %d (%s)", code, name)
	}
	if len(b) != want {
		return r, fmt.Errorf("nat-pmp reply of %d bytes: want %d", len(b), want)
	}
	r.Op = op
	r.Epoch = binary.BigEndian.Uint32(b[4:8])
	if op == opExternalAddr {
		r.External = netip.AddrFrom4([4]byte(b[8:12]))
		return r, nil
	}
	r.Internal = binary.BigEndian.Uint16(b[8:10])
	r.Mapped = binary.BigEndian.Uint16(b[10:12])
	r.Lifetime = time.Duration(binary.BigEndian.Uint32(b[12:16])) * time.Second
	return r, nil
}

// natpmpRequest sends one request and waits for its reply, retransmitting
// after 250 ms, 500 ms and 1 s (RFC 6886 3.1 doubles up to 64 s; we give up
// sooner: a gateway that speaks NAT-PMP answers at once).
func natpmpRequest(ctx context.Context, gw netip.AddrPort, req []byte) (NATPMPReply, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp4", gw.String())
	if err != nil {
		return NATPMPReply{}, fmt.Errorf("nat-pmp %s: %w", gw, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	buf := make([]byte, 64)
	wait := 250 * time.Millisecond
	var lastErr error
	for try := 0; try < 3; try++ {
		if _, err := c.Write(req); err != nil {
			return NATPMPReply{}, fmt.Errorf("nat-pmp %s: %w", gw, err)
		}
		c.SetReadDeadline(time.Now().Add(wait))
		for {
			n, err := c.Read(buf)
			if err != nil {
				lastErr = err
				break
			}
			r, err := ParseNATPMPReply(buf[:n], req[1])
			if err != nil {
				if errors.Is(err, errWrongOp) {
					continue // a late reply to an earlier request
				}
				return r, fmt.Errorf("nat-pmp %s: %w", gw, err)
			}
			return r, nil
		}
		if ctx.Err() != nil {
			return NATPMPReply{}, fmt.Errorf("nat-pmp %s: %w", gw, ctx.Err())
		}
		var ne net.Error
		if !errors.As(lastErr, &ne) || !ne.Timeout() {
			break // refused: nothing listens there
		}
		wait *= 2
	}
	return NATPMPReply{}, fmt.Errorf("nat-pmp %s: no answer: %w", gw, lastErr)
}

var errWrongOp = errors.New("wrong opcode")

// natpmpExternal asks the gateway for its external address.
func natpmpExternal(ctx context.Context, gw netip.AddrPort) (netip.Addr, error) {
	r, err := natpmpRequest(ctx, gw, []byte{0, opExternalAddr})
	return r.External, err
}

// natpmpMap maps (or with lifetime 0 removes) a port for proto "TCP" or "UDP".
func natpmpMap(ctx context.Context, gw netip.AddrPort, proto string, internal, external uint16, lifetime time.Duration) (NATPMPReply, error) {
	op := byte(opMapTCP)
	if proto == "UDP" {
		op = opMapUDP
	}
	req := make([]byte, 12)
	req[1] = op
	binary.BigEndian.PutUint16(req[4:6], internal)
	binary.BigEndian.PutUint16(req[6:8], external)
	binary.BigEndian.PutUint32(req[8:12], uint32(lifetime/time.Second))
	r, err := natpmpRequest(ctx, gw, req)
	if err == nil && r.Internal != internal {
		return r, fmt.Errorf("nat-pmp %s: mapped internal port %d, asked %d", gw, r.Internal, internal)
	}
	return r, err
}
