package engine

import (
	"cmp"
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hyperblow/hyperblow/engine/peerconn"
	"github.com/hyperblow/hyperblow/engine/wire"
)

// Idle torrents sleep (Config.Idle). A torrent that nothing has read for
// Config.Idle, that is not NoSleep and not resolving, is put to sleep: its
// tracker announcer (which tells the trackers "stopped") and DHT loops end, its
// connections close, and its owner goroutine returns, ticker and all. A
// sleeping torrent has no goroutine, no connection and no timer; what it keeps
// is its owner state: the known peer addresses (with the bytes each delivered,
// so that the best are dialled first on waking), the trackers' peers among
// them, the readers' windows, and the pieces in the RAM cache.
//
// Who decides: one goroutine per client (idleLoop) keeps a timer for the
// awake torrent whose idle time ends first and asks it to sleep (sleepMsg);
// the owner goroutine refuses while it has work (a read waiting, a piece on its
// way or being hashed, a dial under way, a background fetch). So the idle cost
// is O(awake torrents).
//
// Waking: a read (Reader.ReadAt, NewReader) wakes the torrent, starting its
// owner goroutine again, which restarts the swarm and dials the addresses that
// delivered most first. A read of pieces still in the RAM cache returns at
// once, without waiting for any peer.
//
// Incoming connections for a sleeping torrent are refused (closed after the
// handshake), not a reason to wake: a sleeping torrent has told its trackers
// "stopped" and stopped announcing itself in the DHT, so who connects found a
// stale listing, and if any remote could wake a torrent by connecting, anyone
// who knows its info-hash could keep it awake for ever. A torrent seeded on
// purpose is NoSleep.
//
// The sleep lock (idleState.mu) makes going to sleep and waking atomic with
// respect to messages: the owner commits to sleep under it only when its
// message queue is empty, and a message posted to a sleeping torrent under it
// either wakes the torrent or is handled in place (a status query, a closed
// file, peer addresses), since no owner goroutine runs to race with.

// errAsleep closes a sleeping torrent's connections.
var errAsleep = errors.New("torrent asleep: nothing read it for the idle time")

// idleState is a torrent's part of the idle policy.
type idleState struct {
	// mu is the sleep lock: held while the owner commits to sleep, while a
	// sleeping torrent is woken, and while a message to a sleeping torrent is
	// handled in place.
	mu       sync.Mutex
	lastRead atomic.Int64 // unix nanoseconds of the last read (or the start)

	// Owned by the owner goroutine (and by whoever holds mu while it sleeps).
	slept     bool               // run resumes the swarm
	dozing    bool               // going to sleep: no dials
	ctx       context.Context    // the awake swarm's (announcer, DHT loops)
	cancel    context.CancelFunc //
	wg        sync.WaitGroup     // the awake swarm's goroutines
	delivered map[netip.AddrPort]int64
	held      int // addresses held by quiet closes (connmgr.go)

	changedMu sync.Mutex
	changed   chan struct{} // closed at the next state change
}

// sleepMsg asks the owner to go to sleep (from idleLoop).
type sleepMsg struct{}

func (sleepMsg) ownerMsg() {}

// setState sets the torrent's state and tells StateChanged's waiters.
func (t *Torrent) setState(s TorrentState) {
	t.state.Store(int32(s))
	t.idle.changedMu.Lock()
	if t.idle.changed != nil {
		close(t.idle.changed)
		t.idle.changed = nil
	}
	t.idle.changedMu.Unlock()
}

// StateChanged returns a channel closed at the torrent's next change of state
// between active and sleeping (and resolving, failed where those are set with
// setState). Read State after it is closed, and call StateChanged again for the
// next change.
func (t *Torrent) StateChanged() <-chan struct{} {
	t.idle.changedMu.Lock()
	defer t.idle.changedMu.Unlock()
	if t.idle.changed == nil {
		t.idle.changed = make(chan struct{})
	}
	return t.idle.changed
}

