package engine_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/enginetest"
	"github.com/hyperblow/hyperblow/engine/tracker"
)

func TestInspectAndPieceHeld(t *testing.T) {
	data := enginetest.RandomBytes(7, 2<<20+100)
	mt, all := enginetest.Torrent(t, "inspect.bin", 256<<10, []enginetest.File{{Data: data}})
	seeder := enginetest.Seed(t, mt, all)
	c, tor := enginetest.Leecher(t, mt, engine.Config{}, seeder)
	n := mt.Info.NumPieces
	if got, _ := tor.PiecesHeld(0, n); got != 0 {
		t.Fatalf("held %d pieces before any read, want 0", got)
	}
	if tor.PieceHeld(-1) || tor.PieceHeld(n) {
		t.Fatal("PieceHeld out of range: true")
	}
	readAll(t, tor, mt.Info.Files[0], 64<<10)
	if got, bytes := tor.PiecesHeld(0, n); got != n || bytes != mt.Info.TotalLength {
		t.Fatalf("held %d pieces (%d bytes) after reading all, want %d (%d)", got, bytes, n, mt.Info.TotalLength)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var s engine.Snapshot
	for {
		var err error
		if s, err = tor.Inspect(ctx); err != nil {
			t.Fatal(err)
		}
		if len(s.Peers) == 1 || ctx.Err() != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if s.ServedToReaders != int64(len(data)) || s.PiecesHave != n || s.NumPieces != n {
		t.Errorf("snapshot: served %d, have %d of %d; want %d, %d of %d", s.ServedToReaders, s.PiecesHave, s.NumPieces, len(data), n, n)
	}
	if len(s.Peers) != 1 || s.Peers[0].Addr != seeder || s.Peers[0].Pieces != n || s.Peers[0].Downloaded < int64(len(data)) {
		t.Fatalf("peers: %+v, want the seeder %v with all %d pieces", s.Peers, seeder, n)
	}
	if p := s.Peers[0]; p.Incoming || !p.Fast || p.PeerChoking {
		t.Errorf("seeder flags: %+v", p)
	}
	if ts := c.Torrents(); len(ts) != 1 || ts[0] != tor {
		t.Errorf("Torrents() = %v", ts)
	}

	c.Close()
	if _, err := tor.Inspect(context.Background()); !errors.Is(err, engine.ErrClosed) {
		t.Errorf("Inspect after Close: %v, want ErrClosed", err)
	}
}

// TestInspectTrackers: a torrent's snapshot carries each tracker's state, the
// working one ok with the peers it gave, the refusing one failing with why.
func TestInspectTrackers(t *testing.T) {
	data := enginetest.RandomBytes(8, 300<<10)
	mt, all := enginetest.Torrent(t, "trackers.bin", 64<<10, []enginetest.File{{Data: data}})
	seeder := enginetest.Seed(t, mt, all)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip := seeder.Addr().As4()
		peer := append(ip[:], byte(seeder.Port()>>8), byte(seeder.Port()))
		fmt.Fprintf(w, "d8:intervali3600e5:peers6:%se", peer)
	}))
	defer srv.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + closed.Addr().String() + "/announce"
	closed.Close()
	mt.AnnounceList = [][]string{{srv.URL + "/announce"}, {refused}}

	c, err := engine.NewClient(engine.Config{Listen: "127.0.0.1:0", CacheSize: 8 << 20, Logger: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tor, err := c.AddTorrent(mt, engine.TorrentOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		s, err := tor.Inspect(ctx)
		if err != nil {
			t.Fatalf("trackers never settled: %v", err)
		}
		if len(s.Trackers) != 2 {
			t.Fatalf("trackers %+v, want 2", s.Trackers)
		}
		ok, bad := s.Trackers[0], s.Trackers[1]
		if ok.State == tracker.StateOK && bad.State == tracker.StateFailing {
			if ok.Peers != 1 || bad.Err != "connection refused" || bad.Failures < 1 {
				t.Fatalf("trackers %+v", s.Trackers)
			}
			return
		}
		time.Sleep(5 * time.Millisecond) // bounded by ctx: waits for the announces, not for a time
	}
}
