// Package engine is Hyperblow's BitTorrent engine: it turns reads of a torrent's
// files into prioritized block requests to peers, verifies every piece, and hands
// verified bytes to readers.
//
// # Concepts
//
//   - A Client owns what torrents share: the listener, the tracker client (one UDP
//     socket for every UDP tracker), hashing slots, and the piece cache.
//   - A Torrent's state belongs to one owner goroutine (owner.go). Readers,
//     connections, dialers, hashers and the announcer talk to it over channels: a
//     closed set of message types (ownerMsg) and peerconn's typed events. No lock
//     guards torrent state; the few atomics are counters for Stats.
//   - A Reader reads one file; the filesystem keeps one per open handle. It tells
//     the owner where it reads (a readahead window twice what it read sequentially,
//     capped, which falls back to a small one on a seek) and waits on futures for
//     the pieces a read needs.
//   - The picker (engine/picker) decides which blocks to request from whom: the
//     pieces under blocked reads first, then readahead by deadline.
//
// # One read
//
// Reader.ReadAt maps the file range to pieces. Cached pieces are copied at once.
// For the others it sends one acquire message and gets a future per piece; the
// owner wants each with an urgent deadline and tops up every unchoked peer's
// request pipeline. Blocks land in a piece buffer; a complete piece is hashed off
// the owner goroutine; on a match the owner puts it in the cache and completes the
// future with the verified bytes — the reader never depends on the cache keeping
// them. On a mismatch the piece is requested again and its senders get a strike.
//
// # Invariants
//
//   - No byte reaches a reader unless its piece's SHA-1 matched.
//   - An interrupted read withdraws its wait but not the download: blocks in
//     flight are kept (a Go program reading the mount is interrupted by its own
//     runtime and retries). Requests are cancelled when no reader wants the piece
//     any more (its window moved on, or its file was closed).
//   - Close stops every torrent: blocked reads return ErrClosed, connections close,
//     trackers hear "stopped" within a bounded time.
package engine
