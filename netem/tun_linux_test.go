//go:build linux

package netem

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The TUN tests need root, /dev/net/tun, ip (iproute2) and nsenter
// (util-linux). They never touch the machine's network: run in the initial
// network namespace, TestTUNLink runs itself again in a new one (clone
// with CLONE_NEWNET), whose devices vanish with it, and the far end is a
// child in a namespace of its own.
const (
	// netnsEnv marks the test binary run again inside a private network
	// namespace.
	netnsEnv = "HYPERBLOW_NETEM_IN_NETNS"
	// holdEnv makes the test binary hold a network namespace: it waits
	// for EOF on stdin (its parent closing the pipe, or dying) and exits.
	holdEnv = "HYPERBLOW_NETEM_HOLD"
)

func TestMain(m *testing.M) {
	if os.Getenv(holdEnv) == "1" {
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// missing skips a test for want of a tool or privilege, or fails it when
// HYPERBLOW_REQUIRE_TOOLS=1 (as the integration tests' helper does; netem
// may not import them).
func missing(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("HYPERBLOW_REQUIRE_TOOLS") == "1" {
		t.Fatalf("%s (HYPERBLOW_REQUIRE_TOOLS=1; run bash scripts/test as root)", msg)
	}
	t.Skipf("%s (run as root with iproute2 and util-linux)", msg)
}

func requireTUN(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		missing(t, "TUN links need root")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		missing(t, "no /dev/net/tun: %v", err)
	}
	for _, tool := range []string{"ip", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing(t, "%s not found", tool)
		}
	}
}

// inInitialNetns reports whether this process is in the machine's
// initial network namespace, where TUN links refuse to run.
func inInitialNetns(t *testing.T) bool {
	self, err := netnsOf("self")
	if err != nil {
		t.Fatal(err)
	}
	init, err := netnsOf("1")
	return self.ino == initNetnsInode || err == nil && self == init
}

// reexecInNetns runs this test again in a new network namespace and
// reports its outcome. It returns true when the caller is that run.
func reexecInNetns(t *testing.T) (inner bool) {
	t.Helper()
	if !inInitialNetns(t) {
		return true
	}
	if os.Getenv(netnsEnv) == "1" {
		t.Fatal("still in the initial network namespace after re-executing in a new one")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run", "^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), netnsEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Fatalf("%s in a new network namespace: %v\n%s", t.Name(), err, out)
	}
	t.Logf("ran in a new network namespace:\n%s", out)
	return false
}

// farNetns starts a process that holds a network namespace of its own
// and returns its PID; the test's cleanup ends it.
func farNetns(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), holdEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("far network namespace: %v", err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	return cmd.Process.Pid
}

// inNetns runs f on a thread moved into pid's network namespace; the
// sockets f opens stay there. The thread then moves back; if it cannot, it
// stays locked, so that it ends with f's goroutine instead of serving
// others from the wrong namespace.
func inNetns(t *testing.T, pid int, f func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		home, err := openNetns("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer syscall.Close(home)
		name := fmt.Sprintf("/proc/%d/ns/net", pid)
		there, err := openNetns(name)
		if err != nil {
			errc <- err
			return
		}
		defer syscall.Close(there)
		if err := setns(there); err != nil {
			errc <- fmt.Errorf("setns %s: %w", name, err)
			return
		}
		err = f()
		if err := setns(home); err != nil {
			errc <- fmt.Errorf("setns back: %w", err)
			return
		}
		runtime.UnlockOSThread()
		errc <- err
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func openNetns(name string) (int, error) {
	fd, err := syscall.Open(name, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("%s: %w", name, err)
	}
	return fd, nil
}

func setns(fd int) error {
	if _, _, e := syscall.RawSyscall(sysSetns, uintptr(fd), syscall.CLONE_NEWNET, 0); e != 0 {
		return e
	}
	return nil
}

// startTUN makes a TUN link to the far namespace and closes it (checking
// that no goroutine is left) when the test ends.
func startTUN(t *testing.T, far, subnet int, cfg Config) (*Relay, TUN) {
	t.Helper()
	tun := TUN{Name: fmt.Sprintf("hbt%d", subnet), FarNetns: far, Subnet: subnet}
	r, err := cfg.ListenTUN(ctxT(t), tun)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Close()
		noRelayGoroutines(t)
	})
	return r, tun
}

