package engine

import (
	"errors"
	"net/netip"
	"syscall"
	"time"

	"github.com/hyperblow/hyperblow/engine/peerconn"
)

// Connection management for a big swarm (the owner's side of it):
//   - half-open: at most Config.MaxHalfOpen dials (TCP connect plus handshake)
//     are under way at once across the client's torrents;
//   - per IP: at most Config.MaxPeersPerIP connections (incoming, outgoing and
//     dials under way) per torrent to one IP address, so that one host cannot
//     take every slot;
//   - back-off: an address whose dial fails, or whose connection ends before
//     it was of any use, waits 2 s, 4 s, ... ~2 min before the next dial, then
//     30 min; a connection that exchanged payload or lasted usefulConn forgives
//     it. A complete torrent does not redial a peer that was itself complete
//     (two seeds have nothing to say to each other);
//   - quiet closes: a peer that closes a connection which lasted 30 s
//     and in which nothing was asked either way (libtorrent closes such a
//     connection after about a minute) is redialled after 5 min, 10, 20,
//     30 min, not 2 s: with many torrents that nothing reads, redialling at
//     once was a connection a second of churn, and a burst of redials after
//     a short hold cost as much (a torrent nothing reads needs no
//     connection; --idle puts it to sleep after 5 min by default). Such an
//     address is held, and a read that wants a piece the torrent lacks (or a
//     wake from sleep) dials every held address at once (redialHeld);
//   - replacement: at the connection cap with addresses never tried, the
//     slowest peer (by what it delivered over the last rechoke period) is
//     dropped every replaceEvery for one of them, so the fastest are kept.

const (
	defaultMaxHalfOpen   = 32
	defaultMaxPeersPerIP = 4
	// usefulConn is how long a connection must last to count as a success
	// even when no payload went either way.
	usefulConn = 60 * time.Second
	// replaceEvery is how often the slowest peer may be swapped for an
	// untried address; replaceMinAge protects a new connection while its
	// rate is measured; replacedWait keeps a replaced address from being
	// dialled straight back.
	replaceEvery  = 30 * time.Second
	replaceMinAge = 60 * time.Second
	replacedWait  = 10 * time.Minute
	// quietRedialWait is the wait after a peer's first quiet close, doubled
	// after each following one up to quietRedialMax.
	quietRedialWait = 5 * time.Minute
	quietRedialMax  = 30 * time.Minute
	// quietMinAge is how long a connection must have lasted for its close to
	// count as quiet: libtorrent's close comes 60.0-61.0 s after our start
	// of it (its 1 s tick), too close to usefulConn to test against that; a
	// peer that closes sooner is handled by the failure back-off.
	quietMinAge = 30 * time.Second
)

var (
	errPerIPLimit = errors.New("connection limit for this IP address reached")
	errReplaced   = errors.New("replaced by an untried peer: it delivered the least")
)

// backoff is how long an address waits after its failures-th failure in a row.
func backoff(failures int, direct bool) time.Duration {
	if !direct && failures > 6 {
		return 30 * time.Minute
	}
	return time.Duration(1<<min(failures, 7)) * time.Second // 2 s .. ~2 min
}

