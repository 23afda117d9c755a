package main

import (
	"fmt"
	"io"
)

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
