package engine

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/hyperblow/hyperblow/engine/peerconn"
	"github.com/hyperblow/hyperblow/engine/picker"
)

// ownerMsg is what readers, dialers, hashers and the announcer send to a
// torrent's owner goroutine. The set is closed: only this package's types.
type ownerMsg interface{ ownerMsg() }

type (
	// acquireMsg asks for futures of pieces a blocked read needs.
	acquireMsg struct {
		pieces []int
		reply  chan []*future
	}
	// releaseMsg withdraws waits (the read was interrupted).
	releaseMsg struct{ futures []*future }
	// windowMsg sets a reader's readahead window; closed removes it. seek:
	// the reader jumped (what the old window had on its way may be dropped).
	windowMsg struct {
		reader uint64
		w      window
		closed bool
		seek   bool
	}
	peersMsg struct {
		addrs []netip.AddrPort
		other bool // found under a hybrid's other hash (v2.go): dialled with it
	}
	connMsg struct {
		conn     *peerconn.Conn
		addr     netip.AddrPort
		incoming bool
	}
	dialFailedMsg struct {
		addr netip.AddrPort
		err  error
	}
	hashedMsg struct {
		piece int
		ok    bool
		d     *download
	}
	statsMsg struct{ reply chan ownerStats }
	// backgroundMsg queues pieces [lo, hi) for background fetching.
	backgroundMsg struct{ lo, hi int }
)

func (acquireMsg) ownerMsg()    {}
func (releaseMsg) ownerMsg()    {}
func (windowMsg) ownerMsg()     {}
func (peersMsg) ownerMsg()      {}
func (connMsg) ownerMsg()       {}
func (dialFailedMsg) ownerMsg() {}
func (hashedMsg) ownerMsg()     {}
func (statsMsg) ownerMsg()      {}
func (backgroundMsg) ownerMsg() {}

// future is a piece a reader waits for. done is closed once data (verified) or
// err is set; both are immutable afterwards.
type future struct {
	piece   int
	done    chan struct{}
	data    []byte
	err     error
	waiters int // owner-only
}

// download is a piece being assembled from blocks.
// got is how many bytes of the piece have arrived; 0 for a nil download.
func (d *download) got() int64 {
	if d == nil {
		return 0
	}
	return d.recv
}

type download struct {
	buf     []byte
	senders map[picker.PeerKey]bool
	recv    int64 // bytes received so far
	hashing bool  // complete and handed to a hasher; buf is read-only meanwhile
}

// window is a reader's readahead: pieces [lo, hi), with piece pos under the read
// and deadlines growing with the distance from it at the reader's rate.
type window struct {
	lo, hi int
	pos    int
	rate   float64       // bytes per second
	after  time.Duration // added to every deadline of the window (a prime after another)
	// tail marks a file's tail prime (NewReader): while its reader keeps the
	// file open, it ranks with blocked reads once after has passed
	// (promoteTails). promoteAt is when, set as the window arrives.
	tail      bool
	promoteAt time.Time
}

func (t *Torrent) run() {
	asleep := false // idle.go: returns to sleep, and is started again to wake
	defer func() {
		if !asleep {
			t.shutdown()
			close(t.done)
		}
	}()
	tick := time.NewTicker(tickEvery)
	defer tick.Stop()
	period := tickEvery // quietTickEvery while nothing is under way (idle.go)
	if t.info != nil {
		t.pk.SetMissing(t.info.NumPieces - t.have.Count())
	}
	t.resume(time.Now()) // after a sleep: the swarm, best peers first
	t.connectMore(time.Now())
	for {
		if period != tickEvery {
			period = t.retick(tick, period, false) // work came: tick at full rate
		}
		select {
		case <-t.ctx.Done():
			return
		case m := <-t.msgs:
			if _, ok := m.(sleepMsg); ok {
				if asleep = t.trySleep(); asleep {
					return
				}
				continue
			}
			t.handleMsg(m)
		case ev := <-t.events:
			t.handleConnEvent(ev)
		case c := <-t.drained:
			if p := t.peers[c]; p != nil {
				t.feedUploads(p)
			}
		case now := <-tick.C:
			t.tick(now)
			period = t.retick(tick, period, true)
		}
		if t.meta != nil {
			t.metaCheck() // magnet.go: gives up a hopeless fetch
		}
	}
}

