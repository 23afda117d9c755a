package portmap

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// natpmpReq is a request the fake gateway received.
type natpmpReq struct {
	op                 byte
	internal, external uint16
	lifetime           uint32
}

// fakeNATPMP is a NAT-PMP gateway on 127.0.0.1 that grants every mapping
// with the lifetime it is given (or the one asked for when zero).
func fakeNATPMP(t *testing.T, grant uint32) (netip.AddrPort, chan natpmpReq) {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	reqs := make(chan natpmpReq, 100)
	go func() {
		buf := make([]byte, 64)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			b := buf[:n]
			switch {
			case n == 2 && b[1] == opExternalAddr:
				reqs <- natpmpReq{op: b[1]}
				c.WriteTo([]byte{0, 128, 0, 0, 0, 0, 0, 1, 203, 0, 113, 7}, from)
			case n == 12 && (b[1] == opMapTCP || b[1] == opMapUDP):
				r := natpmpReq{op: b[1], internal: binary.BigEndian.Uint16(b[4:6]),
					external: binary.BigEndian.Uint16(b[6:8]), lifetime: binary.BigEndian.Uint32(b[8:12])}
				reqs <- r
				life := r.lifetime
				if grant != 0 && life != 0 {
					life = grant
				}
				out := make([]byte, 16)
				out[1] = 128 + b[1]
				binary.BigEndian.PutUint32(out[4:8], 1)
				binary.BigEndian.PutUint16(out[8:10], r.internal)
				binary.BigEndian.PutUint16(out[10:12], r.internal+1000)
				binary.BigEndian.PutUint32(out[12:16], life)
				c.WriteTo(out, from)
			}
		}
	}()
	return c.LocalAddr().(*net.UDPAddr).AddrPort(), reqs
}

func next[T any](t *testing.T, ch chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: nothing came", what)
	}
	var zero T
	return zero
}

// closedPort is a loopback UDP port where nothing listens.
func closedPort(t *testing.T) netip.AddrPort {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ap := c.LocalAddr().(*net.UDPAddr).AddrPort()
	c.Close()
	return ap
}

// TestNATPMPMapRenewRemove: the external address is asked, TCP and UDP
// are mapped, renewed at half the granted lifetime, and removed (lifetime
// 0) at Close.
func TestNATPMPMapRenewRemove(t *testing.T) {
	gw, reqs := fakeNATPMP(t, 2) // 2 s granted: renewed after 1 s
	m := Start(Config{Port: 6881, Gateway: gw, SSDP: closedPort(t)})
	defer m.Close()
	if r := next(t, reqs, "external address"); r.op != opExternalAddr {
		t.Fatalf("first request op %d, want the external address", r.op)
	}
	for round := 0; round < 2; round++ {
		tcp, udp := next(t, reqs, "TCP map"), next(t, reqs, "UDP map")
		if tcp.op != opMapTCP || tcp.internal != 6881 || tcp.lifetime != 7200 {
			t.Fatalf("round %d: TCP request %+v, want port 6881 for 7200 s", round, tcp)
		}
		if udp.op != opMapUDP || udp.internal != 6881 || udp.external != 7881 {
			t.Fatalf("round %d: UDP request %+v, want 6881 to the TCP mapping's 7881", round, udp)
		}
	}
	method, ext := m.Status()
	if method != NATPMP || ext != netip.MustParseAddrPort("203.0.113.7:7881") {
		t.Fatalf("status %s %s, want nat-pmp 203.0.113.7:7881", method, ext)
	}
	m.Close()
	got := map[byte]natpmpReq{}
	for len(got) < 2 {
		r := next(t, reqs, "removal")
		if r.lifetime != 0 {
			continue // a renewal that Close interrupted
		}
		got[r.op] = r
	}
	for _, op := range []byte{opMapTCP, opMapUDP} {
		if r, ok := got[op]; !ok || r.lifetime != 0 || r.internal != 6881 {
			t.Fatalf("removal of op %d: %+v, want lifetime 0 for 6881", op, r)
		}
	}
}

// fakeIGD is a UPnP gateway on loopback: an SSDP responder and an HTTP
// server for the description and the SOAP control URL.
type fakeIGD struct {
	ssdp    netip.AddrPort
	actions chan string // "AddPortMapping TCP 6881 3600", ...
}

const descXML = `<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0">
 <device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>
  <deviceList><device><deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType>
   <deviceList><device><deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType>
    <serviceList><service>
     <serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType>
     <controlURL>/ctl/IPConn</controlURL>
    </service></serviceList>
   </device></deviceList>
  </device></deviceList>
 </device>
</root>`

