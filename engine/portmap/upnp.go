package portmap

import (
	"bufio"
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// SSDPGroup is where UPnP devices listen for M-SEARCH.
var SSDPGroup = netip.MustParseAddrPort("239.255.255.250:1900")

// Bounds on what a gateway sends us.
const (
	maxSSDPReply   = 2048
	maxSSDPReplies = 16
	maxXML         = 64 << 10
	soapTimeout    = 3 * time.Second
)

const igdSearchTarget = "urn:schemas-upnp-org:device:InternetGatewayDevice:1"

// ParseSSDPReply reads an SSDP answer (an HTTP/1.1 200 reply over UDP) and
// returns its LOCATION: an http URL.
func ParseSSDPReply(b []byte) (*url.URL, error) {
	if len(b) > maxSSDPReply {
		return nil, fmt.Errorf("ssdp reply of %d bytes: over %d", len(b), maxSSDPReply)
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(b)), nil)
	if err != nil {
		return nil, fmt.Errorf("ssdp reply: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("ssdp reply: status %d", resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	if loc == "" {
		return nil, errors.New("ssdp reply: no LOCATION")
	}
	u, err := url.Parse(loc)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("ssdp reply: LOCATION %q: want an http URL", trunc(loc))
	}
	return u, nil
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// ssdpSearch multicasts an M-SEARCH for an internet gateway to group and
// returns the LOCATION of the first answer whose URL names the host that
// answered (a reply pointing elsewhere is ignored), waiting at most wait.
func ssdpSearch(ctx context.Context, group netip.AddrPort, wait time.Duration) (*url.URL, error) {
	c, err := net.ListenPacket("udp4", ":0")
	if err != nil {
		return nil, fmt.Errorf("ssdp: %w", err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	msg := "M-SEARCH * HTTP/1.1\r\nHOST: " + group.String() + "\r\nMAN: \"ssdp:discover\"\r\nMX: 2\r\nST: " + igdSearchTarget + "\r\n\r\n"
	dst := net.UDPAddrFromAddrPort(group)
	for range 2 { // UDP may be lost: say it twice
		if _, err := c.WriteTo([]byte(msg), dst); err != nil {
			return nil, fmt.Errorf("ssdp %s: %w", group, err)
		}
	}
	c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, maxSSDPReply+1)
	for range maxSSDPReplies {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return nil, fmt.Errorf("ssdp %s: no gateway answered: %w", group, err)
		}
		u, err := ParseSSDPReply(buf[:n])
		if err != nil {
			continue
		}
		ua, _ := from.(*net.UDPAddr)
		if ua == nil || u.Hostname() != ua.IP.String() {
			continue
		}
		return u, nil
	}
	return nil, fmt.Errorf("ssdp %s: no usable gateway among %d replies", group, maxSSDPReplies)
}

// rootDesc is the part of a UPnP device description we read.
type rootDesc struct {
	URLBase string `xml:"URLBase"`
	Device  device `xml:"device"`
}

type device struct {
	DeviceType string    `xml:"deviceType"`
	Services   []service `xml:"serviceList>service"`
	Devices    []device  `xml:"deviceList>device"`
}

type service struct {
	ServiceType string `xml:"serviceType"`
	ControlURL  string `xml:"controlURL"`
}

// ParseDescription finds a WANIPConnection or WANPPPConnection service in a
// device description and returns its control URL, resolved against the
// description's URLBase or location. The URL must stay on location's host.
func ParseDescription(b []byte, location *url.URL) (controlURL *url.URL, serviceType string, err error) {
	if len(b) > maxXML {
		return nil, "", fmt.Errorf("device description of %d bytes: over %d", len(b), maxXML)
	}
	var root rootDesc
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	if err := d.Decode(&root); err != nil {
		return nil, "", fmt.Errorf("device description: %w", err)
	}
	svc, ok := findWANService(root.Device, 0)
	if !ok {
		return nil, "", errors.New("device description: no WANIPConnection or WANPPPConnection service")
	}
	base := location
	if root.URLBase != "" {
		if u, err := url.Parse(strings.TrimSpace(root.URLBase)); err == nil {
			base = location.ResolveReference(u)
		}
	}
	ref, err := url.Parse(strings.TrimSpace(svc.ControlURL))
	if err != nil {
		return nil, "", fmt.Errorf("device description: control URL %q: %w", trunc(svc.ControlURL), err)
	}
	u := base.ResolveReference(ref)
	if u.Scheme != "http" || u.Host != location.Host {
		return nil, "", fmt.Errorf("device description: control URL %q is not on %s", trunc(u.String()), location.Host)
	}
	return u, strings.TrimSpace(svc.ServiceType), nil
}

// findWANService walks the device tree (depth-bounded) for the first WAN
// connection service, IP before PPP.
func findWANService(d device, depth int) (service, bool) {
	if depth > 8 {
		return service{}, false
	}
	var ppp *service
	for i, s := range d.Services {
		t := strings.TrimSpace(s.ServiceType)
		if strings.HasPrefix(t, "urn:schemas-upnp-org:service:WANIPConnection:") && s.ControlURL != "" {
			return s, true
		}
		if strings.HasPrefix(t, "urn:schemas-upnp-org:service:WANPPPConnection:") && s.ControlURL != "" && ppp == nil {
			ppp = &d.Services[i]
		}
	}
	if ppp != nil {
		return *ppp, true
	}
	for _, sub := range d.Devices {
		if s, ok := findWANService(sub, depth+1); ok {
			return s, true
		}
	}
	return service{}, false
}

// igd is a found gateway: where to send SOAP actions, and for which service.
type igd struct {
	control     *url.URL
	serviceType string
	hc          *http.Client
}

// fetchLimited GETs or POSTs and reads at most maxXML bytes of a 200 reply.
func (g *igd) do(ctx context.Context, req *http.Request) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, soapTimeout)
	defer cancel()
	resp, err := g.hc.Do(req.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxXML+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxXML {
		return nil, fmt.Errorf("reply over %d bytes", maxXML)
	}
	if resp.StatusCode != 200 {
		return body, fmt.Errorf("status %d%s", resp.StatusCode, soapFault(body))
	}
	return body, nil
}

