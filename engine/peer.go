package engine

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/peerconn"
	"github.com/hyperblow/hyperblow/engine/picker"
	"github.com/hyperblow/hyperblow/engine/wire"
)

// Reasons a peer is disconnected, for logs and tests.
var (
	errBanned             = errors.New("banned: sent a piece that failed the hash check, alone")
	errDuplicate          = errors.New("duplicate connection to the same peer")
	errSecondBitfield     = errors.New("protocol: a later BITFIELD (or HAVE_NONE) takes back pieces the peer announced")
	errLateBitfield       = errors.New("protocol: BITFIELD after other messages")
	errBadRequest         = errors.New("protocol: REQUEST out of range")
	errBadHave            = errors.New("protocol: HAVE out of range")
	errBadPiece           = errors.New("protocol: PIECE out of range")
	errUnrequested        = errors.New("protocol: PIECE for a block never requested")
	errFastWithoutBit     = errors.New("protocol: fast-extension message without the fast extension")
	errExtendedWithoutBit = errors.New("protocol: extended message without the extension protocol")
	errRequestFlood       = errors.New("request flood: too many requests while choked or queued")
	errSnubbed            = errors.New("snubbed: no block delivered while requests were outstanding")
	errConnectionLimit    = errors.New("connection limit reached")
)

// Limits on what one peer may make us do (LIMITS.md: incoming requests).
const (
	// upQueueBytes bounds the PIECE bytes in one peer's send queue; the rest of
	// what it asked for waits in peer.upPending as requests (a few bytes each)
	// and is read from the cache as the queue drains.
	upQueueBytes      = 4 << 20
	maxIgnoredRequest = 1000 // requests dropped (choked, flood) before we disconnect
)

// peer is the owner's view of one connection.
type peer struct {
	key  picker.PeerKey
	conn *peerconn.Conn
	addr netip.AddrPort
	bf   bt.Bitfield
	fast bool // both sides support BEP 6

	gotBitfield    bool // BITFIELD, HAVE_ALL or HAVE_NONE, or any HAVE seen
	peerChoking    bool
	peerInterested bool
	amChoking      bool
	amInterested   bool
	optimistic     bool // holds the optimistic unchoke
	closing        bool // we closed it; its Closed event is on the way

	inflight   int       // our requests outstanding at this peer
	progressAt time.Time // last block received, or when requests started after none
	forgiven   int       // blocks we cancelled or gave up on: a late PIECE for them is fine
	// cancelled holds the blocks we sent CANCEL for and that have neither
	// come nor been rejected since (bounded: maxCancelled). A copy of one
	// may still be on its way, sent for the cancelled request: if the block
	// is asked again, its arrival says nothing of the round trip (see
	// answersOld).
	cancelled map[picker.Block]struct{}
	ignored   int  // requests dropped
	strikes   int  // hash failures it took part in
	expired   bool // requests timed out since its last block

	// Rates for the choker: counters at the last rechoke.
	lastDown, lastUp int64
	down, up         int64 // piece payload bytes since connect
	downRate, upRate float64

	// rate is a smoothed download rate (bytes/s), updated every tick, for
	// telling late blocks; peakRate is the best recent rate (it decays slowly),
	// for the pipeline depth: a peer that a slow reader keeps idle can still
	// deliver at its peak when a seek comes.
	rate     float64
	peakRate float64
	tickDown int64
	// recent holds the last rateWindow ticks' bytes and lengths: the peak
	// is taken over them, not over one tick (see updateRates).
	recent  [rateWindow]rateTick
	nrecent int

	firstBlockAt time.Time // when its first requested block came
	// ramp is what slow start (rampBlock) adds to the floor while the
	// peer's rate is still being found: a block for each block that came
	// while the pipeline was full and not queueing at the peer.
	ramp int
	// floorShare is this peer's part of floorSwarm (fillAll sets it from
	// how many peers unchoke us); 0: floorDepth.
	floorShare int
	quiet      bool // it stalled (stalledAt) and has sent no block since

	// rtt is the least request-to-block time seen lately (see sampleRTT), 0
	// until the first block; with peakRate it sizes the pipeline in time.
	rtt             time.Duration
	rttCur, rttPrev time.Duration // least samples of this and the last rttWindow
	rttSince        time.Time
	batches         [8]sendBatch // the last request batches sent, for sampleRTT
	nbatch          int

	pm *peerMeta // before the info (a magnet): metadata requests, early BITFIELD/HAVEs (magnet.go)

	ext  wire.ExtHandshake // the peer's BEP 10 handshake, if any
	reqq int               // requests the peer accepts (its reqq), 0 = unknown

	// upPending holds the peer's requests that are not yet in the send queue,
	// oldest first (at most maxIncomingRequests); see feedUploads.
	upPending []wire.Message

	extSent        bool // we sent it our BEP 10 handshake
	sentUploadOnly bool // ... announcing BEP 21 upload_only

	incoming    bool
	connectedAt time.Time
	pexSent     map[netip.AddrPort]bool // addresses we told it about (BEP 11)
	pexSentAt   time.Time
	pexNothing  uint64 // pexSig when it last had nothing to hear (pex.go)
	pexGotAt    time.Time

	unheld int // requests for pieces we no longer hold (honest.go)
}

