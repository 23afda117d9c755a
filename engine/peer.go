package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/peerconn"
	"github.com/hyperblow/hyperblow/engine/picker"
	"github.com/hyperblow/hyperblow/engine/wire"
)

var (
	errBadData        = errors.New("sent data that failed the hash check")
	errDuplicate      = errors.New("duplicate connection to the same peer")
	errSecondBitfield = errors.New("protocol: a second BITFIELD")
	errBadRequest     = errors.New("protocol: REQUEST out of range")
	errBadHave        = errors.New("protocol: HAVE out of range")
	errBadPiece       = errors.New("protocol: PIECE out of range")
)

// peer is the owner's view of one connection.
type peer struct {
	key  picker.PeerKey
	conn *peerconn.Conn
	addr netip.AddrPort
	bf   bt.Bitfield

	gotBitfield    bool // BITFIELD, HAVE_ALL or HAVE_NONE, or any HAVE seen
	peerChoking    bool
	peerInterested bool
	amChoking      bool
	amInterested   bool
	inflight       int
	strikes        int
}

// addrState is what we know of a peer address.
type addrState struct {
	direct    bool // given by the user: retried forever
	self      bool // it was us: never dialled again
	dialing   bool
	connected bool
	failures  int
	nextTry   time.Time
}

func (a *addrState) failed(now time.Time) {
	a.failures++
	backoff := time.Duration(1<<min(a.failures, 7)) * time.Second // 2 s .. ~2 min
	if !a.direct && a.failures > 6 {
		backoff = 30 * time.Minute
	}
	a.nextTry = now.Add(backoff)
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
		t.addrs[a] = &addrState{direct: direct}
	}
}

// connectMore dials known addresses while below the connection cap.
func (t *Torrent) connectMore(now time.Time) {
	for a, st := range t.addrs {
		if len(t.peers)+t.dialing >= t.c.cfg.MaxPeers {
			return
		}
		if st.dialing || st.connected || st.self || now.Before(st.nextTry) {
			continue
		}
		st.dialing = true
		t.dialing++
		t.dial(a)
	}
}

func (t *Torrent) dial(a netip.AddrPort) {
	cfg := t.c.connConfig()
	tc := t.connTorrent()
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
		t.dialing--
	}
	a := m.addr
	if m.incoming {
		a = m.conn.AddrPort()
	}
	for _, p := range t.peers {
		if p.conn.PeerID() == m.conn.PeerID() {
			m.conn.Close(errDuplicate)
			if st := t.addrs[m.addr]; st != nil && !m.incoming {
				st.dialing = false
				st.connected = true // connected already, the other way
			}
			return
		}
	}
	if len(t.peers) >= t.c.cfg.MaxPeers {
		m.conn.Close(fmt.Errorf("connection limit %d reached", t.c.cfg.MaxPeers))
		if st := t.addrs[m.addr]; st != nil && !m.incoming {
			st.dialing = false
			st.failed(now)
		}
		return
	}
	if st := t.addrs[a]; st != nil {
		st.dialing = false
		st.connected = true
		st.failures = 0
	}
	t.nextKey++
	p := &peer{
		key:         t.nextKey,
		conn:        m.conn,
		addr:        a,
		bf:          bt.NewBitfield(t.info.NumPieces),
		peerChoking: true,
		amChoking:   true,
	}
	t.peers[m.conn] = p
	t.byKey[p.key] = p
	t.stats.peers.Store(int64(len(t.peers)))
	t.log.Debug("peer connected", "addr", a, "peer_id", m.conn.PeerID(), "incoming", m.incoming)
	if t.have.Count() > 0 {
		p.conn.Send(wire.Message{ID: wire.Bitfield, Payload: t.have.Bytes()})
	}
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
		t.log.Debug("peer disconnected", "addr", p.addr, "reason", ev.Err)
		t.pk.PeerGone(p.key, p.bf)
		if !p.amChoking {
			t.unchoked--
		}
		if st := t.addrs[p.addr]; st != nil {
			st.connected = false
			st.failed(now)
		}
		t.fillAll(now)
		t.connectMore(now)
	case peerconn.Msg:
		p := t.peers[ev.Conn]
		if p == nil {
			return
		}
		if err := t.handlePeerMsg(p, ev.M, now); err != nil {
			t.log.Info("disconnecting peer", "addr", p.addr, "reason", err)
			p.conn.Close(err)
		}
	}
}

