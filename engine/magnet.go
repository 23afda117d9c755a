package engine

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/metainfo"
	"github.com/hyperblow/hyperblow/engine/tracker"
	"github.com/hyperblow/hyperblow/engine/wire"
)

// A magnet is a Torrent that does not have its info yet. It runs the same
// owner goroutine as any torrent, with the same peers, trackers and DHT
// lookups under the magnet's info-hash, from the first connection. Its peers
// are asked for the info dictionary with BEP 9 ut_metadata, one request
// outstanding per peer at a time (rTorrent stops reading its socket when asked
// two pieces in one packet); a peer that does not answer in
// metadataPieceTimeout is given up for metadata and the piece asked of
// another. When the assembled info verifies against the info-hash (and, for a
// v2-only torrent, its piece layers came: v2layers.go), the piece state is
// built in place (gotMetadata): every connection carries on, and the
// BITFIELD/HAVEs that peers sent before are applied then.
//
// Before the info: Info and Metainfo return nil, Stats has zero piece fields,
// GotInfo is open and State is StateResolving. Readers (NewReader) must be
// made only after GotInfo is closed.

// ErrNoInfo is returned by reads from a Reader made before its torrent had
// its info (a magnet: wait for GotInfo first).
var ErrNoInfo = errors.New("engine: the torrent's info is not known yet (magnet link)")

// metadataPieceTimeout is how long a peer has to answer a ut_metadata request
// before it is given up for metadata (Config.metadataPieceTimeout in tests).
const metadataPieceTimeout = 10 * time.Second

// maxEarlyBitfield bounds a BITFIELD kept before the piece count is known:
// one for the most pieces a torrent may have.
const maxEarlyBitfield = (metainfo.MaxPieces + 7) / 8

// metaFetch is the owner's state of a magnet's metadata fetch.
type metaFetch struct {
	started     time.Time
	asm         *wire.MetadataAssembler
	from        map[int]*peer // who sent each piece
	layers      *layerFetch   // BEP 52: the info is known, piece layers are being fetched (v2layers.go)
	invalid     error         // the info matched the hash but is not usable: the fetch ends
	failed      bool
	outcomes    map[netip.AddrPort]peerOutcome // how far each peer got (resolvewhy.go)
	lastDialErr error
	dhtCancel   context.CancelFunc // the DHT lookups of the magnet (no announce)
}

// peerMeta is what a peer did before the info: our metadata request to it,
// and the pieces it announced, kept raw until the piece count is known.
type peerMeta struct {
	asked   int // the metadata piece outstanding at it, -1: none
	askedAt time.Time
	refused map[int]bool
	givenUp bool // did not answer in time: not asked again unless it answers

	first, last *wire.Message // its first and latest BITFIELD, HAVE_ALL or HAVE_NONE
	haves       []byte        // HAVE indices, a bit array grown as needed (< metainfo.MaxPieces)
}

// AddMagnet starts a torrent known by magnet link m: it fetches its info from
// the swarm, then runs as any torrent (see GotInfo, WaitInfo). With no way to
// find a peer (CanFindPeers) and no listener it fails at once.
func (c *Client) AddMagnet(m *metainfo.Magnet, opts TorrentOptions) (*Torrent, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if _, ok := c.torrents[m.InfoHash]; ok || c.opening[m.InfoHash] {
		return nil, fmt.Errorf("torrent %s: already added", m.InfoHash)
	}
	if err := c.CanFindPeers(m, opts); err != nil && c.ln == nil {
		return nil, err
	}
	name := m.Name
	if name == "" {
		name = m.InfoHash.String()
	}
	c.nextID++
	t := newBareTorrent(c, c.nextID, m.InfoHash, name, opts)
	t.magnet = m
	t.meta = &metaFetch{started: time.Now(), from: map[int]*peer{}}
	t.rstatus = ResolveStatus{State: Resolving, Name: name, InfoHash: m.InfoHash, Started: t.meta.started}
	t.state.Store(int32(StateResolving))
	t.addAddrs(m.Peers, false)
	c.torrents[m.InfoHash] = t
	t.start()
	return t, nil
}

