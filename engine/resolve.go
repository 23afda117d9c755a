package engine

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/internal/benc"
	"github.com/hyperblow/hyperblow/engine/metainfo"
	"github.com/hyperblow/hyperblow/engine/peerconn"
	"github.com/hyperblow/hyperblow/engine/tracker"
	"github.com/hyperblow/hyperblow/engine/wire"
)

// Resolving a magnet link: peers come from x.pe, the trackers and whatever else
// calls AddPeers (the DHT); each is asked for the info dictionary with BEP 9
// ut_metadata. Pieces are assembled and the whole is checked against the
// info-hash; a peer that sends a wrong or oversized metadata is dropped and the
// others asked.

// ResolveState is where a resolution stands.
type ResolveState int

// The states of a resolution.
const (
	Resolving ResolveState = iota
	Resolved
	ResolveFailed
)

func (s ResolveState) String() string {
	return [...]string{"resolving", "resolved", "failed"}[s]
}

// ResolveStatus is a snapshot of a magnet being resolved, for the status file.
type ResolveStatus struct {
	State          ResolveState
	Name           string // the magnet's dn, or the info-hash
	InfoHash       bt.InfoHash
	Started        time.Time
	PeersKnown     int
	PeersTried     int
	PeersConnected int
	PeersOffering  int   // connected peers that offer ut_metadata
	MetadataSize   int64 // 0 until a peer tells
	PiecesHave     int
	PiecesTotal    int
	Err            error           // why it failed
	Trackers       []TrackerStatus // the magnet's trackers (tr=), as they answer
}

// ResolveOptions tune a resolution.
type ResolveOptions struct {
	Peers      []netip.AddrPort
	NoTrackers bool
	// Timeout gives up after this long (0: until the context ends).
	Timeout time.Duration
}

// Resolver fetches a magnet link's metadata. Start it with Client.Resolve.
type Resolver struct {
	c    *Client
	m    *metainfo.Magnet
	opts ResolveOptions
	done chan struct{}

	newAddrs chan []netip.AddrPort
	incoming chan *peerconn.Conn

	ann atomic.Pointer[tracker.Announcer] // the magnet's trackers, once announcing

	mu     sync.Mutex // guards status, result, err
	status ResolveStatus
	result *metainfo.Torrent
	peers  []netip.AddrPort // every address learnt, handed to the torrent
}

// ErrNoPeerSource: a magnet cannot be resolved because nothing can find a peer
// for it: it names no tracker and no peer, none was given, and the DHT is off.
var ErrNoPeerSource = errors.New("no way to find peers")

// CanFindPeers tells whether a resolution of m with opts has any way to find
// a peer: the magnet's trackers (tr=) or peers (x.pe=), opts.Peers, or the
// DHT. Without one it returns an error wrapping ErrNoPeerSource that says so.
// A peer that connects to us on its own is not counted: without a tracker or
// the DHT, nothing tells peers that we want this torrent.
func (c *Client) CanFindPeers(m *metainfo.Magnet, opts ResolveOptions) error {
	if len(opts.Peers) > 0 || len(m.Peers) > 0 || c.dht != nil || (!opts.NoTrackers && len(m.Trackers) > 0) {
		return nil
	}
	return fmt.Errorf("metadata of %s: %w: the magnet link names no tracker (tr=) and no peer (x.pe=), no peer was given, and the DHT is off",
		m.InfoHash, ErrNoPeerSource)
}