func startFakeIGD(t *testing.T, permanentOnly bool) *fakeIGD {
	t.Helper()
	f := &fakeIGD{actions: make(chan string, 100)}
	mux := http.NewServeMux()
	mux.HandleFunc("/desc.xml", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, descXML) })
	mux.HandleFunc("/ctl/IPConn", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		soap := r.Header.Get("SOAPAction")
		_, action, _ := strings.Cut(strings.Trim(soap, `"`), "#")
		if !strings.HasPrefix(soap, `"urn:schemas-upnp-org:service:WANIPConnection:1#`) {
			http.Error(w, "bad SOAPAction", 400)
			return
		}
		switch action {
		case "GetExternalIPAddress":
			f.actions <- action
			fmt.Fprint(w, `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:GetExternalIPAddressResponse xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:1"><NewExternalIPAddress>198.51.100.9</NewExternalIPAddress></u:GetExternalIPAddressResponse></s:Body></s:Envelope>`)
		case "AddPortMapping":
			lease := xmlText(body, "NewLeaseDuration")
			if permanentOnly && lease != "0" {
				w.WriteHeader(500)
				fmt.Fprint(w, `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>725</errorCode><errorDescription>OnlyPermanentLeasesSupported</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>`)
				return
			}
			f.actions <- fmt.Sprintf("%s %s %s->%s:%s %s", action, xmlText(body, "NewProtocol"), xmlText(body, "NewExternalPort"),
				xmlText(body, "NewInternalClient"), xmlText(body, "NewInternalPort"), lease)
		case "DeletePortMapping":
			f.actions <- fmt.Sprintf("%s %s %s", action, xmlText(body, "NewProtocol"), xmlText(body, "NewExternalPort"))
		default:
			http.Error(w, "unknown action", 500)
			return
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	f.ssdp = c.LocalAddr().(*net.UDPAddr).AddrPort()
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			if !strings.HasPrefix(string(buf[:n]), "M-SEARCH * HTTP/1.1\r\n") || !strings.Contains(string(buf[:n]), "InternetGatewayDevice") {
				continue
			}
			// A reply pointing at another host is ignored by the client.
			c.WriteTo([]byte("HTTP/1.1 200 OK\r\nST: "+igdSearchTarget+"\r\nLOCATION: http://192.0.2.1/evil.xml\r\n\r\n"), from)
			c.WriteTo([]byte("HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: "+igdSearchTarget+"\r\nLOCATION: "+srv.URL+"/desc.xml\r\n\r\n"), from)
		}
	}()
	return f
}

// TestUPnPMapRenewRemove: with no NAT-PMP gateway, the IGD is found by
// SSDP, both protocols are mapped to our address, renewed, and deleted at
// Close.
func TestUPnPMapRenewRemove(t *testing.T) {
	f := startFakeIGD(t, false)
	m := Start(Config{Port: 6881, Gateway: closedPort(t), SSDP: f.ssdp, Lifetime: 2 * time.Second})
	defer m.Close()
	if a := next(t, f.actions, "external address"); a != "GetExternalIPAddress" {
		t.Fatalf("first action %q", a)
	}
	for round := 0; round < 2; round++ {
		for _, want := range []string{"AddPortMapping TCP 6881->127.0.0.1:6881 2", "AddPortMapping UDP 6881->127.0.0.1:6881 2"} {
			if a := next(t, f.actions, want); a != want {
				t.Fatalf("round %d: action %q, want %q", round, a, want)
			}
		}
	}
	if method, ext := m.Status(); method != UPnP || ext != netip.MustParseAddrPort("198.51.100.9:6881") {
		t.Fatalf("status %s %s, want upnp 198.51.100.9:6881", method, ext)
	}
	m.Close()
	for _, want := range []string{"DeletePortMapping TCP 6881", "DeletePortMapping UDP 6881"} {
		a := next(t, f.actions, want)
		for strings.HasPrefix(a, "AddPortMapping") { // a renewal that Close interrupted
			a = next(t, f.actions, want)
		}
		if a != want {
			t.Fatalf("action %q, want %q", a, want)
		}
	}
}

// TestUPnPPermanentLease: a gateway that refuses leases (error 725) gets a
// permanent mapping, still deleted at Close.
func TestUPnPPermanentLease(t *testing.T) {
	f := startFakeIGD(t, true)
	m := Start(Config{Port: 7000, Gateway: closedPort(t), SSDP: f.ssdp})
	next(t, f.actions, "external address")
	for _, want := range []string{"AddPortMapping TCP 7000->127.0.0.1:7000 0", "AddPortMapping UDP 7000->127.0.0.1:7000 0"} {
		if a := next(t, f.actions, want); a != want {
			t.Fatalf("action %q, want %q", a, want)
		}
	}
	m.Close()
	for _, want := range []string{"DeletePortMapping TCP 7000", "DeletePortMapping UDP 7000"} {
		if a := next(t, f.actions, want); a != want {
			t.Fatalf("action %q, want %q", a, want)
		}
	}
}

// TestNoGateway: when nothing answers, discovery ends within its bounds
// with the status "none", and Close returns at once.
func TestNoGateway(t *testing.T) {
	m := Start(Config{Port: 6881, Gateway: closedPort(t), SSDP: closedPort(t), SSDPWait: 300 * time.Millisecond})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if method, _ := m.Status(); method == None {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("still searching after 20 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	done := make(chan struct{})
	go func() { m.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
}