// rateTick is one tick's delivery.
type rateTick struct {
	bytes int64
	dt    time.Duration
}

// sendBatch is requests sent at one time, behind ahead others in flight.
type sendBatch struct {
	at    time.Time
	ahead int
}

// addrState is what we know of a peer address.
type addrState struct {
	direct    bool // given by the user: retried forever
	self      bool // it was us: never dialled again
	banned    bool
	dialing   bool
	connected bool
	encrypted bool // our last connection to it went through MSE: dial that way first
	other     bool // named under a hybrid's other hash only: dialled with it (v2.go)
	tried     bool // dialled at least once
	seed      bool // it had every piece when we did too: not redialled while we seed
	replaced  bool // we dropped it for an untried address (replaceSlowest)
	claimed   bool // connected is an incoming connection from it (claim.go)
	failures  int  // failed dials and useless connections in a row (see connmgr.go)
	quiet     int  // quiet closes in a row (connmgr.go)
	held      bool // nextTry was set by a quiet close: a read dials it at once
	nextTry   time.Time
}

func (a *addrState) failed(now time.Time) {
	a.failures++
	a.nextTry = now.Add(backoff(a.failures, a.direct))
}

func (t *Torrent) addAddrs(addrs []netip.AddrPort, direct bool) {
	self := t.c.ListenAddr()
	for _, a := range addrs {
		a = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
		if !a.IsValid() || a.Port() == 0 || a == self {
			continue
		}
		if _, ok := t.addrs[a]; ok {
			continue
		}
		if len(t.addrs) >= maxKnownPeers {
			return
		}
		st := &addrState{direct: direct}
		t.addrs[a] = st
		t.claimNewAddr(st, a)
	}
}

// connectMore dials known addresses while below the connection cap, the
// client's half-open limit and the per-IP limit (connmgr.go).
func (t *Torrent) connectMore(now time.Time) {
	if t.idle.dozing {
		return // going to sleep (idle.go)
	}
	var byIP map[netip.Addr]int
	for a, st := range t.addrs {
		if len(t.peers)+t.dialing >= t.c.cfg.MaxPeers {
			return
		}
		if !t.dialable(st, now) {
			continue
		}
		if lim := t.c.perIPLimit(a.Addr()); lim > 0 {
			if byIP == nil {
				byIP = t.connsByIP()
			}
			if byIP[a.Addr()] >= lim {
				continue
			}
			byIP[a.Addr()]++
		}
		if !t.c.acquireHalfOpen() {
			return
		}
		t.startDial(a, st)
	}
}

func (t *Torrent) dial(a netip.AddrPort, encrypted bool) {
	cfg := t.c.connConfig()
	if encrypted && cfg.Encryption == peerconn.EncryptionPreferPlain {
		// It took MSE last time: do not spend a refused plain attempt again.
		cfg.Encryption = peerconn.EncryptionPrefer
	}
	tc := t.connTorrent()
	t.dialHash(a, &tc) // v2.go: a hybrid's other hash, for a peer found under it
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		ctx, cancel := context.WithTimeout(t.ctx, 15*time.Second)
		defer cancel()
		conn, err := peerconn.Dial(ctx, a.String(), tc, cfg)
		if err != nil {
			t.send(dialFailedMsg{addr: a, err: err})
			return
		}
		if !t.send(connMsg{conn: conn, addr: a}) {
			conn.Close(ErrClosed)
		}
	}()
}

func (t *Torrent) addConn(m connMsg, now time.Time) {
	if !m.incoming {
		t.dialDone(m.addr)
	}
	st := t.addrs[m.addr]
	if m.incoming {
		m.addr = m.conn.AddrPort()
		st = nil // an incoming connection's port is ephemeral
	} else if st != nil {
		st.dialing = false
	}
	reject := func(err error) {
		m.conn.Close(err)
		if st != nil && err != errDuplicate {
			st.failed(now)
		}
	}
	if t.bannedIDs[m.conn.PeerID()] {
		reject(errBanned)
		return
	}
	for _, p := range t.peers {
		if p.conn.PeerID() != m.conn.PeerID() || p.closing {
			continue
		}
		// Both sides dialled each other at once: both keep the connection
		// initiated by the side with the smaller peer id, so exactly one stays.
		if t.keepNew(p.incoming, m.incoming, m.conn.PeerID()) {
			p.closing = true
			p.conn.Close(errDuplicate)
			break
		}
		if st != nil {
			st.connected = true // connected already, the other way
		}
		reject(errDuplicate)
		return
	}
	if len(t.peers) >= t.c.cfg.MaxPeers {
		reject(errConnectionLimit)
		return
	}
	if lim := t.c.perIPLimit(m.addr.Addr()); m.incoming && lim > 0 && t.connsByIP()[m.addr.Addr()] >= lim {
		t.stats.refusedPerIP.Add(1)
		reject(errPerIPLimit)
		return
	}
	if st != nil {
		st.connected = true // failures are forgiven once it proves useful (peerClosed)
		st.encrypted = m.conn.Encryption() != ""
	}
	t.nextKey++
	p := &peer{
		key:         t.nextKey,
		conn:        m.conn,
		addr:        m.addr,
		fast:        m.conn.Reserved().Fast(),
		incoming:    m.incoming,
		connectedAt: now,
		peerChoking: true,
		amChoking:   true,
	}
	t.peers[m.conn] = p
	t.byKey[p.key] = p
	t.stats.peers.Store(int64(len(t.peers)))
	t.log.Debug("peer connected", "addr", m.addr, "peer_id", m.conn.PeerID(), "incoming", m.incoming, "fast", p.fast)
	var adv bt.Bitfield // what we can keep serving (honest.go); nothing before the info
	if t.info != nil {
		p.bf = bt.NewBitfield(t.info.NumPieces)
		m.conn.SetNumPieces(t.info.NumPieces) // it may have been set up before the info came
		adv = t.advertised()
	} else {
		t.metaConnected(p) // magnet.go
	}
	// BEP 3: a BITFIELD, if any, is the first message. Before the info (a
	// magnet) we have nothing: HAVE_NONE with BEP 6, else nothing at all.
	switch n := adv.Count(); {
	case p.fast && t.info != nil && n == t.info.NumPieces:
		p.conn.Send(wire.Message{ID: wire.HaveAll})
	case p.fast && n == 0:
		p.conn.Send(wire.Message{ID: wire.HaveNone})
	case n > 0:
		p.conn.Send(wire.Message{ID: wire.Bitfield, Payload: adv.Bytes()})
	}
	if p.conn.Reserved().Extended() {
		t.sendExtHandshake(p)
	}
	if t.c.dht != nil && p.conn.Reserved().DHT() {
		p.conn.Send(wire.Message{ID: wire.Port, Port: t.c.dht.Addr().Port()}) // BEP 5
	}
	m.conn.NotifyDrain(t.drained)
	m.conn.Start(t.events)
}

