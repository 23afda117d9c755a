package main

import (
	"flag"

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
