// Package tracker talks to BitTorrent trackers: HTTP announce and scrape (BEP 3, BEP 23,
// BEP 7, BEP 48), UDP announce and scrape (BEP 15), and the announce-list tiers of
// BEP 12. It knows nothing of torrents: callers give it an info-hash, a peer id and
// transfer counters, and get back peers.
//
// # Pieces
//
//   - Client performs one announce or scrape against one tracker URL. One Client is
//     shared by every torrent of a process: it holds the HTTP client and one UDP socket,
//     opened on first use, shared by every UDP tracker.
//   - Announcer decides when to announce for one torrent (started, periodic re-announce,
//     completed, stopped). Every BEP 12 tier announces on its own schedule, all at
//     once; within a tier, trackers are tried in order until one answers. It runs in
//     its own goroutine, plus one per tier while that tier announces, and keeps each
//     tracker's state (waiting, announcing, ok with its peer count, failing with the
//     reason; when it is next asked) for status pages: Announcer.Trackers.
//   - The reply parsers (parseHTTPAnnounce, parseUDPAnnounce, ...) are pure functions
//     over bytes, so they are fuzzed without sockets.
//
// # The shared UDP socket (BEP 15)
//
// Every UDP request registers a random 32-bit transaction id together with the tracker
// address it is sent to. A single reader goroutine reads every datagram from the socket
// and hands it to the request with that transaction id, but only if it came from that
// address; anything else (unknown id, wrong source, too short, larger than the read
// buffer) is dropped. A request is retransmitted after base·2^n (n = 0, 1, ...; BEP 15
// uses base 15 s and n up to 8), keeping its transaction id so that a late reply to an
// earlier copy still counts. A connection id is reused for one minute per tracker address.
//
// # Limits
//
// An HTTP reply body is read up to 2 MiB after decompression; a longer one is an error.
// UDP datagrams are read into a fixed buffer; a larger datagram is dropped. Bencoded
// replies are read only through engine/internal/benc: benc.Parse bounds them, and the
// parsers navigate the resulting benc.Value, which allocates nothing, so what parsing
// allocates is a small multiple of the reply's size whatever it holds (tested at 8×).
// At most 10,000 peers (maxReplyPeers) are taken from one reply. Malformed replies are
// errors, never panics.
//
// # Concurrency and locks
//
// Client methods are safe for concurrent use. Client.mu guards the lazily opened socket,
// the closed flag and the connection-id cache; udpSocket.mu guards the table of pending
// transactions. The two are never held together. An Announcer's schedule is owned by
// the goroutine running Run; Completed and NeedPeers only post to buffered channels.
// The table of tracker states has its own mutex (statusTable.mu), never held while
// calling out.
//
// # Logging
//
// Client never logs except, at debug level, the UDP datagrams its reader drops (there is
// no caller to return those to). Announcer logs per tracker, on a change of state: the
// first failure and any new reason at info at once; a tracker that has not answered
// after SlowAfter (15 s, BEP 15's first retransmission) at info while it is still
// tried; its first answer and an answer after failures at info. The same failure
// again, and regular answers, go to debug.
package tracker