// touch records a read and wakes a sleeping torrent.
func (t *Torrent) touch() {
	t.idle.lastRead.Store(time.Now().UnixNano())
	if TorrentState(t.state.Load()) == StateSleeping {
		t.idle.mu.Lock()
		t.wakeLocked()
		t.idle.mu.Unlock()
	}
}

// wakeLocked starts the owner goroutine of a sleeping torrent again (run
// resumes the swarm). idle.mu is held.
func (t *Torrent) wakeLocked() {
	if TorrentState(t.state.Load()) != StateSleeping {
		return
	}
	t.setState(StateActive)
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		t.run()
	}()
	t.c.kickIdle()
}

// wakeToClose starts the owner of a sleeping torrent being closed (its ctx
// is cancelled), so that it shuts down and closes t.done.
func (t *Torrent) wakeToClose() {
	t.idle.mu.Lock()
	t.wakeLocked()
	t.idle.mu.Unlock()
}

// post delivers m to the owner without blocking, minding sleep: a message to
// a sleeping torrent either wakes it or is handled in place. It reports false
// when the queue is full (the caller then waits as it would have).
func (t *Torrent) post(m ownerMsg) bool {
	if t.c.cfg.Idle <= 0 {
		return false
	}
	t.idle.mu.Lock()
	defer t.idle.mu.Unlock()
	if TorrentState(t.state.Load()) == StateSleeping {
		if t.handleAsleep(m) {
			return true
		}
		t.wakeLocked()
	}
	select {
	case t.msgs <- m:
		return true
	default:
		return false
	}
}

// handleAsleep handles in place what a sleeping torrent need not wake for,
// and reports whether it did. idle.mu is held and no owner goroutine runs.
func (t *Torrent) handleAsleep(m ownerMsg) bool {
	switch m := m.(type) {
	case statsMsg, inspectMsg, mirrorStatsMsg, releaseMsg:
		t.handleMsg(m)
	case windowMsg:
		if !m.closed {
			return false // a read: wake
		}
		t.handleMsg(m)
	case peersMsg:
		t.addPeersMsg(m) // dialled when it wakes
	case connMsg:
		if !m.incoming {
			return false // no dial outlives the sleep; wake to count it
		}
		m.conn.Close(errAsleep) // see the package comment above
	case sleepMsg:
	default:
		return false
	}
	return true
}

// canSleep reports whether the owner may go to sleep now.
func (t *Torrent) canSleep(now time.Time) bool {
	idle := t.c.cfg.Idle
	if idle <= 0 || t.opts.NoSleep || t.ctx.Err() != nil || TorrentState(t.state.Load()) != StateActive {
		return false
	}
	if now.Sub(time.Unix(0, t.idle.lastRead.Load())) < idle {
		return false
	}
	if len(t.downloads) > 0 || t.dialing > 0 || len(t.bgQueue) > 0 || t.pk.NumBackground() > 0 {
		return false
	}
	for _, f := range t.futures {
		if f.waiters > 0 {
			return false
		}
	}
	for _, mr := range t.mirrors {
		if len(mr.jobs) > 0 {
			return false
		}
	}
	return true
}

