package peerconn

import (
	"context"
	"log/slog"
	"net"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/wire"
)

// Defaults for the zero fields of Config (LIMITS.md, "timeouts").
const (
	DefaultConnectTimeout   = 5 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultIdleTimeout      = 120 * time.Second
	// DefaultKeepaliveInterval is below two minutes so that a peer with the common
	// 120 s idle timeout hears from us in time (BEP 3: keep-alives "generally" every
	// two minutes).
	DefaultKeepaliveInterval = 100 * time.Second
	DefaultWriteTimeout      = 30 * time.Second
	// DefaultMaxQueueBytes holds 250 queued 16 KiB blocks (the incoming request
	// bound in LIMITS.md) twice over.
	DefaultMaxQueueBytes = 8 << 20
	// DefaultMaxQueueLen bounds the number of queued messages, which the byte bound
	// alone does not for tiny messages such as HAVE.
	DefaultMaxQueueLen = 8192
)

// Config is what every connection of a client shares. Zero durations and sizes take
// the defaults above.
type Config struct {
	// PeerID is ours. A remote presenting the same id is ourselves (ErrSelf).
	PeerID bt.PeerID
	// Reserved holds the extension bits we announce in our handshake.
	Reserved wire.Reserved
	// Limits bound incoming messages. Its NumPieces is ignored: the piece count
	// comes from the Torrent (or Conn.SetNumPieces).
	Limits wire.Limits

	ConnectTimeout    time.Duration // connect, in Dial
	HandshakeTimeout  time.Duration // the whole handshake exchange
	IdleTimeout       time.Duration // close a peer that sends nothing for this long
	KeepaliveInterval time.Duration // send a keep-alive after this long without sending
	WriteTimeout      time.Duration // close a peer whose socket accepts no bytes for this long

	MaxQueueBytes int // bound of the send queue, in encoded bytes
	MaxQueueLen   int // bound of the send queue, in messages

	// Lookup is used by Accept, once the incoming handshake has named its
	// info-hash and before we answer: ok=false refuses the connection. It may be
	// called from many goroutines at once.
	Lookup func(bt.InfoHash) (t Torrent, ok bool)

	// Encryption is the policy for Message Stream Encryption; the zero value
	// is EncryptionPreferPlain.
	Encryption Encryption
	// InfoHashes lists the torrents Lookup serves, for Accept to recognise the
	// info-hash an MSE handshake asks for (it is sent hashed); nil: incoming MSE
	// is not recognised and every handshake is read as plain. It may be called
	// from many goroutines at once.
	InfoHashes func() []bt.InfoHash

	// BlockAlloc, if set, returns the n-byte buffers that PIECE payloads are
	// copied into (a pool: the owner copies the block on and recycles it).
	BlockAlloc func(n int) []byte

	// UploadLimiter, if set, paces the PIECE payloads this connection writes
	// (--max-upload-rate); one limiter is shared by every connection.
	UploadLimiter Limiter

	// Dial, if set, makes Dial's connections (the client's choice of TCP or
	// uTP); nil dials TCP.
	Dial func(ctx context.Context, addr string) (net.Conn, error)

	// Logger receives debug records about connections; nil discards them.
	Logger *slog.Logger
}

// Limiter paces bytes: Take blocks until n bytes may go, and returns false if done
// closes first.
type Limiter interface {
	Take(n int, done <-chan struct{}) bool
}

// Torrent is what a connection needs to know about its torrent.
type Torrent struct {
	InfoHash bt.InfoHash
	// NumPieces validates BITFIELD sizes and piece indices; 0 while unknown (a
	// magnet link before its metadata), see Conn.SetNumPieces.
	NumPieces int
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.ConnectTimeout, DefaultConnectTimeout)
	def(&c.HandshakeTimeout, DefaultHandshakeTimeout)
	def(&c.IdleTimeout, DefaultIdleTimeout)
	def(&c.KeepaliveInterval, DefaultKeepaliveInterval)
	def(&c.WriteTimeout, DefaultWriteTimeout)
	if c.MaxQueueBytes <= 0 {
		c.MaxQueueBytes = DefaultMaxQueueBytes
	}
	if c.MaxQueueLen <= 0 {
		c.MaxQueueLen = DefaultMaxQueueLen
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}
