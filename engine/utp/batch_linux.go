package utp

import (
	"encoding/binary"
	"net/netip"
	"sync"
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

// maxErrRun bounds the errors in a row readBatch retries at once.
const maxErrRun = 64

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
	// that the socket became readable only when it starts. drained: the last
	// call returned fewer datagrams than it had room for, so the queue was
	// empty then. Every datagram queued since makes the (edge-triggered)
	// poller note the socket readable again, so the loop may wait at once
	// instead of asking the kernel for an EAGAIN first: at WAN rates, where
	// each datagram comes alone, that was a second system call per datagram.
	drained, noSys, errRun := false, false, 0
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
			// A raw call: it never blocks (MSG_DONTWAIT), and the
			// scheduler's hooks around a system call (entersyscall woke
			// the runtime's idle sysmon thread, a futex call) cost more
			// than the call at one datagram per call.
			r, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&msgs[0])), batchSlots, unix.MSG_DONTWAIT, 0, 0)
			switch e {
			case 0:
			case unix.EAGAIN:
				s.flushAcks()
				return false
			case unix.ENOSYS:
				noSys = true
				return true
			default:
				// EINTR; an ICMP error for an earlier datagram, and the like:
				// each is reported once. A run of them (a socket in a state
				// this loop does not know) waits for the poller instead of
				// spinning.
				if errRun++; errRun > maxErrRun {
					errRun = 0
					return false
				}
				continue
			}
			errRun = 0
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

// rawWriter sends datagrams with sendto(2) as a raw system call: no
// net.UDPConn bookkeeping and no scheduler hooks (see readBatch). The socket
// is non-blocking, so the call is short.
type rawWriter struct {
	rc     syscall.RawConn
	family int // the socket's: AF_INET or AF_INET6 (which takes IPv4 as ::ffff:a.b.c.d)
	send   func(fd uintptr) bool

	mu  sync.Mutex // guards what send sends (the fd serializes writes anyway)
	b   []byte
	sa  unix.RawSockaddrInet6 // room for either family
	san uintptr
}

// newRawWriter returns nil where the socket's family is not known.
func newRawWriter(rc syscall.RawConn) *rawWriter {
	w := &rawWriter{rc: rc}
	rc.Control(func(fd uintptr) {
		switch sa, _ := unix.Getsockname(int(fd)); sa.(type) {
		case *unix.SockaddrInet4:
			w.family = unix.AF_INET
		case *unix.SockaddrInet6:
			w.family = unix.AF_INET6
		}
	})
	if w.family == 0 {
		return nil
	}
	w.send = w.sendto // one closure, not one per datagram
	return w
}

// write sends b to `to`; false: it cannot (an address the socket's family
// does not take, a zone), and the caller uses the net package.
func (w *rawWriter) write(b []byte, to netip.AddrPort) bool {
	a := to.Addr()
	if a.Zone() != "" || w.family == unix.AF_INET && !a.Unmap().Is4() || len(b) == 0 {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sa = unix.RawSockaddrInet6{}
	p := unsafe.Slice((*byte)(unsafe.Pointer(&w.sa)), unix.SizeofSockaddrInet6)
	binary.BigEndian.PutUint16(p[2:4], to.Port())
	if w.family == unix.AF_INET {
		w.sa.Family = unix.AF_INET
		a4 := a.Unmap().As4()
		copy(p[4:8], a4[:])
		w.san = unix.SizeofSockaddrInet4
	} else {
		w.sa.Family = unix.AF_INET6
		w.sa.Addr = a.As16() // an IPv4 address as ::ffff:a.b.c.d
		w.san = unix.SizeofSockaddrInet6
	}
	w.b = b
	w.rc.Write(w.send)
	w.b = nil
	return true
}

// sendto is rc.Write's function. w.mu is held.
func (w *rawWriter) sendto(fd uintptr) bool {
	for {
		_, _, e := unix.RawSyscall6(unix.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&w.b[0])), uintptr(len(w.b)), 0, uintptr(unsafe.Pointer(&w.sa)), w.san)
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false // wait until writable, as the net package does
		}
		return true // sent, or the network's loss
	}
}