// trySleep puts the torrent to sleep if it may (owner). It reports whether it
// did, and then run returns.
func (t *Torrent) trySleep() bool {
	now := time.Now()
	if !t.canSleep(now) {
		return false
	}
	t.idle.dozing = true
	if t.idle.cancel != nil {
		t.idle.cancel() // the announcer says "stopped"; the DHT loops end
	}
	if t.idle.delivered == nil {
		t.idle.delivered = make(map[netip.AddrPort]int64)
	}
	for c, p := range t.peers {
		if !p.incoming {
			t.idle.delivered[p.addr] += p.down
		}
		p.closing = true
		c.Close(errAsleep)
	}
	swarmDone := make(chan struct{})
	go func() {
		t.idle.wg.Wait()
		close(swarmDone)
	}()
	for len(t.peers) > 0 || t.dialing > 0 || swarmDone != nil {
		select {
		case <-t.ctx.Done():
			t.idle.dozing = false
			return false // run shuts down
		case <-swarmDone:
			swarmDone = nil
		case m := <-t.msgs:
			switch m := m.(type) {
			case connMsg:
				if !m.incoming {
					t.dialDone(m.addr)
					if st := t.addrs[m.addr]; st != nil {
						st.dialing = false
					}
				}
				m.conn.Close(errAsleep)
			case sleepMsg:
			default:
				t.handleMsg(m) // a read comes: served when the sleep is called off
			}
		case ev := <-t.events:
			t.dozeConnEvent(ev)
		case <-t.drained:
		}
	}
	t.pipelineBytes.Store(0)
	t.dropSpares()
	t.idle.mu.Lock()
	if len(t.msgs) > 0 || !t.canSleep(time.Now()) {
		// A read, or anything else, came while the swarm stopped: call it off.
		t.idle.mu.Unlock()
		t.resume(time.Now())
		return false
	}
	t.idle.slept = true
	t.setState(StateSleeping)
	t.idle.mu.Unlock()
	t.log.Debug("asleep", "known_peers", len(t.addrs))
	return true
}

// dozeConnEvent handles a connection event while the torrent goes to sleep:
// the connections it closed report Closed (their address is kept, without the
// failure a useless connection would count); anything else is dropped.
func (t *Torrent) dozeConnEvent(ev peerconn.Event) {
	switch ev := ev.(type) {
	case peerconn.Closed:
		p := t.peers[ev.Conn]
		if p == nil {
			return
		}
		delete(t.peers, ev.Conn)
		delete(t.byKey, p.key)
		t.stats.peers.Store(int64(len(t.peers)))
		t.pk.PeerGone(p.key, p.bf)
		if !p.amChoking {
			t.unchoked--
		}
		if st := t.addrs[p.addr]; st != nil {
			st.connected = false
		}
		t.releaseListenAddr(p) // claim.go: dialled again on waking
	case peerconn.Msg:
		if ev.M.ID == wire.Piece {
			freeBlock(ev.M.Payload)
		}
	}
}

// resume restarts the swarm of a torrent that slept, or whose sleep was
// called off (owner): the announcer and DHT loops, and dials to the known
// addresses, those that delivered most first.
func (t *Torrent) resume(now time.Time) {
	if !t.idle.dozing && !t.idle.slept {
		return
	}
	t.idle.dozing, t.idle.slept = false, false
	if t.ctx.Err() != nil {
		return // woken to close
	}
	t.startSwarm()
	t.releaseHeld(now) // a read woke it: every known peer may be needed
	t.dialBest(now)
	t.log.Debug("awake", "dials", t.dialing)
}

// dialBest dials the dialable addresses in the order of the bytes they
// delivered, best first, while the caps allow (connectMore does the rest).
func (t *Torrent) dialBest(now time.Time) {
	type cand struct {
		a netip.AddrPort
		n int64
	}
	var cs []cand
	for a, n := range t.idle.delivered {
		if st := t.addrs[a]; st != nil && n > 0 && t.dialable(st, now) {
			cs = append(cs, cand{a, n})
		}
	}
	slices.SortFunc(cs, func(x, y cand) int { return cmp.Compare(y.n, x.n) })
	for _, c := range cs {
		if len(t.peers)+t.dialing >= t.c.cfg.MaxPeers || !t.c.acquireHalfOpen() {
			return
		}
		t.startDial(c.a, t.addrs[c.a])
	}
}