// Resolve starts fetching the metadata of magnet m; ctx ends it early. A
// magnet with no way to find peers (CanFindPeers) fails at once when the
// client does not listen either (no peer can come to us).
func (c *Client) Resolve(ctx context.Context, m *metainfo.Magnet, opts ResolveOptions) *Resolver {
	name := m.Name
	if name == "" {
		name = m.InfoHash.String()
	}
	r := &Resolver{
		c: c, m: m, opts: opts,
		done:     make(chan struct{}),
		newAddrs: make(chan []netip.AddrPort, 16),
		incoming: make(chan *peerconn.Conn),
		status:   ResolveStatus{State: Resolving, Name: name, InfoHash: m.InfoHash, Started: time.Now()},
	}
	c.mu.Lock()
	c.resolvers[m.InfoHash] = r
	c.mu.Unlock()
	// The resolution ends with the client too (Close waits for it).
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(c.ctx, cancel)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer stop()
		defer cancel()
		defer func() {
			c.mu.Lock()
			if c.resolvers[m.InfoHash] == r {
				delete(c.resolvers, m.InfoHash)
			}
			c.mu.Unlock()
		}()
		r.run(ctx)
	}()
	return r
}

// accept hands the resolver a peer that connected to us for its info-hash.
func (r *Resolver) accept(conn *peerconn.Conn) {
	select {
	case r.incoming <- conn:
	case <-r.done:
		conn.Close(ErrClosed)
	}
}

// Status returns a snapshot.
func (r *Resolver) Status() ResolveStatus {
	r.mu.Lock()
	st := r.status
	r.mu.Unlock()
	if a := r.ann.Load(); a != nil {
		st.Trackers = a.Trackers()
	}
	return st
}

// Done is closed when the resolution succeeded or failed.
func (r *Resolver) Done() <-chan struct{} { return r.done }

// Result returns the torrent (with the magnet's trackers) once Done is closed.
func (r *Resolver) Result() (*metainfo.Torrent, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.result, r.status.Err
}

// Peers returns every peer address the resolution learnt.
func (r *Resolver) Peers() []netip.AddrPort {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]netip.AddrPort(nil), r.peers...)
}

// AddPeers gives the resolver more peers (from the DHT, for example).
func (r *Resolver) AddPeers(addrs []netip.AddrPort) {
	select {
	case r.newAddrs <- addrs:
	case <-r.done:
	}
}

// Limits of a resolution.
const (
	resolveMaxConns      = 30
	metadataRequestAfter = 10 * time.Second // re-ask another peer for a piece
)

// metaPeer is a connection used to fetch metadata.
type metaPeer struct {
	conn    *peerconn.Conn
	addr    netip.AddrPort
	utID    uint8 // the peer's id for ut_metadata; 0 = none
	size    int64
	pending map[int]time.Time // pieces asked of it
	refused map[int]bool      // pieces it rejected
	dropped bool
}

type resolveRun struct {
	r       *Resolver
	invalid error       // the info dictionary matched the hash but is not usable: the run ends
	layers  *layerFetch // BEP 52: the metadata is known, piece layers are being fetched (v2layers.go)
	events  chan peerconn.Event
	conns   map[*peerconn.Conn]*metaPeer
	addrs   map[netip.AddrPort]*addrState
	dialing int
	results chan dialResult
	asm     *wire.MetadataAssembler
	from    map[int]*metaPeer // who sent each piece
	wg      sync.WaitGroup

	outcomes    map[netip.AddrPort]peerOutcome // how far each peer got (resolvewhy.go)
	lastDialErr error
}

type dialResult struct {
	addr netip.AddrPort
	conn *peerconn.Conn
	err  error
}

