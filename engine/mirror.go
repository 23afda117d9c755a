package engine

import (
	"bytes"
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/picker"
	"github.com/hyperblow/hyperblow/engine/webseed"
)

// Web seeds (BEP 19) take part in the scheduling like peers that have every
// piece: each mirror has a picker key, takes blocks from the picker (urgent
// ones first, as a peer does) in runs of whole pieces, fetches them with HTTP
// range requests in a worker goroutine, and hands the bytes to the owner as
// blocks, which go through the same hash check as a peer's. A mirror whose
// piece fails the check alone is banned; one that fails (404, 5xx, a broken
// body) backs off; its unfinished blocks go back to the picker at once. The
// picker's own timeouts (Expired, late duplicates of urgent blocks) apply to a
// mirror's blocks as to a peer's, and a job has a deadline of its own, so a
// slow mirror never holds a read for long.
//
// A sequential reader's jobs share one HTTP request (webseed/stream.go): the
// request of a job that starts a file, or continues where an earlier one
// ended, asks for the rest of the file, and the next job in torrent order
// reads on from its body, which is read no further than the jobs the picker
// gave (so memory and the server are held by what the reader's window wants;
// TCP flow control holds the rest). Of the mirrorJobs slots, the second is
// that next job: it waits on the stream while the first reads, so the body is
// read without a gap and no job opens with a round trip. Jobs are claimed with
// the mirror in the order the owner starts them (Mirror.Claim), so a job
// follows on the stream whichever goroutine asks first. A job cancelled for a
// seek (mirror_seek.go) closes the stream with it: the seek's piece gets a
// request of its own, and the stream after it goes on from there. Over the
// WAN lab's lossy 80 ms path (bench/wild --wan 10MB/s --l3) a cp went from one
// request per job to two requests in all (the file's tail and one stream).

// Sizing of mirror jobs.
const (
	mirrorJobs    = 2       // requests in flight per mirror
	mirrorJobTime = 1.0     // seconds of the mirror's rate one job asks for
	mirrorMinJob  = 1 << 20 // at least this much (rounded up to whole pieces)
	mirrorMaxJob  = 8 << 20
	// mirrorsAtOnce bounds the mirrors fetching at one time (a url-list may
	// hold up to metainfo.MaxWebSeeds): the others stand by, taking over from
	// one that fails or is banned. Memory: at most mirrorsAtOnce x mirrorJobs
	// jobs of mirrorMaxJob (or one piece) each.
	mirrorsAtOnce  = 4
	mirrorMinRate  = 256 << 10       // bytes/s a job's deadline allows at the least
	mirrorWarmTime = 5 * time.Second // bounds Mirror.Warm
	// mirrorSpares piece buffers (of pieces up to mirrorMaxSpare) are kept
	// made and touched ahead of the jobs, from when a torrent's web seeds are
	// set up, and made again as jobs take them: a fresh buffer's page faults
	// cost 3-6 ms of CPU per MiB on this kind of VM (4 KiB pages, each a trap
	// to the hypervisor), which a mount's first read, or the first after a
	// seek, would otherwise wait for.
	mirrorSpares     = 2
	mirrorMaxSpare   = 4 << 20
	mirrorBackoff    = 2 * time.Second
	mirrorMaxBackoff = 5 * time.Minute
)

// mirror is the owner's view of one web seed.
type mirror struct {
	key      picker.PeerKey
	m        *webseed.Mirror
	jobs     map[*mirrorJob]bool
	banned   bool
	strikes  int
	failures int // in a row
	retryAt  time.Time
	lastErr  error
	noRange  bool

	down, tickDown int64
	rate           float64
	rateAt         time.Time
	progressAt     time.Time    // its last block
	copied         atomic.Int64 // bytes copied on the owner, not adopted with their buffer (tests)
	verified       atomic.Int64 // pieces that came verified by their job (pieceCheck; tests)
	preempted      atomic.Int64 // read-ahead jobs cancelled for a seek (mirror_seek.go; tests)
	spares         chan []byte  // piece buffers already in memory, shared by the torrent's mirrors
}

