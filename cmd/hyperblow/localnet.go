package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/hyperblow/hyperblow/engine"
)

// registerLocalNet registers --no-lsd and --no-upnp, shared by mount, seed and get.
func (m *mountFlags) registerLocalNet(fs *flag.FlagSet) {
	fs.BoolVar(&m.noLSD, "no-lsd", false, "do not use Local Service Discovery (BEP 14) to find peers on the local network (never used for private torrents, nor when --listen is a loopback address)")
	fs.BoolVar(&m.noUPnP, "no-upnp", false, "do not ask the gateway (NAT-PMP or UPnP IGD) to forward the --listen port")
}

// localNetSettings turns LSD and port mapping on unless their flags say no.
func (m *mountFlags) localNetSettings(cfg *engine.Config) {
	cfg.LSD = !m.noLSD
	cfg.PortMap = !m.noUPnP
}

// networkStatusJSON is the "network" object of GET /status (see statusHandler).
type networkStatusJSON struct {
	LSD      string `json:"lsd"`
	LSDPeers int64  `json:"lsd_peers"`
	PortMap  string `json:"port_map"`
	External string `json:"external,omitempty"`
}

func networkStatus(c *engine.Client) *networkStatusJSON {
	s := c.LocalNet()
	n := &networkStatusJSON{LSD: s.LSD, LSDPeers: s.LSDPeers, PortMap: s.PortMap}
	if s.Mapped.IsValid() {
		n.External = s.Mapped.String()
	}
	return n
}

// printNetwork adds a line on LSD and port mapping to hyperblow status.
func printNetwork(w io.Writer, n *networkStatusJSON) {
	if n == nil {
		return
	}
	fmt.Fprintf(w, "network: local service discovery %s", safe(n.LSD))
	if n.LSDPeers > 0 {
		fmt.Fprintf(w, " (%d local peers heard of)", n.LSDPeers)
	}
	fmt.Fprintf(w, "; port mapping %s", safe(n.PortMap))
	if n.External != "" {
		fmt.Fprintf(w, ", reachable at %s", n.External)
	}
	fmt.Fprintln(w)
}
