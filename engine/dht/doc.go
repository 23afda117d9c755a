// Package dht is a BEP 5 (Mainline DHT) node: it finds peers for an info-hash
// without a tracker and announces that we have one, for magnet links. It speaks KRPC
// over one UDP socket, IPv4 or IPv6 (BEP 32: an IPv6 node has its own socket and
// routing table and exchanges "nodes6"; Pair joins the two nodes of one client so
// that each answers and follows "want" ["n4", "n6"]).
//
// # Pieces
//
//   - Node (node.go) owns the socket, the routing table, the peer store and the token
//     secrets. New opens it; Bootstrap joins the DHT; FindNode, GetPeers,
//     GetPeersFunc and Announce run iterative lookups; AddNode takes a node from a
//     peer's PORT message; Save persists the table; Close stops everything.
//   - The pure parts take time as an argument and own no socket, so they are tested
//     and fuzzed directly: KRPC decoding and encoding (krpc.go, krpcencode.go), XOR
//     distance (id.go), compact node info (nodeinfo.go), the routing table
//     (table.go), announce tokens (token.go), the peer store (peerstore.go) and the
//     token buckets (ratelimit.go).
//   - The reader goroutine (transport.go) reads every datagram and calls
//     handlePacket (server.go), which answers queries and routes responses by
//     transaction id to the query waiting for them, if they come from the address the
//     query went to. Lookups (lookup.go) keep alpha = 3 queries in flight, closest
//     first by XOR distance, and stop when the K = 8 closest nodes that did not fail
//     have answered.
//
// # Routing table (BEP 5)
//
// Buckets of K nodes, split only when the bucket containing our own id is full. A node
// is good if it answered us in the last 15 minutes (or answered once and queried us in
// the last 15 minutes), bad after 2 unanswered queries in a row (1 if it never
// answered), questionable otherwise. A full bucket replaces a bad node at once; with
// questionable nodes it keeps the newcomer as a replacement candidate and pings the
// least recently seen questionable node, whose failure brings the candidate in.
// Buckets unchanged for RefreshInterval (15 minutes) are refreshed by a lookup of a
// random id in their range. A node that queries us enters the table only if its
// bucket has room, and is pinged: until it answers (proving it receives at its
// address), it is never handed out in our replies and gets the small reply limits.
//
// # Answering queries: rate limits and amplification
//
// UDP source addresses can be forged, so a DHT node can be used to reflect traffic
// at a victim. LIMITS.md asks for 5 packets/s per IP, about 8 KB/s of replies, and a
// reply no larger than about 1.5 times its request. The last cannot hold literally:
// BEP 5 makes a find_node reply carry 8 nodes (208 bytes plus ~60 of framing) in
// answer to a ~100-byte query. Our reading of it:
//
//   - Every reply is bounded in absolute size: at most 8 nodes, at most 50 values
//     (peers), transaction ids of at most 32 bytes (longer ones are dropped, not
//     echoed), announce tokens of 8 bytes; any reply stays under 1 KiB (maxReply),
//     so the worst ratio to the smallest query is a fixed small factor, not one the
//     sender can grow.
//   - Large payloads go only to proven addresses: a get_peers reply carries up to 50
//     peers only to a querier that has answered one of our queries at that address
//     (spoofers cannot); to anyone else at most 8, about the size of the nodes list
//     BEP 5 obliges us to send anyway. Nodes are only handed out once verified the
//     same way.
//   - Each source IP (/64 for IPv6) is answered at most RateLimitPerIP times a second
//     (token bucket, default 5, burst one second's worth); excess queries are dropped
//     unanswered. At most 4096 sources are tracked; when full and nothing has
//     refilled, new sources are not answered. All replies together spend from an
//     UploadRate byte budget (default 8192 B/s); over it, replies are dropped.
//   - A querier new to the routing table is pinged once to verify it, which a
//     spoofed query could aim at a victim: only when its bucket has room, one
//     ping per address at a time, at most 16 in flight; a ping is smaller than
//     the query that caused it.
//   - Malformed queries that carry a transaction id get error 203 (204 for an unknown
//     method), within the same limits; anything else malformed, and datagrams over
//     2048 bytes, are dropped. Responses and errors are never answered.
//
// # Tokens and the peer store
//
// A get_peers reply carries a token, an HMAC of the querier's IP under a secret that
// rotates every 5 minutes; announce_peer is accepted only with a token made under the
// current or previous secret for the same IP. Announced peers are kept 30 minutes, at
// most MaxPeersPerInfoHash (100) per info-hash (the oldest goes first) and
// MaxInfoHashes (10,000) info-hashes (beyond that, new info-hashes are refused rather
// than evicting live ones). implied_port uses the query's source port.
//
// # Persistence
//
// Save writes a bencoded dictionary {"id": our id, "nodes": compact node info (26
// bytes a node, as in find_node replies)} with up to 512 verified nodes, through a
// temporary file and a rename; New reads it back (at most 64 KiB, parsed by
// engine/internal/benc) and Bootstrap starts from those nodes as well as the
// configured ones. A damaged file is logged and ignored.
//
// # Concurrency and locks
//
// Goroutines: the reader, the maintenance ticker, and short-lived pings of unverified
// or questionable nodes; Close cancels them and waits for all of them. Lookups run on
// their caller's goroutine plus one goroutine per query in flight, which they wait
// for. Node.mu guards the table, the peer store, the token secrets, the rate limiters
// and the closed flag; Node.txMu guards the table of pending transactions. The two are
// never held together, and neither is held while sending or waiting.
//
// # Limits on our own queries
//
// At most MaxInFlight (64) queries are outstanding; each waits QueryTimeout (2 s). A
// lookup asks at most 200 nodes, remembers at most 64 and collects at most 2000
// peers; a reply contributes at most 32 nodes and 256 values.
package dht
