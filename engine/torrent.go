package engine

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hyperblow/hyperblow/cache"
	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/metainfo"
	"github.com/hyperblow/hyperblow/engine/peerconn"
	"github.com/hyperblow/hyperblow/engine/picker"
	"github.com/hyperblow/hyperblow/engine/tracker"
	"github.com/hyperblow/hyperblow/engine/wire"
)

// Timing and sizing of the owner loop.
const (
	tickEvery      = 250 * time.Millisecond
	requestTimeout = 20 * time.Second
	maxKnownPeers  = 3000
)

// Torrent is one torrent in a Client. Its state belongs to one owner goroutine
// (run); everything else talks to it over channels. Public methods are safe for
// concurrent use.
type Torrent struct {
	c  *Client
	id uint32
	ih bt.InfoHash // the key: known from the start, magnet or not
	// mt and info are nil until the torrent has its info (a magnet: see
	// magnet.go). The owner sets them once, before it closes gotInfo; other
	// goroutines read them only after gotInfo is closed (Info, Metainfo).
	mt      *metainfo.Torrent
	info    *metainfo.Info
	gotInfo chan struct{}
	magnet  *metainfo.Magnet // nil for a torrent added with its info
	meta    *metaFetch       // owner-only: the metadata fetch while resolving
	name    string           // for logs and sorting before the info: the magnet's dn or the info-hash
	log     *slog.Logger
	opts    TorrentOptions

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when run returns
	wg     sync.WaitGroup

	msgs   chan ownerMsg       // from readers, dialers, hashers, the announcer
	events chan peerconn.Event // from connections
	// drained receives a connection whose writer wrote a batch (NotifyDrain).
	drained chan *peerconn.Conn

	stats      counters
	state      atomic.Int32 // a TorrentState (state.go)
	mu         sync.Mutex   // guards err and rstatus
	err        error        // why the torrent failed (a magnet's metadata not found)
	rstatus    ResolveStatus
	idle       idleState // sleep and wake (idle.go)
	nextReader atomic.Uint64
	// pipelineBytes is what the unchoking peers' request pipelines hold
	// together (their depths): what the swarm delivers in about a round trip.
	// The owner sets it every tick; readers read it.
	pipelineBytes atomic.Int64
	// readHorizon is how far ahead, in time at a reader's pace, its window
	// reaches (0: readaheadHorizon): longer when the swarm delivers
	// unevenly (jitter.go). The owner sets it every tick; readers read it.
	readHorizon atomic.Int64
	announcer   *tracker.Announcer // nil without trackers; safe for concurrent use

	// Owned by run.
	jitter      deliveryJitter
	pk          *picker.Picker
	have        bt.Bitfield // pieces verified at least once (seed: all)
	peers       map[*peerconn.Conn]*peer
	byKey       map[picker.PeerKey]*peer
	nextKey     picker.PeerKey
	addrs       map[netip.AddrPort]*addrState
	dialing     int
	dialingIP   map[netip.Addr]int // dials under way per IP (connmgr.go)
	lastReplace time.Time
	downloads   map[int]*download
	futures     map[int]*future
	windows     map[uint64]*window
	windowRefs  map[int]int
	unchoked    int
	completed   bool // every piece verified once (a leecher that became complete)
	bannedIDs   map[bt.PeerID]bool
	lastChoke   time.Time
	lastTick    time.Time
	bgQueue     []int // pieces to fetch in the background, in order
	bgMarked    int64 // bytes of background pieces handed to the picker, not yet verified
	lastOptim   time.Time
	mirrors     []*mirror    // web seeds (mirror.go)
	sparesMade  bool         // the mirrors' spare piece buffers were made since the start or the last sleep (mirror.go)
	spareGen    atomic.Int64 // counts dropSpares: a spare made before a sleep is not kept
	spareRounds int          // counts fillSpares rounds (tests)

	tier tierState // the store below the RAM cache (tier.go)
}

type counters struct {
	downloaded, uploaded, served, wasted atomic.Int64
	duplicates                           atomic.Int64 // bytes asked of a second peer (endgame, late blocks)

	verified, hashFails atomic.Int64
	peers               atomic.Int64
	haveBytes           atomic.Int64 // bytes of distinct pieces verified once
	banned              atomic.Int64

	// Connection management (connmgr.go).
	dials, dialFailures, refusedPerIP, replaced atomic.Int64
}

