package engine

import (
	"net/netip"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/lsd"
)

// localNet is what the client does on its local network: BEP 14 Local
// Service Discovery and (portmap.go) port mapping on the gateway.
type localNet struct {
	lsd    []*lsd.Node // IPv4 and IPv6 groups; none when off or unavailable
	lsdErr error       // why LSD is not running, when it was asked for
	pm     *portMapper
}

// startLocalNet starts what cfg.LSD and cfg.PortMap ask for. Neither can fail
// the client: without multicast or a gateway it logs once and carries on.
func (c *Client) startLocalNet() {
	if c.ln == nil {
		return
	}
	// On a loopback listener nobody outside this machine could connect to
	// us: neither starts, unless a test names its own gateway.
	loopback := c.ListenAddr().Addr().IsLoopback()
	if c.cfg.LSD && !loopback {
		c.startLSD()
	}
	if c.cfg.PortMap && (!loopback || c.cfg.PortMapGateway.IsValid()) {
		c.startPortMap()
	}
}

// stopLocalNet stops LSD and removes the port mappings (bounded in time).
func (c *Client) stopLocalNet() {
	for _, n := range c.local.lsd {
		n.Close()
	}
	if c.local.pm != nil {
		c.local.pm.close()
	}
}

// startLSD joins the IPv4 group when we listen on IPv4 (or on every
// address), and the IPv6 group when we listen on IPv6 (or on [::], which
// takes both). Failing to join is logged once: IPv4 at info level, IPv6
// (often absent) at debug level.
func (c *Client) startLSD() {
	la := c.ListenAddr()
	ip := la.Addr()
	var groups []netip.AddrPort
	switch {
	case c.cfg.LSDGroup.IsValid():
		groups = []netip.AddrPort{c.cfg.LSDGroup}
	case ip.Is4() || ip.Is4In6():
		groups = []netip.AddrPort{lsd.Group}
	case ip.IsUnspecified(): // [::]: both stacks
		groups = []netip.AddrPort{lsd.Group, lsd.Group6}
	default:
		groups = []netip.AddrPort{lsd.Group6}
	}
	for _, g := range groups {
		n, err := lsd.New(lsd.Config{
			Port:       la.Port(),
			ListenAddr: ip,
			Group:      g,
			Torrents:   c.lsdTorrents,
			OnPeer:     c.lsdPeer,
			Logger:     c.log.With("part", "lsd"),
		})
		if err != nil {
			if g.Addr().Is6() && len(groups) > 1 {
				c.log.Debug("local service discovery off over IPv6", "err", err)
				continue
			}
			c.local.lsdErr = err
			c.log.Info("local service discovery off", "err", err)
			continue
		}
		c.local.lsd = append(c.local.lsd, n)
		c.log.Debug("local service discovery on", "group", g.String(), "addr", n.Addr().String())
	}
}

// lsdTorrents lists the torrents LSD announces: all but the private ones.
func (c *Client) lsdTorrents() []bt.InfoHash {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ihs []bt.InfoHash
	for ih, t := range c.torrents {
		if info := t.Info(); info != nil && !info.Private { // a magnet once its info says it is public
			ihs = append(ihs, ih)
		}
	}
	return ihs
}

// lsdPeer hands a peer heard of on the local network to its torrent, as a
// tracker's or the DHT's peers are.
func (c *Client) lsdPeer(ih bt.InfoHash, addr netip.AddrPort) bool {
	c.mu.Lock()
	t := c.torrents[ih]
	c.mu.Unlock()
	if t == nil || addr == c.ListenAddr() {
		return false
	}
	if info := t.Info(); info == nil || info.Private {
		return false
	}
	c.log.Debug("local peer", "info_hash", ih.String(), "addr", addr.String())
	t.AddPeers([]netip.AddrPort{addr})
	return true
}

// lsdAdded announces a torrent just added, unless it is private.
func (c *Client) lsdAdded(t *Torrent) {
	if info := t.Info(); info == nil || info.Private {
		return
	}
	for _, n := range c.local.lsd {
		n.Announce(t.InfoHash())
	}
}

// LocalNetStatus says what LSD and port mapping are doing.
type LocalNetStatus struct {
	LSD      string         // "on", "off" or why it is unavailable
	LSDPeers int64          // peers heard of on the local network
	Mapped   netip.AddrPort // the external address peers can reach us at, when mapped
	PortMap  string         // "off", "searching", "none" (no gateway answered), "upnp" or "nat-pmp"
}

// LocalNet returns the state of LSD and port mapping.
func (c *Client) LocalNet() LocalNetStatus {
	s := LocalNetStatus{LSD: "off", PortMap: "off"}
	switch {
	case len(c.local.lsd) > 0:
		s.LSD = "on"
		for _, n := range c.local.lsd {
			s.LSDPeers += n.Stats().Peers
		}
	case c.local.lsdErr != nil:
		s.LSD = "unavailable: " + c.local.lsdErr.Error()
	}
	if c.local.pm != nil {
		s.PortMap, s.Mapped = c.local.pm.status()
	}
	return s
}
