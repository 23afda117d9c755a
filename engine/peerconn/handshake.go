package peerconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/hyperblow/hyperblow/engine/wire"
)

// Dial connects to addr (over TCP, or cfg.Dial) within cfg.ConnectTimeout and performs the
// handshake for t, as [Initiate]. ctx bounds the whole operation.
//
// cfg.Encryption says whether the first attempt uses MSE and whether a handshake
// that fails (the peer closes it: it may require, or not know, encryption) is
// retried once on a new connection the other way.
func Dial(ctx context.Context, addr string, t Torrent, cfg Config) (*Conn, error) {
	cfg = cfg.withDefaults()
	encrypted, retry := cfg.Encryption.attempts()
	c, err := dialOnce(ctx, addr, t, cfg, encrypted)
	if err == nil || !retry || !retryable(ctx, err) {
		return c, err
	}
	c, err2 := dialOnce(ctx, addr, t, cfg, !encrypted)
	if err2 != nil {
		return nil, fmt.Errorf("%w; retried %s: %w", err, attemptName(!encrypted), err2)
	}
	return c, nil
}

func attemptName(encrypted bool) string {
	if encrypted {
		return "with encryption"
	}
	return "plain"
}

func dialOnce(ctx context.Context, addr string, t Torrent, cfg Config, encrypted bool) (*Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	var nc net.Conn
	var err error
	if cfg.Dial != nil {
		nc, err = cfg.Dial(dctx, addr)
	} else {
		var d net.Dialer
		nc, err = d.DialContext(dctx, "tcp", addr)
	}
	if err != nil {
		return nil, errConnect{fmt.Errorf("peerconn: dial %s: %w", addr, err)}
	}
	return initiate(ctx, nc, t, cfg, encrypted)
}

// Initiate performs the initiator's side of the BEP 3 handshake on nc: send ours,
// read the peer's, check that it names t's info-hash and is not ourselves. With
// cfg.Encryption EncryptionPrefer or EncryptionRequire, an MSE handshake comes
// first and carries ours. On error nc is closed.
func Initiate(ctx context.Context, nc net.Conn, t Torrent, cfg Config) (*Conn, error) {
	cfg = cfg.withDefaults()
	encrypted, _ := cfg.Encryption.attempts()
	return initiate(ctx, nc, t, cfg, encrypted)
}

func initiate(ctx context.Context, nc net.Conn, t Torrent, cfg Config, encrypted bool) (*Conn, error) {
	c := newConn(nc, cfg)
	c.setTorrent(t)
	err := c.handshake(ctx, func() error {
		if encrypted {
			if err := c.initiateMSE(ctx); err != nil { // sends our handshake too
				return err
			}
		} else if err := c.writeHandshake(); err != nil {
			return err
		}
		h, err := c.rd.ReadHandshake()
		if err != nil {
			return err
		}
		if h.InfoHash != t.InfoHash {
			return fmt.Errorf("%w: %v, want %v", ErrInfoHashMismatch, h.InfoHash, t.InfoHash)
		}
		c.peerID, c.reserved = h.PeerID, h.Reserved
		return c.checkSelf()
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Accept performs the receiver's side of the handshake on an incoming nc: read the
// handshake through the info-hash, ask cfg.Lookup for the torrent, answer with our
// handshake, then read the peer id — the order real clients expect, since an
// initiator may wait for our answer before sending its peer id. On error nc is closed.
func Accept(ctx context.Context, nc net.Conn, cfg Config) (*Conn, error) {
	cfg = cfg.withDefaults()
	if cfg.Lookup == nil {
		nc.Close()
		return nil, errors.New("peerconn: Accept needs Config.Lookup")
	}
	c := newConn(nc, cfg)
	err := c.handshake(ctx, func() error {
		if err := c.detect(ctx); err != nil {
			return err
		}
		h, err := c.rd.ReadHandshakeHeader()
		if err != nil {
			return err
		}
		if err := c.checkSKEY(h.InfoHash); err != nil {
			return err
		}
		t, ok := cfg.Lookup(h.InfoHash)
		if !ok {
			return fmt.Errorf("%w %v", ErrUnknownTorrent, h.InfoHash)
		}
		t.InfoHash = h.InfoHash
		c.setTorrent(t)
		c.reserved = h.Reserved
		if err := c.writeHandshake(); err != nil {
			return err
		}
		if c.peerID, err = c.rd.ReadPeerID(); err != nil {
			return err
		}
		return c.checkSelf()
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Conn) writeHandshake() error {
	h := wire.Handshake{Reserved: c.cfg.Reserved, InfoHash: c.infoHash, PeerID: c.cfg.PeerID}
	_, err := c.out.Write(wire.AppendHandshake(make([]byte, 0, wire.HandshakeLen), h))
	return err
}

func (c *Conn) checkSelf() error {
	if c.peerID == c.cfg.PeerID {
		return ErrSelf
	}
	return nil
}

// aLongTimeAgo is a deadline in the past, to interrupt blocked I/O at once.
var aLongTimeAgo = time.Unix(1, 0)

// handshake runs exchange under the handshake timeout and ctx, then clears the
// deadlines. On failure it closes the socket and returns the error with context.
func (c *Conn) handshake(ctx context.Context, exchange func() error) error {
	raw := c.nc // exchange may wrap c.nc (MSE); the socket stays the same
	err := raw.SetDeadline(time.Now().Add(c.cfg.HandshakeTimeout))
	if err == nil {
		stop := context.AfterFunc(ctx, func() { raw.SetDeadline(aLongTimeAgo) })
		err = exchange()
		if !stop() {
			err = context.Cause(ctx)
		}
	}
	if err == nil {
		err = c.nc.SetDeadline(time.Time{})
	}
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			err = fmt.Errorf("%w after %v", ErrHandshakeTimeout, c.cfg.HandshakeTimeout)
		}
		c.nc.Close()
		return fmt.Errorf("peerconn: handshake with %v: %w", c.nc.RemoteAddr(), err)
	}
	c.log.Debug("peer handshake done", "peer_id", c.peerID.String(), "reserved", c.reserved.String(), "encryption", c.Encryption())
	return nil
}
