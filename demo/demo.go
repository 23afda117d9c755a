// Package demo makes Hyperblow's offline demo swarm: a tree of sample files
// (text, an empty file, a deep folder, an odd-sized file, a big random file
// and a SHA256SUMS of them all), a torrent of it, and a seeder on 127.0.0.1
// that serves it with Hyperblow's own engine. Nothing leaves the machine: no
// trackers, no DHT. `hyperblow demo` mounts the torrent from that seeder.
package demo

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/metainfo"
	"github.com/hyperblow/hyperblow/engine/storage"
)

// Swarm is the demo's content and its seeder.
type Swarm struct {
	Torrent *metainfo.Torrent
	Seeder  netip.AddrPort // the seeder's address on 127.0.0.1

	dir    string // the sample files, removed by Close
	client *engine.Client
}

// Start writes the sample files (the big one bigSize bytes) in a temporary
// folder, makes their torrent and starts seeding it on 127.0.0.1. Close
// stops the seeder and removes the files.
func Start(bigSize int64, log *slog.Logger) (_ *Swarm, err error) {
	tmp, err := os.MkdirTemp("", "hyperblow-demo-")
	if err != nil {
		return nil, err
	}
	s := &Swarm{dir: tmp}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	data := filepath.Join(tmp, "hyperblow-demo")
	if err := WriteFiles(data, bigSize); err != nil {
		return nil, fmt.Errorf("demo: writing sample files: %w", err)
	}
	raw, err := metainfo.Create(data, metainfo.CreateOptions{PieceLength: 256 << 10, CreatedBy: "hyperblow demo", Comment: "Hyperblow's offline demo"})
	if err != nil {
		return nil, fmt.Errorf("demo: making the torrent: %w", err)
	}
	if s.Torrent, err = metainfo.Parse(raw); err != nil {
		return nil, fmt.Errorf("demo: reading back the torrent: %w", err)
	}
	s.client, err = engine.NewClient(engine.Config{Listen: "127.0.0.1:0", CacheSize: 16 << 20, Logger: log.With("role", "seeder")})
	if err != nil {
		return nil, fmt.Errorf("demo: starting the seeder: %w", err)
	}
	// The seeder is a torrent whose tier is the sample files, read only, as
	// for hyperblow seed: every piece checked at the start.
	openData := func(mt *metainfo.Torrent, ev storage.Events) (storage.Tier, error) {
		lay, _, err := storage.OpenLayout(context.Background(), mt.InfoHash, mt.Info, "",
			storage.LayoutConfig{ReadOnly: true, Root: data, Events: ev, Log: log})
		if err != nil {
			return nil, err
		}
		if !lay.Complete() {
			lay.Close()
			return nil, fmt.Errorf("demo: the sample files do not match their torrent")
		}
		return lay, nil
	}
	if _, err := s.client.AddTorrent(s.Torrent, engine.TorrentOptions{OpenTier: openData, UploadOnly: true, NoTrackers: true}); err != nil {
		return nil, fmt.Errorf("demo: seeding: %w", err)
	}
	s.Seeder = s.client.ListenAddr()
	log.Info("demo seeder ready", "addr", s.Seeder.String(), "info_hash", s.Torrent.InfoHash.String())
	return s, nil
}

// Close stops the seeder and removes the sample files.
func (s *Swarm) Close() error {
	if s.client != nil {
		s.client.Close()
	}
	return os.RemoveAll(s.dir)
}

// WriteFiles writes the sample tree and a SHA256SUMS of it.
func WriteFiles(dir string, bigSize int64) error {
	files := map[string][]byte{
		"README.txt": []byte("This folder is a BitTorrent torrent, mounted by Hyperblow.\n" +
			"Every byte you read was requested from a peer, SHA-1 verified, and served from memory.\n"),
		"empty.txt":                   {},
		"docs/nested/deeper/hello.md": []byte("# Hello from three folders down\n"),
		"docs/odd-size.bin":           demoBytes(1, 16385),
	}
	var primes strings.Builder
	for n, count := 2, 0; count < 20000; n++ {
		if isPrime(n) {
			fmt.Fprintln(&primes, n)
			count++
		}
	}
	files["numbers/primes.txt"] = []byte(primes.String())
	for name, b := range files {
		if err := writeFile(filepath.Join(dir, name), b); err != nil {
			return err
		}
	}
	big := filepath.Join(dir, "big", "random.bin")
	if err := os.MkdirAll(filepath.Dir(big), 0o755); err != nil {
		return err
	}
	f, err := os.Create(big)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	r := rand.NewChaCha8([32]byte{'h', 'b'})
	if _, err := io.CopyN(w, r, bigSize); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return writeSums(dir)
}

func writeFile(p string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, b, 0o644)
}

func writeSums(dir string) error {
	var names []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			names = append(names, rel)
		}
		return err
	})
	if err != nil {
		return err
	}
	sort.Strings(names)
	var sums strings.Builder
	for _, n := range names {
		f, err := os.Open(filepath.Join(dir, n))
		if err != nil {
			return err
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return err
		}
		fmt.Fprintf(&sums, "%x  %s\n", h.Sum(nil), n)
	}
	return os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(sums.String()), 0o644)
}

func demoBytes(seed byte, n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{seed})
	r.Read(b)
	return b
}

func isPrime(n int) bool {
	for d := 2; d*d <= n; d++ {
		if n%d == 0 {
			return false
		}
	}
	return n >= 2
}
