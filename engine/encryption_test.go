package engine_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/enginetest"
)

// TestEncryptionBetweenClients: a client that requires encryption and one with
// the default policy reach each other in both directions (the default one dials
// plain, is refused, and retries encrypted; it accepts MSE from the other), and
// the data read is the torrent's.
func TestEncryptionBetweenClients(t *testing.T) {
	mt, data := enginetest.Torrent(t, "enc.bin", 32<<10, []enginetest.File{{Data: enginetest.RandomBytes(5, 1<<20+777)}})
	for _, tc := range []struct {
		name        string
		seed, leech engine.Encryption
	}{
		{"seeder requires", engine.EncryptionRequire, engine.EncryptionPreferPlain},
		{"leecher requires", engine.EncryptionPreferPlain, engine.EncryptionRequire},
		{"both prefer", engine.EncryptionPrefer, engine.EncryptionPrefer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var seedLog, leechLog enginetest.LogBuffer
			sc, err := engine.NewClient(engine.Config{Listen: "127.0.0.1:0", CacheSize: 8 << 20, Encryption: tc.seed, Logger: seedLog.Logger()})
			if err != nil {
				t.Fatal(err)
			}
			defer sc.Close()
			if _, err := sc.AddTorrent(mt, engine.TorrentOptions{OpenTier: engine.ReaderTier(bytes.NewReader(data)), UploadOnly: true, NoTrackers: true}); err != nil {
				t.Fatal(err)
			}
			_, tor := enginetest.Leecher(t, mt, engine.Config{CacheSize: 8 << 20, Encryption: tc.leech, Logger: leechLog.Logger()}, sc.ListenAddr())
			r := tor.NewReader(mt.Info.Files[0])
			defer r.Close()
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			got := make([]byte, len(data))
			for off := 0; off < len(got); {
				n, err := r.ReadAt(ctx, got[off:], int64(off))
				if err != nil {
					t.Fatalf("ReadAt(%d): %v\nleecher log:\n%s", off, err, leechLog.String())
				}
				off += n
			}
			if !bytes.Equal(got, data) {
				t.Fatal("read data differs from the torrent's")
			}
			for _, l := range []*enginetest.LogBuffer{&leechLog, &seedLog} {
				if !strings.Contains(l.String(), "encryption=rc4") {
					t.Errorf("no RC4-encrypted handshake in the log:\n%s", l.String())
				}
			}
		})
	}
}

// A peer that needed MSE is dialled with MSE first next time: no refused plain
// attempt when the default (prefer-plain) client reconnects to it.
func TestEncryptionRememberedPerPeer(t *testing.T) {
	mt, data := enginetest.Torrent(t, "enc2.bin", 32<<10, []enginetest.File{{Data: enginetest.RandomBytes(6, 256<<10)}})
	startSeed := func(listen string, log *enginetest.LogBuffer) *engine.Client {
		t.Helper()
		c, err := engine.NewClient(engine.Config{Listen: listen, CacheSize: 4 << 20, Encryption: engine.EncryptionRequire, Logger: log.Logger()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.AddTorrent(mt, engine.TorrentOptions{OpenTier: engine.ReaderTier(bytes.NewReader(data)), UploadOnly: true, NoTrackers: true}); err != nil {
			t.Fatal(err)
		}
		return c
	}
	var log1, log2, leechLog enginetest.LogBuffer
	sc := startSeed("127.0.0.1:0", &log1)
	addr := sc.ListenAddr()
	_, tor := enginetest.Leecher(t, mt, engine.Config{CacheSize: 4 << 20, Logger: leechLog.Logger()}, addr)
	read := func() {
		t.Helper()
		r := tor.NewReader(mt.Info.Files[0])
		defer r.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		buf := make([]byte, 1000)
		if _, err := r.ReadAt(ctx, buf, int64(len(data)-1000)); err != nil {
			t.Fatalf("read: %v\nleecher log:\n%s", err, leechLog.String())
		}
	}
	read()
	if !strings.Contains(log1.String(), "plain handshake refused") {
		t.Fatalf("the first connection was not refused in plain first (the test needs that):\n%s", log1.String())
	}
	sc.Close()
	sc = startSeed(addr.String(), &log2) // same address: the leecher redials it
	defer sc.Close()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(log2.String(), "encryption=rc4") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(log2.String(), "encryption=rc4") {
		t.Fatalf("the leecher did not reconnect encrypted:\n%s", log2.String())
	}
	if strings.Contains(log2.String(), "plain handshake refused") {
		t.Errorf("the reconnection tried plain first again:\n%s", log2.String())
	}
}
