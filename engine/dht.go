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

// startDHT opens the client's DHT node on the listen host, on the same port
// number as the TCP listener when it is free, and joins the DHT.
func (c *Client) startDHT() error {
	host := "0.0.0.0"
	port := 0
	if c.ln != nil {
		h, p, err := net.SplitHostPort(c.ln.Addr().String())
		if err == nil {
			host = h
			port, _ = strconv.Atoi(p)
		}
	}
	cfg := dht.Config{
		Addr:      net.JoinHostPort(host, strconv.Itoa(port)),
		Bootstrap: c.cfg.DHTBootstrap,
		StateFile: c.cfg.DHTStateFile,
		Logger:    c.log.With("part", "dht"),
	}
	n, err := dht.New(cfg)
	if err != nil && port != 0 {
		cfg.Addr = net.JoinHostPort(host, "0") // the port is taken on UDP: any will do
		n, err = dht.New(cfg)
	}
	if err != nil {
		return fmt.Errorf("dht: %w", err)
	}
	c.dht = n
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		ctx, cancel := context.WithTimeout(c.ctx, time.Minute)
		defer cancel()
		if err := n.Bootstrap(ctx); err != nil {
			c.log.Warn("dht bootstrap failed", "err", err)
		}
		close(c.dhtReady)
	}()
	return nil
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
			peers, err := c.dht.Announce(lctx, ih, port, false)
			add(peers)
			if err == nil {
				lastAnnounce = time.Now()
			} else {
				c.log.Debug("dht announce", "info_hash", ih.String(), "err", err)
			}
		} else {
			c.dht.GetPeersFunc(lctx, ih, add)
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