// Stats is a snapshot of a torrent's counters.
type Stats struct {
	Downloaded      int64 // piece payload bytes received
	Uploaded        int64 // piece payload bytes sent
	ServedToReaders int64 // bytes returned by Reader.ReadAt
	Wasted          int64 // duplicate, unrequested, or hash-failed bytes, and parts of pieces given up
	Duplicates      int64 // bytes requested from a second peer (endgame, late blocks of a waited-for piece)
	PiecesVerified  int64 // hash matches (a piece fetched twice counts twice)
	HashFailures    int64
	Peers           int
	PeersBanned     int
	PiecesHave      int // distinct pieces verified at least once
	PiecesWanted    int // pieces readers wait for or read ahead
	Readers         []ReaderStats
	NumPieces       int

	// Connection management: dials started, dials that failed, incoming
	// connections refused by the per-IP limit, peers dropped for an untried
	// address because they delivered least.
	Dials, DialFailures, RefusedPerIP, PeersReplaced int64

	Tier TierStats // RAM and disk tier hits, the disk tier, HAVE honesty (tier.go)
}

func newTorrent(c *Client, id uint32, mt *metainfo.Torrent, opts TorrentOptions) (*Torrent, error) {
	t := newBareTorrent(c, id, mt.InfoHash, mt.Info.Name, opts)
	t.mt, t.info = mt, mt.Info
	close(t.gotInfo)
	t.buildPieces()
	if err := t.openTier(); err != nil { // tier.go
		t.cancel()
		return nil, err
	}
	return t, nil
}

// newBareTorrent makes a torrent known by its info-hash only: what a torrent
// needs before its info (peers, addresses, channels).
func newBareTorrent(c *Client, id uint32, ih bt.InfoHash, name string, opts TorrentOptions) *Torrent {
	t := &Torrent{
		c:          c,
		id:         id,
		ih:         ih,
		name:       name,
		gotInfo:    make(chan struct{}),
		log:        c.log.With("torrent", name),
		opts:       opts,
		done:       make(chan struct{}),
		msgs:       make(chan ownerMsg, 256),
		events:     make(chan peerconn.Event, 256),
		drained:    make(chan *peerconn.Conn, 64),
		peers:      make(map[*peerconn.Conn]*peer),
		byKey:      make(map[picker.PeerKey]*peer),
		addrs:      make(map[netip.AddrPort]*addrState),
		dialingIP:  make(map[netip.Addr]int),
		downloads:  make(map[int]*download),
		futures:    make(map[int]*future),
		windows:    make(map[uint64]*window),
		windowRefs: make(map[int]int),
		bannedIDs:  make(map[bt.PeerID]bool),
		rstatus:    ResolveStatus{State: Resolved, Name: name, InfoHash: ih, Started: time.Now()},
	}
	t.addAddrs(opts.Peers, true)
	t.ctx, t.cancel = context.WithCancel(c.ctx)
	return t
}

// buildPieces makes the piece state once the info is known (t.info set): the
// picker, our have bitfield and the web seeds.
func (t *Torrent) buildPieces() {
	info := t.info
	t.pk = picker.New(info.NumPieces, info.PieceLength, info.TotalLength)
	t.have = bt.NewBitfield(info.NumPieces)
	t.pk.Late = t.lateAt
	t.pk.LateMin = min(lateAfter, slowHolderAfter)
	t.addMirrors()
}

func (t *Torrent) start() {
	if t.magnet != nil {
		t.startMagnet() // magnet.go
		return
	}
	// The announcer exists before the owner runs: the owner reads t.announcer.
	if !t.opts.NoTrackers && len(t.mt.AnnounceList) > 0 {
		t.announcer = tracker.NewAnnouncer(tracker.AnnouncerConfig{
			Client:   t.c.trk,
			Tiers:    t.mt.AnnounceList,
			InfoHash: t.ih,
			PeerID:   t.c.peerID,
			Port:     t.c.ListenAddr().Port(),
			IPv6:     t.c.announceIPv6(),
			Stats:    t.trackerStats,
			OnPeers:  t.AddPeers,
			Logger:   t.log,
		})
	}
	t.startSwarm() // idle.go: the announcer and DHT loops, stopped while asleep
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		t.run()
	}()
	if t.c.cfg.Fetch == FetchAll && !t.opts.UploadOnly {
		t.send(backgroundMsg{0, t.info.NumPieces})
	}
}

// close stops the owner, the announcer (which sends "stopped") and every
// connection, and waits for them.
func (t *Torrent) close() {
	t.cancel()
	t.wakeToClose() // a sleeping torrent's owner shuts down (idle.go)
	t.wg.Wait()
	t.closeTier() // tier.go
}

