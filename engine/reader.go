package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/hyperblow/hyperblow/engine/metainfo"
)

// Reader reads one file of a torrent. The filesystem keeps one per open file
// handle, so the engine can follow the handle's position and grow its readahead
// window while reads stay sequential. Safe for concurrent use.
type Reader struct {
	t      *Torrent
	id     uint64
	off    int64 // file's offset in the torrent
	length int64

	mu      sync.Mutex // guards the fields below
	closed  bool
	next    int64 // where a sequential read would start
	ahead   int64 // readahead window in bytes
	started time.Time
	seqRead int64 // bytes read sequentially since started
	runFrom int64 // where the sequential run began (the last seek)
	trusted bool  // the run before the last seek was a long sequential one
	// runPace and runAhead are the pace (bytes per second) and the window of
	// the last long run (trustRun or more): a trusted reader's first second
	// after a seek starts from them.
	runPace  float64
	runAhead int64
	lastWin  window
	noInfo   bool // made before the torrent had its info: reads fail with ErrNoInfo
	// prime holds the head and tail windows opening wants, sent with the
	// first read (after its own window).
	prime []windowMsg
}

// Readahead bounds: a reader starts with a little ahead of what it reads, and
// its window grows only once it has shown it reads on (seqProof bytes in a row
// since its last seek): ffprobe and a seek-and-decode read a few scattered
// runs, and fetching far ahead of each is what they never read.
const (
	minReadahead = 1 << 20 // the least cap (maxReadahead)
	probeAhead   = 256 << 10
	seqProof     = 1 << 20
	// trustRun: a reader whose last run was this long reads on after a seek
	// too (a player); its next run is not put on probation.
	trustRun = 8 << 20
	// seekSlack: a read this close behind or ahead of the expected position is
	// not a seek (the kernel issues READs slightly out of order).
	seekSlack = 4 << 20
	// trailKeep is how far behind the furthest read the window starts: the
	// kernel's readahead (read_ahead_kb 4096) leaves READs that far behind.
	trailKeep  = 8 << 20
	seekBehind = 16 << 20
	// readaheadHorizon is how far ahead, in time at the reader's pace, the
	// window reaches while the swarm delivers steadily (up to three times
	// that when it does not: jitter.go).
	readaheadHorizon = 8 * time.Second
)

// primeSize is how much of a file's tail (twice that of its head) is wanted as soon as it is
// opened: MP4 'moov' boxes and MKV cues live there, so players and ffprobe
// start without a round trip per seek.
const primeSize = 1 << 20

