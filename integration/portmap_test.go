package integration

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// fakeGatewayEnv makes TestFakeNATPMPGateway serve: it is the gateway of
// TestPortMapNATPMP, run in another network namespace.
const fakeGatewayEnv = "HYPERBLOW_FAKE_NATPMP"

// TestFakeNATPMPGateway is not a test: run with HYPERBLOW_FAKE_NATPMP=ADDR,
// it is a NAT-PMP gateway (RFC 6886) on ADDR that grants every request and
// prints "heard op N [port P lifetime L]" for each, until it is killed.
func TestFakeNATPMPGateway(t *testing.T) {
	addr := os.Getenv(fakeGatewayEnv)
	if addr == "" {
		t.Skip("a helper of TestPortMapNATPMP")
	}
	c, err := net.ListenPacket("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("gateway ready")
	buf := make([]byte, 64)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		b := buf[:n]
		switch {
		case n == 2 && b[0] == 0 && b[1] == 0:
			fmt.Println("heard op 0")
			c.WriteTo([]byte{0, 128, 0, 0, 0, 0, 0, 1, 198, 51, 100, 77}, from)
		case n == 12 && b[0] == 0 && (b[1] == 1 || b[1] == 2):
			fmt.Printf("heard op %d port %d lifetime %d\n", b[1], binary.BigEndian.Uint16(b[4:6]), binary.BigEndian.Uint32(b[8:12]))
			out := make([]byte, 16)
			out[1] = 128 + b[1]
			binary.BigEndian.PutUint32(out[4:8], 1)
			copy(out[8:12], b[4:8]) // the internal port; the external port asked
			copy(out[12:16], b[8:12])
			c.WriteTo(out, from)
		}
	}
}

// TestPortMapNATPMP: `hyperblow seed` without --no-upnp, in a namespace
// whose default route goes through a fake NAT-PMP gateway (this test, in
// the other namespace), asks it for the external address, maps its listen
// port on TCP and UDP, and removes both mappings (lifetime 0) when it stops.
func TestPortMapNATPMP(t *testing.T) {
	v := newVethPair(t)
	if r := run(t, 30*time.Second, procOpts{}, "ip", "-n", v.a, "route", "add", "default", "via", v.ipB); r.code != 0 {
		t.Fatalf("default route: %v", r)
	}
	// The gateway is this test binary again, in B (see TestFakeNATPMPGateway).
	gw := startProc(t, "fake NAT-PMP gateway (netns B)", procOpts{env: []string{fakeGatewayEnv + "=" + v.ipB + ":5351"}},
		append(in(v.b), os.Args[0], "-test.run", "^TestFakeNATPMPGateway$")...)
	gw.waitStdout(t, "gateway ready", time.Minute)
	heard := func(req string) {
		t.Helper()
		gw.waitStdout(t, "heard "+req+"\n", time.Minute)
	}

	bin := buildBinary(t)
	data := filepath.Join(t.TempDir(), "pm.bin")
	writeRandomFile(t, data, 256<<10, 16)
	tor := makeTorrent(t, data, nil, 32<<10)
	seed := startProc(t, "hyperblow seed (netns A)", procOpts{pdeathsig: syscall.SIGTERM},
		append(in(v.a), bin, "seed", "--no-dht", "--no-lsd", "-v", "--listen", v.ipA+":6881", tor.Path, tor.SaveDir)...)
	t.Cleanup(func() {
		if !seed.exited() {
			seed.kill()
		}
	})
	heard("op 0") // the external address
	heard("op 2 port 6881 lifetime 7200")
	heard("op 1 port 6881 lifetime 7200")
	seed.waitStdout(t, "seeding ", time.Minute)
	if err := seed.signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	heard("op 2 port 6881 lifetime 0") // removed at exit
	heard("op 1 port 6881 lifetime 0")
	if !seed.waitFor(exitTimeout) {
		t.Fatalf("hyperblow seed did not exit within %v of SIGTERM: %s", exitTimeout, seed.hung())
	}
	if code := seed.exitCode(); code != 0 {
		t.Errorf("hyperblow seed exited %d: %s", code, seed.describe())
	}
}
