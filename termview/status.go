package termview

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/hyperblow/hyperblow/session"
)

// PrintStatus prints the status for people (hyperblow status): a line per torrent, then magnets
// still resolving, then the cache. Names come from torrents and peers: they
// are quoted when they hold anything but printable characters.
func PrintStatus(w io.Writer, st session.Snapshot, peers bool) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(st.Torrents) > 0 {
		fmt.Fprintln(tw, "TORRENT\tSTATE\tSIZE\tPROGRESS\tDOWNLOAD\tUPLOAD\tPEERS\tREADERS\tWAITING\tSERVED")
	}
	for _, t := range st.Torrents {
		waiting := 0
		for _, p := range t.Waiting {
			waiting += p.Waiters
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s/s\t%s/s\t%d\t%d\t%d\t%s\n", session.Safe(t.Name), session.Safe(t.State), HumanSize(t.TotalLength),
			Percent(t.PiecesHave, t.NumPieces), HumanSize(int64(t.DownloadRate)), HumanSize(int64(t.UploadRate)),
			len(t.Peers), len(t.Readers), waiting, HumanSize(t.ServedToReadersBytes))
	}
	tw.Flush()
	for _, t := range st.Torrents {
		if len(t.Trackers) == 0 {
			continue
		}
		if len(st.Torrents) > 1 {
			fmt.Fprintf(w, "trackers of %s:\n", session.Safe(t.Name))
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, tr := range t.Trackers {
			fmt.Fprintf(tw, "  tracker %s\ttier %d\t%s\n", session.Safe(tr.URL), tr.Tier, TrackerText(tr))
		}
		tw.Flush()
	}
	for _, t := range st.Torrents {
		for _, l := range WebSeedLines(t.WebSeeds) {
			fmt.Fprintln(w, l)
		}
	}
	for _, m := range st.Magnets {
		fmt.Fprintf(w, "magnet %s (%s): %s for %.0fs; peers %d known, %d connected, %d offering metadata",
			session.Safe(m.Name), m.InfoHash, m.State, m.ElapsedSeconds, m.PeersKnown, m.PeersConnected, m.PeersOffering)
		if m.MetadataPiecesTotal > 0 {
			fmt.Fprintf(w, "; metadata %d/%d pieces", m.MetadataPiecesHave, m.MetadataPiecesTotal)
		}
		if m.Error != "" {
			fmt.Fprintf(w, "; error: %s", session.Safe(m.Error))
		}
		fmt.Fprintln(w)
	}
	if len(st.Torrents) == 0 && len(st.Magnets) == 0 {
		fmt.Fprintln(w, "no torrents")
	}
	if peers {
		for _, t := range st.Torrents {
			fmt.Fprintf(w, "\npeers of %s:\n", session.Safe(t.Name))
			if len(t.Peers) == 0 {
				fmt.Fprintln(w, "  none")
				continue
			}
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "  ADDRESS\tNET\tCLIENT\tFLAGS\tPIECES\tDOWNLOAD\tUPLOAD")
			for _, p := range t.Peers {
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s/s\t%s/s\n", p.Address, peerNet(p), session.Safe(p.Client), peerFlags(p),
					Percent(p.Pieces, t.NumPieces), HumanSize(int64(p.DownloadRate)), HumanSize(int64(p.UploadRate)))
			}
			tw.Flush()
		}
	}
	c := st.Cache
	fmt.Fprintf(w, "cache: %s held of %s; %d hits, %d misses, %d evictions, %d rejections\n",
		HumanSize(c.HeldBytes), HumanSize(c.MaxBytes), c.Hits, c.Misses, c.Evictions, c.Rejections)
	printDisk(w, st) // disk.go
	printNetwork(w, st.Network)
	if st.Goroutines > 0 {
		fmt.Fprintf(w, "process: %d goroutines, %d peer connections\n", st.Goroutines, st.Connections)
	}
}

// peerNet is a peer's transport and IP version, "utp/v6"; "-" from a status
// server that does not give them.
func peerNet(p session.PeerStatus) string {
	if p.Transport == "" || p.IPVersion == 0 {
		return "-"
	}
	return fmt.Sprintf("%s/v%d", session.Safe(p.Transport), p.IPVersion)
}

// peerFlags is the compact flag string of --peers (see statusUsage).
func peerFlags(p session.PeerStatus) string {
	var b []byte
	for _, f := range []struct {
		on bool
		c  byte
	}{
		{p.PeerChoking, 'C'}, {p.AmChoking, 'c'}, {p.PeerInterested, 'I'}, {p.AmInterested, 'i'},
		{p.Fast, 'F'}, {p.Incoming, 'E'}, {p.Optimistic, 'O'}, {p.Snubbed, 'S'}, {p.Encryption == "rc4", 'X'},
	} {
		if f.on {
			b = append(b, f.c)
		}
	}
	if len(b) == 0 {
		return "-"
	}
	return string(b)
}

// printNetwork adds a line on LSD and port mapping to hyperblow status.
func printNetwork(w io.Writer, n *session.NetworkStatus) {
	if n == nil {
		return
	}
	fmt.Fprintf(w, "network: local service discovery %s", session.Safe(n.LSD))
	if n.LSDPeers > 0 {
		fmt.Fprintf(w, " (%d local peers heard of)", n.LSDPeers)
	}
	fmt.Fprintf(w, "; port mapping %s", session.Safe(n.PortMap))
	if n.External != "" {
		fmt.Fprintf(w, ", reachable at %s", n.External)
	}
	fmt.Fprintln(w)
}
