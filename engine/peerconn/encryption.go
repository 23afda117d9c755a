package peerconn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/mse"
	"github.com/hyperblow/hyperblow/engine/wire"
)

// Encryption is the policy for Message Stream Encryption (package mse), the
// obfuscated handshake some peers require.
type Encryption int

// Encryption policies. Incoming connections are told apart by their first bytes:
// a plain handshake starts with 19 "BitTorrent protocol", anything else is taken
// for MSE where the policy allows it.
const (
	// EncryptionPreferPlain (the default) dials plain, the fastest to the first
	// byte, and on a handshake the peer closes retries once with MSE; it
	// accepts both.
	EncryptionPreferPlain Encryption = iota
	// EncryptionPrefer dials with MSE (RC4 or plaintext, as the peer selects)
	// and on failure retries once plain; it accepts both.
	EncryptionPrefer
	// EncryptionRequire dials and accepts only MSE with RC4.
	EncryptionRequire
	// EncryptionDisable dials and accepts only plain handshakes.
	EncryptionDisable
)

// ParseEncryption parses "prefer-plain", "prefer", "require" or "off".
func ParseEncryption(s string) (Encryption, error) {
	for e := EncryptionPreferPlain; e <= EncryptionDisable; e++ {
		if s == e.String() {
			return e, nil
		}
	}
	return 0, fmt.Errorf("encryption %q: want prefer-plain, prefer, require or off", s)
}

func (e Encryption) String() string {
	switch e {
	case EncryptionPreferPlain:
		return "prefer-plain"
	case EncryptionPrefer:
		return "prefer"
	case EncryptionRequire:
		return "require"
	case EncryptionDisable:
		return "off"
	}
	return fmt.Sprintf("Encryption(%d)", int(e))
}

// ErrPlainRefused: a peer sent a plain handshake while encryption is required.
var ErrPlainRefused = errors.New("peerconn: plain handshake refused, encryption required")

// errConnect marks a TCP connect failure, after which no retry is worth it.
type errConnect struct{ err error }

func (e errConnect) Error() string { return e.err.Error() }
func (e errConnect) Unwrap() error { return e.err }

// attempts returns whether the first dial uses MSE and whether a failed
// handshake is retried the other way.
func (e Encryption) attempts() (encrypted, retry bool) {
	switch e {
	case EncryptionPrefer:
		return true, true
	case EncryptionRequire:
		return true, false
	case EncryptionDisable:
		return false, false
	}
	return false, true
}

// provide is the set of MSE methods we offer or accept.
func (e Encryption) provide() mse.Method {
	if e == EncryptionRequire {
		return mse.RC4
	}
	return mse.RC4 | mse.Plaintext
}

// retryable reports whether a handshake failure may be the peer refusing our
// kind of handshake, rather than the peer being absent, slow or wrong.
func retryable(ctx context.Context, err error) bool {
	var ce errConnect
	return ctx.Err() == nil && !errors.As(err, &ce) &&
		!errors.Is(err, ErrSelf) && !errors.Is(err, ErrInfoHashMismatch) &&
		!errors.Is(err, ErrHandshakeTimeout)
}

// Encryption reports how the connection is protected: "" for a plain BitTorrent
// handshake, "rc4" or "plaintext" for MSE with that method.
func (c *Conn) Encryption() string {
	if c.mse == nil {
		return ""
	}
	return c.mse.Method().String()
}

// useConn routes all I/O through nc (an MSE stream or a replaying wrapper);
// only before the first read by c.rd and before Start.
func (c *Conn) useConn(nc net.Conn) {
	c.nc = nc
	c.in.nc = nc
	c.out.nc = nc
}

// initiateMSE runs the MSE handshake for c.infoHash with our BitTorrent handshake
// as its initial payload.
func (c *Conn) initiateMSE(ctx context.Context) error {
	h := wire.Handshake{Reserved: c.cfg.Reserved, InfoHash: c.infoHash, PeerID: c.cfg.PeerID}
	mc, err := mse.Initiate(ctx, c.nc, mse.InitiateConfig{
		SKEY:    c.infoHash,
		Provide: c.cfg.Encryption.provide(),
		IA:      wire.AppendHandshake(make([]byte, 0, wire.HandshakeLen), h),
	})
	if err != nil {
		return err
	}
	c.mse = mc
	c.useConn(mc)
	return nil
}

var plainPrefix = []byte("\x13BitTorrent protocol")

// detect tells an incoming MSE handshake from a plain one by its first 20 bytes
// and, for MSE, runs the receiver's side. Afterwards c reads the peer's
// BitTorrent handshake whichever it was.
func (c *Conn) detect(ctx context.Context) error {
	switch {
	case c.cfg.Encryption == EncryptionDisable:
		return nil
	case c.cfg.InfoHashes == nil && c.cfg.Encryption == EncryptionRequire:
		return errors.New("peerconn: EncryptionRequire needs Config.InfoHashes to accept")
	case c.cfg.InfoHashes == nil:
		return nil // incoming MSE cannot be answered: read every handshake as plain
	}
	first := make([]byte, len(plainPrefix))
	if _, err := io.ReadFull(c.nc, first); err != nil {
		return fmt.Errorf("reading the first bytes: %w", err)
	}
	replay := &replayConn{Conn: c.nc, buf: first}
	if bytes.Equal(first, plainPrefix) {
		if c.cfg.Encryption == EncryptionRequire {
			return ErrPlainRefused
		}
		c.useConn(replay)
		return nil
	}
	mc, err := mse.Receive(ctx, replay, mse.ReceiveConfig{
		SKEYs: func() [][20]byte {
			hs := c.cfg.InfoHashes()
			keys := make([][20]byte, len(hs))
			for i, h := range hs {
				keys[i] = h
			}
			return keys
		},
		Allow:  c.cfg.Encryption.provide(),
		Prefer: mse.RC4,
	})
	if errors.Is(err, mse.ErrUnknownSKEY) {
		return fmt.Errorf("%w: %w", ErrUnknownTorrent, err)
	}
	if err != nil {
		return err
	}
	c.mse = mc
	c.useConn(mc)
	return nil
}

// checkSKEY: an MSE peer's BitTorrent handshake must name the torrent its MSE
// handshake asked for.
func (c *Conn) checkSKEY(h bt.InfoHash) error {
	if c.mse != nil && bt.InfoHash(c.mse.SKEY()) != h {
		return fmt.Errorf("%w: MSE asked for %v, the handshake for %v", ErrInfoHashMismatch, bt.InfoHash(c.mse.SKEY()), h)
	}
	return nil
}

// replayConn returns buf before reading from the Conn.
type replayConn struct {
	net.Conn
	buf []byte
}

func (r *replayConn) Read(p []byte) (int, error) {
	if len(r.buf) > 0 {
		n := copy(p, r.buf)
		r.buf = r.buf[n:]
		return n, nil
	}
	return r.Conn.Read(p)
}