func (t *Torrent) peerByKey(k picker.PeerKey) *peer { return t.byKey[k] }

func (t *Torrent) handleConnEvent(ev peerconn.Event) {
	now := time.Now()
	switch ev := ev.(type) {
	case peerconn.Closed:
		p := t.peers[ev.Conn]
		if p == nil {
			return
		}
		delete(t.peers, ev.Conn)
		delete(t.byKey, p.key)
		t.stats.peers.Store(int64(len(t.peers)))
		if p.closing || errors.Is(ev.Err, peerconn.ErrPeerClosed) || errors.Is(ev.Err, ErrClosed) {
			t.log.Debug("peer disconnected", "addr", p.addr, "reason", ev.Err)
		} else {
			// The connection caught it (a bad length, an index out of range,
			// a timeout): as visible as what the owner catches.
			t.log.Info("peer disconnected", "addr", p.addr, "peer_id", p.conn.PeerID(), "reason", ev.Err)
		}
		if t.pk != nil {
			t.pk.PeerGone(p.key, p.bf)
		}
		if !p.amChoking {
			t.unchoked--
		}
		if st := t.addrs[p.addr]; st != nil {
			t.peerClosed(st, p, ev.Err, now)
		}
		t.releaseListenAddr(p)
		t.fillAll(now)
		t.connectMore(now)
		if t.meta != nil {
			t.metaRequest(now) // its metadata piece goes to another peer
		}
	case peerconn.Msg:
		p := t.peers[ev.Conn]
		if p == nil || p.closing {
			return // what a dropped peer sent before it heard: ignored
		}
		if err := t.handlePeerMsg(p, ev.M, now); err != nil {
			t.dropPeer(p, err)
		}
	}
}

// dropPeer disconnects a peer with a logged reason.
func (t *Torrent) dropPeer(p *peer, reason error) {
	t.log.Info("disconnecting peer", "addr", p.addr, "peer_id", p.conn.PeerID(), "reason", reason)
	p.closing = true
	p.conn.Close(reason)
}

// ban disconnects a peer for good: its address and peer id are never accepted again.
func (t *Torrent) ban(p *peer, reason error) {
	if t.bannedIDs[p.conn.PeerID()] {
		return // several of its pieces failed at once
	}
	t.log.Warn("banning peer", "addr", p.addr, "peer_id", p.conn.PeerID(), "reason", reason)
	t.bannedIDs[p.conn.PeerID()] = true
	if st := t.addrs[p.addr]; st != nil {
		st.banned = true
	} else {
		t.addrs[p.addr] = &addrState{banned: true}
	}
	t.stats.banned.Add(1)
	p.closing = true
	p.conn.Close(reason)
}

