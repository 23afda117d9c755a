package engine

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/storage"
	"github.com/hyperblow/hyperblow/engine/wire"
)

// Pieces below the RAM cache (issue 13). A torrent may have a tier
// (engine/storage): a view of the client's shared DiskCache
// (Config.DiskCache), or one the caller opens for it (TorrentOptions.OpenTier,
// e.g. a Layout for --data).
//
//   - Reads look in RAM, then in the tier (on the reader's own goroutine: a
//     tier read hashes the piece), then ask the swarm. A piece read from the
//     tier goes into the RAM cache, so the next READs of it hit RAM.
//   - A piece that verifies from the swarm goes to the RAM cache and to the
//     tier's write-behind queue (Put never waits; a full queue drops it).
//   - What the tier holds when the torrent starts counts as had: a remount
//     with the same store fetches none of it.
//   - Uploads read blocks from RAM; a piece only on disk is loaded off the
//     owner goroutine (loadTier), and the peer's requests wait meanwhile.
//
// HAVE honesty (what we advertise, honest.go) follows the tier when there is
// one: HAVE goes out when the tier says Stored, not on verification.

// tierState is a torrent's tier and what the owner knows of it.
type tierState struct {
	st  storage.Tier // nil: RAM only
	own bool         // opened for this torrent: closed with it

	// Events from the tier (any goroutine) wait here for the owner: a set of
	// pieces, bounded by the piece count; the owner asks the tier what is true
	// now, so the order of events does not matter.
	mu      sync.Mutex
	pending []int
	queued  bt.Bitfield
	woken   atomic.Bool // a tierWakeMsg is on its way to the owner

	// Owned by run.
	adv     bt.Bitfield   // with a tier: pieces stored and not evicted since (advertised)
	loading map[int]bool  // tier reads under way for uploads
	recent  []loadedPiece // the last pieces loaded for uploads, in case the RAM cache refused them
	keep    bool          // the tier keeps every piece (a Layout): see storeVerified
	// unstored are verified pieces the tier's queue refused, to hand again
	// (retryUnstored); unstoredSet marks them.
	unstored    []int
	unstoredSet bt.Bitfield
	// held keeps the bytes of refused pieces, up to tierHoldBytes, so that
	// the RAM cache evicting them cannot lose them before the queue has room.
	held      map[int][]byte
	heldBytes int64

	ramHits, diskHits, diskMisses, diskErrors atomic.Int64
	rejects, resets                           atomic.Int64 // honest.go
	advCount                                  atomic.Int64 // pieces in the last bitfield or tier change
}

type loadedPiece struct {
	piece int
	data  []byte
}

// recentLoads bounds tierState.recent.
const recentLoads = 4

// tierWakeMsg tells the owner that tier events are pending.
type tierWakeMsg struct{}

// tierLoadedMsg is a piece read from the tier for uploads (loadTier).
type tierLoadedMsg struct {
	piece int
	data  []byte // nil: not there any more, or corrupt
}

func (tierWakeMsg) ownerMsg()   {}
func (tierLoadedMsg) ownerMsg() {}

// TierStats is what a torrent's reads found in each tier, and what its
// partial seed refused.
type TierStats struct {
	// RAMHits and DiskHits count pieces served to readers from the RAM cache
	// and from the disk tier; DiskMisses counts RAM misses the disk tier did
	// not hold either (they went to the swarm).
	RAMHits, DiskHits, DiskMisses int64
	// Disk is this torrent's disk tier (HasDisk): bytes held there, writes,
	// drops, evictions, corrupt pieces, degraded. Client.DiskStats gives the
	// whole cache folder.
	HasDisk bool
	Disk    storage.Stats
	// Advertised is the number of pieces a new peer is told we have.
	Advertised int
	// RejectedRequests are peer requests for pieces we no longer hold (evicted
	// from RAM, or from the tier); PeersReset are the connections closed
	// because their peer kept asking for them (honest.go).
	RejectedRequests, PeersReset int64
}

