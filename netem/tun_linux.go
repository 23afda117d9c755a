//go:build linux

package netem

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

// ListenTUN makes a TUN link: two TUN devices (IFF_TUN, no packet
// information header; MTU TUNMTU), the near one in the caller's network
// namespace and the far one moved into t.FarNetns's, with the point-to-point
// addresses t.NearAddr and t.FarAddr. Every IP packet read from the near
// device crosses the Up link to the far device; every packet read from the
// far device crosses Down. A packet is lost with Shape.Loss, dropped when
// the direction already holds its Window (drop-tail), and otherwise
// arrives in order after the bottleneck and the delay, as a UDP relay's
// datagrams do. Packets are forwarded as read, never parsed.
//
// It refuses (ErrInitialNetns) to run in the machine's initial network
// namespace, or to move the far device into it: run it inside `unshare
// --net`. The devices go away when the link is closed (Close, or ctx
// done). Addr is the near address, Target the far one.
func (c Config) ListenTUN(ctx context.Context, t TUN) (*Relay, error) {
	wrap := func(err error) error { return fmt.Errorf("tun link %s: %w", t.Name, err) }
	if err := t.Validate(); err != nil {
		return nil, wrap(err)
	}
	if err := checkNetns(t.FarNetns); err != nil {
		return nil, wrap(err)
	}
	r, err := c.newRelay(ctx, "tun", t.FarAddr().String())
	if err != nil {
		return nil, wrap(err)
	}
	fail := func(err error) (*Relay, error) {
		r.shutdown() // closes the devices, which removes them
		return nil, wrap(err)
	}
	near, err := openTUN(t.Name)
	if err != nil {
		return fail(err)
	}
	r.tuns = append(r.tuns, near)
	far, err := openTUN(t.FarName())
	if err != nil {
		return fail(err)
	}
	r.tuns = append(r.tuns, far)
	if err := t.setup(ctx); err != nil {
		return fail(err)
	}
	r.addr = &net.IPAddr{IP: t.NearAddr().AsSlice()}
	up := newPipe(r.links[Up], r.done, 4096, &r.count[Up], writeTUN(far, &r.count[Up]))
	down := newPipe(r.links[Down], r.done, 4096, &r.count[Down], writeTUN(near, &r.count[Down]))
	up.start(&r.wg)
	down.start(&r.wg)
	r.active.Store(2)
	r.watch(ctx)
	r.wg.Add(2)
	go r.readTUN(near, up)
	go r.readTUN(far, down)
	return r, nil
}

// readTUN takes the packets read from one device into a link. It returns
// when the device is closed (or fails: removed under us).
func (r *Relay) readTUN(f *os.File, p *pipe) {
	defer r.wg.Done()
	defer r.active.Add(-1)
	buf := make([]byte, tunReadBuffer)
	for {
		n, err := f.Read(buf)
		if err != nil {
			return
		}
		if n > 0 {
			p.offer(chunk{b: bytes.Clone(buf[:n])})
		}
	}
}

// writeTUN delivers packets to a device. A packet the kernel refuses at
// the write (neither IPv4 nor IPv6, say) is not counted as delivered; one it
// takes and drops later (a bad header) is. Either way the link goes on.
func writeTUN(f *os.File, count *dirCounters) func(chunk) bool {
	return func(c chunk) bool {
		if n, err := f.Write(c.b); err == nil {
			count.delivered(n)
		}
		return true
	}
}

// Linux's TUN interface (linux/if_tun.h).
const (
	iffTUN     = 0x0001
	iffNoPI    = 0x1000
	iffTUNExcl = 0x8000 // fail if the device exists already
	tunSetIff  = 0x400454ca
)

// openTUN makes a TUN device named name and returns its file, in
// non-blocking mode so that Close ends a blocked Read. The device lives
// until the file is closed.
func openTUN(name string) (*os.File, error) {
	fd, err := syscall.Open("/dev/net/tun", syscall.O_RDWR|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	var req struct {
		name  [16]byte
		flags uint16
		_     [22]byte // the rest of struct ifreq
	}
	copy(req.name[:15], name)
	req.flags = iffTUN | iffNoPI | iffTUNExcl
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), tunSetIff, uintptr(unsafe.Pointer(&req))); e != 0 {
		syscall.Close(fd)
		if e == syscall.EBUSY || e == syscall.EEXIST {
			return nil, fmt.Errorf("device %s: exists already", name)
		}
		return nil, fmt.Errorf("device %s: TUNSETIFF: %w", name, e)
	}
	return os.NewFile(uintptr(fd), "/dev/net/tun:"+name), nil
}

// setup moves the far device into its namespace and configures both ends:
// MTU, no IPv6 link-local address (so the kernel sends no router or
// multicast chatter across the link; IPv6 addresses may still be added),
// the point-to-point IPv4 addresses, up.
func (t TUN) setup(ctx context.Context) error {
	near, far := t.NearAddr().String(), t.FarAddr().String()
	ns := "--net=/proc/" + strconv.Itoa(t.FarNetns) + "/ns/net"
	mtu := strconv.Itoa(TUNMTU)
	for _, args := range [][]string{
		{"ip", "link", "set", "dev", t.Name, "mtu", mtu, "addrgenmode", "none"},
		{"ip", "addr", "add", near, "peer", far, "dev", t.Name},
		{"ip", "link", "set", "dev", t.Name, "up"},
		{"ip", "link", "set", "dev", t.FarName(), "netns", strconv.Itoa(t.FarNetns)},
		{"nsenter", ns, "ip", "link", "set", "dev", t.FarName(), "mtu", mtu, "addrgenmode", "none"},
		{"nsenter", ns, "ip", "addr", "add", far, "peer", near, "dev", t.FarName()},
		{"nsenter", ns, "ip", "link", "set", "dev", t.FarName(), "up"},
	} {
		out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
		}
	}
	return nil
}

// initNetnsInode is the inode of the kernel's initial network namespace
// (PROC_NET_INIT_INO, a constant of the kernel), for when /proc/1/ns/net
// cannot be read (a sandbox's PID 1 may hide it).
const initNetnsInode = 0xEFFFFFF9

// checkNetns refuses the initial network namespace for either end, and a
// far namespace that is the near one (packets would never cross the link).
func checkNetns(farPID int) error {
	self, err := netnsOf("self")
	if err != nil {
		return err
	}
	init, initErr := netnsOf("1")
	isInit := func(ns netnsID) bool { return ns.ino == initNetnsInode || initErr == nil && ns == init }
	if isInit(self) {
		return ErrInitialNetns
	}
	far, err := netnsOf(strconv.Itoa(farPID))
	if err != nil {
		return fmt.Errorf("far network namespace: %w", err)
	}
	if isInit(far) {
		return fmt.Errorf("far network namespace (PID %d): %w", farPID, ErrInitialNetns)
	}
	if far == self {
		return fmt.Errorf("far network namespace (PID %d) is this process's own: start the far end with unshare --net", farPID)
	}
	return nil
}

type netnsID struct{ dev, ino uint64 }

func netnsOf(pid string) (netnsID, error) {
	var st syscall.Stat_t
	name := "/proc/" + pid + "/ns/net"
	if err := syscall.Stat(name, &st); err != nil {
		return netnsID{}, &os.PathError{Op: "stat", Path: name, Err: err}
	}
	return netnsID{dev: uint64(st.Dev), ino: st.Ino}, nil
}
