package engine

import "net/netip"

// announceIPv6 is the address given to HTTP trackers as BEP 7's "ipv6=": the
// IPv6 address we listen on, when it is a specific one (a wildcard listener
// leaves the tracker to see our address).
func (c *Client) announceIPv6() netip.Addr {
	a := c.ListenAddr().Addr()
	if a.Is6() && !a.Is4In6() && !a.IsUnspecified() {
		return a
	}
	return netip.Addr{}
}