// openTier gives the torrent its tier, once its info is known (a magnet:
// when its info arrives, before the piece state is used): opts.OpenTier, or a
// view of the client's DiskCache. What the tier holds becomes had: a seed is
// a torrent whose tier holds every piece (ReaderTier, a read-only Layout). A
// tier that cannot be opened is logged, and the torrent runs with RAM only;
// for an upload-only torrent, which would have nothing to serve, it is the
// error returned.
func (t *Torrent) openTier() error {
	t.tier.loading = make(map[int]bool)
	t.tier.queued = bt.NewBitfield(t.info.NumPieces) // before any event can come
	ev := storage.Events{Stored: t.tierEvent, Evicted: t.tierEvent}
	switch {
	case t.opts.OpenTier != nil:
		st, err := t.opts.OpenTier(t.mt, ev)
		if err != nil {
			if t.opts.UploadOnly {
				return err
			}
			t.log.Warn("tier unavailable for this torrent: RAM only", "err", err)
			return nil
		}
		t.tier.st, t.tier.own = st, true
	case t.c.cfg.DiskCache != nil:
		spec := storage.SpecOf(t.mt.InfoHash, t.info, ev)
		if !t.info.HasV1() {
			spec.PieceHash = nil // v2 only: no SHA-1 per piece (the store checks its own)
		}
		ct, err := t.c.cfg.DiskCache.Torrent(spec)
		if err != nil {
			t.log.Warn("disk cache unavailable for this torrent: RAM only", "err", err)
			return nil
		}
		t.tier.st, t.tier.own = ct, true
	default:
		return nil
	}
	t.tier.adv = t.tier.st.Bitfield()
	t.tier.keep = keepsAll(t.tier.st)
	t.tier.unstoredSet = bt.NewBitfield(t.info.NumPieces)
	for i := 0; i < t.info.NumPieces; i++ {
		if t.tier.adv.Has(i) && !t.have.Has(i) {
			t.have.Set(i)
			t.stats.haveBytes.Add(t.info.PieceLen(i))
		}
	}
	return nil
}

// closeTier releases a tier opened here (after the owner has stopped; its
// write-behind queue is written first), and logs what each tier served and
// what the partial seed refused.
func (t *Torrent) closeTier() {
	// A Layout is written what its queue refused and RAM still holds: the
	// files keep every piece that verified.
	if w, ok := t.tier.st.(interface{ Write(int, []byte) error }); ok {
		for _, i := range t.tier.unstored {
			if d, ok := t.unstoredData(i); ok {
				w.Write(i, d) // an error is logged and counted by the Layout
			}
		}
	} else if dc := t.c.cfg.DiskCache; dc != nil && t.tier.st != nil && !t.tier.st.Stats().Degraded {
		// The disk cache is handed what its queue refused and RAM still
		// holds, waiting once for room (the queue written) when it is full:
		// a remount then finds every piece this mount read.
		for _, i := range t.tier.unstored {
			if d, ok := t.unstoredData(i); ok && !t.tier.st.Has(i) && !t.tierPut(i, d) {
				dc.Flush()
				t.tierPut(i, d)
			}
		}
	}
	if t.tier.st != nil && t.tier.own {
		if err := t.tier.st.Close(); err != nil {
			t.log.Warn("closing the tier", "err", err)
		}
	}
	s := t.tierStats()
	t.log.Info("tiers", "ram_hits", s.RAMHits, "disk_hits", s.DiskHits, "disk_misses", s.DiskMisses,
		"disk_held", s.Disk.HeldBytes, "disk_writes", s.Disk.Writes, "disk_dropped", s.Disk.Dropped,
		"disk_corrupt", s.Disk.Corrupt, "advertised", s.Advertised,
		"rejected_unheld", s.RejectedRequests, "peers_reset", s.PeersReset)
}

// tierEvent is the tier's Stored and Evicted: it never blocks.
func (t *Torrent) tierEvent(i int) {
	ts := &t.tier
	ts.mu.Lock()
	if i >= 0 && i < ts.queued.Len() && !ts.queued.Has(i) {
		ts.queued.Set(i)
		ts.pending = append(ts.pending, i)
	}
	ts.mu.Unlock()
	if ts.woken.CompareAndSwap(false, true) {
		select {
		case t.msgs <- tierWakeMsg{}:
		default:
			go t.send(tierWakeMsg{}) // at most one at a time (woken)
		}
	}
}

