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
	if p := c.tr.peers[a]; p != nil {
		return p.last.String()
	}
	return ""
}

// SetMetadataPieceTimeout sets how long a peer has to answer a ut_metadata
// request before it is given up for metadata (magnet.go).
func SetMetadataPieceTimeout(cfg *Config, d time.Duration) { cfg.metadataPieceTimeout = d }