// NewReader returns a reader for file f of the torrent. Its first read wants,
// after what it reads, the file's first and last primeSize bytes: they go out
// behind the read's own piece, which over a slow link would otherwise wait
// behind a pipeline of head pieces (a magnet mount's first byte came after 6
// head pieces on the WAN lab, its peer already connected at the open). Make readers only once the
// torrent has its info (GotInfo is closed; a magnet's files are not known
// before): a reader made earlier fails every read with ErrNoInfo.
func (t *Torrent) NewReader(f metainfo.File) *Reader {
	if t.Info() == nil {
		return &Reader{t: t, closed: true, noInfo: true}
	}
	r := &Reader{t: t, id: t.nextReader.Add(1) << 2, off: f.Offset, length: f.Length, ahead: probeAhead}
	t.touch() // idle.go: a read is coming; wakes a sleeping torrent
	if f.Length > 0 && t.c.cfg.Fetch == FetchFile {
		info := t.info
		t.trySend(backgroundMsg{int(f.Offset / info.PieceLength), int((f.Offset+f.Length-1)/info.PieceLength) + 1})
	}
	if f.Length > 0 {
		info := t.info
		piece := func(off int64) int { return int(off / info.PieceLength) }
		end := f.Offset + f.Length
		// The head gets twice as much: a player that reads the tail first (an
		// MP4 whose moov is at the end) comes back to play from the head, and
		// found a single MiB there too little to start without a stall.
		head := window{lo: piece(f.Offset), hi: piece(min(end, f.Offset+2*primeSize)-1) + 1}
		head.pos = head.lo
		r.prime = append(r.prime, windowMsg{reader: r.id | 1, w: head})
		if f.Length > 2*primeSize {
			// The last primeSize bytes, but not a whole piece more for the
			// few of them that fall into the one before: a file's last
			// piece that holds at least half of them is the tail (ffprobe
			// of an MP4 whose moov is 70 KB read 1.7 MiB of pieces there).
			tailFrom := end - primeSize
			if last := piece(end - 1); piece(tailFrom) < last && end-int64(last)*info.PieceLength >= primeSize/2 {
				tailFrom = int64(last) * info.PieceLength
			}
			// Its deadlines come after the head's: a player that reads the
			// tail first (an MP4's moov) asks for it with a read, which comes
			// before any prime; one that reads on from the head (an MKV, whose
			// cues wait until a seek) needs the head's second piece first. With
			// the tail between them, mpv over one 10 MB/s peer 200 ms away
			// showed its first frame from the first piece and paused for the
			// cache while the tail and then the second piece came.
			// While the file stays open, it is promoted to a read's rank after
			// that delay (promoteTails).
			tail := window{lo: piece(tailFrom), hi: piece(end-1) + 1, tail: true}
			tail.pos = tail.lo
			tail.after = time.Duration(float64(head.hi-head.lo) * float64(info.PieceLength) / (1 << 20) * float64(time.Second))
			r.prime = append(r.prime, windowMsg{reader: r.id | 2, w: tail})
		}
	}
	return r
}

// maxReadahead is the window cap: the configured readahead, and no more than a
// quarter of the cache so that read-ahead pieces are still there when read.
func (t *Torrent) maxReadahead() int64 {
	return max(minReadahead, min(t.c.cfg.Readahead, t.c.cfg.CacheSize/8))
}

// ReadAt reads len(p) bytes at file offset off, blocking until they are verified
// or ctx is done. Like io.ReaderAt, a short count comes with io.EOF; it is short
// only at the end of the file.
func (r *Reader) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	parts, err := r.ReadShared(ctx, off, len(p))
	n := 0
	for _, b := range parts {
		n += copy(p[n:], b)
	}
	return n, err
}

// ReadShared is ReadAt without the copy: it returns the file's bytes [off,
// off+n) as slices of the verified pieces that hold them, in order (one per
// piece the range touches). The slices are the pieces' own memory, shared
// with the cache and every other reader: the caller must never write them.
// Piece memory is never reused for anything else (no pool recycles it): a
// slice stays valid while it is held, whatever the cache evicts meanwhile.
// Short only at the end of the file, with io.EOF.
func (r *Reader) ReadShared(ctx context.Context, off int64, n int) ([][]byte, error) {
	if r.noInfo {
		return nil, ErrNoInfo
	}
	if off >= r.length || off < 0 || n <= 0 {
		return nil, io.EOF
	}
	want := n
	if int64(n) > r.length-off {
		n = int(r.length - off)
	}
	r.t.touch() // idle.go: wakes a sleeping torrent
	start := r.off + off
	end := start + int64(n)
	r.track(start, end)
	parts, err := r.t.read(ctx, start, end)
	if err != nil {
		return nil, err
	}
	r.t.stats.served.Add(int64(n))
	if n < want {
		return parts, io.EOF
	}
	return parts, nil
}

