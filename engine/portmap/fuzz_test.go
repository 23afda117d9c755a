package portmap

import (
	"net/url"
	"testing"
)

func FuzzNATPMPReply(f *testing.F) {
	f.Add([]byte{0, 128, 0, 0, 0, 0, 0, 1, 203, 0, 113, 7}, byte(0))
	f.Add([]byte{0, 130, 0, 0, 0, 0, 0, 1, 0x1a, 0xe1, 0x1e, 0xc9, 0, 0, 0x1c, 0x20}, byte(2))
	f.Add([]byte{0, 129, 0, 3}, byte(1))
	f.Fuzz(func(t *testing.T, b []byte, op byte) {
		op %= 3
		r, err := ParseNATPMPReply(b, op)
		if err != nil {
			return
		}
		if op == opExternalAddr && (len(b) != 12 || !r.External.Is4()) || op != opExternalAddr && len(b) != 16 {
			t.Fatalf("accepted %d bytes for op %d: %+v", len(b), op, r)
		}
	})
}

func FuzzSSDPReply(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nST: " + igdSearchTarget + "\r\nLOCATION: http://192.168.1.1:5000/rootDesc.xml\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nLOCATION: ftp://x/\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := ParseSSDPReply(b)
		if err != nil {
			return
		}
		if u.Scheme != "http" || u.Host == "" {
			t.Fatalf("accepted LOCATION %s", u)
		}
	})
}

func FuzzDescription(f *testing.F) {
	f.Add([]byte(descXML))
	f.Add([]byte(`<root><URLBase>http://10.0.0.1:80/</URLBase><device><serviceList><service><serviceType>urn:schemas-upnp-org:service:WANPPPConnection:1</serviceType><controlURL>ctl</controlURL></service></serviceList></device></root>`))
	f.Add([]byte(`<root><device><serviceList><service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType><controlURL>http://203.0.113.1/x</controlURL></service></serviceList></device></root>`))
	loc, _ := url.Parse("http://10.0.0.1:80/desc.xml")
	f.Fuzz(func(t *testing.T, b []byte) {
		u, _, err := ParseDescription(b, loc)
		if err != nil {
			return
		}
		if u.Host != loc.Host || u.Scheme != "http" {
			t.Fatalf("control URL %s leaves %s", u, loc.Host)
		}
		xmlText(b, "NewExternalIPAddress")
	})
}