// applyTierEvents (owner) brings what we advertise in line with the tier:
// HAVE to every peer for a piece now stored; a piece gone from the tier is no
// longer in new peers' bitfields, and requests for it are rejected
// (feedUploads) unless it is still in RAM.
func (t *Torrent) applyTierEvents() {
	ts := &t.tier
	ts.woken.Store(false)
	ts.mu.Lock()
	pending := ts.pending
	ts.pending = nil
	for _, i := range pending {
		ts.queued.Clear(i)
	}
	ts.mu.Unlock()
	for _, i := range pending {
		if !ts.st.Has(i) {
			ts.adv.Clear(i)
			continue
		}
		if ts.adv.Has(i) {
			continue
		}
		ts.adv.Set(i)
		if !t.have.Has(i) { // stored by another process sharing the folder
			t.have.Set(i)
			t.stats.haveBytes.Add(t.info.PieceLen(i))
			t.pk.SetMissing(t.info.NumPieces - t.have.Count())
		}
		for _, p := range t.peers {
			if !p.bf.Has(i) {
				p.conn.Send(wire.Message{ID: wire.Have, Index: uint32(i)})
			}
		}
	}
	ts.advCount.Store(int64(ts.adv.Count()))
	if len(ts.unstored) > 0 { // the queue has room again: hand it what it refused
		t.retryUnstored()
	}
}

// storeVerified (owner) hands a piece that just verified to the tier. A
// Layout (--data, get, seed) keeps every piece: the torrent's files are to be
// complete. A piece its write-behind queue refused (full: the swarm delivers
// faster than the disk writes) is handed again from RAM on the next ticks
// (retryUnstored), or, gone from RAM, fetched again when the whole torrent is
// wanted. A bounded disk cache is handed such a piece again too while RAM
// holds it (a remount found pieces a mount had read missing from the disk
// when the queue, a quarter of the RAM cache, filled on a slow disk); gone
// from RAM, the next read fetches it.
func (t *Torrent) storeVerified(i int, data []byte) {
	st := t.tier.st
	if st == nil {
		return
	}
	if !t.tierPut(i, data) && !st.Has(i) && !t.tier.unstoredSet.Has(i) {
		t.tier.unstoredSet.Set(i)
		t.tier.unstored = append(t.tier.unstored, i)
		t.holdUnstored(i, data)
	}
}

// tierPut hands the tier a piece this torrent verified: without the tier's
// own second SHA-1 when it offers that (storage.CacheTorrent.PutVerified).
func (t *Torrent) tierPut(i int, data []byte) bool {
	if pv, ok := t.tier.st.(interface{ PutVerified(int, []byte) bool }); ok {
		return pv.PutVerified(i, data)
	}
	return t.tier.st.Put(i, data)
}

// tierHoldBytes bounds the bytes of refused pieces the torrent keeps for its
// tier (holdUnstored): with the tier's backlog slowing the fetch to what reads
// wait for (tierBacklog), a burst the queue refused fits, and the memory stays
// within the margin the process's limit leaves above the RAM cache.
const tierHoldBytes = 16 << 20

// tierHoldTest, when not 0, replaces tierHoldBytes (tests; negative: hold none).
var tierHoldTest atomic.Int64

// holdUnstored (owner) keeps a refused piece's bytes while they fit.
func (t *Torrent) holdUnstored(i int, data []byte) {
	ts := &t.tier
	limit := int64(tierHoldBytes)
	if n := tierHoldTest.Load(); n != 0 {
		limit = max(n, 0)
	}
	if ts.heldBytes+int64(len(data)) > limit {
		return // retried from RAM while it is there
	}
	if ts.held == nil {
		ts.held = make(map[int][]byte)
	}
	ts.held[i] = data
	ts.heldBytes += int64(len(data))
}

// unstoredData (owner) is a refused piece's bytes: held, or from RAM.
func (t *Torrent) unstoredData(i int) ([]byte, bool) {
	if d, ok := t.tier.held[i]; ok {
		return d, true
	}
	return t.pieceData(i)
}

// releaseUnstored (owner) forgets a refused piece's held bytes.
func (t *Torrent) releaseUnstored(i int) {
	if d, ok := t.tier.held[i]; ok {
		delete(t.tier.held, i)
		t.tier.heldBytes -= int64(len(d))
	}
}