// mirrorJob is one fetch of a run of blocks.
type mirrorJob struct {
	mr     *mirror
	blocks []picker.Block // in torrent order, contiguous
	cancel context.CancelFunc
	// urgent: its pieces were due (a read waits) when it started.
	urgent     bool
	firstPiece int // blocks of its first piece
	delivered  int // blocks handed to the owner (owner-only)

	preempted bool // cancelled for a seek's piece (mirror_seek.go): not a failure
}

type (
	// mirrorDataMsg delivers complete blocks of a job.
	mirrorDataMsg struct {
		job     *mirrorJob
		blocks  []picker.Block
		data    [][]byte
		checked []pieceResult // pieces among blocks the job verified
	}
	// mirrorDoneMsg ends a job; blocks not delivered go back to the picker.
	mirrorDoneMsg struct {
		job       *mirrorJob
		delivered int // blocks
		err       error
	}
	mirrorStatsMsg struct{ reply chan []MirrorStats }
	// mirrorProgressMsg says a job's fetch goes on (blocks not handed over yet).
	mirrorProgressMsg struct{ job *mirrorJob }
)

// pieceResult is a piece a job verified (pieceCheck).
type pieceResult struct {
	piece int
	ok    bool
}

func (mirrorDataMsg) ownerMsg()     {}
func (mirrorDoneMsg) ownerMsg()     {}
func (mirrorStatsMsg) ownerMsg()    {}
func (mirrorProgressMsg) ownerMsg() {}

// MirrorStats describes one web seed.
type MirrorStats struct {
	URL        string
	State      string // idle, fetching, backing off, banned, unusable
	Error      string `json:",omitempty"` // the last failure
	Rate       float64
	Downloaded int64
}

// addMirrors sets up the torrent's web seeds: its url-list and opts.WebSeeds.
// Called before the owner runs.
func (t *Torrent) addMirrors() {
	if t.opts.UploadOnly { // a seed fetches nothing
		return
	}
	// The URLs name the files as the torrent does, not as the mount shows
	// them (sanitized, made unique): as the mirror stores them.
	l := webseed.Layout{Name: t.info.URLName(), Multi: t.info.MultiFile}
	for _, f := range t.info.Files {
		wf := webseed.File{Offset: f.Offset, Length: f.Length, Padding: f.Padding}
		if t.info.MultiFile {
			wf.Path = f.URLPath()
		}
		l.Files = append(l.Files, wf)
	}
	var client *http.Client
	seen := map[string]bool{}
	for _, u := range slices.Concat(t.mt.URLList, t.opts.WebSeeds) {
		if seen[u] {
			continue
		}
		seen[u] = true
		if client == nil {
			client = webseed.NewClient()
			// Not a goroutine of its own: a sleeping torrent has none (idle.go).
			context.AfterFunc(t.ctx, client.CloseIdleConnections)
		}
		m, err := webseed.NewMirror(u, l, client)
		if err != nil {
			t.log.Warn("web seed ignored", "url", u, "err", err)
			continue
		}
		context.AfterFunc(t.ctx, m.Close) // its parked stream (webseed/stream.go)
		t.nextKey++
		t.mirrors = append(t.mirrors, &mirror{key: t.nextKey, m: m, jobs: map[*mirrorJob]bool{}})
	}
	if len(t.mirrors) == 0 {
		return
	}
	// The first mirrors to be asked get a connection at once (Mirror.Warm):
	// a mount's first read then costs no handshake with them. And jobs get
	// piece buffers whose pages are already in memory (spares), made once the
	// first job starts (fillSpares): a watched folder of hundreds of
	// torrents with url-lists that nobody reads holds none.
	spares := make(chan []byte, mirrorSpares)
	for _, mr := range t.mirrors {
		mr.spares = spares
	}
	for _, mr := range t.mirrors[:min(len(t.mirrors), mirrorsAtOnce)] {
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			ctx, cancel := context.WithTimeout(t.ctx, mirrorWarmTime)
			defer cancel()
			if err := mr.m.Warm(ctx); err != nil {
				t.log.Debug("web seed not reached ahead of a read", "url", mr.m.URL(), "err", err)
			}
		}()
	}
}

