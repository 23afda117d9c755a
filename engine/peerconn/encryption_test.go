package peerconn

import (
	"bytes"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/wire"
)

// encConfig is testConfig with an encryption policy and the list MSE needs.
func encConfig(e Encryption) Config {
	cfg := testConfig()
	cfg.Encryption = e
	cfg.InfoHashes = func() []bt.InfoHash { return []bt.InfoHash{{0xee}, testInfoHash} }
	return cfg
}

// TestEncryptionPolicies dials a listener whose every connection is accepted
// with one policy, and checks which handshake, if any, succeeds.
func TestEncryptionPolicies(t *testing.T) {
	for _, tc := range []struct {
		dial, accept Encryption
		want         string // Conn.Encryption on both sides; "fail": no connection
	}{
		{EncryptionPreferPlain, EncryptionPreferPlain, ""},
		{EncryptionPrefer, EncryptionPreferPlain, "rc4"},
		{EncryptionRequire, EncryptionRequire, "rc4"},
		{EncryptionPreferPlain, EncryptionRequire, "rc4"}, // plain refused, retried encrypted
		{EncryptionPrefer, EncryptionDisable, ""},         // MSE not understood, retried plain
		{EncryptionDisable, EncryptionPrefer, ""},
		{EncryptionRequire, EncryptionDisable, "fail"},
		{EncryptionDisable, EncryptionRequire, "fail"},
	} {
		t.Run(tc.dial.String()+"->"+tc.accept.String(), func(t *testing.T) {
			checkGoroutines(t)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx := testContext(t)
			accepted := make(chan *Conn, 1)
			acceptDone := make(chan struct{})
			go func() {
				defer close(acceptDone)
				for {
					nc, err := ln.Accept()
					if err != nil {
						return
					}
					if c, err := Accept(ctx, nc, encConfig(tc.accept)); err == nil {
						accepted <- c
						return
					}
				}
			}()
			defer func() { ln.Close(); <-acceptDone }()
			start := time.Now()
			ic, err := Dial(ctx, ln.Addr().String(), testTorrent, encConfig(tc.dial))
			if tc.want == "fail" {
				if err == nil {
					ic.Close(nil)
					t.Fatalf("Dial succeeded with %q", ic.Encryption())
				}
				return
			}
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("Dial took %v", d)
			}
			ac := <-accepted
			if ic.Encryption() != tc.want || ac.Encryption() != tc.want {
				t.Fatalf("encryption %q / %q, want %q", ic.Encryption(), ac.Encryption(), tc.want)
			}
			if tc.want == "" && (ic.BytesWritten() != int64(wire.HandshakeLen) || ac.BytesRead() != int64(wire.HandshakeLen)) {
				t.Errorf("plain handshake counted %d written, %d read; want %d", ic.BytesWritten(), ac.BytesRead(), wire.HandshakeLen)
			}
			exchangeMessages(t, ic, ac)
		})
	}
}

// exchangeMessages starts both Conns, sends a PIECE each way, and closes them.
func exchangeMessages(t *testing.T, ic, ac *Conn) {
	t.Helper()
	iev, aev := make(chan Event, 4), make(chan Event, 4)
	ic.Start(iev)
	ac.Start(aev)
	block := bytes.Repeat([]byte("0123456789abcdef"), 1024)
	ic.Send(wire.Message{ID: wire.Piece, Index: 1, Begin: 0, Payload: block})
	ac.Send(wire.Message{ID: wire.Piece, Index: 2, Begin: 16384, Payload: block})
	for _, ch := range []chan Event{aev, iev} {
		ev, ok := next(t, ch).(Msg)
		if !ok || ev.M.ID != wire.Piece || !bytes.Equal(ev.M.Payload, block) {
			t.Fatalf("got %#v, want the PIECE", ev)
		}
	}
	ic.Close(nil)
	if err := waitClosed(t, ic, iev); !errors.Is(err, ErrClosed) {
		t.Errorf("initiator closed with %v", err)
	}
	if err := waitClosed(t, ac, aev); !errors.Is(err, ErrPeerClosed) {
		t.Errorf("acceptor closed with %v", err)
	}
}

// TestEncryptedUnknownInfoHash: an MSE handshake for a torrent we do not serve is
// refused as ErrUnknownTorrent, and the dialler does not hang.
func TestEncryptedUnknownInfoHash(t *testing.T) {
	checkGoroutines(t)
	a, b := net.Pipe()
	ctx := testContext(t)
	errc := make(chan error, 1)
	go func() {
		_, err := Accept(ctx, b, encConfig(EncryptionPreferPlain))
		errc <- err
	}()
	other := Torrent{InfoHash: bt.InfoHash{0x42}, NumPieces: 1}
	if _, err := Initiate(ctx, a, other, encConfig(EncryptionRequire)); err == nil {
		t.Fatal("Initiate succeeded for an unknown torrent")
	}
	if err := <-errc; !errors.Is(err, ErrUnknownTorrent) {
		t.Fatalf("Accept: %v, want ErrUnknownTorrent", err)
	}
}

// TestEncryptedHandshakeTimeout: the handshake timeout covers the MSE exchange.
func TestEncryptedHandshakeTimeout(t *testing.T) {
	checkGoroutines(t)
	a, b := net.Pipe()
	defer b.Close()
	go func() { // reads what it is sent, never answers
		buf := make([]byte, 1024)
		for {
			if _, err := b.Read(buf); err != nil {
				return
			}
		}
	}()
	cfg := encConfig(EncryptionRequire)
	cfg.HandshakeTimeout = 200 * time.Millisecond
	start := time.Now()
	_, err := Initiate(testContext(t), a, testTorrent, cfg)
	if !errors.Is(err, ErrHandshakeTimeout) {
		t.Fatalf("Initiate: %v, want ErrHandshakeTimeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
}

func TestParseEncryption(t *testing.T) {
	for _, s := range []string{"prefer-plain", "prefer", "require", "off"} {
		e, err := ParseEncryption(s)
		if err != nil || e.String() != s {
			t.Errorf("ParseEncryption(%q) = %v, %v", s, e, err)
		}
	}
	if _, err := ParseEncryption("always"); err == nil {
		t.Error(`ParseEncryption("always") succeeded`)
	}
}