func (t *Torrent) handlePeerMsg(p *peer, m wire.Message, now time.Time) error {
	if m.Keepalive {
		return nil
	}
	if t.info == nil {
		return t.handlePeerMsgNoInfo(p, m, now) // magnet.go
	}
	switch m.ID {
	case wire.Choke:
		p.peerChoking = true
		if !p.fast {
			// BEP 3: a choke discards our requests; with BEP 6 the peer rejects
			// each one it won't serve.
			t.pk.DropPeerRequests(p.key)
			p.forgiven += p.inflight
			p.inflight = 0
		}
		t.fillAll(now) // its blocks go to others
	case wire.Unchoke:
		p.peerChoking = false
		t.fill(p, now)
	case wire.Interested:
		p.peerInterested = true
		t.maybeUnchoke(p)
	case wire.NotInterested:
		p.peerInterested = false
		t.choke(p)
	case wire.Have:
		i := int(m.Index)
		if i >= t.info.NumPieces {
			return errBadHave
		}
		p.gotBitfield = true
		if !p.bf.Has(i) {
			p.bf.Set(i)
			t.pk.PeerHas(i)
			t.updateInterest(p)
			t.updateUploadOnly(p)
			t.fill(p, now)
		}
	case wire.Bitfield, wire.HaveAll, wire.HaveNone:
		return t.handleBitfield(p, m, now)
	case wire.Request:
		return t.handleRequest(p, m)
	case wire.Piece:
		err := t.handlePiece(p, m, now)
		freeBlock(m.Payload) // copied into the piece buffer, or dropped
		return err
	case wire.Cancel:
		p.upPending = slices.DeleteFunc(p.upPending, func(q wire.Message) bool {
			return q.Index == m.Index && q.Begin == m.Begin && q.Length == m.Length
		})
		p.conn.CancelQueued(func(q wire.Message) bool {
			return q.ID == wire.Piece && q.Index == m.Index && q.Begin == m.Begin
		})
	case wire.Reject:
		if !p.fast {
			return errFastWithoutBit
		}
		blk := picker.Block{Piece: int(m.Index), Begin: int(m.Begin), Length: int(m.Length)}
		delete(p.cancelled, blk) // a CANCEL's answer: nothing more comes for it
		if t.pk.Rejected(p.key, blk) {
			p.inflight = max(0, p.inflight-1)
			t.fillAll(now)
		}
	case wire.Suggest, wire.AllowedFast:
		if !p.fast {
			return errFastWithoutBit
		}
	case wire.Port:
		t.c.addDHTNode(p.addr.Addr(), m.Port)
	case wire.Extended:
		if !p.conn.Reserved().Extended() {
			return errExtendedWithoutBit
		}
		return t.handleExtended(p, m, now)
	case wire.HashRequest: // BEP 52 (v2.go)
		return t.serveHashes(p, m)
	}
	return nil
}

// handleBitfield takes BITFIELD, HAVE_ALL or HAVE_NONE. Real clients send their
// BEP 10 extension handshake before it, so it need not be the very first
// message; and some (aria2) send a whole BITFIELD again, or HAVE_ALL once
// complete, where others would send HAVEs. A later one may only add pieces: one
// that takes back a piece the peer announced is a protocol violation.
func (t *Torrent) handleBitfield(p *peer, m wire.Message, now time.Time) error {
	var bf bt.Bitfield
	switch m.ID {
	case wire.Bitfield:
		var err error
		if bf, err = bt.BitfieldFromBytes(m.Payload, t.info.NumPieces); err != nil {
			return err
		}
	case wire.HaveAll:
		if !p.fast {
			return errFastWithoutBit
		}
		bf = bt.NewBitfield(t.info.NumPieces)
		bf.SetAll()
	case wire.HaveNone:
		if !p.fast {
			return errFastWithoutBit
		}
		bf = bt.NewBitfield(t.info.NumPieces)
	}
	if p.gotBitfield {
		for i := 0; i < t.info.NumPieces; i++ {
			if p.bf.Has(i) && !bf.Has(i) {
				return errSecondBitfield
			}
		}
	}
	p.gotBitfield = true
	for i := 0; i < t.info.NumPieces; i++ {
		if bf.Has(i) && !p.bf.Has(i) {
			p.bf.Set(i)
			t.pk.PeerHas(i)
		}
	}
	t.updateInterest(p)
	t.updateUploadOnly(p)
	t.fill(p, now)
	return nil
}

// updateInterest tells a peer we are interested as soon as it has anything:
// being unchoked ahead of the first read makes that read fast.
func (t *Torrent) updateInterest(p *peer) {
	if p.amInterested || t.opts.UploadOnly || p.bf.Count() == 0 {
		return
	}
	p.amInterested = true
	p.conn.Send(wire.Message{ID: wire.Interested})
}

func (t *Torrent) handleRequest(p *peer, m wire.Message) error {
	i, begin, length := int(m.Index), int(m.Begin), int(m.Length)
	if i >= t.info.NumPieces || length == 0 || length > bt.BlockSize ||
		int64(begin)+int64(length) > t.info.PieceLen(i) {
		return errBadRequest
	}
	refuse := func() error {
		p.ignored++
		if p.ignored > maxIgnoredRequest {
			return errRequestFlood
		}
		if p.fast {
			p.conn.Send(wire.Message{ID: wire.Reject, Index: m.Index, Begin: m.Begin, Length: m.Length})
		}
		return nil // BEP 3: left unanswered
	}
	if p.amChoking || !t.have.Has(i) || len(p.upPending) >= maxIncomingRequests {
		return refuse()
	}
	p.upPending = append(p.upPending, m)
	t.feedUploads(p)
	return nil
}