func (t *Torrent) shutdown() {
	if t.meta != nil {
		t.fail(t.meta.failure(t, context.Canceled)) // closed before its info came
	}
	t.c.releaseHalfOpen(t.dialing) // their results are never read
	for c := range t.peers {
		c.Close(ErrClosed)
	}
	for _, f := range t.futures {
		f.err = ErrClosed
		close(f.done)
	}
	t.futures = nil
	// Drain connection events until every connection has said Closed, so their
	// goroutines are not left blocked on our channel.
	deadline := time.After(5 * time.Second)
	for len(t.peers) > 0 {
		select {
		case ev := <-t.events:
			if cl, ok := ev.(peerconn.Closed); ok {
				delete(t.peers, cl.Conn)
			}
		case <-deadline:
			// Go on draining in the background, so that no connection's
			// goroutine stays blocked on its last event after we are gone.
			t.log.Warn("connections did not close in time", "left", len(t.peers))
			left := t.peers
			go func() {
				for len(left) > 0 {
					if cl, ok := (<-t.events).(peerconn.Closed); ok {
						delete(left, cl.Conn)
					}
				}
			}()
			return
		}
	}
}

func (t *Torrent) handleMsg(m ownerMsg) {
	now := time.Now()
	switch m := m.(type) {
	case acquireMsg:
		t.acquire(m, now)
	case releaseMsg:
		for _, f := range m.futures {
			if f.waiters > 0 {
				f.waiters--
			}
		}
	case windowMsg:
		t.setWindow(m, now)
	case peersMsg:
		t.addPeersMsg(m) // v2.go
		t.connectMore(now)
	case connMsg:
		t.addConn(m, now)
	case dialFailedMsg:
		if t.meta != nil {
			t.meta.noteDial(m.addr, m.err) // resolvewhy.go
		}
		t.dialDone(m.addr)
		t.stats.dialFailures.Add(1)
		if a := t.addrs[m.addr]; a != nil {
			a.dialing = false
			a.failed(now)
			if errors.Is(m.err, peerconn.ErrSelf) {
				a.self = true // trackers list us among the peers
			}
		}
		t.log.Debug("dial failed", "addr", m.addr, "err", m.err)
		t.connectMore(now)
	case hashedMsg:
		t.hashed(m, now)
	case backgroundMsg:
		for i := m.lo; i < m.hi; i++ {
			t.bgQueue = append(t.bgQueue, i)
		}
		t.topUpBackground()
		t.fillAll(now)
	case inspectMsg:
		t.inspect(m)
	case runMsg:
		m.f()
		close(m.done)
	case tierWakeMsg, tierLoadedMsg:
		t.handleTierMsg(m)
	case statsMsg:
		if t.info == nil {
			m.reply <- ownerStats{}
			return
		}
		st := ownerStats{have: t.have.Count(), wanted: t.pk.NumWanted()}
		for id, w := range t.windows {
			if id&3 == 0 { // a reader's moving window, not its head/tail prime
				st.readers = append(st.readers, ReaderStats{
					ID:          id >> 2,
					Piece:       w.pos,
					WindowBytes: int64(w.hi-w.lo) * t.info.PieceLength,
					Rate:        w.rate,
				})
			}
		}
		m.reply <- st
	default:
		t.handleMirrorMsg(m, now)
	}
}

