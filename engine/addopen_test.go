package engine_test

import (
	"bytes"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/enginetest"
	"github.com/hyperblow/hyperblow/engine/metainfo"
	"github.com/hyperblow/hyperblow/engine/storage"
)

// blockingTier is an OpenTier that says when it starts and opens only when
// released (a Layout hashing a large folder), and records its tier's Close.
type blockingTier struct {
	data     []byte
	opening  chan struct{}
	release  chan struct{}
	released bool
	closed   chan struct{}
}

func newBlockingTier(data []byte) *blockingTier {
	return &blockingTier{data: data, opening: make(chan struct{}), release: make(chan struct{}), closed: make(chan struct{})}
}

func (b *blockingTier) open(mt *metainfo.Torrent, ev storage.Events) (storage.Tier, error) {
	close(b.opening)
	<-b.release
	st, err := engine.ReaderTier(bytes.NewReader(b.data))(mt, ev)
	if err != nil {
		return nil, err
	}
	return closeRecorder{st, b.closed}, nil
}

func (b *blockingTier) unblock() {
	if !b.released {
		b.released = true
		close(b.release)
	}
}

type closeRecorder struct {
	storage.Tier
	closed chan struct{}
}

func (c closeRecorder) Close() error { close(c.closed); return c.Tier.Close() }

type added struct {
	t   *engine.Torrent
	err error
}

// bound is how long a step that must not wait for the blocked open may
// take before the test says it did (a bound on a hang, not a sleep).
const bound = 30 * time.Second

// TestAddTorrentOpensTierWithoutLock: while one torrent's tier is opening,
// another torrent is added and read and the client lists its torrents; the
// same torrent cannot be added twice meanwhile; once the tier opens, the
// first torrent runs with what it holds.
func TestAddTorrentOpensTierWithoutLock(t *testing.T) {
	mtA, allA := enginetest.Torrent(t, "a.bin", 16<<10, []enginetest.File{{Data: enginetest.RandomBytes(1, 100<<10)}})
	mtB, _ := enginetest.Torrent(t, "b.bin", 16<<10, []enginetest.File{{Data: enginetest.RandomBytes(2, 50<<10)}})
	c, err := engine.NewClient(engine.Config{Listen: "127.0.0.1:0", CacheSize: 8 << 20, Logger: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	bt := newBlockingTier(allA)
	defer bt.unblock()
	doneA := make(chan added, 1)
	go func() {
		tor, err := c.AddTorrent(mtA, engine.TorrentOptions{NoTrackers: true, UploadOnly: true, OpenTier: bt.open})
		doneA <- added{tor, err}
	}()
	<-bt.opening

	doneB := make(chan added, 1)
	go func() {
		tor, err := c.AddTorrent(mtB, engine.TorrentOptions{NoTrackers: true})
		if err == nil {
			tor.Stats() // the owner answers
			c.Torrents()
		}
		doneB <- added{tor, err}
	}()
	select {
	case r := <-doneB:
		if r.err != nil {
			t.Fatalf("adding another torrent while one opens: %v", r.err)
		}
	case <-time.After(bound):
		t.Fatal("adding another torrent waited for the first one's tier to open")
	}
	if _, err := c.AddTorrent(mtA, engine.TorrentOptions{NoTrackers: true}); err == nil || !strings.Contains(err.Error(), "already added") {
		t.Fatalf("adding the opening torrent again: %v, want already added", err)
	}
	if n := len(c.Torrents()); n != 1 {
		t.Fatalf("%d torrents listed while one opens, want 1 (the opening one is not running yet)", n)
	}
	bt.unblock()
	r := <-doneA
	if r.err != nil {
		t.Fatalf("the opening torrent: %v", r.err)
	}
	if s := r.t.Stats(); s.PiecesHave != mtA.Info.NumPieces {
		t.Fatalf("the opened torrent holds %d pieces, want %d", s.PiecesHave, mtA.Info.NumPieces)
	}
}

// TestCloseWhileTierOpens: Close during a tier's open waits for it; the add
// then fails with ErrClosed and the tier it opened is closed.
func TestCloseWhileTierOpens(t *testing.T) {
	mtA, allA := enginetest.Torrent(t, "a.bin", 16<<10, []enginetest.File{{Data: enginetest.RandomBytes(3, 64<<10)}})
	c, err := engine.NewClient(engine.Config{Listen: "127.0.0.1:0", CacheSize: 8 << 20, Logger: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	bt := newBlockingTier(allA)
	defer bt.unblock()
	doneA := make(chan added, 1)
	go func() {
		tor, err := c.AddTorrent(mtA, engine.TorrentOptions{NoTrackers: true, UploadOnly: true, OpenTier: bt.open})
		doneA <- added{tor, err}
	}()
	<-bt.opening
	closed := make(chan struct{})
	go func() { c.Close(); close(closed) }()
	// Release the open once Close has begun: a new add says ErrClosed (it
	// says "already added" before).
	for {
		_, err := c.AddTorrent(mtA, engine.TorrentOptions{NoTrackers: true})
		if errors.Is(err, engine.ErrClosed) {
			break
		}
		if err == nil || !strings.Contains(err.Error(), "already added") {
			t.Fatalf("adding the opening torrent again: %v", err)
		}
		runtime.Gosched()
	}
	bt.unblock()
	r := <-doneA
	if !errors.Is(r.err, engine.ErrClosed) || r.t != nil {
		t.Fatalf("an add cut by Close: %v, %v; want ErrClosed", r.t, r.err)
	}
	<-bt.closed // the tier it opened is closed
	<-closed
}