// makeSpare makes a piece buffer, touches its pages (a write: the kernel
// gives each page now) and adds it to spares, on a goroutine of its own,
// unless pieces are too big to keep spares of or spares is full.
// fillSpares tops the mirrors' spares up to mirrorSpares once: as the first
// job after the torrent started or woke is handed out (owner).
func (t *Torrent) fillSpares(spares chan []byte) {
	if t.sparesMade || spares == nil {
		return
	}
	t.sparesMade = true
	t.spareRounds++
	for range mirrorSpares - len(spares) {
		t.makeSpare(spares)
	}
}

// dropSpares lets the spares go when the torrent falls asleep (owner).
func (t *Torrent) dropSpares() {
	t.sparesMade = false
	t.spareGen.Add(1)
	if len(t.mirrors) == 0 {
		return
	}
	for {
		select {
		case <-t.mirrors[0].spares:
		default:
			return
		}
	}
}

func (t *Torrent) makeSpare(spares chan []byte) {
	if t.info.PieceLength > mirrorMaxSpare {
		return
	}
	gen := t.spareGen.Load()
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		b := newPieceBuf(int(t.info.PieceLength))
		for k := 0; k < len(b); k += 4096 {
			b[k] = 0
		}
		if t.spareGen.Load() != gen {
			return // the torrent fell asleep meanwhile (dropSpares)
		}
		select {
		case spares <- b:
			if t.spareGen.Load() != gen {
				select { // dropSpares drained before this one came: take one back
				case <-spares:
				default:
				}
			}
		default:
		}
	}()
}

func (t *Torrent) mirrorByKey(k picker.PeerKey) *mirror {
	for _, mr := range t.mirrors {
		if mr.key == k {
			return mr
		}
	}
	return nil
}

func hasAll(int) bool { return true }

// fillMirrors gives idle mirrors work: runs of whole pieces from the picker.
func (t *Torrent) fillMirrors(now time.Time) {
	busy := 0
	for _, mr := range t.mirrors {
		if len(mr.jobs) > 0 {
			busy++
		}
	}
	for _, mr := range t.mirrors {
		mr.sampleRate(now)
		if len(mr.jobs) == 0 && busy >= mirrorsAtOnce {
			continue
		}
		t.seekBeyondDepth(mr, now) // mirror_seek.go
		for !mr.banned && !mr.noRange && !now.Before(mr.retryAt) && len(mr.jobs) < mirrorJobs {
			n := t.mirrorJobBlocks(mr)
			// A mirror idle when a read waits (a mount's first read, the
			// first after a seek) fetches the pieces the read waits for in
			// jobs of their own, and is asked nothing else until the first
			// piece of such a job has come: that piece has the link and the
			// CPU to itself (a fresh mount's first read shared them with the
			// head's second piece and the file's tail). A busy mirror (a
			// stream) goes on as the picker orders, its pipeline full: there
			// the waited piece is most often in flight already.
			var blocks []picker.Block
			urgent := false
			if len(mr.jobs) == 0 {
				blocks = t.pk.PickUrgent(mr.key, hasAll, n, now)
				urgent = len(blocks) > 0
			}
			if !urgent {
				if mr.urgentPending() {
					break
				}
				blocks = t.pk.Pick(mr.key, hasAll, n, now)
			}
			if len(blocks) == 0 {
				break
			}
			if len(mr.jobs) == 0 {
				busy++
			}
			for _, run := range t.contiguousRuns(blocks) {
				t.startMirrorJob(mr, run, urgent)
			}
		}
		t.seekBeyondDepth(mr, now) // again: the loop may have filled the mirror with read-ahead
	}
}

// mirrorJobBlocks is how many blocks a job asks of the mirror: mirrorJobTime
// of its rate, within [mirrorMinJob, mirrorMaxJob], in whole pieces (at
// least one).
func (t *Torrent) mirrorJobBlocks(mr *mirror) int {
	want := min(int64(max(mr.rate*mirrorJobTime, mirrorMinJob)), mirrorMaxJob)
	pieces := max(1, (want+t.info.PieceLength-1)/t.info.PieceLength)
	return int((pieces*t.info.PieceLength + bt.BlockSize - 1) / bt.BlockSize)
}

