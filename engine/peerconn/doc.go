// Package peerconn runs one live BitTorrent peer connection: the handshake (BEP 3),
// then a reader and a writer goroutine, deadlines, message limits, and a bounded send
// queue that never blocks the connection's owner.
//
// # Life of a connection
//
// [Dial] (or [Initiate] on an existing net.Conn) and [Accept] perform the handshake
// under a timeout and return a [*Conn] that is silent until its owner — the torrent's
// goroutine — registers it and calls [Conn.Start] with the channel where it wants the
// connection's events. From then on the reader goroutine delivers every message as a
// [Msg] and, last of all, exactly one [Closed]. The owner must keep receiving until it
// has seen Closed for every Conn it started; that is the only event whose delivery
// waits on the owner after the Conn is closed. A Conn that is never started must be
// closed by whoever holds it.
//
// # Encryption
//
// Config.Encryption chooses whether the BitTorrent handshake is preceded by Message
// Stream Encryption (package mse). The default, [EncryptionPreferPlain], dials
// plain — no extra round trips before the first block — and, if the peer closes
// that handshake (it requires encryption), dials once more with MSE, sending our
// handshake as its initial payload. [Accept] reads the first 20 bytes: a plain
// handshake starts with 19 "BitTorrent protocol", anything else is taken for MSE
// and answered for one of Config.InfoHashes. HandshakeTimeout covers the whole
// exchange, MSE included; [Conn.Encryption] says what was negotiated. The MSE
// bytes are not counted in BytesRead and BytesWritten.
//
// # Concurrency
//
// [Conn.Send], [Conn.CancelQueued], [Conn.Close] and the accessors are safe from any
// goroutine and never block on the network: Send appends to a queue bounded in bytes
// and in messages, and a peer that lets the queue overflow (it does not read) is
// closed with [ErrSendQueueOverflow] instead of stalling the owner. The reader may
// block delivering to the owner's channel — that is backpressure on the peer — but it
// also watches the Conn's done channel, so Close never waits for the owner.
//
// One mutex, Conn.mu, guards the send queue and the close reason; it is never held
// across I/O, a channel operation or a call into other code except the CancelQueued
// predicate. There is no other lock.
//
// # Buffers
//
// Every Payload in a Msg (a PIECE block, a BITFIELD, an EXTENDED payload) is a fresh
// copy owned by the receiver; it stays valid as long as the owner keeps it. A Message
// given to Send is only read, but its Payload is retained until written: the caller
// must not modify it afterwards (a slice of a verified piece is ideal, and is written
// to the socket without copying into a message buffer).
//
// # Failure
//
// Every way a connection ends is an error in Closed.Err and [Conn.Err]: one of this
// package's sentinels ([ErrIdle], [ErrPeerClosed], [ErrSendQueueOverflow],
// [ErrWriteStalled], [ErrClosed] ...), a wire protocol violation
// ([wire.ErrMessageTooLong], [wire.ErrBadLength], ...), or the reason the owner gave
// to Close — all matchable with errors.Is.
package peerconn