// track updates the reader's window from a read of torrent bytes [start, end).
func (r *Reader) track(start, end int64) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	now := time.Now()
	// Not a seek: a read up to seekBehind behind the furthest read so far (the
	// kernel's readahead sends 1 MiB READs out of order, some many MiB behind),
	// or ahead of it but inside the readahead window.
	seek := r.started.IsZero() || start < r.next-seekBehind || start > r.next+max(seekSlack, r.ahead)
	if seek {
		// A seek (or the first read): start small from here, unless the run
		// that ends was a long sequential one (a player seeking, a cp), which
		// this one will likely be too. A trusted reader stays trusted through
		// a short excursion: mpv, seeking in an MKV, first reads its cues (a
		// few KiB at the file's end), then the position it seeks to.
		long := r.seqRead >= trustRun
		r.trusted = long || (r.trusted && r.seqRead < seqProof)
		if long {
			r.runAhead = r.ahead
			if el := now.Sub(r.started).Seconds(); el > 0 {
				r.runPace = float64(r.seqRead) / el
			}
		}
		r.started = now
		r.seqRead = 0
		r.next = end
		r.runFrom = start
	} else if end > r.next {
		r.seqRead += end - max(start, r.next)
		r.next = end
	}
	r.ahead = probeAhead
	if r.trusted || r.seqRead >= seqProof {
		// Twice what was read sequentially since the last seek: a cp reaches
		// the cap within tens of MiB, a player reading a little after a seek
		// does not make the swarm send many MiB it will not read. And at the
		// least what the swarm delivers in a round trip (its peers' pipelines),
		// or a reader at the front of the download would wait a round trip for
		// each piece while its window grows from what it has read.
		r.ahead = min(max(probeAhead, 2*r.seqRead, r.t.pipelineBytes.Load()), r.t.maxReadahead())
		if el := now.Sub(r.started); el > time.Second {
			// Enough to cover readaheadHorizon at the reader's own pace: a cp
			// reaches the cap, a 5 Mbit/s video stays at a few MiB.
			// The horizon stretches when the swarm delivers unevenly.
			pace := float64(r.seqRead) / el.Seconds()
			horizon := readaheadHorizon
			if h := time.Duration(r.t.readHorizon.Load()); h > 0 {
				horizon = h
			}
			r.ahead = max(probeAhead, min(r.ahead, max(int64(pace*horizon.Seconds()), r.t.pipelineBytes.Load())))
		}
	}
	rate := 0.0
	if el := now.Sub(r.started).Seconds(); el > 0.05 {
		rate = float64(r.seqRead) / el
	}
	if r.trusted && now.Sub(r.started) <= time.Second {
		// A player's first second after a seek: it reads on as far and as fast
		// as its last run did (mpv refills a cache of minutes at once). Started
		// small, the window held the new position's next pieces back: the
		// peers' pipelines took the pieces the seek left behind (their READs
		// still wait: afterASeek), and the next pieces queued behind them
		// (an MKV seek over the WAN lab's links waited ~0.5 s more for them).
		r.ahead = max(r.ahead, r.runAhead)
		rate = max(rate, r.runPace)
	}
	info := r.t.info
	fileEnd := r.off + r.length
	lo := start
	if !seek {
		// The kernel's readahead READs come out of order: one at the front does
		// not mean the pieces just behind it were read. They stay in the window
		// (held ones cost nothing), or their requests in flight would be
		// cancelled and sent again when their READs come.
		// Never before where the run began: behind a seek nothing was read,
		// and the window would fetch it.
		lo = max(r.off, r.runFrom, min(start, r.next-trailKeep))
	}
	w := window{
		pos: int(start / info.PieceLength),
		lo:  int(lo / info.PieceLength),
		// Ahead of the furthest read, not of this one: the kernel's readahead
		// READs come out of order, and one a few MiB behind must not pull the
		// window back (its pieces would be cancelled, in flight, and fetched
		// again a moment later).
		hi:   int((min(max(end, r.next)+r.ahead, fileEnd) + info.PieceLength - 1) / info.PieceLength),
		rate: rate,
	}
	if !seek && w.hi < r.lastWin.hi {
		// Nor does a slower pace take back what is on its way: between seeks the
		// window's end only moves forward.
		w.hi = r.lastWin.hi
	}
	changed := w.lo != r.lastWin.lo || w.hi != r.lastWin.hi
	r.lastWin = w
	prime := r.prime
	r.prime = nil
	r.mu.Unlock()
	if changed {
		r.t.trySend(windowMsg{reader: r.id, w: w, seek: seek})
	}
	for _, m := range prime {
		r.t.trySend(m)
	}
	if len(prime) > 0 {
		r.mu.Lock()
		closed := r.closed
		r.mu.Unlock()
		if closed { // Close came between: withdraw what was just sent
			for _, m := range prime {
				r.t.trySend(windowMsg{reader: m.reader, closed: true})
			}
		}
	}
}

