package engine

import (
	"net/netip"
	"time"
)

// StopTCPListener closes c's TCP listener, leaving uTP: a uTP-only peer.
func StopTCPListener(c *Client) { c.ln.Close() }

// TransportUsed returns "tcp" or "utp": what last connected to a, or "".
func TransportUsed(c *Client, a netip.AddrPort) string {
	c.tr.mu.Lock()
	defer c.tr.mu.Unlock()
	switch c.tr.works[a] {
	case transportTCP:
		return "tcp"
	case transportUTP:
		return "utp"
	}
	return ""
}

// SetMetadataPieceTimeout sets how long a peer has to answer a ut_metadata
// request before it is given up for metadata (magnet.go).
func SetMetadataPieceTimeout(cfg *Config, d time.Duration) { cfg.metadataPieceTimeout = d }