// startSwarm starts the torrent's announcer and DHT loops under a context of
// their own, which trySleep cancels.
func (t *Torrent) startSwarm() {
	t.idle.ctx, t.idle.cancel = context.WithCancel(t.ctx)
	ctx := t.idle.ctx
	t.idle.lastRead.CompareAndSwap(0, time.Now().UnixNano())
	if t.announcer != nil {
		t.announceOtherHash() // v2.go: a hybrid's other hash too
		t.goSwarm(func() { t.announcer.Run(ctx) })
	}
	if t.Info() != nil { // a magnet's start when it gets its info (magnet.go)
		t.startSwarmDHT()
	}
	t.c.kickIdle()
}

// startSwarmDHT announces and looks up the torrent in the DHT, unless it is
// private, under its own hash and a hybrid's other one (otherHash: BEP 52,
// its v2 peers are found there, and dialled with that hash: addOtherPeers).
// Trackers are told both too (announceOtherHash). The loops stop while it sleeps (startSwarm).
func (t *Torrent) startSwarmDHT() {
	if t.c.dht == nil || t.info.Private {
		return
	}
	ctx := t.idle.ctx
	t.goSwarm(func() { t.c.dhtLoop(ctx, t.ih, t.AddPeers, true, dhtLookupEvery) })
	if other, ok := t.otherHash(); ok {
		t.goSwarm(func() { t.c.dhtLoop(ctx, other, t.addOtherPeers, true, dhtLookupEvery) })
	}
}

func (t *Torrent) goSwarm(f func()) {
	t.wg.Add(1)
	t.idle.wg.Add(1)
	go func() {
		defer t.wg.Done()
		defer t.idle.wg.Done()
		f()
	}()
}

// quietTickEvery is the owner's tick while it has nothing under way (no piece
// wanted, no request out, no upload queued, no dial): the rechoke, PEX and
// redial checks it runs then can wait a little. Quiet ticks fall on a grid of
// wall-clock multiples of quietTickEvery, shared by every torrent: 200 awake
// torrents that nothing reads wake the process once every quietTickEvery (the
// runtime fires their timers together and runs the owners one after the
// other) instead of 800 times a second at tickEvery, or 100 at random phases.
// Each wake-up of an idle process costs far more (scheduler, epoll, futex)
// than the tick itself.
const quietTickEvery = 5 * time.Second

// retick sets the owner's ticker to tickEvery while the torrent has work and
// to the next quiet grid point while it has none, and returns the period set
// (owner). ticked: called for a tick, which sets the next grid point; between
// ticks a quiet torrent's ticker is left alone.
func (t *Torrent) retick(tick *time.Ticker, cur time.Duration, ticked bool) time.Duration {
	if !t.quiet() {
		if cur != tickEvery {
			tick.Reset(tickEvery)
		}
		return tickEvery
	}
	if cur != quietTickEvery || ticked {
		tick.Reset(untilQuietTick(time.Now()))
	}
	return quietTickEvery
}

// untilQuietTick is the time from now to the next quiet grid point, at least
// a tenth of quietTickEvery (a timer that fired a little early, or a torrent
// that turned quiet just before a grid point, is not ticked twice at once).
func untilQuietTick(now time.Time) time.Duration {
	d := quietTickEvery - time.Duration(now.UnixNano()%int64(quietTickEvery))
	if d < quietTickEvery/10 {
		d += quietTickEvery
	}
	return d
}

// quiet reports whether nothing is under way that the 250 ms tick serves
// (request timeouts, snubs, pipelines, upload queues, dials, rates).
func (t *Torrent) quiet() bool {
	if t.info == nil || t.meta != nil {
		return false // a magnet fetching its metadata
	}
	if t.pk.NumWanted() > 0 || t.pk.NumBackground() > 0 || len(t.bgQueue) > 0 ||
		t.dialing > 0 || len(t.downloads) > 0 || len(t.futures) > 0 {
		return false
	}
	for _, p := range t.peers {
		if p.inflight > 0 || len(p.upPending) > 0 || p.closing {
			return false
		}
	}
	for _, mr := range t.mirrors {
		if len(mr.jobs) > 0 {
			return false
		}
	}
	return true
}