// feedUploads moves p's pending requests into its send queue, as PIECEs read
// from the cache, while the queue holds less than upQueueBytes. It runs when a
// request comes, when the writer has written a batch (NotifyDrain), and every
// tick. A piece evicted from the cache since it was announced is rejected
// (BEP 6) or left unanswered (BEP 3): never anything but verified bytes.
func (t *Torrent) feedUploads(p *peer) {
	if len(p.upPending) == 0 || p.closing {
		return
	}
	_, queued := p.conn.Queued()
	n := 0
	for n < len(p.upPending) && queued < upQueueBytes {
		m := p.upPending[n]
		n++
		data, ok, wait := t.uploadBlock(int(m.Index), int(m.Begin), int(m.Length)) // tier.go
		if wait {
			n-- // on its way from disk: tierLoaded feeds it
			break
		}
		if !ok {
			if p.fast {
				p.conn.Send(wire.Message{ID: wire.Reject, Index: m.Index, Begin: m.Begin, Length: m.Length})
			}
			if t.refusedUnheld(p) { // honest.go: closed after too many
				return
			}
			continue
		}
		if !p.conn.Send(wire.Message{ID: wire.Piece, Index: m.Index, Begin: m.Begin, Payload: data}) {
			p.upPending = nil // closed; its Closed event is on the way
			return
		}
		queued += len(data) + 13
		t.stats.uploaded.Add(int64(len(data)))
		p.up += int64(len(data))
	}
	clear(p.upPending[:n])
	p.upPending = p.upPending[n:]
	if len(p.upPending) == 0 {
		p.upPending = p.upPending[:0:0]
		return
	}
	p.conn.ArmDrain() // the queue is full: more when the writer has written some
}

func (t *Torrent) handlePiece(p *peer, m wire.Message, now time.Time) error {
	i, begin := int(m.Index), int(m.Begin)
	if i >= t.info.NumPieces || int64(begin)+int64(len(m.Payload)) > t.info.PieceLen(i) {
		return errBadPiece
	}
	t.stats.downloaded.Add(int64(len(m.Payload)))
	p.down += int64(len(m.Payload))
	blk := picker.Block{Piece: i, Begin: begin, Length: len(m.Payload)}
	r := t.pk.Received(p.key, blk)
	if r.Expected {
		p.inflight = max(0, p.inflight-1)
	} else {
		if p.forgiven == 0 {
			t.stats.wasted.Add(int64(len(m.Payload)))
			return errUnrequested
		}
		p.forgiven-- // we cancelled it or gave up waiting: late, not hostile
		// A piece still under way keeps it (a seek cancels the requests of
		// the pieces it left behind, which are still wanted: what the peer
		// had already sent comes anyway).
		if r = t.pk.ReceivedLate(p.key, blk); !r.First {
			t.stats.wasted.Add(int64(len(m.Payload)))
			return nil
		}
	}
	p.progressAt = now
	p.expired = false
	p.quiet = false
	if p.firstBlockAt.IsZero() {
		p.firstBlockAt = now
	}
	if !p.answersOld(blk) {
		p.sampleRTT(r.SentAt, now)
		p.rampBlock(r.SentAt, now)
	}
	for _, k := range r.CancelAt {
		if q := t.peerByKey(k); q != nil {
			q.sendCancel(blk)
		}
	}
	if !r.First {
		t.stats.wasted.Add(int64(len(m.Payload)))
	} else {
		d := t.downloads[i]
		if d == nil {
			d = &download{buf: newPieceBuf(int(t.info.PieceLen(i))), senders: make(map[picker.PeerKey]bool)}
			t.downloads[i] = d
		}
		copy(d.buf[begin:], m.Payload)
		d.recv += int64(len(m.Payload))
		d.senders[p.key] = true
		if r.Complete {
			t.hashPiece(i, d)
		}
	}
	t.fill(p, now)
	return nil
}

// cancelRequest tells a peer we no longer want a block.
func (t *Torrent) cancelRequest(o picker.Outstanding) {
	p := t.peerByKey(o.Peer)
	if p == nil {
		return
	}
	p.noteStall(time.Now())
	p.sendCancel(o.Block)
}

// sendCancel withdraws our request for blk at p: a copy the peer had
// already sent may still come, and is not held against it (forgiven).
func (p *peer) sendCancel(blk picker.Block) {
	p.inflight = max(0, p.inflight-1)
	p.forgiven++
	p.noteCancelled(blk)
	p.conn.Send(wire.Message{ID: wire.Cancel, Index: uint32(blk.Piece), Begin: uint32(blk.Begin), Length: uint32(blk.Length)})
}

// maxCancelled bounds a peer's cancelled set: past it the set starts again
// (a round-trip sample may then be taken from an old copy, once).
const maxCancelled = 2 * maxDepth

// noteCancelled records that we sent CANCEL for blk.
func (p *peer) noteCancelled(blk picker.Block) {
	if p.cancelled == nil || len(p.cancelled) >= maxCancelled {
		p.cancelled = make(map[picker.Block]struct{})
	}
	p.cancelled[blk] = struct{}{}
}

// answersOld reports whether an arriving blk may be the copy sent for a
// request we cancelled (it was cancelled and has not come since), and
// forgets the cancel. Such a block, when we have asked for it again, came
// sooner than any round trip: over the WAN lab's 80 ms link a seek's
// re-requested blocks gave samples of 12 ms, and the peer's pipeline,
// sized from that for the next 10-20 s, held 8 requests instead of 40.
func (p *peer) answersOld(blk picker.Block) bool {
	if _, ok := p.cancelled[blk]; !ok {
		return false
	}
	delete(p.cancelled, blk)
	if len(p.cancelled) == 0 {
		p.cancelled = nil
	}
	return true
}

