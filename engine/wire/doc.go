// Package wire is Hyperblow's sans-IO codec for the BitTorrent peer protocol: the
// handshake (BEP 3), the framing and encoding of every BEP 3 message, the fast
// extension messages (BEP 6) and the extension protocol envelope (BEP 10).
//
// The package owns no socket and keeps no clock. [Parse] works on a byte slice and
// reports how many bytes it used, so it can be driven by anything; [Reader] wraps an
// [io.Reader] with a buffer and returns exactly one message per call whether a read
// delivered several messages (a handshake and a bitfield in one TCP segment) or a
// fraction of one. [AppendMessage] and its fast paths encode into a caller's buffer.
//
// # Limits
//
// Every length that comes from a peer is checked against [Limits] before anything is
// allocated for it (ARCHITECTURE.md invariant 2): the 4-byte length prefix against an
// absolute cap (1 MiB by default), fixed-size messages against their exact size, a
// PIECE against the largest block we request, a BITFIELD against the torrent's piece
// count when it is known, and piece indices against the piece count. Violations are
// reported as [ErrMessageTooLong], [*LengthError] (matching [ErrBadLength]),
// [ErrIndexOutOfRange] or a wrapped [bt.ErrBitfield], so the connection layer can
// disconnect with a clear reason.
//
// # Payload ownership
//
// A [Message] returned by [Parse] aliases the input slice. A Message returned by
// [Reader.ReadMessage] aliases the Reader's buffer and is valid only until the next
// call on that Reader; copy Payload to keep it. Messages passed to the Append
// functions are only read.
package wire