// contiguousRuns sorts blocks into torrent order and splits them where they
// are not adjacent.
func (t *Torrent) contiguousRuns(blocks []picker.Block) [][]picker.Block {
	slices.SortFunc(blocks, func(a, b picker.Block) int {
		if a.Piece != b.Piece {
			return a.Piece - b.Piece
		}
		return a.Begin - b.Begin
	})
	var runs [][]picker.Block
	start := 0
	for i := 1; i <= len(blocks); i++ {
		if i == len(blocks) || !t.adjacent(blocks[i-1], blocks[i]) {
			runs = append(runs, blocks[start:i])
			start = i
		}
	}
	return runs
}

func (t *Torrent) adjacent(a, b picker.Block) bool {
	if a.Piece == b.Piece {
		return a.Begin+a.Length == b.Begin
	}
	return b.Piece == a.Piece+1 && b.Begin == 0 && int64(a.Begin+a.Length) == t.info.PieceLen(a.Piece)
}

// mirrorFetching reports whether a web seed's job is fetching piece i whole:
// it is in the job's run from its first block to its last, none handed over
// yet (a job hands a piece over only at its end, so a piece on its way from a
// mirror looks to the owner like one nothing has arrived of).
func (t *Torrent) mirrorFetching(i int) bool {
	n := int((t.info.PieceLen(i) + bt.BlockSize - 1) / bt.BlockSize)
	for _, mr := range t.mirrors {
		for job := range mr.jobs {
			if job.blocksLeftOf(i) == n {
				return true
			}
		}
	}
	return false
}

// blocksLeftOf counts the blocks of piece i the job has yet to hand over.
func (job *mirrorJob) blocksLeftOf(i int) int {
	k := 0
	for _, b := range job.blocks[job.delivered:] {
		if b.Piece == i {
			k++
		}
	}
	return k
}

// urgentPending reports whether one of the mirror's urgent jobs has not
// delivered its first piece yet.
func (mr *mirror) urgentPending() bool {
	for job := range mr.jobs {
		if job.urgent && job.delivered < job.firstPiece {
			return true
		}
	}
	return false
}

func (t *Torrent) startMirrorJob(mr *mirror, run []picker.Block, urgent bool) {
	off := t.info.PieceOffset(run[0].Piece) + int64(run[0].Begin)
	var size int64
	for _, b := range run {
		size += int64(b.Length)
	}
	// A deadline: the job at the least rate we accept, and a little more.
	timeout := 5*time.Second + time.Duration(float64(size)/mirrorMinRate*float64(time.Second))
	ctx, cancel := context.WithTimeout(t.ctx, timeout)
	job := &mirrorJob{mr: mr, blocks: run, cancel: cancel, urgent: urgent}
	for _, b := range run {
		if b.Piece == run[0].Piece {
			job.firstPiece++
		}
	}
	mr.jobs[job] = true
	t.log.Debug("web seed job", "url", mr.m.URL(), "pieces", [2]int{run[0].Piece, run[len(run)-1].Piece},
		"bytes", size, "urgent", urgent, "jobs", len(mr.jobs))
	t.fillSpares(mr.spares)
	// Claimed here, in the order the owner starts jobs: a job that follows
	// one on the mirror's stream reads on after it, whichever job's
	// goroutine asks first (webseed/stream.go).
	claimed := mr.m.Claim(off, int(size))
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		defer cancel()
		defer claimed()
		t.runMirrorJob(ctx, job, off, timeout)
	}()
}

// pieceCheck verifies, on a job's goroutine, a piece the job fetches whole, so
// that the owner gets it verified: no hand-off to a hasher and back between
// the last byte off the socket and the read that waits for it. A v1 piece is
// hashed as its bytes arrive (SHA-1 while the socket fills again), so its check
// ends with its last read; a v2 or hybrid piece is verified whole
// (Info.VerifyPiece) once complete.
type pieceCheck struct {
	piece    int
	from, to int    // the piece's bytes in the job's buffers
	buf      []byte // the piece's buffer
	h        hash.Hash
	fed      int // bytes of buf hashed so far (h != nil)
	result   checkResult
}

// checkResult is the outcome of a pieceCheck.
type checkResult int8

const (
	unchecked checkResult = iota // the job ended first: the owner hashes the piece
	checkedOK
	checkedBad
)