// Info returns the torrent's validated metadata, or nil while a magnet has no
// info yet (GotInfo is not closed).
func (t *Torrent) Info() *metainfo.Info {
	select {
	case <-t.gotInfo:
		return t.info
	default:
		return nil
	}
}

// Metainfo returns the whole parsed torrent, or nil before the info (see Info).
func (t *Torrent) Metainfo() *metainfo.Torrent {
	select {
	case <-t.gotInfo:
		return t.mt
	default:
		return nil
	}
}

// InfoHash returns the torrent's info-hash (a magnet's from the start).
func (t *Torrent) InfoHash() bt.InfoHash { return t.ih }

// displayName is the torrent's name, or before the info the magnet's dn (or
// its info-hash). Safe from any goroutine.
func (t *Torrent) displayName() string {
	if info := t.Info(); info != nil {
		return info.Name
	}
	return t.name
}

// Stats returns a snapshot of the counters. Before the info (a magnet) the
// piece fields are zero.
func (t *Torrent) Stats() Stats {
	numPieces := 0
	if info := t.Info(); info != nil {
		numPieces = info.NumPieces
	}
	s := Stats{
		Downloaded:      t.stats.downloaded.Load(),
		Uploaded:        t.stats.uploaded.Load(),
		ServedToReaders: t.stats.served.Load(),
		Wasted:          t.stats.wasted.Load(),
		Duplicates:      t.stats.duplicates.Load(),
		PiecesVerified:  t.stats.verified.Load(),
		HashFailures:    t.stats.hashFails.Load(),
		Peers:           int(t.stats.peers.Load()),
		PeersBanned:     int(t.stats.banned.Load()),
		NumPieces:       numPieces,
		Dials:           t.stats.dials.Load(),
		DialFailures:    t.stats.dialFailures.Load(),
		RefusedPerIP:    t.stats.refusedPerIP.Load(),
		PeersReplaced:   t.stats.replaced.Load(),
		Tier:            t.tierStats(),
	}
	r := make(chan ownerStats, 1)
	if t.send(statsMsg{r}) {
		select {
		case os := <-r:
			s.PiecesHave, s.PiecesWanted, s.Readers = os.have, os.wanted, os.readers
		case <-t.done:
		}
	}
	return s
}

func (t *Torrent) trackerStats() tracker.Stats {
	info := t.Info()
	if info == nil { // a magnet: what we lack is unknown, but not nothing
		return tracker.Stats{Uploaded: t.stats.uploaded.Load(), Downloaded: t.stats.downloaded.Load(), Left: max(1, t.magnet.Length)}
	}
	left := info.TotalLength - t.stats.haveBytes.Load()
	return tracker.Stats{
		Uploaded:   t.stats.uploaded.Load(),
		Downloaded: t.stats.downloaded.Load(),
		Left:       left,
	}
}

// AddPeers adds peer addresses to dial (from trackers, the command line, PEX...).
func (t *Torrent) AddPeers(addrs []netip.AddrPort) {
	t.send(peersMsg{addrs: addrs})
}

// send delivers a message to the owner unless the torrent is closed.
func (t *Torrent) send(m ownerMsg) bool {
	if t.post(m) { // idle.go: wakes a sleeping torrent, or answers for it
		return true
	}
	select {
	case t.msgs <- m:
		return true
	case <-t.done:
		return false
	}
}

// connTorrent describes the torrent to a new connection; the piece count is 0
// before the info (gotMetadata then sets it on every connection).
func (t *Torrent) connTorrent() peerconn.Torrent {
	info := t.Info()
	if info == nil {
		return peerconn.Torrent{InfoHash: t.ih}
	}
	return peerconn.Torrent{InfoHash: t.ih, NumPieces: info.NumPieces}
}

func (t *Torrent) incoming(conn *peerconn.Conn) {
	if !t.send(connMsg{conn: conn, incoming: true}) {
		conn.Close(ErrClosed)
	}
}

func (t *Torrent) cacheKey(i int) cache.Key { return cache.Key{Torrent: t.id, Piece: uint32(i)} }

// pieceData returns piece i if it is in the RAM cache. Safe from any goroutine.
func (t *Torrent) pieceData(i int) ([]byte, bool) {
	if b, ok := t.c.cache.Get(t.cacheKey(i)); ok {
		return b, true
	}
	return nil, false
}

var _ = wire.Choke