// Close withdraws the reader's window; pieces no one else wants are cancelled.
func (r *Reader) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	for k := uint64(0); k < 3; k++ {
		r.t.trySend(windowMsg{reader: r.id | k, closed: true})
	}
	return nil
}

// trySend is send for messages that may be dropped when the torrent is closed.
func (t *Torrent) trySend(m ownerMsg) { t.send(m) }

// read returns torrent bytes [start, end) as slices of their verified
// pieces: cached pieces at once; missing ones are acquired from the owner
// together and waited for in order.
func (t *Torrent) read(ctx context.Context, start, end int64) ([][]byte, error) {
	info := t.info
	first := int(start / info.PieceLength)
	last := int((end - 1) / info.PieceLength)
	datas := make([][]byte, last-first+1)
	var missing []int
	for i := first; i <= last; i++ {
		if d, ok := t.readPiece(i); ok { // RAM, then the tier (tier.go)
			datas[i-first] = d
		} else {
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 {
		futs, err := t.acquireFutures(ctx, missing)
		if err != nil {
			return nil, t.waitErr(missing, err)
		}
		for k, f := range futs {
			select {
			case <-f.done:
				if f.err != nil {
					t.release(futs[k:])
					return nil, f.err
				}
				datas[missing[k]-first] = f.data
			case <-ctx.Done():
				t.release(futs[k:])
				return nil, t.waitErr(missing[k:], ctx.Err())
			}
		}
	}
	for k, d := range datas {
		pieceStart := int64(first+k) * info.PieceLength
		lo := max(start, pieceStart) - pieceStart
		hi := min(end, pieceStart+int64(len(d))) - pieceStart
		datas[k] = d[lo:hi:hi] // capped: an append cannot reach the piece's other bytes
	}
	return datas, nil
}

// waitErr says what a read that ended before its data came was waiting for:
// the pieces still missing, and how many peers there were. It wraps err (the
// context's), so errors.Is still sees why the wait ended.
func (t *Torrent) waitErr(missing []int, err error) error {
	if errors.Is(err, ErrClosed) || len(missing) == 0 {
		return err
	}
	what := fmt.Sprintf("piece %d", missing[0])
	if len(missing) > 1 {
		what = fmt.Sprintf("pieces %d-%d (%d missing)", missing[0], missing[len(missing)-1], len(missing))
	}
	return fmt.Errorf("%s of %d not verified yet, %d peers connected: %w", what, t.info.NumPieces, t.stats.peers.Load(), err)
}

func (t *Torrent) acquireFutures(ctx context.Context, pieces []int) ([]*future, error) {
	reply := make(chan []*future, 1)
	if m := (acquireMsg{pieces: pieces, reply: reply}); !t.post(m) {
		select {
		case t.msgs <- m:
		case <-t.done:
			return nil, ErrClosed
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	select {
	case futs := <-reply:
		return futs, nil
	case <-t.done:
		return nil, ErrClosed
	}
}

// release withdraws waits on futures that are not done yet.
func (t *Torrent) release(futs []*future) {
	var open []*future
	for _, f := range futs {
		select {
		case <-f.done:
		default:
			open = append(open, f)
		}
	}
	if len(open) > 0 {
		t.send(releaseMsg{futures: open})
	}
}