// acquire answers a blocked read: a future per piece, completed at once when the
// piece is cached, else wanted with deadline now.
func (t *Torrent) acquire(m acquireMsg, now time.Time) {
	out := make([]*future, len(m.pieces))
	added := false
	for k, i := range m.pieces {
		if f := t.futures[i]; f != nil {
			f.waiters++
			out[k] = f
			t.pk.Want(i, now.Add(-time.Hour)) // it may have been put after a seek
			continue
		}
		f := &future{piece: i, done: make(chan struct{}), waiters: 1}
		if data, ok := t.pieceData(i); ok {
			f.data = data
			close(f.done)
			out[k] = f
			continue
		}
		t.futures[i] = f
		out[k] = f
		// A blocked read comes before any readahead, whose deadlines are "now +
		// distance / rate" from when the window was set.
		t.pk.Want(i, now.Add(-time.Hour))
		added = true
	}
	m.reply <- out
	if added {
		t.redialHeld(now) // connmgr.go: peers that closed while nothing was read
		t.fillAll(now)
	}
}

// setWindow moves a reader's readahead window: pieces that leave it (and no one
// else wants) are withdrawn and their requests cancelled; pieces that enter get
// deadlines by distance.
func (t *Torrent) setWindow(m windowMsg, now time.Time) {
	old := t.windows[m.reader]
	if old != nil {
		for i := old.lo; i < old.hi; i++ {
			if m.closed || i < m.w.lo || i >= m.w.hi {
				t.windowRefs[i]--
				if t.windowRefs[i] <= 0 {
					delete(t.windowRefs, i)
					// A piece on its way that a reader moving on left behind (the
					// kernel's READs come out of order) is let finish: cancelling it
					// would waste what is in flight, and its READ may come yet.
					// After a seek or a close, so is a piece more than half
					// received, at the lowest priority: finishing it costs less than
					// what throwing it away would waste. Anything else is withdrawn
					// and its requests cancelled at once.
					switch {
					case m.seek && t.futures[i] != nil && t.futures[i].waiters > 0:
						// A READ still waits for it: most likely the kernel's
						// readahead for the position the reader left (it sends
						// those on its own and waits for them, but no one reads
						// them). It is still fetched, after the new position,
						// and its requests are cancelled now: the kernel's
						// readahead spans megabytes, whose requests filled the
						// peers' pipelines, and the new position's waited
						// behind them (what a peer had already sent still
						// comes, and is kept: handlePiece).
						t.pk.SetDeadline(i, now.Add(afterASeek))
						t.withdrawRequests(i)
					case t.downloads[i] == nil && !t.pk.Active(i):
						t.maybeUnwant(i)
					case !m.closed && !m.seek:
					case m.closed && t.pk.AllAsked(i) && (t.downloads[i].got() > 0 || t.mirrorFetching(i)):
						// A closed file's piece whose missing blocks are all on
						// their way (a readahead piece when ffmpeg exits): they
						// would mostly arrive anyway, and what came is kept.
						// So is a piece a web seed's job is fetching whole: it
						// hands it over only at its end (mirror.go).
						// (Not on a seek: there the cancels clear the way for
						// the new position.)
						t.pk.SetDeadline(i, now.Add(finishLeftBehind))
					case 2*t.downloads[i].got() > int64(t.info.PieceLen(i)):
						t.pk.SetDeadline(i, now.Add(finishLeftBehind))
					default:
						t.maybeUnwant(i)
					}
				}
			}
		}
	}
	if m.closed {
		delete(t.windows, m.reader)
		return
	}
	w := m.w
	if w.tail && old == nil {
		w.promoteAt = now.Add(w.after)
	}
	t.windows[m.reader] = &w
	added := false
	for i := w.lo; i < w.hi; i++ {
		if old == nil || i < old.lo || i >= old.hi {
			t.windowRefs[i]++
		}
		if t.futures[i] != nil {
			continue // a blocked read already wants it now
		}
		if t.held(i) { // RAM or tier (tier.go)
			continue
		}
		if i < w.pos && !t.pk.Wanted(i) {
			// Behind the read: kept in the window so that what is on its way
			// is not cancelled, but not fetched again once it came and was
			// evicted (a cache as small as the kernel's trail refetched a
			// whole file six times over); a READ that does come for it
			// fetches it itself.
			continue
		}
		dist := float64(i-w.pos) * float64(t.info.PieceLength)
		deadline := now.Add(w.after + time.Duration(dist/max(w.rate, 1<<20)*float64(time.Second)))
		if !t.pk.Wanted(i) {
			added = true
		}
		t.pk.Want(i, deadline)
	}
	if added {
		t.fillAll(now)
	}
}