func (r *Resolver) run(ctx context.Context) {
	defer close(r.done)
	if err := r.c.CanFindPeers(r.m, r.opts); err != nil && r.c.ln == nil {
		r.finish(nil, err)
		return
	}
	if r.opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.opts.Timeout)
		defer cancel()
	}
	ctx, cancel := context.WithCancel(ctx)
	rr := &resolveRun{
		r:       r,
		events:  make(chan peerconn.Event, 64),
		conns:   make(map[*peerconn.Conn]*metaPeer),
		addrs:   make(map[netip.AddrPort]*addrState),
		results: make(chan dialResult, resolveMaxConns),
		from:    make(map[int]*metaPeer),
	}
	defer func() {
		cancel() // ends the announcer and the dials before close waits for them
		rr.close()
	}()
	rr.add(append(r.opts.Peers, r.m.Peers...))
	if !r.opts.NoTrackers && len(r.m.Trackers) > 0 {
		a := tracker.NewAnnouncer(tracker.AnnouncerConfig{
			Client: r.c.trk, Tiers: r.m.Trackers, InfoHash: r.m.InfoHash, PeerID: r.c.peerID,
			Port:    r.c.ListenAddr().Port(),
			Stats:   func() tracker.Stats { return tracker.Stats{Left: max(1, r.m.Length)} },
			OnPeers: r.AddPeers, Logger: r.c.log,
		})
		r.ann.Store(a)
		rr.wg.Add(1)
		go func() { defer rr.wg.Done(); a.Run(ctx) }()
	}
	if r.c.dht != nil {
		rr.wg.Add(1)
		go func() { defer rr.wg.Done(); r.c.dhtLoop(ctx, r.m.InfoHash, r.AddPeers, false, dhtResolveEvery) }()
	}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	rr.dialMore(ctx, time.Now())
	for {
		select {
		case <-ctx.Done():
			r.finish(nil, rr.failure(ctx.Err()))
			return
		case addrs := <-r.newAddrs:
			rr.add(addrs)
			rr.dialMore(ctx, time.Now())
		case d := <-rr.results:
			rr.dialed(d)
		case conn := <-r.incoming:
			rr.accepted(conn)
		case ev := <-rr.events:
			if mt := rr.handle(ev); mt != nil {
				rr.publish()
				r.finish(mt, nil)
				return
			}
			if rr.invalid != nil {
				r.finish(nil, rr.invalid)
				return
			}
		case now := <-tick.C:
			rr.dialMore(ctx, now)
			rr.request(now)
		}
		rr.publish()
		if rr.hopeless() {
			r.finish(nil, fmt.Errorf("metadata of %s: no peer can send it: %s", r.m.InfoHash, rr.why(len(rr.addrs))))
			return
		}
	}
}

func (r *Resolver) finish(mt *metainfo.Torrent, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.result = mt
	if err != nil {
		r.status.State, r.status.Err = ResolveFailed, err
	} else {
		r.status.State = Resolved
	}
}

// failure explains a failed resolution to a person.
func (rr *resolveRun) failure(cause error) error {
	why := rr.why(len(rr.addrs))
	if rr.layers != nil {
		why = rr.layers.why() // v2layers.go: the metadata came, the piece layers did not
	}
	if errors.Is(cause, context.DeadlineExceeded) {
		return fmt.Errorf("metadata of %s not found in %v: %s", rr.r.m.InfoHash, rr.r.opts.Timeout, why)
	}
	if errors.Is(cause, context.Canceled) {
		return fmt.Errorf("metadata of %s: interrupted after %v: %s", rr.r.m.InfoHash, time.Since(rr.r.status.Started).Round(time.Second), why)
	}
	return fmt.Errorf("metadata of %s: %w (%s)", rr.r.m.InfoHash, cause, why)
}

func (rr *resolveRun) add(addrs []netip.AddrPort) {
	for _, a := range addrs {
		a = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
		if !a.IsValid() || a.Port() == 0 || len(rr.addrs) >= maxKnownPeers {
			continue
		}
		if _, ok := rr.addrs[a]; !ok {
			rr.addrs[a] = &addrState{}
			rr.r.mu.Lock()
			rr.r.peers = append(rr.r.peers, a)
			rr.r.mu.Unlock()
		}
	}
}

