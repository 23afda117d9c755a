// Package enginetest has helpers for tests of the engine and its users: an
// in-process seeder on 127.0.0.1 and a misbehaving peer. Like httptest, each
// helper cleans up after itself in t.Cleanup.
package enginetest

import (
	"bytes"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"testing"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/metainfo"
)

// File is one file of a generated torrent.
type File struct {
	Path []string
	Data []byte
}

// RandomBytes returns n deterministic pseudo-random bytes.
func RandomBytes(seed byte, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

// Torrent builds a torrent of files (one file with an empty Path is a single-file
// torrent) and returns it with its data laid end to end.
func Torrent(t testing.TB, name string, pieceLength int64, files []File) (*metainfo.Torrent, []byte) {
	t.Helper()
	var in []metainfo.InputFile
	var all []byte
	for _, f := range files {
		in = append(in, metainfo.FileBytes(f.Data, f.Path...))
		all = append(all, f.Data...)
	}
	raw, err := metainfo.CreateFromFiles(name, in, metainfo.CreateOptions{PieceLength: pieceLength})
	if err != nil {
		t.Fatalf("CreateFromFiles: %v", err)
	}
	mt, err := metainfo.Parse(raw)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return mt, all
}

// Logger returns a logger for tests: debug output when HYPERBLOW_TEST_DEBUG is set.
func Logger(t testing.TB) *slog.Logger {
	if os.Getenv("HYPERBLOW_TEST_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// Seed starts a Hyperblow client on 127.0.0.1 seeding mt from data and returns
// the address peers can dial. It stops in t.Cleanup.
func Seed(t testing.TB, mt *metainfo.Torrent, data []byte) netip.AddrPort {
	t.Helper()
	c, err := engine.NewClient(engine.Config{Listen: "127.0.0.1:0", CacheSize: 8 << 20, Logger: Logger(t).With("role", "seeder")})
	if err != nil {
		t.Fatalf("seeder: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.AddTorrent(mt, engine.TorrentOptions{OpenTier: engine.ReaderTier(bytes.NewReader(data)), UploadOnly: true, NoTrackers: true}); err != nil {
		t.Fatalf("seeder: %v", err)
	}
	return c.ListenAddr()
}

// Leecher starts a client that connects to peers for mt, without trackers.
func Leecher(t testing.TB, mt *metainfo.Torrent, cfg engine.Config, peers ...netip.AddrPort) (*engine.Client, *engine.Torrent) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = Logger(t).With("role", "leecher")
	}
	c, err := engine.NewClient(cfg)
	if err != nil {
		t.Fatalf("leecher: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	tor, err := c.AddTorrent(mt, engine.TorrentOptions{Peers: peers, NoTrackers: true})
	if err != nil {
		t.Fatalf("leecher: %v", err)
	}
	return c, tor
}