// fill tops up a peer's pipeline of requests to its depth, and a little beyond
// it (urgentExtra) for urgent blocks (a read waits) when it is full: a peer
// answers in order, so such a block waits behind the pipeline anyway, but it
// is asked now rather than when a slot frees, and a peer that is slow to
// answer (or the only one) still hears of it. Urgent blocks go first to the
// peers whose pipelines drain soonest (fillAll).
func (t *Torrent) fill(p *peer, now time.Time) { t.fillUpTo(p, now, 0) }

// urgentExtra is how far beyond its depth a peer's pipeline may take urgent
// blocks.
func urgentExtra(depth int) int { return depth/4 + 4 }

// fillUpTo is fill asking at most limit blocks (0: no limit but the depth);
// it reports whether any was asked.
func (t *Torrent) fillUpTo(p *peer, now time.Time, limit int) bool {
	if p.peerChoking || !p.amInterested {
		return false
	}
	depth := p.depthAt(now)
	room, urgent := depth-p.inflight, false
	if room <= 0 && !p.stalledAt(now) {
		room, urgent = min(depth+urgentExtra(depth), p.maxDepth())-p.inflight, true
	}
	if room <= 0 {
		return false
	}
	if limit > 0 {
		room = min(room, limit)
	}
	dups := t.pk.Duplicates
	pick := t.pk.Pick
	if urgent || t.tierBacklog() { // the disk catches up first (tier.go)
		pick = t.pk.PickUrgent
	}
	blocks := pick(p.key, p.bf.Has, room, now)
	t.stats.duplicates.Add((t.pk.Duplicates - dups) * bt.BlockSize)
	if len(blocks) == 0 {
		return false
	}
	if p.inflight == 0 && !p.expired {
		p.progressAt = now // the snub clock starts with the first outstanding request
	}
	p.batches[p.nbatch%len(p.batches)] = sendBatch{at: now, ahead: p.inflight}
	p.nbatch++
	for _, b := range blocks {
		if !p.conn.Send(wire.Message{ID: wire.Request, Index: uint32(b.Piece), Begin: uint32(b.Begin), Length: uint32(b.Length)}) {
			break
		}
		p.inflight++
	}
	return true
}

// fillAll tops up every peer, those with the shortest expected delivery time
// (outstanding bytes / measured rate) first, so the most urgent blocks go to
// the peers that will deliver them soonest; ties in random order. It goes
// round the peers a quarter of each one's depth at a time: the most urgent
// piece (after a seek, the one under the read) is spread over them in
// proportion to their rates, and comes in when the slowest share does, not
// whole from the first peer.
func (t *Torrent) fillAll(now time.Time) {
	if t.pk == nil || t.pk.NumWanted() == 0 && t.pk.NumBackground() == 0 {
		return
	}
	defer t.fillMirrors(now) // web seeds (mirror.go) take what the peers leave
	ps := make([]*peer, 0, len(t.peers))
	n := 0
	for _, p := range t.peers {
		ps = append(ps, p)
		if !p.peerChoking && p.amInterested {
			n++
		}
	}
	for _, p := range ps {
		p.floorShare = floorShareOf(n)
	}
	rand.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
	slices.SortStableFunc(ps, func(a, b *peer) int { return cmp.Compare(a.expectedDelivery(), b.expectedDelivery()) })
	if len(ps) > 1 {
		for round := 0; round < 4; round++ {
			asked := false
			for _, p := range ps {
				if t.fillUpTo(p, now, max(1, p.depth()/4)) {
					asked = true
				}
			}
			if !asked {
				return
			}
		}
	}
	for _, p := range ps {
		t.fill(p, now)
	}
}

// checkSnubbed drops peers that delivered nothing for snubTimeout while our
// requests were outstanding: a dead or dripping peer frees its slot, and its
// blocks go to others.
func (t *Torrent) checkSnubbed(now time.Time) {
	for _, p := range t.peers {
		if !p.closing && p.inflight > 0 && !p.progressAt.IsZero() && now.Sub(p.progressAt) > t.c.cfg.SnubTimeout {
			t.dropPeer(p, fmt.Errorf("%w for %v", errSnubbed, t.c.cfg.SnubTimeout))
		}
	}
}

// The pipeline of requests at a peer is sized in time, not in count: about
// the peer's rate times its round trip plus a margin, so that it never idles
// waiting for our next request, yet holds little that a seek would make stale
// (what is queued at a peer cannot all be taken back: what it has already put
// on the wire arrives anyway). The margin lets a peer whose rate is not known
// yet grow by half again per round trip.
const (
	floorDepth = 16 // while the rate or round trip is unknown, and for rampTime: 256 KiB
	// floorSwarm is what the floors of all the peers that unchoke us add up
	// to, down to minFloor each: a torrent's first pieces are spread over
	// peers whose rates nobody knows yet, and a piece comes in when its
	// slowest share does. 16 blocks at a 0.2 MB/s peer hold a player's
	// second piece 1.3 s; 4 blocks, 0.3 s. A lone peer gets all of it (there
	// is no other to ask). Slow start (rampBlock) grows the fast ones from
	// there within a few round trips.
	floorSwarm = 32
	minFloor   = 4
	minDepth   = 4   // even a slow peer has a few requests queued
	maxDepth   = 250 // and a fast one no more than this (nor more than its reqq)

	depthMargin  = 50 * time.Millisecond
	maxQueueTime = time.Second // never much more than a second of the peer's delivery

	rttWindow = 10 * time.Second // sampleRTT keeps the least sample of the last 10-20 s
	rampTime  = 2 * time.Second  // how long the floor holds after a peer's first block
	// stallAfter: a peer asked for blocks that sends none for this long is
	// taken for stalled (a player's buffer is a few seconds).
	stallAfter = 2 * time.Second
)