// keepsAll reports whether tier st keeps every piece, rather than evicting
// (the disk cache): a Layout, or a wrapper of one, which says whether it is
// Complete.
func keepsAll(st storage.Tier) bool {
	_, ok := st.(interface{ Complete() bool })
	return ok
}

// tierBusyBytes is how much may wait in a keeping tier's write-behind queue
// before the background fetch (FetchAll) holds off: the swarm is not asked
// for more than the disk takes.
const tierBusyBytes = storage.DefaultQueueBytes / 2

// tierBusy (owner) reports whether a keeping tier's queue is so full that
// the background fetch should wait (the tick tops it up again).
func (t *Torrent) tierBusy() bool {
	return t.tier.keep && t.tier.st.Stats().QueuedBytes > tierBusyBytes
}

// retryUnstored (owner, every tick) hands the tier again the pieces its queue
// refused: from RAM, or, evicted from RAM, by fetching them again when the
// whole torrent is wanted (FetchAll; otherwise a later read does). A tier whose
// writes stopped (full disk, read-only folder) is not retried: that would
// fetch the same pieces for ever.
func (t *Torrent) retryUnstored() {
	ts := &t.tier
	if len(ts.unstored) == 0 {
		return
	}
	if ts.st.Stats().Degraded { // nothing more will be written: let them go
		for _, i := range ts.unstored {
			ts.unstoredSet.Clear(i)
			t.releaseUnstored(i)
		}
		ts.unstored = nil
		return
	}
	keep := ts.unstored[:0]
	refetch := false
	for _, i := range ts.unstored {
		if ts.st.Has(i) {
			ts.unstoredSet.Clear(i)
			t.releaseUnstored(i)
			continue
		}
		if d, ok := t.unstoredData(i); ok {
			if t.tierPut(i, d) {
				ts.unstoredSet.Clear(i)
				t.releaseUnstored(i)
			} else {
				keep = append(keep, i) // full still, or queued: look again next tick
			}
			continue
		}
		// Marked here, not queued (topUpBackground skips what the cache
		// says it holds, and a piece spilled to ristretto may be missed by
		// Get now and found by Has later, then evicted: lost).
		ts.unstoredSet.Clear(i)
		if t.c.cfg.Fetch == FetchAll && !t.pk.Background(i) {
			t.pk.SetBackground(i, true)
			t.bgMarked += t.info.PieceLen(i)
			refetch = true
		}
	}
	ts.unstored = keep
	if refetch {
		t.log.Debug("fetching again pieces the disk queue could not take before RAM evicted them")
	}
}

// tierBacklog (owner) reports whether the tier's write-behind queue refused
// more pieces than the torrent can hold for it (holdUnstored): pieces that
// only the RAM cache keeps until the queue has room. Meanwhile the peers are
// asked only for what a read waits for now (fillUpTo): readahead would bring
// in pieces faster than the disk takes them and push those out of RAM first
// (BenchmarkDiskTierCopy: a fast read through 8 MiB of RAM lost pieces, and a
// second read with no peer waited for ever for them). A read never waits for
// a disk write: the piece under it is still asked at once. Only a disk far
// behind (the queue and the held bytes full, 32 MiB with the defaults) slows
// the fetch; a burst the held bytes absorb does not.
//
// A keeping tier (a Layout) is not slowed here: its background fetch waits for
// its queue (tierBusy), and what RAM lost is fetched again (retryUnstored).
func (t *Torrent) tierBacklog() bool {
	return len(t.tier.unstored) > len(t.tier.held) && t.tier.st != nil && !t.tier.keep && !t.tier.st.Stats().Degraded
}

// advertiseVerified (owner) tells peers about a piece that just verified: at
// once with RAM only; with a tier, when the tier has stored it (tierEvent).
func (t *Torrent) advertiseVerified(i int) {
	if t.tier.st != nil {
		return
	}
	for _, p := range t.peers {
		if !p.bf.Has(i) {
			p.conn.Send(wire.Message{ID: wire.Have, Index: uint32(i)})
		}
	}
}

