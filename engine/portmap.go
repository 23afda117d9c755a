package engine

import (
	"net/netip"

	"github.com/hyperblow/hyperblow/engine/portmap"
)

// portMapper keeps the listen port mapped on the gateway.
type portMapper struct {
	m *portmap.Mapper
}

func (c *Client) startPortMap() {
	c.local.pm = &portMapper{m: portmap.Start(portmap.Config{
		Port:    c.ListenAddr().Port(),
		Gateway: c.cfg.PortMapGateway,
		SSDP:    c.cfg.PortMapSSDP,
		Logger:  c.log.With("part", "portmap"),
	})}
}

// close removes the mappings, within a few seconds.
func (p *portMapper) close() { p.m.Close() }

func (p *portMapper) status() (string, netip.AddrPort) { return p.m.Status() }