func (p *peer) depth() int {
	return p.depthAt(time.Now())
}

// depthAt is depth at time now. The floor holds until the peer has delivered
// for rampTime: before that, its rate says more about how few requests it was
// given than about how fast it can go.
func (p *peer) depthAt(now time.Time) int {
	if p.stalledAt(now) {
		return 1 // one request, to tell when it delivers again
	}
	floor := minDepth
	if p.firstBlockAt.IsZero() || now.Sub(p.firstBlockAt) < rampTime {
		floor = floorDepth
		if p.floorShare > 0 {
			floor = p.floorShare
		}
		floor += p.ramp
	}
	if p.rtt == 0 || p.peakRate < 1 {
		return min(p.maxDepth(), floor)
	}
	target := min(p.rtt+p.rtt/2+depthMargin, maxQueueTime)
	n := int(p.peakRate*target.Seconds()/bt.BlockSize) + 1
	return min(p.maxDepth(), max(floor, n))
}

// floorShareOf is each peer's floor when n peers unchoke us.
func floorShareOf(n int) int {
	return max(minFloor, floorSwarm/max(n, 1))
}

// rampBlock is slow start for a peer's pipeline, as TCP's: during its first
// rampTime, each block that comes while the pipeline was full adds a request
// to it, so the pipeline doubles every round trip until it holds what the
// peer can deliver in one. The rate-based depth alone grows by about half
// per tick (it is sized from the rate the smaller pipeline allowed): over a
// 200 ms round trip a 10 MB/s peer took 1.7 s to reach its rate, and a
// player's first frame came from the first piece with the second still
// on its way (mpv paused for the cache right after it). Growth stops once a
// block took much longer than the round trip from its request: requests
// then queue at the peer (its link is full), and more of them would only
// be more to cancel on a seek.
func (p *peer) rampBlock(sentAt, now time.Time) {
	if sentAt.IsZero() || now.Sub(p.firstBlockAt) >= rampTime || p.ramp >= p.maxDepth() {
		return
	}
	if p.inflight+1 < p.depthAt(now) {
		return // the pipeline was not full: what limits is what is wanted
	}
	if p.rtt > 0 && now.Sub(sentAt) > p.rtt+p.rtt/2+rampQueueSlack {
		return
	}
	p.ramp++
}

// rampQueueSlack is the delay beyond one and a half round trips that a block
// may take without slow start taking it for a queue at the peer (jitter).
const rampQueueSlack = 20 * time.Millisecond

// maxDepth is maxDepth, or less if the peer said it accepts fewer (reqq).
func (p *peer) maxDepth() int {
	if p.reqq > 0 {
		return min(maxDepth, p.reqq)
	}
	return maxDepth
}

// stalledAt reports whether the peer has gone quiet: our requests at it timed
// out since its last block, or it has sent nothing for stallAfter while asked.
// A stalled peer keeps one request (its depth is 1, urgent blocks do not go
// beyond it), so a seek's blocks go to the peers that deliver.
func (p *peer) stalledAt(now time.Time) bool {
	return p.expired || p.quiet || (p.inflight > 0 && !p.progressAt.IsZero() && now.Sub(p.progressAt) > stallAfter)
}

// noteStall makes a stall stick until the peer's next block: cancelling the
// requests of a stalled peer (a seek) must not make it look idle and fresh.
func (p *peer) noteStall(now time.Time) {
	if p.stalledAt(now) {
		p.quiet = true
	}
}

// sampleRTT takes the time a block took from its request (sent at sentAt) to
// its arrival, when it was asked into an empty pipeline: that measures the
// round trip plus one block time. A block queued behind others measures its
// wait too, and correcting for it by the peer's rate is unsafe while the rate
// is still ramping up (an over-correction makes the round trip look short and
// the pipeline too shallow to ever show the real rate), so it is not sampled.
// A reader that pauses, a seek, a choke or the first request of a connection
// all start from an empty pipeline. The estimate is the least sample of the
// last one or two rttWindows, so it follows a path that slows.
func (p *peer) sampleRTT(sentAt, now time.Time) {
	if sentAt.IsZero() {
		return
	}
	idle := false
	for _, b := range p.batches {
		if b.at.Equal(sentAt) {
			idle = b.ahead == 0
			break
		}
	}
	if !idle {
		return
	}
	lat := now.Sub(sentAt)
	lat = max(lat, 100*time.Microsecond)
	if now.Sub(p.rttSince) > rttWindow {
		p.rttPrev, p.rttCur, p.rttSince = p.rttCur, 0, now
	}
	if p.rttCur == 0 || lat < p.rttCur {
		p.rttCur = lat
	}
	p.rtt = p.rttCur
	if p.rttPrev > 0 && p.rttPrev < p.rtt {
		p.rtt = p.rttPrev
	}
}

