package utp

import (
	"encoding/binary"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Batched reads: recvmmsg(2) takes up to batchSlots datagrams per system
// call. At 65 MB/s of 1400-byte packets (libtorrent on loopback) one
// recvfrom per datagram was the largest cost uTP added to a download.
const (
	batchSlots = 16
	// slotSize bounds a datagram; a longer one is dropped (uTP packets are at
	// most ~1500 bytes, an Ethernet MTU; DHT messages fit one too).
	slotSize = 4 << 10
)

// mmsghdr is struct mmsghdr: Go pads it as C does.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// readBatch is readRaw with recvmmsg. It returns false, having read
// nothing, where the kernel lacks recvmmsg.
func (s *Socket) readBatch(rc syscall.RawConn) bool {
	bufs := make([]byte, batchSlots*slotSize)
	names := make([]unix.RawSockaddrInet6, batchSlots) // room for either family
	iovs := make([]unix.Iovec, batchSlots)
	msgs := make([]mmsghdr, batchSlots)
	for i := range msgs {
		iovs[i].Base = &bufs[i*slotSize]
		iovs[i].SetLen(slotSize)
		msgs[i].hdr.Iov = &iovs[i]
		msgs[i].hdr.SetIovlen(1)
		msgs[i].hdr.Name = (*byte)(unsafe.Pointer(&names[i]))
	}
	// The whole loop runs inside one RawRead, which clears the poller's note
	// that the socket became readable only when it starts. drained: the last call returned fewer datagrams than it had room for,
	// so the queue was empty then. Every datagram queued since makes the
	// (edge-triggered) poller note the socket readable again, so the loop
	// may wait at once instead of asking the kernel for an EAGAIN first: at
	// WAN rates, where each datagram comes alone, that was a second system
	// call per datagram.
	drained, noSys := false, false
	rc.Read(func(fd uintptr) bool {
		for {
			if drained {
				drained = false
				s.flushAcks() // before waiting: the acks owed by the datagrams read
				return false  // wait until readable
			}
			select {
			case <-s.done:
				return true
			default:
			}
			for i := range msgs {
				msgs[i].hdr.Namelen = unix.SizeofSockaddrInet6
				msgs[i].hdr.Flags = 0
				msgs[i].n = 0
			}
			r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&msgs[0])), batchSlots, unix.MSG_DONTWAIT, 0, 0)
			switch e {
			case 0:
			case unix.EAGAIN:
				s.flushAcks()
				return false
			case unix.ENOSYS:
				noSys = true
				return true
			default:
				continue // EINTR; an ICMP error for an earlier datagram, and the like
			}
			n := min(int(r), batchSlots)
			drained = n < batchSlots
			for i := range n {
				m := &msgs[i]
				if m.hdr.Flags&unix.MSG_TRUNC != 0 {
					continue
				}
				from, ok := sockaddrAddrPort(&names[i], m.hdr.Namelen)
				if !ok {
					continue
				}
				s.handle(bufs[i*slotSize:i*slotSize+int(min(m.n, slotSize))], from)
			}
		}
	})
	return !noSys // else closed
}

// sockaddrAddrPort reads an IPv4 or IPv6 socket address.
func sockaddrAddrPort(sa *unix.RawSockaddrInet6, n uint32) (netip.AddrPort, bool) {
	b := unsafe.Slice((*byte)(unsafe.Pointer(sa)), unix.SizeofSockaddrInet6)
	port := binary.BigEndian.Uint16(b[2:4])
	switch {
	case sa.Family == unix.AF_INET && n >= unix.SizeofSockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), port), true
	case sa.Family == unix.AF_INET6 && n >= unix.SizeofSockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), port), true
	}
	return netip.AddrPort{}, false
}