func (rr *resolveRun) dialMore(ctx context.Context, now time.Time) {
	for a, st := range rr.addrs {
		if len(rr.conns)+rr.dialing >= resolveMaxConns {
			return
		}
		if st.dialing || st.connected || st.self || st.banned || now.Before(st.nextTry) {
			continue
		}
		if !rr.r.c.acquireHalfOpen() { // the client's half-open limit (connmgr.go)
			return
		}
		st.dialing = true
		rr.dialing++
		rr.r.mu.Lock()
		rr.r.status.PeersTried++
		rr.r.mu.Unlock()
		rr.wg.Add(1)
		go func() {
			defer rr.wg.Done()
			dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			defer cancel()
			conn, err := peerconn.Dial(dctx, a.String(), peerconn.Torrent{InfoHash: rr.r.m.InfoHash}, rr.r.c.connConfig())
			rr.r.c.releaseHalfOpen(1)
			select {
			case rr.results <- dialResult{a, conn, err}:
			case <-ctx.Done():
				if conn != nil {
					conn.Close(ErrClosed)
				}
			}
		}()
	}
}

func (rr *resolveRun) dialed(d dialResult) {
	rr.dialing--
	st := rr.addrs[d.addr]
	st.dialing = false
	if d.err != nil {
		st.failed(time.Now())
		rr.noteDial(d.addr, d.err)
		if errors.Is(d.err, peerconn.ErrSelf) {
			st.self = true
		}
		return
	}
	if rr.start(d.conn, d.addr) {
		st.connected = true
	} else {
		st.failed(time.Now())
	}
}

// accepted takes a peer that connected to us.
func (rr *resolveRun) accepted(conn *peerconn.Conn) {
	if len(rr.conns) >= resolveMaxConns {
		conn.Close(errConnectionLimit)
		return
	}
	rr.start(conn, conn.AddrPort())
}

// start sends our extension handshake and starts the connection; a peer without
// the extension protocol cannot send metadata.
func (rr *resolveRun) start(conn *peerconn.Conn, addr netip.AddrPort) bool {
	if !conn.Reserved().Extended() {
		rr.note(addr, outNoExt)
		conn.Close(errors.New("no extension protocol: cannot send metadata"))
		return false
	}
	rr.note(addr, outConnected)
	mp := &metaPeer{conn: conn, addr: addr, pending: map[int]time.Time{}, refused: map[int]bool{}}
	rr.conns[conn] = mp
	h := wire.ExtHandshake{M: map[string]uint8{wire.ExtMetadata: ourMetadataID}, V: clientName, Port: rr.r.c.ListenAddr().Port()}
	conn.Send(wire.Message{ID: wire.Extended, ExtID: wire.ExtHandshakeID, Payload: wire.AppendExtHandshake(nil, h)})
	conn.Start(rr.events)
	return true
}

// handle processes a connection event; it returns the torrent when the
// metadata is complete and verified.
func (rr *resolveRun) handle(ev peerconn.Event) *metainfo.Torrent {
	switch ev := ev.(type) {
	case peerconn.Closed:
		if mp := rr.conns[ev.Conn]; mp != nil {
			delete(rr.conns, ev.Conn)
			if st := rr.addrs[mp.addr]; st != nil {
				st.connected = false
				st.failed(time.Now())
			}
		}
	case peerconn.Msg:
		mp := rr.conns[ev.Conn]
		if mp != nil && !mp.dropped && rr.layers != nil && (ev.M.ID == wire.Hashes || ev.M.ID == wire.HashReject) {
			mt, err := rr.layers.message(rr, mp, ev.M)
			if err != nil {
				rr.invalid = err
			}
			return mt
		}
		if mp == nil || mp.dropped || ev.M.ID != wire.Extended {
			return nil
		}
		switch ev.M.ExtID {
		case wire.ExtHandshakeID:
			h, err := wire.ParseExtHandshake(ev.M.Payload)
			if err != nil {
				mp.conn.Close(err)
				return nil
			}
			mp.utID, mp.size = h.M[wire.ExtMetadata], h.MetadataSize
			if mp.utID == 0 {
				rr.note(mp.addr, outNoMetadata)
			} else {
				rr.note(mp.addr, outOffering)
			}
			rr.request(time.Now())
		case ourMetadataID:
			return rr.piece(mp, ev.M.Payload)
		}
	}
	return nil
}