// withdrawRequests cancels the requests for piece i at peers, keeping the
// piece wanted: its blocks are asked again by its deadline. A web seed's
// job goes on (it fetches whole pieces).
func (t *Torrent) withdrawRequests(i int) {
	for _, o := range t.pk.Outstanding(i) {
		if t.peerByKey(o.Peer) != nil && t.pk.Rejected(o.Peer, o.Block) {
			t.cancelRequest(o)
		}
	}
}

// afterASeek is the deadline, from the seek, of a piece a READ waits for in
// the window a seek left: after the new position's first seconds.
const afterASeek = 2 * time.Second

// finishLeftBehind is the deadline, from now, of a piece that no reader wants
// any more but that is more than half received: after every piece a reader wants.
const finishLeftBehind = time.Hour

// maybeUnwant withdraws piece i unless a blocked read or a window still wants it.
func (t *Torrent) maybeUnwant(i int) {
	if f := t.futures[i]; f != nil && f.waiters > 0 {
		return
	}
	if t.windowRefs[i] > 0 {
		return
	}
	if f := t.futures[i]; f != nil {
		// No one waits: the interrupted reader moved away or closed.
		delete(t.futures, i)
	}
	if d := t.downloads[i]; d != nil && d.hashing {
		return // let the hash finish; a verified piece is worth caching
	}
	for _, o := range t.pk.Unwant(i) {
		t.cancelRequest(o)
	}
	if d := t.downloads[i]; d != nil {
		t.stats.wasted.Add(d.recv) // received, and thrown away with the piece
		delete(t.downloads, i)
	}
}

func (t *Torrent) tick(now time.Time) {
	if !t.lastTick.IsZero() {
		t.updateRates(now.Sub(t.lastTick))
	}
	t.lastTick = now
	if t.info == nil {
		t.metaTick(now) // magnet.go
		return
	}
	for _, o := range t.pk.Expired(now, requestTimeout) {
		t.cancelRequest(o)
		if p := t.peerByKey(o.Peer); p != nil {
			p.expired = true // the snub clock keeps running
		}
	}
	for _, p := range t.peers {
		p.noteStall(now)
	}
	t.checkSnubbed(now)
	t.sendPex(now)
	for _, p := range t.peers {
		t.feedUploads(p) // in case a drain notice was dropped
	}
	if t.tier.st != nil { // tier.go: pieces the disk queue refused; the background fetch it held off
		t.retryUnstored()
		t.topUpBackground()
	}
	if now.Sub(t.lastChoke) >= rechokeEvery {
		rotate := now.Sub(t.lastOptim) >= optimisticEvery
		if rotate {
			t.lastOptim = now
		}
		t.lastChoke = now
		t.rechoke(now, rotate)
	}
	t.replaceSlowest(now)
	t.connectMore(now)
	t.promoteTails(now)
	t.fillAll(now)
}

// promoteTails gives the tail prime of a file still open after its delay the
// rank of a read blocked now: after the reads that already wait, before any
// made later. Until then it is readahead, which blocked reads always go
// before; a player that keeps its reads waiting (mpv fills a cache of
// minutes as fast as the swarm delivers) never let it come, and its first
// seek fetched the MKV's cues then, 0.44 s over the WAN lab's links. A file
// opened only to be sniffed is closed before its tail is promoted.
func (t *Torrent) promoteTails(now time.Time) {
	for _, w := range t.windows {
		if !w.tail || w.promoteAt.IsZero() || now.Before(w.promoteAt) {
			continue
		}
		w.promoteAt = time.Time{}
		for i := w.lo; i < w.hi; i++ {
			if t.pk.Wanted(i) && t.futures[i] == nil {
				t.pk.SetDeadline(i, now.Add(-time.Hour))
			}
		}
	}
}

