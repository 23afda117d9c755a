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
//   - A magnet is a Torrent without its info yet (Client.AddMagnet, magnet.go):
//     the same owner and peers fetch the info dictionary (BEP 9, one request
//     outstanding per peer), then the piece state is built in place and every
//     connection carries on. Info and Metainfo are nil until GotInfo is
//     closed; WaitInfo waits for it; Readers are made only after it.
//   - A Reader reads one file; the filesystem keeps one per open handle. It tells
//     the owner where it reads and waits on futures for the pieces a read needs.
//     Its readahead window (reader.go) holds 256 KiB beyond the read until the
//     reader has read 1 MiB in a row since its last seek, then twice what it
//     read, at least what the swarm delivers in a round trip, at most 8 s at its
//     own pace and the configured cap; a seek cancels what no reader wants.
//   - The picker (engine/picker) decides which blocks to request from whom: the
//     pieces under blocked reads first, then readahead by deadline. Duplicates
//     only in endgame (the torrent's last few pieces) and for late blocks of a
//     piece a read waits on.
//   - Each peer's request pipeline is sized in time (peer.go, depth): its peak
//     rate times 1.5 round trips plus 50 ms, at most a second of its delivery,
//     and while it ramps up a floor: its share of floorSwarm (32 blocks for
//     all the peers that unchoke us, at least 4 each) plus slow start (a
//     block more per block that came in time, rampBlock). The round trip is
//     measured from blocks asked into an empty pipeline. fillAll goes round the peers a quarter of a
//     depth at a time, so an urgent piece is spread over them by their rates.
//   - Web seeds (BEP 19, mirror.go; HTTP in engine/webseed) are peers that have
//     every piece: after the peers, fillAll gives each mirror (at most 4 at a
//     time) runs of whole pieces from the picker, two range requests at a
//     time, and its bytes go through the same hash check; a lying mirror is
//     banned, a failing one backs off.
//
// # One read
//
// Reader.ReadAt (and ReadShared, which hands out the pieces' own memory instead
// of a copy) maps the file range to pieces. Cached pieces are taken at once.
// For the others it sends one acquire message and gets a future per piece; the
// owner wants each with an urgent deadline and tops up every unchoked peer's
// request pipeline. Blocks land in a piece buffer; a complete piece is hashed off
// the owner goroutine; on a match the owner puts it in the cache and completes the
// future with the verified bytes — the reader never depends on the cache keeping
// them. On a mismatch the piece is requested again and its senders get a strike.
// A piece buffer (newPieceBuf, piecemem.go) is Go heap memory advised to use
// transparent huge pages; once verified it is never written again nor reused
// for another piece, so slices of it may be handed out (ReadShared) for as long
// as anyone holds them.
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