// discoverIGD finds a gateway by SSDP and reads its description.
func discoverIGD(ctx context.Context, group netip.AddrPort, wait time.Duration) (*igd, error) {
	loc, err := ssdpSearch(ctx, group, wait)
	if err != nil {
		return nil, err
	}
	g := &igd{hc: &http.Client{
		Timeout: soapTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return errors.New("redirect refused")
		},
	}}
	req, err := http.NewRequest("GET", loc.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("upnp %s: %w", trunc(loc.String()), err)
	}
	body, err := g.do(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("upnp description %s: %w", trunc(loc.String()), err)
	}
	g.control, g.serviceType, err = ParseDescription(body, loc)
	if err != nil {
		return nil, fmt.Errorf("upnp %s: %w", trunc(loc.String()), err)
	}
	return g, nil
}

type soapArg struct{ name, value string }

// call runs a SOAP action and returns the reply body.
func (g *igd) call(ctx context.Context, action string, args ...soapArg) ([]byte, error) {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0"?>` + "\r\n" +
		`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">` +
		`<s:Body><u:` + action + ` xmlns:u="`)
	xml.EscapeText(&b, []byte(g.serviceType))
	b.WriteString(`">`)
	for _, a := range args {
		b.WriteString("<" + a.name + ">")
		xml.EscapeText(&b, []byte(a.value))
		b.WriteString("</" + a.name + ">")
	}
	b.WriteString(`</u:` + action + `></s:Body></s:Envelope>`)
	req, err := http.NewRequest("POST", g.control.String(), strings.NewReader(b.String()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", `text/xml; charset="utf-8"`)
	req.Header.Set("SOAPAction", `"`+g.serviceType+"#"+action+`"`)
	body, err := g.do(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("upnp %s %s: %w", action, trunc(g.control.String()), err)
	}
	return body, nil
}

// soapFault returns ": errorCode errorDescription" from a SOAP fault, or "".
func soapFault(body []byte) string {
	code := xmlText(body, "errorCode")
	if code == "" {
		return ""
	}
	return fmt.Sprintf(": UPnP error %s %s", code, xmlText(body, "errorDescription"))
}

// xmlText returns the text of the first element named local in body, or "".
// It reads tokens without building a tree and stops at maxXML bytes.
func xmlText(body []byte, local string) string {
	if len(body) > maxXML {
		return ""
	}
	d := xml.NewDecoder(bytes.NewReader(body))
	in := false
	var text strings.Builder
	for {
		tok, err := d.Token()
		if err != nil {
			return ""
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local == local {
				in = true
			}
		case xml.CharData:
			if in && text.Len() < 256 {
				text.Write(t)
			}
		case xml.EndElement:
			if in && t.Name.Local == local {
				return strings.TrimSpace(text.String())
			}
		}
	}
}

// externalIP asks the gateway for its external address.
func (g *igd) externalIP(ctx context.Context) (netip.Addr, error) {
	body, err := g.call(ctx, "GetExternalIPAddress")
	if err != nil {
		return netip.Addr{}, err
	}
	ip, err := netip.ParseAddr(xmlText(body, "NewExternalIPAddress"))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("upnp GetExternalIPAddress: %w", err)
	}
	return ip, nil
}

// addMapping maps external -> client:internal for proto, for lease (0:
// permanent, for gateways that refuse leases: error 725).
func (g *igd) addMapping(ctx context.Context, proto string, external, internal uint16, client netip.Addr, lease time.Duration) error {
	_, err := g.call(ctx, "AddPortMapping",
		soapArg{"NewRemoteHost", ""},
		soapArg{"NewExternalPort", strconv.Itoa(int(external))},
		soapArg{"NewProtocol", proto},
		soapArg{"NewInternalPort", strconv.Itoa(int(internal))},
		soapArg{"NewInternalClient", client.String()},
		soapArg{"NewEnabled", "1"},
		soapArg{"NewPortMappingDescription", "hyperblow"},
		soapArg{"NewLeaseDuration", strconv.Itoa(int(lease / time.Second))},
	)
	return err
}

func (g *igd) deleteMapping(ctx context.Context, proto string, external uint16) error {
	_, err := g.call(ctx, "DeletePortMapping",
		soapArg{"NewRemoteHost", ""},
		soapArg{"NewExternalPort", strconv.Itoa(int(external))},
		soapArg{"NewProtocol", proto},
	)
	return err
}

// localAddrToward returns our address on the route to host (no packet sent).
func localAddrToward(host string) (netip.Addr, error) {
	c, err := net.Dial("udp4", net.JoinHostPort(host, "9"))
	if err != nil {
		return netip.Addr{}, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}
