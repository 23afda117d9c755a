package dht

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// maxAddrsPerName bounds the addresses used from one bootstrap host name.
const maxAddrsPerName = 8

// Bootstrap joins the DHT (BEP 5): it looks up our own id starting from the
// configured Bootstrap nodes, the nodes saved in StateFile and whatever is already in
// the routing table, which fills the table with the nodes nearest to us and tells
// them about us. It returns an error if no node answered. Calling it again later is
// harmless.
func (n *Node) Bootstrap(ctx context.Context) error {
	var seeds []candidate
	for _, hp := range n.cfg.Bootstrap {
		addrs, err := resolve(ctx, hp, n.v6)
		if err != nil {
			n.log.Warn("dht: bootstrap node", "node", hp, "err", err)
			continue
		}
		for _, a := range addrs {
			seeds = append(seeds, candidate{NodeInfo: NodeInfo{Addr: a}})
		}
	}
	n.mu.Lock()
	for _, p := range n.persisted {
		seeds = append(seeds, candidate{NodeInfo: p, idKnown: true})
	}
	n.mu.Unlock()
	if _, err := n.lookup(ctx, n.self, methodFindNode, seeds, nil); err != nil {
		return fmt.Errorf("dht: bootstrap: %w", err)
	}
	n.mu.Lock()
	size := n.table.len()
	n.mu.Unlock()
	if size == 0 {
		return fmt.Errorf("dht: bootstrap: %w", ErrNoNodes)
	}
	n.log.Debug("dht: bootstrapped", "nodes", size)
	return nil
}

// resolve turns host:port into IPv4 addresses, or IPv6 ones with v6. A literal
// address of the other family is returned as it is (the lookup skips it).
func resolve(ctx context.Context, hostport string, v6 bool) ([]netip.AddrPort, error) {
	host, portStr, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return nil, fmt.Errorf("invalid port in %q", hostport)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.AddrPort{netip.AddrPortFrom(ip.Unmap(), uint16(port))}, nil
	}
	network := "ip4"
	if v6 {
		network = "ip6"
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, network, host)
	if err != nil {
		return nil, err
	}
	var out []netip.AddrPort
	for _, ip := range ips[:min(len(ips), maxAddrsPerName)] {
		out = append(out, netip.AddrPortFrom(ip.Unmap(), uint16(port)))
	}
	return out, nil
}