// advance feeds the check the job's bytes up to filled; it reports whether the
// piece is complete (and checked, unless ctx ended first).
func (c *pieceCheck) advance(ctx context.Context, t *Torrent, filled int) bool {
	if filled <= c.from {
		return false
	}
	upTo := min(filled, c.to) - c.from
	if c.h != nil {
		c.h.Write(c.buf[c.fed:upTo])
		c.fed = upTo
	}
	if filled < c.to {
		return false
	}
	ok := false
	if c.h != nil {
		want := t.info.PieceHash(c.piece)
		ok = bytes.Equal(c.h.Sum(nil), want[:])
	} else {
		select { // a hashing slot, as for a peer's piece (hashPiece)
		case t.c.hashes <- struct{}{}:
		case <-ctx.Done():
			return true // unchecked
		}
		ok = t.info.VerifyPiece(c.piece, c.buf)
		<-t.c.hashes
	}
	c.result = checkedBad
	if ok {
		c.result = checkedOK
	}
	return true
}

// runMirrorJob fetches a job's blocks and hands them to the owner. One buffer
// per piece of the run, and each block's data a slice of its piece's buffer
// that runs on to the buffer's end. The blocks go to the owner at piece ends
// (once 16 or more are complete; all that are at the end), so a piece of the
// run arrives whole in one message and keeps its buffer (mirrorData), which
// holds nothing else and which the worker no longer writes: its bytes are not
// copied again on the owner. A piece the run holds whole goes verified
// (pieceCheck). In between, a message without data every 16 blocks keeps the
// mirror from looking late (mirrorLate).
func (t *Torrent) runMirrorJob(ctx context.Context, job *mirrorJob, off int64, timeout time.Duration) {
	mr, run := job.mr, job.blocks
	var bufs webseed.Buffers
	var checks []pieceCheck
	blockData := make([][]byte, len(run))
	pos := 0
	for i := 0; i < len(run); {
		j, n := i, 0
		for j < len(run) && run[j].Piece == run[i].Piece {
			n += run[j].Length
			j++
		}
		var b []byte
		if run[i].Begin == 0 && int64(n) == t.info.PieceLen(run[i].Piece) {
			select {
			case sp := <-mr.spares: // a whole piece: a spare fits it
				b = sp[:n:n]
				t.makeSpare(mr.spares) // ready for the next read after a seek
			default:
			}
		}
		if b == nil {
			b = newPieceBuf(n)
		}
		bufs = append(bufs, b)
		if p := run[i].Piece; run[i].Begin == 0 && int64(n) == t.info.PieceLen(p) {
			c := pieceCheck{piece: p, from: pos, to: pos + n, buf: b}
			if !t.info.HasV2() {
				c.h = sha1.New()
			}
			checks = append(checks, c)
		}
		pos += n
		o := 0
		for ; i < j; i++ {
			blockData[i] = b[o:]
			o += run[i].Length
		}
	}
	sent, sentBytes, told, checked, reported := 0, 0, 0, 0, 0
	flush := func(filled int, final bool) {
		k, upTo := sent, sentBytes
		end, endBytes := sent, sentBytes // the last piece end among the complete blocks
		for k < len(run) && upTo+run[k].Length <= filled {
			upTo += run[k].Length
			k++
			if k == len(run) || run[k].Piece != run[k-1].Piece {
				end, endBytes = k, upTo
			}
		}
		if !final {
			k, upTo = end, endBytes
			if k-sent < 16 && k < len(run) {
				if filled-told >= 16*bt.BlockSize {
					t.send(mirrorProgressMsg{job: job})
					told = filled
				}
				return
			}
		}
		if k == sent {
			return
		}
		data := make([][]byte, 0, k-sent)
		for i := sent; i < k; i++ {
			data = append(data, blockData[i][:run[i].Length])
		}
		var results []pieceResult
		for ; reported < checked && checks[reported].to <= upTo; reported++ {
			if c := &checks[reported]; c.result != unchecked {
				results = append(results, pieceResult{piece: c.piece, ok: c.result == checkedOK})
			}
		}
		t.send(mirrorDataMsg{job: job, blocks: run[sent:k], data: data, checked: results})
		sent, sentBytes, told = k, upTo, filled
	}
	// The bytes are hashed and handed over on a goroutine beside the one
	// that reads the socket (they share only the count of bytes filled):
	// the jobs of a stream run one after another on one connection, and
	// hashing in line halved a loopback mirror's rate (BenchmarkMirrorRead:
	// 600-657 MB/s against 810-824 with a request per job, two at once).
	var filled atomic.Int64
	wake, idle := make(chan struct{}, 1), make(chan struct{})
	go func() {
		defer close(idle)
		for open := true; open; {
			_, open = <-wake
			f := int(filled.Load())
			for checked < len(checks) && checks[checked].advance(ctx, t, f) {
				checked++
			}
			flush(f, false)
		}
	}()
	n, err := mr.m.Fetch(ctx, off, bufs, func(k int) {
		filled.Store(int64(k))
		select {
		case wake <- struct{}{}:
		default: // the verifier has a wake-up pending: it reads the latest count
		}
	})
	close(wake)
	<-idle
	flush(n, true)
	if err != nil && ctx.Err() == context.DeadlineExceeded {
		err = fmt.Errorf("web seed %s: %w: no answer within %v", mr.m.URL(), webseed.ErrStalled, timeout)
	}
	t.send(mirrorDoneMsg{job: job, delivered: sent, err: err})
}