// held reports whether piece i is in RAM or in the tier: no need to fetch it.
func (t *Torrent) held(i int) bool {
	return t.c.cache.Has(t.cacheKey(i)) || (t.tier.st != nil && t.tier.st.Has(i))
}

// readPiece returns piece i for a reader: from RAM, else from the tier (read
// and verified here, on the reader's goroutine, and put in RAM). False: fetch
// it from the swarm.
func (t *Torrent) readPiece(i int) ([]byte, bool) {
	if b, ok := t.pieceData(i); ok {
		t.tier.ramHits.Add(1)
		return b, true
	}
	st := t.tier.st
	if st == nil {
		return nil, false
	}
	b, err := st.Get(i) // a piece still in the write-behind queue is served from it
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) && !errors.Is(err, storage.ErrCorrupt) {
			t.tier.diskErrors.Add(1)
			t.log.Warn("disk tier read failed: fetching the piece again", "piece", i, "err", err)
		}
		t.tier.diskMisses.Add(1)
		return nil, false
	}
	t.tier.diskHits.Add(1)
	t.c.cache.Put(t.cacheKey(i), b)
	return b, true
}

// uploadBlock (owner) reads a block of piece i for a peer: from RAM, or from
// a piece loaded for uploads lately. wait: the piece is in the tier and being
// loaded (loadTier); feed the peer again when it comes.
func (t *Torrent) uploadBlock(i, begin, length int) (data []byte, ok, wait bool) {
	if d, ok := t.pieceData(i); ok {
		return d[begin : begin+length], true, false
	}
	if t.tier.st == nil {
		return nil, false, false
	}
	for _, lp := range t.tier.recent {
		if lp.piece == i {
			return lp.data[begin : begin+length], true, false
		}
	}
	if !t.tier.st.Has(i) {
		return nil, false, false
	}
	t.loadTier(i)
	return nil, false, true
}

// loadTier reads piece i from the tier off the owner goroutine, for uploads.
func (t *Torrent) loadTier(i int) {
	if t.tier.loading[i] {
		return
	}
	t.tier.loading[i] = true
	st := t.tier.st
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		b, err := st.Get(i)
		if err != nil {
			b = nil
		}
		t.send(tierLoadedMsg{piece: i, data: b})
	}()
}

// tierLoaded (owner): a piece loaded for uploads is kept in RAM (and among the
// recent loads, if the cache refuses it), and the peers' requests go on.
func (t *Torrent) tierLoaded(m tierLoadedMsg) {
	delete(t.tier.loading, m.piece)
	if m.data != nil {
		t.c.cache.Put(t.cacheKey(m.piece), m.data)
		if len(t.tier.recent) >= recentLoads {
			t.tier.recent = t.tier.recent[1:]
		}
		t.tier.recent = append(t.tier.recent, loadedPiece{m.piece, m.data})
	}
	for _, p := range t.peers {
		t.feedUploads(p)
	}
}

// handleTierMsg handles the owner messages of this file; false: not one of them.
func (t *Torrent) handleTierMsg(m ownerMsg) bool {
	switch m := m.(type) {
	case tierWakeMsg:
		if t.tier.st != nil {
			t.applyTierEvents()
		}
	case tierLoadedMsg:
		t.tierLoaded(m)
	default:
		return false
	}
	return true
}

// tierStats fills TierStats (counters only; Advertised comes from the owner).
func (t *Torrent) tierStats() TierStats {
	s := TierStats{
		RAMHits:          t.tier.ramHits.Load(),
		DiskHits:         t.tier.diskHits.Load(),
		DiskMisses:       t.tier.diskMisses.Load(),
		RejectedRequests: t.tier.rejects.Load(),
		PeersReset:       t.tier.resets.Load(),
		Advertised:       int(t.tier.advCount.Load()),
	}
	if t.tier.st != nil {
		s.HasDisk = true
		s.Disk = t.tier.st.Stats()
	}
	return s
}

// DiskStats returns the shared disk cache's counters over every torrent (and
// the size of its folder); the zero value without one.
func (c *Client) DiskStats() storage.Stats {
	if c.cfg.DiskCache == nil {
		return storage.Stats{}
	}
	return c.cfg.DiskCache.Stats()
}