// expectedDelivery is how long the peer should take to deliver what it has been
// asked for, at its measured rate.
func (p *peer) expectedDelivery() time.Duration {
	if p.rate < 1 {
		return time.Hour
	}
	return time.Duration(float64(p.inflight*bt.BlockSize) / p.rate * float64(time.Second))
}

// lateAt reports whether a request outstanding at holder for age is late
// (picker.Late): see isLate.
func (t *Torrent) lateAt(holder, asker picker.PeerKey, age time.Duration, front bool, now time.Time) bool {
	q := t.peerByKey(holder)
	if q == nil {
		return age >= lateAfter && t.mirrorLate(holder) // a web seed, or gone
	}
	a := t.peerByKey(asker)
	if !front {
		a = nil // only the piece a reader needs first goes to a faster peer early
	}
	return isLate(q, a, age, now)
}

// isLate reports whether a request outstanding at peer q for age is late.
// Late by q's own delivery: at least lateAfter old, and either q has
// delivered nothing for that long (frozen: its smoothed rate decays too
// slowly to tell) or the request is past twice q's expected delivery time.
// Or late for the asker a (the peer being filled, nil if none): the request
// is at least slowHolderAfter old, a delivers at least four times q's rate,
// and q's queue holds more than slowHolderAfter of its delivery. In a mixed
// swarm a 0.2 MB/s peer given 16 blocks of a piece a player waits for holds
// them 1.3 s, and by its own measure they are late only after 2.6 s. Only
// the front piece (the earliest deadline) is duplicated this early: what a
// slow peer has already put on the wire arrives anyway, and duplicating every
// urgent piece of a reader that reads far ahead wasted a tenth of the bytes.
func isLate(q, a *peer, age time.Duration, now time.Time) bool {
	if age >= lateAfter && (q.rate < 1 || now.Sub(q.progressAt) >= lateAfter || age > 2*q.expectedDelivery()) {
		return true
	}
	return a != nil && a != q && age >= slowHolderAfter && a.rate >= 1 && a.rate >= 4*max(q.rate, 1) &&
		(q.rate < 1 || q.expectedDelivery() > slowHolderAfter)
}

// slowHolderAfter: an urgent block at a peer four times slower than another
// is duplicated to the faster one once it is this old.
const slowHolderAfter = 300 * time.Millisecond

// lateAfter is the least age of a late request.
const lateAfter = time.Second

// updateRates refreshes the peers' smoothed download rates.
func (t *Torrent) updateRates(dt time.Duration) {
	if dt <= 0 {
		return
	}
	var pipes, delivered int64
	busy := false
	defer func() {
		t.pipelineBytes.Store(pipes)
		t.readHorizon.Store(int64(t.jitter.sample(delivered, dt, busy)))
	}()
	for _, p := range t.peers {
		if !p.peerChoking {
			pipes += int64(p.depth()) * bt.BlockSize
		}
		// The swarm's delivery is sampled while its pipelines are kept full
		// (demand above supply): then what arrives is what it can deliver.
		busy = busy || (!p.peerChoking && p.inflight >= max(1, p.depth()/2))
		delivered += p.down - p.tickDown
		inst := float64(p.down-p.tickDown) / dt.Seconds()
		p.recent[p.nrecent%rateWindow] = rateTick{bytes: p.down - p.tickDown, dt: dt}
		p.nrecent++
		p.tickDown = p.down
		p.rate = 0.7*p.rate + 0.3*inst
		// The peak follows the rate of the last rateWindow ticks at once (the
		// smoothed rate lags by a second or two, and a pipeline sized from it
		// would hold a ramping peer back), and halves in about 8 s.
		p.peakRate = max(p.windowRate(), p.peakRate*math.Pow(0.98, dt.Seconds()/tickEvery.Seconds()))
	}
}

// rateWindow is how many ticks the peak rate is measured over: a second. A
// single 250 ms tick over a real TCP path often held far more than the
// link's rate: after a lost segment the receiving kernel holds back what
// came behind it and hands it over at once when the retransmission
// arrives, up to a round trip of data, and delivery after a lull comes in
// bunches. Over the WAN lab's IP-level link (2 MB/s, 80 ms) peaks of 1.8x
// the link's rate made pipelines of 60-90 requests per peer during a
// stream, and a seek's blocks waited behind them.
const rateWindow = 4

// windowRate is the peer's delivery over its last rateWindow ticks (fewer
// while it has had fewer).
func (p *peer) windowRate() float64 {
	var b int64
	var dt time.Duration
	for i := range min(p.nrecent, rateWindow) {
		b += p.recent[i].bytes
		dt += p.recent[i].dt
	}
	if dt <= 0 {
		return 0
	}
	return float64(b) / dt.Seconds()
}

// keepNew decides between an existing connection and a new one to the same
// peer: the one initiated by the side with the smaller peer id is kept.
func (t *Torrent) keepNew(oldIncoming, newIncoming bool, remote bt.PeerID) bool {
	if oldIncoming == newIncoming {
		return false // same direction twice: keep the first
	}
	weInitiateNew := !newIncoming
	weAreSmaller := bytes.Compare(t.c.peerID[:], remote[:]) < 0
	return weInitiateNew == weAreSmaller
}
