package engine

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/dht"
)

// DHT timing: a torrent looks for peers at once and then every
// dhtLookupEvery, and announces itself every dhtAnnounceEvery (BEP 5 peers
// expire after about 30 minutes).
const (
	dhtLookupEvery   = 5 * time.Minute
	dhtAnnounceEvery = 15 * time.Minute
	// dhtResolveEvery is the lookup interval while a magnet waits for peers.
	dhtResolveEvery = 10 * time.Second
)

// startDHT opens the client's DHT nodes on the listen host, on the same port
// number as the TCP listener when it is free, and joins the DHT: an IPv4 node
// for an IPv4 host, an IPv6 one (BEP 32) for an IPv6 host, and both, paired,
// for the wildcard ("", "::"), where the IPv6 one is optional (a host without
// IPv6 runs the IPv4 node alone).
func (c *Client) startDHT() error {
	hosts := []string{"0.0.0.0"}
	port := 0
	if c.ln != nil {
		h, p, err := net.SplitHostPort(c.ln.Addr().String())
		if err == nil {
			port, _ = strconv.Atoi(p)
			hosts = dhtHosts(h)
		}
	}
	var nodes []*dht.Node
	for i, host := range hosts {
		cfg := dht.Config{
			Addr:      net.JoinHostPort(host, strconv.Itoa(port)),
			Bootstrap: c.cfg.DHTBootstrap,
			StateFile: c.cfg.DHTStateFile,
			Logger:    c.log.With("part", "dht"),
		}
		if i > 0 && cfg.StateFile != "" {
			cfg.StateFile += ".ipv6"
		}
		n, err := c.newDHTNode(cfg, host, port) // on uTP's socket when it can
		if err != nil && port != 0 {
			cfg.Addr = net.JoinHostPort(host, "0") // the port is taken on UDP: any will do
			n, err = dht.New(cfg)
		}
		if err != nil && i > 0 {
			c.log.Info("dht: no IPv6 node", "err", err)
			break
		}
		if err != nil {
			return fmt.Errorf("dht: %w", err)
		}
		nodes = append(nodes, n)
	}
	c.dht = nodes[0]
	if len(nodes) > 1 {
		c.dht6 = nodes[1]
		dht.Pair(c.dht, c.dht6)
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		ctx, cancel := context.WithTimeout(c.ctx, time.Minute)
		defer cancel()
		type result struct {
			n   *dht.Node
			err error
		}
		res := make(chan result, len(nodes))
		for _, n := range nodes {
			go func() { res <- result{n, n.Bootstrap(ctx)} }()
		}
		for range nodes {
			r := <-res
			switch {
			case r.err == nil:
			case r.n == c.dht6:
				// Bootstrap nodes are often IPv4 only: the paired IPv6 node
				// also learns IPv6 nodes from the IPv4 one's replies (want n6).
				c.log.Debug("dht: IPv6 bootstrap failed", "err", r.err)
			default:
				c.log.Warn("dht bootstrap failed", "err", r.err)
			}
		}
		close(c.dhtReady)
	}()
	return nil
}

// dhtHosts returns the DHT listen hosts for a TCP listen host, IPv4 first.
func dhtHosts(h string) []string {
	ip, err := netip.ParseAddr(h)
	if err != nil || ip.IsUnspecified() && ip.Is6() {
		return []string{"0.0.0.0", "::"}
	}
	return []string{ip.Unmap().String()}
}

// dhtNodes returns the client's DHT nodes: none, one, or IPv4 and IPv6.
func (c *Client) dhtNodes() []*dht.Node {
	switch {
	case c.dht == nil:
		return nil
	case c.dht6 == nil:
		return []*dht.Node{c.dht}
	}
	return []*dht.Node{c.dht, c.dht6}
}

// DHTAddr returns the DHT node's UDP address, or an invalid one without a DHT.
func (c *Client) DHTAddr() netip.AddrPort {
	if c.dht == nil {
		return netip.AddrPort{}
	}
	return c.dht.Addr()
}

// dhtLoop finds peers for an info-hash in the DHT every interval until ctx ends,
// handing them to add, and announces our port unless announce is false.
func (c *Client) dhtLoop(ctx context.Context, ih bt.InfoHash, add func([]netip.AddrPort), announce bool, every time.Duration) {
	if c.dht == nil {
		return
	}
	select {
	case <-c.dhtReady:
	case <-ctx.Done():
		return
	}
	port := c.ListenAddr().Port()
	var lastAnnounce time.Time
	for {
		lctx, cancel := context.WithTimeout(ctx, time.Minute)
		if announce && port != 0 && time.Since(lastAnnounce) >= dhtAnnounceEvery {
			for _, n := range c.dhtNodes() {
				peers, err := n.Announce(lctx, ih, port, false)
				add(peers)
				if err == nil {
					lastAnnounce = time.Now()
				} else {
					c.log.Debug("dht announce", "info_hash", ih.String(), "ipv6", n.IPv6(), "err", err)
				}
			}
		} else {
			for _, n := range c.dhtNodes() {
				n.GetPeersFunc(lctx, ih, add)
			}
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// addDHTNode adds a node learnt from a peer's PORT message (BEP 5).
func (c *Client) addDHTNode(ip netip.Addr, port uint16) {
	if c.dht != nil && port != 0 {
		c.dht.AddNode(netip.AddrPortFrom(ip, port))
	}
}