func (rr *resolveRun) piece(mp *metaPeer, payload []byte) *metainfo.Torrent {
	mm, err := wire.ParseMetadataMsg(payload)
	if errors.Is(err, wire.ErrUnknownMetadataType) {
		return nil
	}
	if err != nil {
		rr.drop(mp, err)
		return nil
	}
	delete(mp.pending, mm.Piece)
	switch mm.Type {
	case wire.MetadataReject:
		mp.refused[mm.Piece] = true
		rr.note(mp.addr, outRejected)
	case wire.MetadataData:
		if rr.asm == nil {
			return nil // not asked for
		}
		if mm.TotalSize != rr.asm.Size() {
			rr.drop(mp, fmt.Errorf("metadata size %d, others said %d", mm.TotalSize, rr.asm.Size()))
			return nil
		}
		if err := rr.asm.Add(mm.Piece, mm.Data); err != nil {
			rr.drop(mp, err)
			return nil
		}
		rr.from[mm.Piece] = mp
		if rr.asm.Done() {
			return rr.complete()
		}
	}
	rr.request(time.Now())
	return nil
}

// complete verifies the assembled metadata; on a mismatch every sender is
// dropped and the pieces are fetched again from the others.
func (rr *resolveRun) complete() *metainfo.Torrent {
	raw, err := rr.asm.Verify()
	if err != nil {
		for _, mp := range rr.from {
			rr.drop(mp, fmt.Errorf("sent metadata that does not match the info-hash: %w", err))
		}
		rr.from = make(map[int]*metaPeer)
		rr.asm = nil
		return nil
	}
	if info, err := metainfo.ParseInfo(raw); err == nil && len(info.MissingLayers()) > 0 {
		rr.layers = newLayerFetch(raw, info) // BEP 52: ask the peers for them
		rr.layers.ask(rr)
		return nil
	}
	mt, err := torrentFromInfo(raw, rr.r.m)
	if err != nil {
		// The hash matched, so the info dictionary is the torrent's own: it is
		// not valid for us (too big, bad names...). Nothing else will do better.
		rr.invalid = fmt.Errorf("metadata of %s: %w", rr.r.m.InfoHash, err)
		return nil
	}
	return mt
}

func (rr *resolveRun) drop(mp *metaPeer, err error) {
	rr.r.c.log.Info("dropping peer during metadata fetch", "addr", mp.addr, "reason", err)
	rr.note(mp.addr, outBadMetadata)
	if st := rr.addrs[mp.addr]; st != nil {
		st.banned = true
	}
	mp.dropped = true
	mp.conn.Close(err)
}

// request asks metadata-offering peers for missing pieces, one at a time per
// peer, re-asking elsewhere after metadataRequestAfter.
func (rr *resolveRun) request(now time.Time) {
	if rr.layers != nil {
		rr.layers.ask(rr)
		return
	}
	for _, mp := range rr.conns {
		if rr.asm != nil {
			break
		}
		if !mp.dropped && mp.utID != 0 && mp.size > 0 {
			// The first peer that offers metadata sets its size; after a
			// mismatch (its senders dropped) the next one does.
			asm, err := wire.NewMetadataAssembler(mp.size, rr.r.m.InfoHash)
			if err != nil {
				rr.drop(mp, err)
				continue
			}
			if rr.r.m.V2Only() {
				asm.WantV2(rr.r.m.InfoHashV2)
			}
			rr.asm = asm
		}
	}
	if rr.asm == nil {
		return
	}
	asked := map[int]bool{}
	for _, mp := range rr.conns {
		for p, at := range mp.pending {
			if now.Sub(at) > metadataRequestAfter {
				delete(mp.pending, p)
			} else {
				asked[p] = true
			}
		}
	}
	for _, piece := range rr.asm.Missing() {
		if asked[piece] {
			continue
		}
		for _, mp := range rr.conns {
			if mp.dropped || mp.utID == 0 || mp.size != rr.asm.Size() || len(mp.pending) >= 2 || mp.refused[piece] {
				continue
			}
			mp.pending[piece] = now
			mp.conn.Send(wire.Message{ID: wire.Extended, ExtID: mp.utID,
				Payload: wire.AppendMetadataMsg(nil, wire.MetadataMsg{Type: wire.MetadataRequest, Piece: piece})})
			break
		}
	}
}

