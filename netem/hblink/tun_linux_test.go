//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// netnsEnv marks the test binary run again in a new network namespace.
const netnsEnv = "HYPERBLOW_HBLINK_IN_NETNS"

// missing skips, or fails under HYPERBLOW_REQUIRE_TOOLS=1 (netem/hblink may
// not import the integration tests' helper).
func missing(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("HYPERBLOW_REQUIRE_TOOLS") == "1" {
		t.Fatalf("%s (HYPERBLOW_REQUIRE_TOOLS=1; run bash scripts/test as root)", msg)
	}
	t.Skipf("%s (run as root with iproute2 and util-linux)", msg)
}

// TestRunTUN runs hblink --tun in a private network namespace (the test
// runs itself again in a new one, with lo up) with the far end in another:
// the ready line names both ends, a datagram sent to the far address
// crosses up and the far kernel's ICMP answer crosses down, the control
// endpoint changes the shape (loss=1: the next datagram is lost), and the
// exit line comes after the link is closed.
func TestRunTUN(t *testing.T) {
	if os.Geteuid() != 0 {
		missing(t, "--tun needs root")
	}
	for _, tool := range []string{"ip", "nsenter", "sleep"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing(t, "%s not found", tool)
		}
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		missing(t, "no /dev/net/tun: %v", err)
	}
	if os.Getenv(netnsEnv) != "1" {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run", "^TestRunTUN$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), netnsEnv+"=1")
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
		out, err := cmd.CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("--- PASS: TestRunTUN")) {
			t.Fatalf("in a new network namespace: %v\n%s", err, out)
		}
		return
	}
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip link set lo up: %v: %s", err, out)
	}
	far := exec.Command("sleep", "3600")
	far.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	if err := far.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { far.Process.Kill(); far.Wait() }()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	outR, outW := io.Pipe()
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"--control", "127.0.0.1:0", "--tun", "hbl0,subnet=9",
			"--far-netns", strconv.Itoa(far.Process.Pid), "--delay", "5ms"}, outW, io.Discard, nil)
		outW.Close()
	}()
	next := reportReader(t, outR)
	ready := next()
	if l := ready.Links; len(l) != 1 || l[0].Proto != "tun" || l[0].Listen != "10.201.9.1" || l[0].Target != "10.201.9.2" ||
		l[0].Dev != "hbl0" || l[0].FarDev != "hbl0f" || l[0].FarNetns != far.Process.Pid || l[0].Up.Delay != "5ms" || l[0].TUN == nil {
		t.Fatalf("ready line %+v", ready)
	}
	ctl := "http://" + ready.Control

	// Nobody listens: the far kernel answers with ICMP. (An unconnected
	// socket, so that the ICMP error does not fail the next write.)
	c, err := net.ListenPacket("udp", "10.201.9.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	to := &net.UDPAddr{IP: net.IPv4(10, 201, 9, 2), Port: 9}
	if _, err := c.WriteTo([]byte("ping"), to); err != nil {
		t.Fatal(err)
	}
	waitControl(t, ctl, func(l linkJSON) bool { return l.TUN.Up.OutPackets >= 1 && l.TUN.Down.OutPackets >= 1 })

	resp, err := http.Post(ctl+"/link/0?up.loss=1", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var l linkJSON
	err = json.NewDecoder(resp.Body).Decode(&l)
	resp.Body.Close()
	if err != nil || l.Up.Loss != 1 || l.Down.Loss != 0 {
		t.Fatalf("after up.loss=1: %+v, %v", l, err)
	}
	if _, err := c.WriteTo([]byte("lost"), to); err != nil {
		t.Fatal(err)
	}
	waitControl(t, ctl, func(l linkJSON) bool { return l.TUN.Up.Lost >= 1 })

	cancel()
	if r := next(); r.Event != "exit" || r.Links[0].TUN.Up.OutPackets < 1 || r.Links[0].TUN.Up.Lost < 1 {
		t.Fatalf("exit line %+v", r)
	}
	if code := <-exited; code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if _, err := net.InterfaceByName("hbl0"); err == nil {
		t.Error("device hbl0 is still there after exit")
	}
}