// startMagnet starts a magnet's announcer, DHT lookups and owner.
func (t *Torrent) startMagnet() {
	m := t.magnet
	if !t.opts.NoTrackers && len(m.Trackers) > 0 {
		// The torrent made from the info keeps the magnet's trackers
		// (torrentFromInfo), so this announcer serves it afterwards too.
		t.announcer = tracker.NewAnnouncer(tracker.AnnouncerConfig{
			Client: t.c.trk, Tiers: m.Trackers, InfoHash: t.ih, PeerID: t.c.peerID,
			Port: t.c.ListenAddr().Port(), IPv6: t.c.announceIPv6(),
			Stats: t.trackerStats, OnPeers: t.AddPeers, Logger: t.log,
		})
	}
	t.startSwarm() // idle.go: the announcer, and the DHT once the info is here
	if t.c.dht != nil {
		// Lookups only: whether the torrent is private is not known yet.
		ctx, cancel := context.WithCancel(t.ctx)
		t.meta.dhtCancel = cancel
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			t.c.dhtLoop(ctx, t.ih, t.AddPeers, false, dhtResolveEvery)
		}()
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		t.run()
	}()
}

// GotInfo is closed once the torrent has its info, verified, and its piece
// state is built (at once for a torrent added with its info).
func (t *Torrent) GotInfo() <-chan struct{} { return t.gotInfo }