func (rr *resolveRun) publish() {
	st := ResolveStatus{}
	st.PeersKnown = len(rr.addrs)
	st.PeersConnected = len(rr.conns)
	for _, mp := range rr.conns {
		if mp.utID != 0 {
			st.PeersOffering++
		}
	}
	if rr.asm != nil {
		st.MetadataSize = rr.asm.Size()
		st.PiecesTotal = rr.asm.NumPieces()
		st.PiecesHave = st.PiecesTotal - len(rr.asm.Missing())
	}
	rr.r.mu.Lock()
	s := &rr.r.status
	s.PeersKnown, s.PeersConnected, s.PeersOffering = st.PeersKnown, st.PeersConnected, st.PeersOffering
	s.MetadataSize, s.PiecesTotal, s.PiecesHave = st.MetadataSize, st.PiecesTotal, st.PiecesHave
	rr.r.mu.Unlock()
}

func (rr *resolveRun) close() {
	for c := range rr.conns {
		c.Close(ErrClosed)
	}
	// Drain until every started connection has said Closed.
	deadline := time.After(5 * time.Second)
	for len(rr.conns) > 0 {
		select {
		case ev := <-rr.events:
			if cl, ok := ev.(peerconn.Closed); ok {
				delete(rr.conns, cl.Conn)
			}
		case d := <-rr.results:
			if d.conn != nil {
				d.conn.Close(ErrClosed)
			}
		case <-deadline:
			return
		}
	}
	go func() { // dials still in flight end with the context
		for d := range rr.results {
			if d.conn != nil {
				d.conn.Close(ErrClosed)
			}
		}
	}()
	rr.wg.Wait()
	close(rr.results)
}

// torrentFromInfo wraps a verified info dictionary into a torrent with the
// magnet's trackers and web seeds.
func torrentFromInfo(raw []byte, m *metainfo.Magnet) (*metainfo.Torrent, error) {
	return torrentFromInfoLayers(raw, m, nil)
}

// torrentFromInfoLayers is torrentFromInfo with BEP 52 piece layers (by pieces root).
func torrentFromInfoLayers(raw []byte, m *metainfo.Magnet, layers map[[32]byte][]byte) (*metainfo.Torrent, error) {
	type torrentFile struct {
		AnnounceList [][]string        `bencode:"announce-list,omitempty"`
		Info         benc.RawMessage   `bencode:"info"`
		PieceLayers  map[string]string `bencode:"piece layers,omitempty"`
		URLList      []string          `bencode:"url-list,omitempty"`
	}
	var pl map[string]string
	if len(layers) > 0 {
		pl = make(map[string]string, len(layers))
		for root, l := range layers {
			pl[string(root[:])] = string(l)
		}
	}
	b, err := benc.Marshal(torrentFile{AnnounceList: m.Trackers, Info: raw, PieceLayers: pl, URLList: m.WebSeeds})
	if err != nil {
		return nil, err
	}
	mt, err := metainfo.Parse(b)
	if err != nil {
		return nil, err
	}
	if mt.InfoHash != m.InfoHash && !(m.V2Only() && mt.InfoHashV2 == m.InfoHashV2) {
		return nil, fmt.Errorf("info-hash %s after re-wrapping, want %s", mt.InfoHash, m.InfoHash)
	}
	return mt, nil
}