// mirrorData takes a mirror's blocks like PIECE messages. A piece that comes
// whole in one message, none of it received before, keeps the job's buffer
// (the blocks are adjacent in it, and the worker writes none of them again)
// instead of being copied; when the job verified it (pieceCheck), it is not
// hashed again.
func (t *Torrent) mirrorData(m mirrorDataMsg, now time.Time) {
	mr := m.job.mr
	mr.progressAt = now
	m.job.delivered += len(m.blocks)
	res := make([]picker.ReceiveResult, len(m.blocks))
	count := map[int]int{} // first copies per piece in this message
	for k, blk := range m.blocks {
		n := int64(len(m.data[k]))
		t.stats.downloaded.Add(n)
		mr.down += n
		r := t.pk.Received(mr.key, blk)
		res[k] = r
		if !r.Expected || !r.First {
			t.stats.wasted.Add(n) // timed out and asked of another, or a late copy
		}
		for _, q := range r.CancelAt {
			if p := t.peerByKey(q); p != nil {
				p.sendCancel(blk)
			}
		}
		if r.Expected && r.First {
			count[blk.Piece]++
		}
	}
	var verified []hashedMsg // adopted pieces the job checked, handled after the others
	for k, blk := range m.blocks {
		r := res[k]
		if !r.Expected || !r.First {
			continue
		}
		data := m.data[k]
		plen := t.info.PieceLen(blk.Piece)
		d := t.downloads[blk.Piece]
		if d == nil && blk.Begin == 0 && int64(cap(data)) >= plen &&
			int64(count[blk.Piece]) == (plen+bt.BlockSize-1)/bt.BlockSize {
			d = &download{buf: data[:plen:plen], senders: map[picker.PeerKey]bool{mr.key: true}, recv: plen}
			t.downloads[blk.Piece] = d
			count[blk.Piece] = -1 // the rest of its blocks are in buf already
		} else if count[blk.Piece] != -1 {
			if d == nil {
				d = &download{buf: newPieceBuf(int(plen)), senders: make(map[picker.PeerKey]bool)}
				t.downloads[blk.Piece] = d
			}
			copy(d.buf[blk.Begin:], data)
			mr.copied.Add(int64(len(data)))
			d.recv += int64(len(data))
			d.senders[mr.key] = true
		}
		if !r.Complete {
			continue
		}
		if k := slices.IndexFunc(m.checked, func(c pieceResult) bool { return c.piece == blk.Piece }); k >= 0 && count[blk.Piece] == -1 {
			d.hashing = true
			mr.verified.Add(1)
			verified = append(verified, hashedMsg{piece: blk.Piece, ok: m.checked[k].ok, d: d})
		} else {
			t.hashPiece(blk.Piece, d)
		}
	}
	for _, h := range verified {
		t.hashed(h, now)
	}
}