// hashPiece verifies a complete piece off the owner goroutine.
func (t *Torrent) hashPiece(i int, d *download) {
	d.hashing = true
	buf := d.buf
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		select {
		case t.c.hashes <- struct{}{}:
		case <-t.ctx.Done():
			return
		}
		ok := t.info.VerifyPiece(i, buf) // SHA-1 (v1), merkle (BEP 52), or both (hybrid)
		<-t.c.hashes
		t.send(hashedMsg{piece: i, ok: ok, d: d})
	}()
}

func (t *Torrent) hashed(m hashedMsg, now time.Time) {
	i := m.piece
	if t.downloads[i] == m.d {
		delete(t.downloads, i)
	}
	if !m.ok {
		t.hashFailed(i, m.d, now)
		return
	}
	t.stats.verified.Add(1)
	if !t.have.Has(i) {
		t.have.Set(i)
		t.stats.haveBytes.Add(t.info.PieceLen(i))
		t.pk.SetMissing(t.info.NumPieces - t.have.Count())
	}
	if !t.completed && t.have.Full() {
		t.completed = true
		if t.announcer != nil {
			t.announcer.Completed() // BEP 3: event=completed, once
		}
		for _, p := range t.peers {
			t.updateUploadOnly(p) // a seed now: no more BEP 21 upload_only
		}
	}
	data := m.d.buf
	t.c.cache.Put(t.cacheKey(i), data)
	t.storeVerified(i, data) // tier.go
	if t.pk.Background(i) {
		t.bgMarked -= t.info.PieceLen(i)
	}
	t.pk.PieceDone(i)
	t.topUpBackground()
	t.advertiseVerified(i) // honest.go: HAVE now with RAM only, on Stored with a tier
	if f := t.futures[i]; f != nil {
		f.data = data
		close(f.done)
		delete(t.futures, i)
	}
	t.fillAll(now)
}

// hashFailed handles a piece that did not match its hash: the bytes are dropped,
// the piece is fetched again, and its senders are held to account. A peer that
// sent the whole bad piece alone is banned; when several peers contributed, each
// gets a strike and the piece is fetched again from one peer only, so the next
// failure names the culprit. (A failure is never blamed on Hyperblow's own
// doing: blocks are only taken from the peers we asked, into a fresh buffer.)
func (t *Torrent) hashFailed(i int, d *download, now time.Time) {
	t.stats.hashFails.Add(1)
	t.stats.wasted.Add(int64(len(d.buf)))
	t.log.Warn("piece failed its hash check", "piece", i, "senders", len(d.senders))
	t.mirrorsHashFailed(i, d.senders)
	if len(d.senders) == 1 {
		for key := range d.senders {
			if p := t.peerByKey(key); p != nil {
				t.ban(p, fmt.Errorf("%w (piece %d)", errBanned, i))
			}
		}
		t.pk.PieceFailed(i)
	} else {
		for key := range d.senders {
			if p := t.peerByKey(key); p != nil {
				p.strikes++
			}
		}
		t.pk.PieceFailedExclusive(i)
	}
	t.fillAll(now)
}

type ownerStats struct {
	have, wanted int
	readers      []ReaderStats
}

// ReaderStats describes one open reader (file handle).
type ReaderStats struct {
	ID          uint64
	Piece       int     // the piece under its last read
	WindowBytes int64   // readahead window
	Rate        float64 // bytes per second it reads, sequentially
}

// topUpBackground hands queued background pieces to the picker while the bytes
// handed out and not yet verified stay within a quarter of the cache, so what is
// fetched ahead is still cached when it is read.
func (t *Torrent) topUpBackground() {
	budget := t.c.cfg.CacheSize / 4
	for len(t.bgQueue) > 0 && t.bgMarked < budget && !(t.tier.st != nil && t.tierBusy()) {
		i := t.bgQueue[0]
		t.bgQueue = t.bgQueue[1:]
		if t.pk.Background(i) || t.held(i) {
			continue
		}
		t.pk.SetBackground(i, true)
		t.bgMarked += t.info.PieceLen(i)
	}
}