// acquireHalfOpen takes a half-open slot, or reports that all are taken.
func (c *Client) acquireHalfOpen() bool {
	for {
		n := c.halfOpen.Load()
		if n >= int32(c.cfg.MaxHalfOpen) {
			return false
		}
		if c.halfOpen.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// releaseHalfOpen gives back n half-open slots.
func (c *Client) releaseHalfOpen(n int) { c.halfOpen.Add(-int32(n)) }

// HalfOpen returns the number of outgoing connections being set up.
func (c *Client) HalfOpen() int { return int(c.halfOpen.Load()) }

// perIPLimit returns the connection limit for ip (0: none). Loopback is not
// limited unless the client says so (tests run whole swarms on 127.0.0.1).
func (c *Client) perIPLimit(ip netip.Addr) int {
	if ip.IsLoopback() && !c.cfg.limitLoopback {
		return 0
	}
	return c.cfg.MaxPeersPerIP
}

// connsByIP counts the torrent's connections and dials under way per IP.
func (t *Torrent) connsByIP() map[netip.Addr]int {
	n := make(map[netip.Addr]int, len(t.peers)+len(t.dialingIP))
	for _, p := range t.peers {
		if !p.closing {
			n[p.addr.Addr()]++
		}
	}
	for ip, k := range t.dialingIP {
		n[ip] += k
	}
	return n
}

// startDial does the bookkeeping of a dial to a (the owner's half of dial).
func (t *Torrent) startDial(a netip.AddrPort, st *addrState) {
	if st.held {
		st.held = false
		t.idle.held--
	}
	st.dialing = true
	st.tried = true
	t.dialing++
	t.dialingIP[a.Addr()]++
	t.stats.dials.Add(1)
	t.dial(a, st.encrypted)
}

// dialDone undoes startDial's bookkeeping once the dial ended either way.
func (t *Torrent) dialDone(a netip.AddrPort) {
	t.dialing--
	t.c.releaseHalfOpen(1)
	if t.dialingIP[a.Addr()]--; t.dialingIP[a.Addr()] <= 0 {
		delete(t.dialingIP, a.Addr())
	}
}

// peerClosed updates an address's back-off when its connection ends (err:
// why): a connection that was of use resets the count, one that was not (the
// peer closed at once, as a finished peer does to a seed) counts as a failure,
// and a quiet close holds the address for a while (see the package comment).
func (t *Torrent) peerClosed(st *addrState, p *peer, err error, now time.Time) {
	st.connected = false
	if p.down+p.up > 0 {
		st.quiet = 0
	}
	if t.quietClose(p, err, now) {
		st.failures = 0
		st.quiet++
		st.nextTry = now.Add(quietWait(st.quiet))
		if !st.held {
			st.held = true
			t.idle.held++
		}
		return
	}
	if p.down+p.up > 0 || now.Sub(p.connectedAt) >= usefulConn {
		st.failures = 0
	}
	if t.complete() && p.bf.Count() == t.info.NumPieces {
		st.seed = true
	}
	if st.replaced {
		st.replaced = false
		st.nextTry = now.Add(replacedWait)
		return
	}
	st.failed(now)
}

// quietClose reports whether the peer closed p's connection after it lasted
// quietMinAge with nothing asked of it: no request from us, no payload either
// way, no read waiting, the info known (a magnet asks for metadata).
func (t *Torrent) quietClose(p *peer, err error, now time.Time) bool {
	if p.closing || !peerHungUp(err) || t.info == nil || len(t.futures) > 0 {
		return false
	}
	return p.down+p.up == 0 && p.nbatch == 0 && now.Sub(p.connectedAt) >= quietMinAge
}

// peerHungUp reports whether a connection's end was the peer's doing.
func peerHungUp(err error) bool {
	return errors.Is(err, peerconn.ErrPeerClosed) || errors.Is(err, syscall.ECONNRESET)
}

// quietWait is the hold after an address's n-th quiet close in a row.
func quietWait(n int) time.Duration {
	return min(quietRedialWait<<min(n-1, 10), quietRedialMax)
}

// releaseHeld makes the addresses that quiet closes hold dialable now (owner).
func (t *Torrent) releaseHeld(now time.Time) {
	if t.idle.held == 0 {
		return
	}
	for _, st := range t.addrs {
		if st.held {
			st.held = false
			st.nextTry = now
		}
	}
	t.idle.held = 0
}

// redialHeld dials at once the addresses that quiet closes hold: a read wants
// a piece the torrent lacks (owner).
func (t *Torrent) redialHeld(now time.Time) {
	if t.idle.held == 0 {
		return
	}
	t.releaseHeld(now)
	t.connectMore(now)
}

// complete reports whether we have every piece (seeding).
func (t *Torrent) complete() bool { return t.info != nil && t.have.Count() == t.info.NumPieces }

// dialable reports whether st may be dialled now.
func (t *Torrent) dialable(st *addrState, now time.Time) bool {
	if st.dialing || st.connected || st.self || st.banned || now.Before(st.nextTry) {
		return false
	}
	return !(st.seed && t.complete())
}

// replaceSlowest drops the peer that delivered least for an untried address,
// when the torrent is at its connection cap. Owner only; O(peers + addrs),
// every replaceEvery at most.
func (t *Torrent) replaceSlowest(now time.Time) {
	if len(t.peers)+t.dialing < t.c.cfg.MaxPeers || now.Sub(t.lastReplace) < replaceEvery {
		return
	}
	t.lastReplace = now
	untried := false
	for _, st := range t.addrs {
		if !st.tried && t.dialable(st, now) {
			untried = true
			break
		}
	}
	if !untried {
		return
	}
	seeding := t.complete()
	cands := make([]peerScore, 0, len(t.peers))
	ps := make([]*peer, 0, len(t.peers))
	for _, p := range t.peers {
		if p.closing || now.Sub(p.connectedAt) < replaceMinAge {
			continue
		}
		st := t.addrs[p.addr]
		if st != nil && st.direct {
			continue // the user asked for it
		}
		rate := p.downRate
		if seeding {
			rate = p.upRate
		}
		cands = append(cands, peerScore{rate: rate, since: p.connectedAt})
		ps = append(ps, p)
	}
	i := slowest(cands)
	if i < 0 {
		return
	}
	p := ps[i]
	if st := t.addrs[p.addr]; st != nil {
		st.replaced = true
	}
	t.stats.replaced.Add(1)
	t.dropPeer(p, errReplaced)
}

// peerScore is what replacement weighs of a peer.
type peerScore struct {
	rate  float64   // bytes per second over the last rechoke period
	since time.Time // connected at
}

// slowest returns the index of the peer to replace: the lowest rate, and of
// equal rates the longest connected (it had the most chances); -1 for none.
func slowest(cs []peerScore) int {
	best := -1
	for i, c := range cs {
		if best < 0 || c.rate < cs[best].rate || (c.rate == cs[best].rate && c.since.Before(cs[best].since)) {
			best = i
		}
	}
	return best
}

// runMsg runs f on the owner goroutine (tests look at owner state with it).
type runMsg struct {
	f    func()
	done chan struct{}
}

func (runMsg) ownerMsg() {}

// onOwner runs f on the owner goroutine and waits for it; false if the
// torrent is closed.
func (t *Torrent) onOwner(f func()) bool {
	m := runMsg{f: f, done: make(chan struct{})}
	if !t.send(m) {
		return false
	}
	select {
	case <-m.done:
		return true
	case <-t.done:
		return false
	}
}