// mirrorDone ends a job: undelivered blocks go back to the picker, and a
// failure makes the mirror back off (or stop, when it cannot serve ranges).
func (t *Torrent) mirrorDone(m mirrorDoneMsg, now time.Time) {
	mr := m.job.mr
	delete(mr.jobs, m.job)
	for _, b := range m.job.blocks[m.delivered:] {
		t.pk.Rejected(mr.key, b)
	}
	switch {
	case m.err == nil:
		mr.failures = 0
	case m.job.preempted && t.ctx.Err() == nil: // mirror_seek.go
	case mr.banned || t.ctx.Err() != nil:
	case errors.Is(m.err, webseed.ErrNoRange):
		mr.noRange, mr.lastErr = true, m.err
		t.log.Warn("web seed unusable", "url", mr.m.URL(), "err", m.err)
	default:
		mr.failures++
		mr.lastErr = m.err
		back := min(mirrorBackoff<<min(mr.failures-1, 10), mirrorMaxBackoff)
		if errors.Is(m.err, webseed.ErrNotFound) {
			back = max(back, time.Minute)
		}
		mr.retryAt = now.Add(back)
		t.log.Info("web seed failed", "url", mr.m.URL(), "err", m.err, "retry_in", back)
	}
	t.fillAll(now)
}

// mirrorsHashFailed holds mirrors to account for piece i, which failed its
// hash check with senders: a mirror that sent it alone is banned; one that
// took part in two failures too.
func (t *Torrent) mirrorsHashFailed(i int, senders map[picker.PeerKey]bool) {
	for key := range senders {
		mr := t.mirrorByKey(key)
		if mr == nil || mr.banned {
			continue
		}
		mr.strikes++
		if len(senders) == 1 || mr.strikes >= 2 {
			mr.banned = true
			mr.lastErr = fmt.Errorf("banned: sent data that failed the hash check (piece %d)", i)
			t.stats.banned.Add(1)
			t.log.Warn("banning web seed", "url", mr.m.URL(), "piece", i)
			for job := range mr.jobs {
				job.cancel()
			}
		}
	}
}

// mirrorLate reports whether a request held by holder (not a connected peer)
// is late (picker.Late): a mirror is while it has delivered nothing for
// lateAfter; a holder that is neither peer nor mirror (gone) always is.
func (t *Torrent) mirrorLate(holder picker.PeerKey) bool {
	mr := t.mirrorByKey(holder)
	return mr == nil || time.Since(mr.progressAt) >= lateAfter
}

// sampleRate updates the mirror's smoothed rate at most every tick.
func (mr *mirror) sampleRate(now time.Time) {
	dt := now.Sub(mr.rateAt)
	if dt < tickEvery {
		return
	}
	if !mr.rateAt.IsZero() {
		inst := float64(mr.down-mr.tickDown) / dt.Seconds()
		mr.rate = 0.7*mr.rate + 0.3*inst
		if len(mr.jobs) > 0 {
			mr.rate = max(mr.rate, inst) // a busy mirror's pace, at once
		}
	}
	mr.tickDown, mr.rateAt = mr.down, now
}

func (t *Torrent) mirrorStats(now time.Time) []MirrorStats {
	out := make([]MirrorStats, 0, len(t.mirrors))
	for _, mr := range t.mirrors {
		mr.sampleRate(now)
		s := MirrorStats{URL: mr.m.URL(), Rate: mr.rate, Downloaded: mr.down}
		switch {
		case mr.banned:
			s.State = "banned"
		case mr.noRange:
			s.State = "unusable"
		case now.Before(mr.retryAt):
			s.State = "backing off"
		case len(mr.jobs) > 0:
			s.State = "fetching"
		default:
			s.State = "idle"
		}
		if mr.lastErr != nil {
			s.Error = mr.lastErr.Error()
		}
		out = append(out, s)
	}
	return out
}

// Mirrors returns the state of the torrent's web seeds.
func (t *Torrent) Mirrors() []MirrorStats {
	r := make(chan []MirrorStats, 1)
	if !t.send(mirrorStatsMsg{r}) {
		return nil
	}
	select {
	case s := <-r:
		return s
	case <-t.done:
		return nil
	}
}

// handleMirrorMsg handles the mirror messages; it reports whether m was one.
func (t *Torrent) handleMirrorMsg(m ownerMsg, now time.Time) bool {
	switch m := m.(type) {
	case mirrorDataMsg:
		t.mirrorData(m, now)
	case mirrorDoneMsg:
		t.mirrorDone(m, now)
	case mirrorStatsMsg:
		m.reply <- t.mirrorStats(now)
	case mirrorProgressMsg:
		m.job.mr.progressAt = now
	default:
		return false
	}
	return true
}
