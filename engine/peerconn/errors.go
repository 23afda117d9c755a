package peerconn

import "errors"

// Reasons a handshake fails or a connection closes. Match them with errors.Is; the
// returned errors wrap them with the peer's address and details.
var (
	// ErrUnknownTorrent: an incoming peer asked for an info-hash we do not serve.
	ErrUnknownTorrent = errors.New("peerconn: unknown info-hash")
	// ErrInfoHashMismatch: the peer we dialled answered for another torrent.
	ErrInfoHashMismatch = errors.New("peerconn: peer answered with another info-hash")
	// ErrSelf: the remote peer id is our own; we connected to ourselves (our
	// address came back from a tracker or the DHT).
	ErrSelf = errors.New("peerconn: connected to ourselves")
	// ErrHandshakeTimeout: the handshake did not complete within HandshakeTimeout.
	ErrHandshakeTimeout = errors.New("peerconn: handshake timed out")
	// ErrIdle: the peer sent nothing, not even a keep-alive, for IdleTimeout.
	ErrIdle = errors.New("peerconn: peer silent too long")
	// ErrPeerClosed: the peer closed the connection.
	ErrPeerClosed = errors.New("peerconn: peer closed the connection")
	// ErrSendQueueOverflow: the peer reads slower than we queue messages for it,
	// beyond the queue's bound.
	ErrSendQueueOverflow = errors.New("peerconn: send queue overflow")
	// ErrWriteStalled: a write made no progress for WriteTimeout.
	ErrWriteStalled = errors.New("peerconn: peer stopped reading")
	// ErrClosed is the reason recorded by Close(nil).
	ErrClosed = errors.New("peerconn: closed locally")
)
