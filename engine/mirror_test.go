package engine_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/enginetest"
	"github.com/hyperblow/hyperblow/engine/metainfo"
)

// mirrorServer serves a torrent's files under /m/ (multi-file: /m/NAME/PATH),
// waitMirrorState waits until cond holds of the torrent's mirrors. The
// states waited for are held once reached (the test's server hooks hang the
// job or stream that makes them), so a fast mirror cannot go past one
// unseen; the engine has no event for them. It gives up after a minute.
func waitMirrorState(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// through hook, which may misbehave.
func mirrorServer(t *testing.T, mt *metainfo.Torrent, files []enginetest.File, hook func(w http.ResponseWriter, r *http.Request) bool) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	byURL := map[string][]byte{}
	for _, f := range files {
		if len(f.Path) == 0 {
			byURL["/m/"+mt.Info.Name] = f.Data
		} else {
			byURL["/m/"+mt.Info.Name+"/"+strings.Join(f.Path, "/")] = f.Data
		}
	}
	var hits atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if hook != nil && hook(w, r) {
			return
		}
		b, ok := byURL[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
	}))
	t.Cleanup(ts.Close)
	return ts, &hits
}

func mirrorLeecher(t *testing.T, mt *metainfo.Torrent, urls ...string) *engine.Torrent {
	t.Helper()
	c, err := engine.NewClient(engine.Config{Listen: "127.0.0.1:0", Logger: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	tor, err := c.AddTorrent(mt, engine.TorrentOptions{NoTrackers: true, WebSeeds: urls})
	if err != nil {
		t.Fatal(err)
	}
	return tor
}

// A torrent whose only source is a web seed reads whole, single- and multi-file.
func TestMirrorOnly(t *testing.T) {
	for _, multi := range []bool{false, true} {
		files := []enginetest.File{{Data: enginetest.RandomBytes(11, 3<<20+777)}}
		if multi {
			files = []enginetest.File{
				{Path: []string{"a b", "one.bin"}, Data: enginetest.RandomBytes(12, 100_001)},
				{Path: []string{"empty"}, Data: []byte{}},
				{Path: []string{"z#.bin"}, Data: enginetest.RandomBytes(13, 1<<20+3)},
			}
		}
		mt, _ := enginetest.Torrent(t, "tor", 64<<10, files)
		ts, _ := mirrorServer(t, mt, files, nil)
		base := ts.URL + "/m/"
		if !multi {
			base = ts.URL + "/m/tor" // the URL is the file
		}
		tor := mirrorLeecher(t, mt, base)
		for k, f := range mt.Info.VisibleFiles() {
			if got := readAll(t, tor, f, 100_000); !bytes.Equal(got, files[k].Data) {
				t.Fatalf("multi=%v %v: content differs", multi, f.Path)
			}
		}
		ms := tor.Mirrors()
		if len(ms) != 1 || ms[0].Downloaded < int64(len(files[0].Data)) || ms[0].State == "banned" {
			t.Fatalf("mirror stats %+v", ms)
		}
	}
}

// A mirror that lies is banned; a good mirror beside it delivers everything.
func TestMirrorLyingIsBanned(t *testing.T) {
	files := []enginetest.File{{Data: enginetest.RandomBytes(14, 2<<20)}}
	mt, _ := enginetest.Torrent(t, "tor", 64<<10, files)
	good, _ := mirrorServer(t, mt, files, nil)
	lying := make([]byte, len(files[0].Data))
	copy(lying, files[0].Data)
	for i := 0; i < len(lying); i += 1000 {
		lying[i] ^= 0xff
	}
	bad, _ := mirrorServer(t, mt, []enginetest.File{{Data: lying}}, nil)
	tor := mirrorLeecher(t, mt, bad.URL+"/m/tor", good.URL+"/m/tor")
	if got := readAll(t, tor, mt.Info.Files[0], 1<<20); !bytes.Equal(got, files[0].Data) {
		t.Fatal("content differs")
	}
	st := tor.Stats()
	ms := tor.Mirrors()
	if st.HashFailures == 0 {
		// The good mirror may have taken every piece: no lie was told.
		t.Logf("the lying mirror served nothing: %+v", ms)
		return
	}
	if ms[0].State != "banned" || !strings.Contains(ms[0].Error, "hash") {
		t.Fatalf("after %d hash failures the lying mirror is %+v", st.HashFailures, ms[0])
	}
	if st.PeersBanned < 1 {
		t.Fatalf("PeersBanned %d", st.PeersBanned)
	}
}

// A mirror that only lies: its first piece fails, it is banned, and a read
// waits on nothing more from it (the read is given up by its context).
func TestMirrorOnlyLyingIsBanned(t *testing.T) {
	files := []enginetest.File{{Data: enginetest.RandomBytes(15, 256<<10)}}
	mt, _ := enginetest.Torrent(t, "tor", 64<<10, files)
	bad, hits := mirrorServer(t, mt, []enginetest.File{{Data: make([]byte, 256<<10)}}, nil)
	tor := mirrorLeecher(t, mt, bad.URL+"/m/tor")
	r := tor.NewReader(mt.Info.Files[0])
	defer r.Close()
	go func() {
		buf := make([]byte, 10)
		r.ReadAt(t.Context(), buf, 0) // blocks until the test ends
	}()
	for {
		ms := tor.Mirrors()
		if len(ms) == 1 && ms[0].State == "banned" {
			break
		}
		select {
		case <-t.Context().Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
	n := hits.Load()
	// No new request after the ban: a second look at the stats round trips
	// through the owner, after any job that was started.
	tor.Stats()
	if got := tor.Mirrors()[0].State; got != "banned" {
		t.Fatalf("state %q", got)
	}
	if hits.Load() > n+2 {
		t.Fatalf("%d requests after the ban", hits.Load()-n)
	}
}

// A mirror that answers 503 backs off and says why; a good one beside it
// delivers.
func TestMirrorUnavailableBacksOff(t *testing.T) {
	files := []enginetest.File{{Data: enginetest.RandomBytes(16, 1<<20)}}
	mt, _ := enginetest.Torrent(t, "tor", 64<<10, files)
	busy, _ := mirrorServer(t, mt, files, func(w http.ResponseWriter, r *http.Request) bool {
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return true
	})
	good, _ := mirrorServer(t, mt, files, nil)
	tor := mirrorLeecher(t, mt, busy.URL+"/m/tor", good.URL+"/m/tor")
	if got := readAll(t, tor, mt.Info.Files[0], 1<<20); !bytes.Equal(got, files[0].Data) {
		t.Fatal("content differs")
	}
	ms := tor.Mirrors()
	if ms[0].Downloaded != 0 || (ms[0].Error != "" && !strings.Contains(ms[0].Error, "503")) {
		t.Fatalf("busy mirror: %+v", ms[0])
	}
}

// A mirror that closes every body after 10000 bytes still delivers it all.
func TestMirrorClosesMidBody(t *testing.T) {
	files := []enginetest.File{{Data: enginetest.RandomBytes(17, 1<<20)}}
	mt, _ := enginetest.Torrent(t, "tor", 64<<10, files)
	ts, _ := mirrorServer(t, mt, files, func(w http.ResponseWriter, r *http.Request) bool {
		w2 := &cutWriter{ResponseWriter: w, left: 10000}
		http.ServeContent(w2, r, "", time.Time{}, bytes.NewReader(files[0].Data))
		return true
	})
	tor := mirrorLeecher(t, mt, ts.URL+"/m/tor")
	if got := readAll(t, tor, mt.Info.Files[0], 1<<20); !bytes.Equal(got, files[0].Data) {
		t.Fatal("content differs")
	}
}

type cutWriter struct {
	http.ResponseWriter
	left int
}

func (w *cutWriter) Write(p []byte) (int, error) {
	if len(p) > w.left {
		w.ResponseWriter.Write(p[:w.left])
		panic(http.ErrAbortHandler)
	}
	w.left -= len(p)
	return w.ResponseWriter.Write(p)
}

// A mirror that sends headers and then nothing holds no read for long: the
// blocks a read waits for are asked of the other mirror once late.
func TestMirrorSlowDoesNotHoldReads(t *testing.T) {
	files := []enginetest.File{{Data: enginetest.RandomBytes(18, 1<<20)}}
	mt, _ := enginetest.Torrent(t, "tor", 64<<10, files)
	release := make(chan struct{})
	slow, _ := mirrorServer(t, mt, files, func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Content-Type", "application/octet-stream")
		var first, last int64
		fmt.Sscanf(r.Header.Get("Range"), "bytes=%d-%d", &first, &last)
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", first, last, 1<<20))
		w.WriteHeader(http.StatusPartialContent)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
		return true
	})
	defer close(release)
	good, _ := mirrorServer(t, mt, files, nil)
	tor := mirrorLeecher(t, mt, slow.URL+"/m/tor", good.URL+"/m/tor")
	if got := readAll(t, tor, mt.Info.Files[0], 64<<10); !bytes.Equal(got, files[0].Data) {
		t.Fatal("content differs")
	}
}

// Web seeds and a peer together: the whole torrent reads right, with several
// mirrors standing by (more than fetch at once).
func TestMirrorsWithPeer(t *testing.T) {
	files := []enginetest.File{
		{Path: []string{"a.bin"}, Data: enginetest.RandomBytes(19, 2<<20+5)},
		{Path: []string{"d", "b.bin"}, Data: enginetest.RandomBytes(20, 1<<20)},
	}
	mt, all := enginetest.Torrent(t, "tor", 64<<10, files)
	seeder := enginetest.Seed(t, mt, all)
	var urls []string
	for range 6 {
		ts, _ := mirrorServer(t, mt, files, nil)
		urls = append(urls, ts.URL+"/m")
	}
	c, err := engine.NewClient(engine.Config{Listen: "127.0.0.1:0", Logger: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	tor, err := c.AddTorrent(mt, engine.TorrentOptions{NoTrackers: true, WebSeeds: urls, Peers: []netip.AddrPort{seeder}})
	if err != nil {
		t.Fatal(err)
	}
	for k, f := range mt.Info.VisibleFiles() {
		if got := readAll(t, tor, f, 200_000); !bytes.Equal(got, files[k].Data) {
			t.Fatalf("%v: content differs", f.Path)
		}
	}
	if ms := tor.Mirrors(); len(ms) != 6 {
		t.Fatalf("%d mirrors", len(ms))
	}
}

// A web seed's pieces are not copied again on the owner: its fetcher hands each
// piece over whole, in the buffer it was read into, which the piece keeps. With
// 1 MiB pieces (64 blocks) each piece used to come in several messages and be
// copied.
func TestMirrorPiecesNotCopied(t *testing.T) {
	files := []enginetest.File{{Data: enginetest.RandomBytes(14, 6<<20+777)}}
	mt, _ := enginetest.Torrent(t, "tor", 1<<20, files)
	ts, _ := mirrorServer(t, mt, files, nil)
	tor := mirrorLeecher(t, mt, ts.URL+"/m/tor")
	if got := readAll(t, tor, mt.Info.VisibleFiles()[0], 1<<20); !bytes.Equal(got, files[0].Data) {
		t.Fatal("content differs")
	}
	// A run that starts or ends inside a piece is still copied; these reads
	// start at piece boundaries. (Before: 2 MiB of the 6 copied, here.)
	if n := engine.MirrorCopied(tor); n > 1<<20 {
		t.Fatalf("%d of %d bytes copied on the owner", n, len(files[0].Data))
	}
}

// A piece a web seed's job fetches whole is verified by the job (v1: SHA-1 as
// its bytes arrive; v2 and hybrid: the merkle check once complete), so the
// owner takes it verified and hands it to no hasher. Files read from their
// start are fetched in whole pieces.
func TestMirrorPiecesVerifiedOnFetch(t *testing.T) {
	for name, format := range map[string]metainfo.Format{"v1": metainfo.FormatV1, "v2": metainfo.FormatV2, "hybrid": metainfo.FormatHybrid} {
		t.Run(name, func(t *testing.T) {
			files := v2Files()
			want := map[string][]byte{}
			for _, f := range files {
				want[strings.Join(f.Path, "/")] = f.Data
			}
			mt, _ := v2Torrent(t, format, files)
			ts, _ := mirrorServer(t, mt, files, nil)
			tor := mirrorLeecher(t, mt, ts.URL+"/m/")
			for _, f := range mt.Info.VisibleFiles() {
				if got := readAll(t, tor, f, 50_000); !bytes.Equal(got, want[strings.Join(f.Path, "/")]) {
					t.Fatalf("%v: content differs", f.Path)
				}
			}
			if n := engine.MirrorVerified(tor); n != int64(mt.Info.NumPieces) {
				t.Fatalf("%d of %d pieces verified by their job", n, mt.Info.NumPieces)
			}
		})
	}
}

// The piece a read waits for is fetched alone: while it has not come, the
// mirror is asked nothing else (not the head's next piece, not the file's
// tail, which opening the file wants too), so it has the link to itself.
func TestMirrorWaitedPieceAlone(t *testing.T) {
	files := []enginetest.File{{Data: enginetest.RandomBytes(16, 6<<20)}}
	mt, _ := enginetest.Torrent(t, "tor", 1<<20, files)
	asked, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	ts, _ := mirrorServer(t, mt, files, func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet && strings.HasPrefix(r.Header.Get("Range"), "bytes=0-") {
			once.Do(func() { close(asked) })
			<-release
		}
		return false
	})
	tor := mirrorLeecher(t, mt, ts.URL+"/m/tor")
	r := tor.NewReader(mt.Info.Files[0])
	defer r.Close()
	got := make(chan error, 1)
	buf := make([]byte, 64<<10)
	go func() {
		_, err := r.ReadAt(t.Context(), buf, 0)
		got <- err
	}()
	<-asked
	for { // until the owner has taken the read's wait (after the file's windows)
		jobs, waiting := engine.MirrorWaiting(tor, 0)
		if waiting {
			if jobs != 1 {
				t.Errorf("%d web-seed jobs while a read waits for the first one's piece, want 1", jobs)
			}
			break
		}
	}
	close(release)
	if err := <-got; err != nil || !bytes.Equal(buf, files[0].Data[:len(buf)]) {
		t.Fatalf("read: %v", err)
	}
}

// A torrent's web seeds get spare piece buffers only once a job fetches for a
// read, and let them go when the torrent sleeps: hundreds of torrents with
// url-lists in a watched folder that nobody reads hold none.
func TestMirrorSparesOnlyWhileRead(t *testing.T) {
	files := []enginetest.File{{Data: enginetest.RandomBytes(15, 3<<20)}}
	mt, _ := enginetest.Torrent(t, "tor", 1<<20, files)
	ts, _ := mirrorServer(t, mt, files, nil)
	c, err := engine.NewClient(engine.Config{Listen: "127.0.0.1:0", CacheSize: 16 << 20, Idle: testIdle, Logger: enginetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	tor, err := c.AddTorrent(mt, engine.TorrentOptions{NoTrackers: true, WebSeeds: []string{ts.URL + "/m/tor"}})
	if err != nil {
		t.Fatal(err)
	}
	if made, held, _ := engine.MirrorSpares(tor); made || held != 0 {
		t.Fatalf("before any read: spares made %v, %d held; want none", made, held)
	}
	if got := readAll(t, tor, mt.Info.Files[0], 1<<20); !bytes.Equal(got, files[0].Data) {
		t.Fatal("content differs")
	}
	// (It may fall asleep at once after the reads: the rounds count, not the flag.)
	if _, _, rounds := engine.MirrorSpares(tor); rounds == 0 {
		t.Fatal("after reads fetched by the web seed: no spares made")
	}
	waitState(t, tor, engine.StateSleeping)
	if made, held, _ := engine.MirrorSpares(tor); made || held != 0 {
		t.Fatalf("asleep: spares made %v, %d held; want none", made, held)
	}
}

// A read that waits while both of a web seed's jobs are taken by readahead
// (here the file's head and tail, primed as it opened, held by the server)
// has its piece asked at once, in a job more (the readahead a seek away
// cancelled), not when one of them ends.
func TestMirrorUrgentNotBehindBusyJobs(t *testing.T) {
	const plen = 1 << 20
	files := []enginetest.File{{Data: enginetest.RandomBytes(17, 16*plen)}}
	mt, _ := enginetest.Torrent(t, "tor", plen, files)
	release := make(chan struct{})
	defer close(release)
	var held atomic.Int32
	heldAsked := make(chan struct{}, 16)
	heldAtSeek := make(chan int32, 1)
	ts, _ := mirrorServer(t, mt, files, func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet {
			return false
		}
		switch rng := r.Header.Get("Range"); {
		case strings.HasPrefix(rng, "bytes=0-"):
			// The first read's piece at once; the head's next pieces,
			// which its stream goes on with, held.
			held.Add(1)
			defer held.Add(-1)
			heldAsked <- struct{}{}
			holdAfter(w, r, files[0].Data, plen, release)
			return true
		case strings.HasPrefix(rng, fmt.Sprintf("bytes=%d-", 8*plen)):
			select {
			case heldAtSeek <- held.Load():
			default:
			}
			return false
		default: // readahead: held until the test ends
			held.Add(1)
			defer held.Add(-1)
			heldAsked <- struct{}{}
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return true
		}
	})
	tor := mirrorLeecher(t, mt, ts.URL+"/m/tor")
	r := tor.NewReader(mt.Info.Files[0])
	defer r.Close()
	buf := make([]byte, 64<<10)
	if _, err := r.ReadAt(t.Context(), buf, 0); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the head's second piece and the tail, both held
		<-heldAsked
	}
	if _, err := r.ReadAt(t.Context(), buf, 8*plen); err != nil || !bytes.Equal(buf, files[0].Data[8*plen:8*plen+len(buf)]) {
		t.Fatalf("read at 8 MiB: %v", err)
	}
	// Each held request is still in flight when the waited piece is asked, or
	// was cancelled for it (a seek away from them: mirror_seek.go); none ended
	// by its job's stall timeout first.
	n, pre := <-heldAtSeek, engine.MirrorPreempted(tor)
	if int64(n)+pre < 2 {
		t.Fatalf("the waited piece was asked with %d readahead requests in flight and %d cancelled for it, want 2 in all (it waited for one to end)", n, pre)
	}
}

// A piece a web seed is fetching for a file's readahead is not thrown away
// when the file closes and fetched again when it opens again (ffprobe, then
// a player): the job hands it over whole at its end, and it is kept.
func TestMirrorPieceKeptAcrossReopen(t *testing.T) {
	const plen = 1 << 20
	files := []enginetest.File{{Data: enginetest.RandomBytes(18, 16*plen)}}
	mt, _ := enginetest.Torrent(t, "tor", plen, files)
	release := make(chan struct{})
	var once sync.Once
	defer once.Do(func() { close(release) })
	var asked atomic.Int32
	first := make(chan struct{}, 1)
	ts, _ := mirrorServer(t, mt, files, func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet {
			return false
		}
		switch rng := r.Header.Get("Range"); {
		case strings.HasPrefix(rng, fmt.Sprintf("bytes=%d-", plen)):
			asked.Add(1)
		case strings.HasPrefix(rng, "bytes=0-"):
			// The head's stream: piece 0, then the second piece held
			// until the file opened again.
			asked.Add(1)
			select {
			case first <- struct{}{}:
			default:
			}
			holdAfter(w, r, files[0].Data, plen, release)
			return true
		}
		return false
	})
	tor := mirrorLeecher(t, mt, ts.URL+"/m/tor")
	buf := make([]byte, 64<<10)
	r1 := tor.NewReader(mt.Info.Files[0])
	if _, err := r1.ReadAt(t.Context(), buf, 0); err != nil {
		t.Fatal(err)
	}
	<-first
	// Piece 1 is on its way (the head primed as the file opened).
	waitMirrorState(t, "a job for piece 1", func() bool { n, _ := engine.MirrorJobsFor(tor, 1); return n == 1 })
	r1.Close()
	r2 := tor.NewReader(mt.Info.Files[0])
	defer r2.Close()
	if _, err := r2.ReadAt(t.Context(), buf, 0); err != nil { // primes the head again
		t.Fatal(err)
	}
	// After the owner took the new file's windows: the first job still
	// fetches piece 1 for it, and no other.
	if n, asked := engine.MirrorJobsFor(tor, 1); n != 1 || !asked {
		t.Fatalf("after the file opened again: %d web-seed jobs fetch piece 1, its blocks all asked: %v; want 1 job (the first, kept), all asked", n, asked)
	}
	once.Do(func() { close(release) })
	if _, err := r2.ReadAt(t.Context(), buf, plen); err != nil || !bytes.Equal(buf, files[0].Data[plen:plen+len(buf)]) {
		t.Fatalf("read of piece 1: %v", err)
	}
	if n := asked.Load(); n != 1 {
		t.Fatalf("piece 1 was asked of the web seed %d times, want 1 (thrown away as the file closed)", n)
	}
}