func (t *Torrent) handlePeerMsg(p *peer, m wire.Message, now time.Time) error {
	if m.Keepalive {
		return nil
	}
	switch m.ID {
	case wire.Choke:
		p.peerChoking = true
		t.pk.DropPeerRequests(p.key)
		p.inflight = 0
		t.fillAll(now) // its blocks go to others
	case wire.Unchoke:
		p.peerChoking = false
		t.fill(p, now)
	case wire.Interested:
		p.peerInterested = true
		t.maybeUnchoke(p)
	case wire.NotInterested:
		p.peerInterested = false
		if !p.amChoking {
			p.amChoking = true
			t.unchoked--
			p.conn.Send(wire.Message{ID: wire.Choke})
		}
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
			t.fill(p, now)
		}
	case wire.Bitfield:
		if p.gotBitfield {
			return errSecondBitfield
		}
		bf, err := bt.BitfieldFromBytes(m.Payload, t.info.NumPieces)
		if err != nil {
			return err
		}
		p.gotBitfield = true
		p.bf = bf
		t.pk.PeerHasBitfield(bf)
		t.updateInterest(p)
		t.fill(p, now)
	case wire.Request:
		return t.handleRequest(p, m)
	case wire.Piece:
		return t.handlePiece(p, m, now)
	case wire.Cancel:
		// Nothing queued for long: blocks are sent as requests arrive.
	}
	return nil
}

// updateInterest tells a peer we are interested as soon as it has anything:
// being unchoked ahead of the first read makes that read fast.
func (t *Torrent) updateInterest(p *peer) {
	if p.amInterested || t.storage != nil || p.bf.Count() == 0 {
		return
	}
	p.amInterested = true
	p.conn.Send(wire.Message{ID: wire.Interested})
}

// maybeUnchoke gives an interested peer an upload slot when we have data to give.
func (t *Torrent) maybeUnchoke(p *peer) {
	if !p.amChoking || t.have.Count() == 0 || t.unchoked >= uploadSlots {
		return
	}
	p.amChoking = false
	t.unchoked++
	p.conn.Send(wire.Message{ID: wire.Unchoke})
}

func (t *Torrent) handleRequest(p *peer, m wire.Message) error {
	i, begin, length := int(m.Index), int(m.Begin), int(m.Length)
	if i >= t.info.NumPieces || length == 0 || length > bt.BlockSize ||
		int64(begin)+int64(length) > t.info.PieceLen(i) {
		return errBadRequest
	}
	if p.amChoking || !t.have.Has(i) {
		return nil // BEP 3: requests while choked are dropped
	}
	data, ok := t.readBlock(i, begin, length)
	if !ok {
		return nil
	}
	if p.conn.Send(wire.Message{ID: wire.Piece, Index: m.Index, Begin: m.Begin, Payload: data}) {
		t.stats.uploaded.Add(int64(length))
	}
	return nil
}

func (t *Torrent) handlePiece(p *peer, m wire.Message, now time.Time) error {
	i, begin := int(m.Index), int(m.Begin)
	if i >= t.info.NumPieces || int64(begin)+int64(len(m.Payload)) > t.info.PieceLen(i) {
		return errBadPiece
	}
	t.stats.downloaded.Add(int64(len(m.Payload)))
	r := t.pk.Received(p.key, picker.Block{Piece: i, Begin: begin, Length: len(m.Payload)})
	if !r.Expected {
		t.stats.wasted.Add(int64(len(m.Payload)))
		return nil // cancelled or timed out earlier: late, not hostile
	}
	p.inflight = max(0, p.inflight-1)
	for _, k := range r.CancelAt {
		if q := t.peerByKey(k); q != nil {
			q.inflight = max(0, q.inflight-1)
			q.conn.Send(wire.Message{ID: wire.Cancel, Index: m.Index, Begin: m.Begin, Length: uint32(len(m.Payload))})
		}
	}
	if !r.First {
		t.stats.wasted.Add(int64(len(m.Payload)))
	} else {
		d := t.downloads[i]
		if d == nil {
			d = &download{buf: make([]byte, t.info.PieceLen(i)), senders: make(map[picker.PeerKey]bool)}
			t.downloads[i] = d
		}
		copy(d.buf[begin:], m.Payload)
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
	p.inflight = max(0, p.inflight-1)
	p.conn.Send(wire.Message{ID: wire.Cancel, Index: uint32(o.Block.Piece), Begin: uint32(o.Block.Begin), Length: uint32(o.Block.Length)})
}

// fill tops up a peer's pipeline of requests.
func (t *Torrent) fill(p *peer, now time.Time) {
	if p.peerChoking || !p.amInterested || p.inflight >= maxInflight {
		return
	}
	blocks := t.pk.Pick(p.key, p.bf.Has, maxInflight-p.inflight, now)
	for _, b := range blocks {
		if !p.conn.Send(wire.Message{ID: wire.Request, Index: uint32(b.Piece), Begin: uint32(b.Begin), Length: uint32(b.Length)}) {
			break
		}
		p.inflight++
	}
}

// fillAll tops up every peer, in random order so no peer is always first.
func (t *Torrent) fillAll(now time.Time) {
	if t.pk.NumWanted() == 0 {
		return
	}
	ps := make([]*peer, 0, len(t.peers))
	for _, p := range t.peers {
		ps = append(ps, p)
	}
	rand.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
	for _, p := range ps {
		t.fill(p, now)
	}
}