// TestTUNLink checks the IP-level link with the kernels' own TCP and UDP
// across it: a TCP transfer through a rate-limited, delayed link with a
// short queue (slow start overshoots it, segments are dropped and
// retransmitted) arrives byte-exact and its handshake takes a round trip;
// UDP beyond a full queue is dropped, what fits arrives once the link
// resumes; with Loss 1 nothing crosses; Close removes both devices and
// leaves no goroutine.
func TestTUNLink(t *testing.T) {
	requireTUN(t)
	if !reexecInNetns(t) {
		return
	}
	far := farNetns(t)

	t.Run("tcp", func(t *testing.T) {
		up := Shape{Delay: 20 * time.Millisecond}
		down := Shape{Delay: 20 * time.Millisecond, Jitter: 5 * time.Millisecond, Rate: 8 << 20, Queue: 32 << 10}
		r, tun := startTUN(t, far, 1, shapes(up, down))
		const size = 4 << 20
		var ln net.Listener
		inNetns(t, far, func() (err error) {
			ln, err = net.Listen("tcp", net.JoinHostPort(tun.FarAddr().String(), "0"))
			return err
		})
		defer ln.Close()
		served := make(chan error, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				served <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(hangGuard))
			b := make([]byte, size)
			pattern(b, 0)
			_, err = c.Write(b)
			served <- err
		}()
		t0 := time.Now()
		c, err := net.DialTimeout("tcp", ln.Addr().String(), hangGuard)
		if err != nil {
			t.Fatal(err)
		}
		connect := time.Since(t0)
		defer c.Close()
		c.SetDeadline(time.Now().Add(hangGuard))
		if min := up.Delay + down.Delay - down.Jitter; connect < min {
			t.Errorf("TCP connect took %v through the link, want >= %v (SYN up, SYN-ACK down)", connect, min)
		}
		got, err := io.ReadAll(c)
		if err != nil {
			t.Fatalf("read %d bytes: %v", len(got), err)
		}
		want := make([]byte, size)
		pattern(want, 0)
		if !bytes.Equal(got, want) {
			t.Fatalf("got %d bytes, not the %d sent", len(got), len(want))
		}
		if err := <-served; err != nil {
			t.Fatal(err)
		}
		st := r.Stats()
		if st.Down.OutPackets < size/TUNMTU || st.Up.OutPackets == 0 {
			t.Errorf("stats %+v: want at least %d packets down and some up (ACKs)", st, size/TUNMTU)
		}
		t.Logf("connect %v; down: %d packets in, %d dropped at the queue; %d bytes delivered", connect, st.Down.InPackets, st.Down.Dropped, st.Down.Out)
	})

	t.Run("udp-queue", func(t *testing.T) {
		const queue, size, n = 16 << 10, 1000, 64
		r, tun := startTUN(t, far, 2, shapes(Shape{Stall: true, Queue: queue}, Shape{}))
		var pc net.PacketConn
		inNetns(t, far, func() (err error) {
			pc, err = net.ListenPacket("udp", net.JoinHostPort(tun.FarAddr().String(), "0"))
			return err
		})
		defer pc.Close()
		var got atomic.Int64
		go func() {
			buf := make([]byte, 2048)
			for {
				if _, _, err := pc.ReadFrom(buf); err != nil {
					return
				}
				got.Add(1)
			}
		}()
		c, err := net.Dial("udp", pc.LocalAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for i := range n {
			if _, err := c.Write(datagram(uint32(i), size)); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, "every datagram read from the near device", func() bool {
			st := r.Stats().Up
			return st.InPackets+st.Dropped+st.Lost >= n
		})
		st := r.Stats().Up
		if fit := int64(queue / (size + 28)); st.Dropped == 0 || st.InPackets > fit || st.OutPackets != 0 {
			t.Fatalf("stalled link, queue %d B: %+v; want at most %d packets in, the rest dropped, none out", queue, st, fit)
		}
		if st.DroppedBytes != st.Dropped*(size+28) {
			t.Errorf("dropped %d packets, %d bytes; want %d bytes each", st.Dropped, st.DroppedBytes, size+28)
		}
		if err := r.SetShapeDir(Up, Shape{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the queued datagrams to arrive", func() bool { return got.Load() == st.InPackets })
	})

	t.Run("loss", func(t *testing.T) {
		const n = 20
		r, tun := startTUN(t, far, 3, shapes(Shape{Loss: 1}, Shape{}))
		c, err := net.Dial("udp", net.JoinHostPort(tun.FarAddr().String(), "9"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for i := range n {
			if _, err := c.Write(datagram(uint32(i), 100)); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, "every datagram lost", func() bool { return r.Stats().Up.Lost >= n })
		if st := r.Stats().Up; st.InPackets != 0 || st.OutPackets != 0 || st.LostBytes < n*128 {
			t.Fatalf("Loss 1: %+v; want nothing in or out, %d packets lost", st, n)
		}
	})

	t.Run("malformed", func(t *testing.T) {
		// Packets are forwarded as read, never parsed: whether the
		// receiving kernel refuses a malformed one (cut short, not IP) at
		// the write or drops it later, the link goes on.
		r, tun := startTUN(t, far, 8, Config{})
		var count dirCounters
		deliver := writeTUN(r.tuns[1].(*os.File), &count)
		for _, b := range [][]byte{{0x45}, {0x45, 0, 0, 20}, bytes.Repeat([]byte{0xff}, 100), {0x60, 1}, bytes.Repeat([]byte{0x45}, 3000)} {
			if !deliver(chunk{b: b}) {
				t.Fatal("a malformed packet stopped the link")
			}
		}
		t.Logf("the far kernel took %d of 5 malformed packets at the write", count.snapshot().OutPackets)
		var pc net.PacketConn
		inNetns(t, far, func() (err error) {
			pc, err = net.ListenPacket("udp", net.JoinHostPort(tun.FarAddr().String(), "0"))
			return err
		})
		defer pc.Close()
		c, err := net.Dial("udp", pc.LocalAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte("after")); err != nil {
			t.Fatal(err)
		}
		pc.SetReadDeadline(time.Now().Add(hangGuard))
		buf := make([]byte, 64)
		if n, _, err := pc.ReadFrom(buf); err != nil || string(buf[:n]) != "after" {
			t.Fatalf("after malformed packets: %q, %v", buf[:n], err)
		}
	})

	t.Run("close", func(t *testing.T) {
		tun := TUN{Name: "hbt4", FarNetns: far, Subnet: 4}
		r, err := ListenTUN(ctxT(t), tun, Shape{Delay: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := net.InterfaceByName(tun.Name); err != nil {
			t.Fatalf("near device: %v", err)
		}
		r.Close()
		noRelayGoroutines(t)
		if _, err := net.InterfaceByName(tun.Name); err == nil {
			t.Errorf("near device %s is still there after Close", tun.Name)
		}
		inNetns(t, far, func() error {
			if _, err := net.InterfaceByName(tun.FarName()); err == nil {
				return fmt.Errorf("far device %s is still there after Close", tun.FarName())
			}
			return nil
		})
		// The same names can be used again.
		r2, _ := startTUN(t, far, 4, Config{})
		if r2.Network() != "tun" || r2.Addr().String() != "10.201.4.1" || r2.Target() != "10.201.4.2" {
			t.Errorf("network %s, addr %s, target %s", r2.Network(), r2.Addr(), r2.Target())
		}
	})

	t.Run("refusals", func(t *testing.T) {
		_, err := ListenTUN(ctxT(t), TUN{Name: "hbt5", FarNetns: os.Getpid(), Subnet: 5}, Shape{})
		if err == nil || !strings.Contains(err.Error(), "own") {
			t.Errorf("far namespace = ours: %v, want a refusal", err)
		}
		startTUN(t, far, 6, Config{})
		_, err = ListenTUN(ctxT(t), TUN{Name: "hbt6", FarNetns: far, Subnet: 7}, Shape{})
		if err == nil || !strings.Contains(err.Error(), "exists already") {
			t.Errorf("ListenTUN with a name in use: %v, want a refusal", err)
		}
		if _, err := net.InterfaceByName("hbt6"); err != nil {
			t.Errorf("a failed ListenTUN removed another link's device: %v", err)
		}
	})
}

func TestTUNRefusesInitialNetns(t *testing.T) {
	if !inInitialNetns(t) {
		t.Skip("not in the initial network namespace")
	}
	_, err := ListenTUN(ctxT(t), TUN{Name: "hbt0", FarNetns: os.Getpid()}, Shape{})
	if !errors.Is(err, ErrInitialNetns) || !strings.Contains(err.Error(), "unshare --net") {
		t.Fatalf("got %v, want ErrInitialNetns", err)
	}
}

func TestTUNValidate(t *testing.T) {
	for _, c := range []struct {
		tun TUN
		ok  bool
	}{
		{TUN{Name: "hbl0", FarNetns: 1}, true},
		{TUN{Name: "a-b_C9", FarNetns: 7, Subnet: 255}, true},
		{TUN{Name: "", FarNetns: 1}, false},
		{TUN{Name: "abcdefghijklmno", FarNetns: 1}, false},
		{TUN{Name: "-x", FarNetns: 1}, false},
		{TUN{Name: "a b", FarNetns: 1}, false},
		{TUN{Name: "a/b", FarNetns: 1}, false},
		{TUN{Name: "hbl0", FarNetns: 0}, false},
		{TUN{Name: "hbl0", FarNetns: 1, Subnet: 256}, false},
		{TUN{Name: "hbl0", FarNetns: 1, Subnet: -1}, false},
	} {
		if err := c.tun.Validate(); (err == nil) != c.ok {
			t.Errorf("%+v: %v, want ok=%v", c.tun, err, c.ok)
		}
	}
	if a, b := (TUN{Subnet: 7}).NearAddr().String(), (TUN{Subnet: 7}).FarAddr().String(); a != "10.201.7.1" || b != "10.201.7.2" {
		t.Errorf("addresses %s %s", a, b)
	}
}

// sysSetns is setns(2) on amd64 and arm64 (the syscall package lacks it).
var sysSetns = map[string]uintptr{"amd64": 308, "arm64": 268, "386": 346, "arm": 375, "riscv64": 268}[runtime.GOARCH]
