// Package lsd is BEP 14 Local Service Discovery: it announces the torrents of
// a client to its local network over UDP multicast (239.192.152.143:6771) and
// hands the peers it hears about to a callback.
//
// One Node owns one socket and two goroutines: a receive loop (rate limited:
// announces beyond AcceptPerSecond are dropped unread) and an announce loop
// (each torrent at most once per MinInterval, and again every Interval). An
// announce for a torrent we have that comes from a peer we did not know of is
// answered with our own announce, within the same per-torrent limit, so two
// clients find each other within one round trip whichever started first.
package lsd