// WaitInfo waits for the torrent's info and returns the whole torrent; or the
// torrent's failure (its metadata not found in TorrentOptions.MetadataTimeout,
// with what happened to its peers, or the torrent closed first), or ctx's error.
func (t *Torrent) WaitInfo(ctx context.Context) (*metainfo.Torrent, error) {
	select {
	case <-t.gotInfo:
		return t.mt, nil
	case <-t.done:
		select {
		case <-t.gotInfo:
			return t.mt, nil
		default:
		}
		if err := t.Err(); err != nil {
			return nil, err
		}
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Err returns why the torrent failed (StateFailed), or nil.
func (t *Torrent) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// ResolveStatus returns a snapshot of the metadata fetch: Resolving with the
// peers and pieces so far, Resolved (also for a torrent added with its info),
// or ResolveFailed with the reason.
func (t *Torrent) ResolveStatus() ResolveStatus {
	t.mu.Lock()
	st := t.rstatus
	t.mu.Unlock()
	if t.announcer != nil {
		st.Trackers = t.announcer.Trackers()
	}
	return st
}

// fail ends a torrent that cannot go on: the owner stops (and with it every
// connection, the announcer and the DHT lookups); the torrent stays in the
// client, failed, until it is removed.
func (t *Torrent) fail(err error) {
	if mf := t.meta; mf != nil {
		if mf.failed {
			return
		}
		mf.failed = true
	}
	t.mu.Lock()
	t.err = err
	t.rstatus.State, t.rstatus.Err = ResolveFailed, err
	t.mu.Unlock()
	t.state.Store(int32(StateFailed))
	t.log.Info("torrent failed", "err", err)
	t.cancel()
}

// metaTick runs every tick while the info is missing.
func (t *Torrent) metaTick(now time.Time) {
	mf := t.meta
	if mf == nil || mf.failed {
		return
	}
	if d := t.opts.MetadataTimeout; d > 0 && now.Sub(mf.started) >= d {
		t.fail(mf.failure(t, context.DeadlineExceeded))
		return
	}
	t.connectMore(now)
	t.metaRequest(now)
}

// metaCheck runs after every event while the info is missing: it ends a fetch
// that cannot succeed and publishes the status.
func (t *Torrent) metaCheck() {
	mf := t.meta
	if mf.failed {
		return
	}
	switch {
	case mf.invalid != nil:
		t.fail(mf.invalid)
		return
	case t.hopeless():
		t.fail(fmt.Errorf("metadata of %s: no peer can send it: %s", t.ih, mf.why(t, len(t.addrs))))
		return
	}
	st := ResolveStatus{PeersKnown: len(t.addrs), PeersTried: int(t.stats.dials.Load())}
	for _, p := range t.peers {
		if p.closing {
			continue
		}
		st.PeersConnected++
		if p.ext.M[wire.ExtMetadata] != 0 {
			st.PeersOffering++
		}
	}
	if mf.asm != nil {
		st.MetadataSize = mf.asm.Size()
		st.PiecesTotal = mf.asm.NumPieces()
		st.PiecesHave = st.PiecesTotal - len(mf.asm.Missing())
	}
	t.mu.Lock()
	s := &t.rstatus
	s.PeersKnown, s.PeersTried, s.PeersConnected, s.PeersOffering = st.PeersKnown, st.PeersTried, st.PeersConnected, st.PeersOffering
	s.MetadataSize, s.PiecesTotal, s.PiecesHave = st.MetadataSize, st.PiecesTotal, st.PiecesHave
	t.mu.Unlock()
}

// metaConnected notes a new connection of a magnet.
func (t *Torrent) metaConnected(p *peer) {
	p.pm = &peerMeta{asked: -1}
	if !p.conn.Reserved().Extended() {
		t.meta.note(p.addr, outNoExt) // kept: it may have pieces once the info is known
		return
	}
	t.meta.note(p.addr, outConnected)
}

// metaExtHandshake takes a peer's extension handshake while the info is missing.
func (t *Torrent) metaExtHandshake(p *peer, now time.Time) {
	if p.ext.M[wire.ExtMetadata] == 0 {
		t.meta.note(p.addr, outNoMetadata)
		return
	}
	t.meta.note(p.addr, outOffering)
	t.metaRequest(now)
}

// handlePeerMsgNoInfo is handlePeerMsg before the info: the piece count is
// unknown, so what a peer announces is kept raw (applied by gotMetadata), we
// have nothing to upload, and we ask for no block.
func (t *Torrent) handlePeerMsgNoInfo(p *peer, m wire.Message, now time.Time) error {
	pm := p.pm
	switch m.ID {
	case wire.Choke:
		p.peerChoking = true
	case wire.Unchoke:
		p.peerChoking = false
	case wire.Interested:
		p.peerInterested = true // unchoked, if ever, once we have pieces
	case wire.NotInterested:
		p.peerInterested = false
	case wire.Have:
		return pm.have(m.Index)
	case wire.Bitfield, wire.HaveAll, wire.HaveNone:
		if m.ID != wire.Bitfield && !p.fast {
			return errFastWithoutBit
		}
		if len(m.Payload) > maxEarlyBitfield {
			return fmt.Errorf("protocol: BITFIELD of %d bytes, more than the most pieces a torrent may have", len(m.Payload))
		}
		mm := m
		if pm.first == nil {
			pm.first = &mm
		} else {
			pm.last = &mm
		}
	case wire.Request:
		p.ignored++ // we have no piece
		if p.ignored > maxIgnoredRequest {
			return errRequestFlood
		}
		if p.fast {
			p.conn.Send(wire.Message{ID: wire.Reject, Index: m.Index, Begin: m.Begin, Length: m.Length})
		}
	case wire.Piece:
		freeBlock(m.Payload)
		return errUnrequested
	case wire.Reject, wire.Suggest, wire.AllowedFast:
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
	case wire.HashRequest:
		r, err := wire.ParseHashRequest(m.Payload)
		if err != nil {
			return err
		}
		p.conn.Send(r.Message(wire.HashReject))
	case wire.Hashes, wire.HashReject:
		if t.meta.layers != nil {
			mt, err := t.meta.layers.message(t, p, m)
			switch {
			case err != nil:
				t.meta.invalid = err
			case mt != nil:
				t.gotMetadata(mt, now)
			}
		}
	}
	return nil
}

// have keeps a HAVE received before the piece count is known.
func (pm *peerMeta) have(i uint32) error {
	if i >= metainfo.MaxPieces {
		return errBadHave
	}
	if n := int(i/8) + 1; n > len(pm.haves) {
		pm.haves = append(pm.haves, make([]byte, n-len(pm.haves))...)
	}
	pm.haves[i/8] |= 0x80 >> (i % 8)
	return nil
}

// metaMessage takes a ut_metadata message while the info is missing.
func (t *Torrent) metaMessage(p *peer, payload []byte) error {
	mf := t.meta
	mm, err := wire.ParseMetadataMsg(payload)
	if errors.Is(err, wire.ErrUnknownMetadataType) {
		return nil // BEP 9: ignored
	}
	if err != nil {
		t.metaDrop(p, err)
		return nil
	}
	pm := p.pm
	if pm.asked == mm.Piece {
		pm.asked = -1
	}
	now := time.Now()
	switch mm.Type {
	case wire.MetadataRequest:
		// We have nothing to give yet.
		if id := p.ext.M[wire.ExtMetadata]; id != 0 {
			p.conn.Send(wire.Message{ID: wire.Extended, ExtID: id,
				Payload: wire.AppendMetadataMsg(nil, wire.MetadataMsg{Type: wire.MetadataReject, Piece: mm.Piece})})
		}
		return nil
	case wire.MetadataReject:
		if pm.refused == nil {
			pm.refused = map[int]bool{}
		}
		if len(pm.refused) < wire.MetadataPieces(wire.MaxMetadataSize) {
			pm.refused[mm.Piece] = true
		}
		mf.note(p.addr, outRejected)
	case wire.MetadataData:
		if mf.asm == nil || mf.layers != nil {
			return nil // not asked for
		}
		if mm.TotalSize != mf.asm.Size() {
			t.metaDrop(p, fmt.Errorf("metadata size %d, others said %d", mm.TotalSize, mf.asm.Size()))
			return nil
		}
		if err := mf.asm.Add(mm.Piece, mm.Data); err != nil {
			t.metaDrop(p, err)
			return nil
		}
		pm.givenUp = false // it answers after all
		mf.from[mm.Piece] = p
		if mf.asm.Done() {
			t.metaComplete(now)
			return nil
		}
	}
	t.metaRequest(now)
	return nil
}

// metaComplete verifies the assembled metadata; on a mismatch every sender
// is dropped and the pieces are fetched again from the others.
func (t *Torrent) metaComplete(now time.Time) {
	mf := t.meta
	raw, err := mf.asm.Verify()
	if err != nil {
		for _, p := range mf.from {
			t.metaDrop(p, fmt.Errorf("sent metadata that does not match the info-hash: %w", err))
		}
		mf.from = map[int]*peer{}
		mf.asm = nil
		t.metaRequest(now)
		return
	}
	if info, err := metainfo.ParseInfo(raw); err == nil && len(info.MissingLayers()) > 0 {
		mf.layers = newLayerFetch(raw, info) // BEP 52: ask the peers for them
		mf.layers.ask(t)
		return
	}
	mt, err := torrentFromInfo(raw, t.magnet)
	if err != nil {
		// The hash matched, so the info dictionary is the torrent's own: it is
		// not valid for us (too big, bad names...). Nothing else will do better.
		mf.invalid = fmt.Errorf("metadata of %s: %w", t.ih, err)
		return
	}
	t.gotMetadata(mt, now)
}

// metaDrop disconnects a peer that sent bad metadata or broke BEP 9; its
// address is not dialled again.
func (t *Torrent) metaDrop(p *peer, err error) {
	if p.closing {
		return
	}
	t.meta.note(p.addr, outBadMetadata)
	if st := t.addrs[p.addr]; st != nil {
		st.banned = true
	}
	t.dropPeer(p, fmt.Errorf("metadata: %w", err))
}

// metaRequest asks metadata-offering peers for missing pieces: one request
// outstanding per peer; a request unanswered for metadataPieceTimeout gives
// the peer up for metadata and frees the piece for another peer.
func (t *Torrent) metaRequest(now time.Time) {
	mf := t.meta
	if mf == nil || mf.failed {
		return
	}
	if mf.layers != nil {
		mf.layers.ask(t)
		return
	}
	if mf.asm != nil && !t.metaSizeOffered(mf.asm.Size()) && t.metaSizeOffered(0) {
		// Every peer that said this size left or was given up, and others
		// say another: start again with theirs (a lying peer's size must
		// not hold the fetch).
		t.log.Info("no peer left offers metadata of the size being assembled; starting again", "size", mf.asm.Size())
		mf.asm, mf.from = nil, map[int]*peer{}
	}
	if mf.asm == nil {
		for _, p := range t.peers {
			if p.closing || p.pm == nil || p.pm.givenUp || p.ext.M[wire.ExtMetadata] == 0 || p.ext.MetadataSize <= 0 {
				continue
			}
			// The first peer that offers metadata sets its size; after a
			// mismatch (its senders dropped) the next one does.
			asm, err := wire.NewMetadataAssembler(p.ext.MetadataSize, t.ih)
			if err != nil {
				t.metaDrop(p, err)
				continue
			}
			if t.magnet.V2Only() {
				asm.WantV2(t.magnet.InfoHashV2)
			}
			mf.asm = asm
			break
		}
		if mf.asm == nil {
			return
		}
	}
	timeout := t.c.cfg.metadataPieceTimeout
	if timeout == 0 {
		timeout = metadataPieceTimeout
	}
	asked := map[int]bool{}
	for _, p := range t.peers {
		pm := p.pm
		if pm == nil || pm.asked < 0 {
			continue
		}
		if now.Sub(pm.askedAt) > timeout {
			t.log.Info("peer did not answer a metadata request in time; asking others", "addr", p.addr, "piece", pm.asked, "after", timeout)
			pm.asked, pm.givenUp = -1, true
			continue
		}
		asked[pm.asked] = true
	}
	for _, piece := range mf.asm.Missing() {
		if asked[piece] {
			continue
		}
		for _, p := range t.peers {
			pm := p.pm
			id := p.ext.M[wire.ExtMetadata]
			if p.closing || pm == nil || id == 0 || pm.asked >= 0 || pm.givenUp || pm.refused[piece] || p.ext.MetadataSize != mf.asm.Size() {
				continue
			}
			pm.asked, pm.askedAt = piece, now
			p.conn.Send(wire.Message{ID: wire.Extended, ExtID: id,
				Payload: wire.AppendMetadataMsg(nil, wire.MetadataMsg{Type: wire.MetadataRequest, Piece: piece})})
			break
		}
	}
}

// metaSizeOffered reports whether a connected peer, not given up, offers
// metadata of size bytes (0: of another size than the one being assembled).
func (t *Torrent) metaSizeOffered(size int64) bool {
	for _, p := range t.peers {
		if p.closing || p.pm == nil || p.pm.givenUp || p.ext.M[wire.ExtMetadata] == 0 || p.ext.MetadataSize <= 0 {
			continue
		}
		if size != 0 && p.ext.MetadataSize == size || size == 0 && p.ext.MetadataSize != t.meta.asm.Size() {
			return true
		}
	}
	return false
}

// gotMetadata turns the magnet into a torrent with its info, in place: the
// piece state is built, every connection is told the piece count and carries
// on, and what peers announced before is applied (a peer whose BITFIELD has
// the wrong length, or a HAVE out of range, is dropped alone).
func (t *Torrent) gotMetadata(mt *metainfo.Torrent, now time.Time) {
	if err := checkVerifiable(mt); err != nil {
		t.fail(err)
		return
	}
	mf := t.meta
	t.mt, t.info = mt, mt.Info
	t.meta = nil
	if mf.dhtCancel != nil {
		mf.dhtCancel()
	}
	t.buildPieces()
	if err := t.openTier(); err != nil { // tier.go: what the disk holds counts as had
		t.log.Warn("tier unavailable for this upload-only torrent: nothing to serve", "err", err)
	}
	n := t.info.NumPieces
	t.pk.SetMissing(n - t.have.Count())
	for _, p := range t.peers {
		p.conn.SetNumPieces(n)
		p.bf = bt.NewBitfield(n)
	}
	t.mu.Lock()
	s := &t.rstatus
	s.State, s.MetadataSize = Resolved, int64(len(mt.RawInfo))
	s.PiecesTotal = wire.MetadataPieces(s.MetadataSize)
	s.PiecesHave = s.PiecesTotal
	t.mu.Unlock()
	t.state.Store(int32(StateActive))
	t.log.Info("metadata fetched", "name", t.info.Name, "pieces", n, "size", t.info.TotalLength,
		"peers", len(t.peers), "took", now.Sub(mf.started).Round(time.Millisecond))
	close(t.gotInfo)
	for _, p := range t.peers {
		pm := p.pm
		p.pm = nil
		if p.closing {
			continue
		}
		if err := t.applyEarly(p, pm, now); err != nil {
			t.dropPeer(p, err)
			continue
		}
		if p.extSent {
			t.sendExtHandshake(p) // now with metadata_size, and ut_pex unless private
		}
	}
	t.startSwarmDHT()     // idle.go
	t.announceOtherHash() // v2.go: a hybrid's other hash to the trackers too
	t.c.lsdAdded(t)
	if t.c.cfg.Fetch == FetchAll && !t.opts.UploadOnly {
		t.handleMsg(backgroundMsg{0, n})
	}
	t.fillAll(now)
}

// applyEarly applies what p announced before the piece count was known.
func (t *Torrent) applyEarly(p *peer, pm *peerMeta, now time.Time) error {
	if pm == nil {
		return nil
	}
	for _, m := range []*wire.Message{pm.first, pm.last} {
		if m == nil {
			continue
		}
		if err := t.handleBitfield(p, *m, now); err != nil {
			return err
		}
	}
	for k, b := range pm.haves {
		for bit := 0; b != 0 && bit < 8; bit++ {
			if b&(0x80>>bit) == 0 {
				continue
			}
			if err := t.handlePeerMsg(p, wire.Message{ID: wire.Have, Index: uint32(8*k + bit)}, now); err != nil {
				return err
			}
		}
	}
	return nil
}
