package netem

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
)

// TUN link: an IP-level link between two TUN devices (Linux). Where the TCP
// relay terminates TCP and the UDP relay carries datagrams, a TUN link
// carries every IP packet alike through the same bottleneck, delay, jitter,
// queue and loss: the kernels at both ends run their own TCP (slow start,
// congestion control, retransmits) and UDP protocols across it, as over a
// real path.

const (
	// TUNMTU is the MTU of both devices of a TUN link, that of Ethernet:
	// TCP's segments and a uTP sender's datagrams are sized as on the
	// internet.
	TUNMTU = 1500
	// tunReadBuffer is the buffer a TUN reader reads one packet into: far
	// above the MTU, so a packet is never cut.
	tunReadBuffer = 64 << 10
	// maxTUNName bounds TUN.Name: the far device is Name+"f", and a Linux
	// interface name has at most 15 bytes.
	maxTUNName = 14
)

// TUN says where a TUN link's two ends go. The near device stays in the
// caller's network namespace; the far one is moved into the network
// namespace of the process FarNetns. Each gets a point-to-point IPv4
// address from 10.201.Subnet.0/30: the near end .1, the far end .2.
type TUN struct {
	// Name is the near device's name; the far device is Name+"f". At
	// most 14 letters, digits, '_' or '-'.
	Name string
	// FarNetns is the PID of a process (e.g. `unshare --net sleep
	// infinity`) in the network namespace the far device moves to.
	FarNetns int
	// Subnet is N of the addresses 10.201.N.1 (near) and 10.201.N.2
	// (far), 0..255: one per link when several run at once.
	Subnet int
}

// ErrInitialNetns is returned when a TUN link would be made in (or moved
// into) the machine's initial network namespace: the lab's addresses and
// routes must never reach the machine's real network.
var ErrInitialNetns = errors.New("refusing to make TUN devices in the machine's initial network namespace: run inside unshare --net")

// NearAddr is the near device's address, 10.201.Subnet.1.
func (t TUN) NearAddr() netip.Addr { return netip.AddrFrom4([4]byte{10, 201, byte(t.Subnet), 1}) }

// FarAddr is the far device's address, 10.201.Subnet.2.
func (t TUN) FarAddr() netip.Addr { return netip.AddrFrom4([4]byte{10, 201, byte(t.Subnet), 2}) }

// FarName is the far device's name.
func (t TUN) FarName() string { return t.Name + "f" }

// Validate reports a TUN that cannot be made.
func (t TUN) Validate() error {
	if t.Name == "" || len(t.Name) > maxTUNName || t.Name[0] == '-' {
		return fmt.Errorf("device name %q: want 1..%d letters, digits, '_' or '-'", t.Name, maxTUNName)
	}
	for _, c := range t.Name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("device name %q: want 1..%d letters, digits, '_' or '-'", t.Name, maxTUNName)
		}
	}
	if t.FarNetns <= 0 {
		return fmt.Errorf("far network namespace: want the PID of a process in it, not %d", t.FarNetns)
	}
	if t.Subnet < 0 || t.Subnet > 255 {
		return fmt.Errorf("subnet %d: want 0..255 (10.201.N.1 and .2)", t.Subnet)
	}
	return nil
}

// ListenTUN starts a TUN link with Shape s in both directions; see
// Config.ListenTUN.
func ListenTUN(ctx context.Context, t TUN, s Shape) (*Relay, error) {
	return Config{Up: s, Down: s}.ListenTUN(ctx, t)
}
