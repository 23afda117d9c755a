package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hyperblow/hyperblow/cache"
	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/dht"
	"github.com/hyperblow/hyperblow/engine/metainfo"
	"github.com/hyperblow/hyperblow/engine/peerconn"
	"github.com/hyperblow/hyperblow/engine/storage"
	"github.com/hyperblow/hyperblow/engine/tracker"
	"github.com/hyperblow/hyperblow/engine/wire"
)

// Config configures a Client. The zero value is usable except where noted.
type Config struct {
	// PeerID is ours; the zero value means a fresh bt.NewPeerID().
	PeerID bt.PeerID
	// Listen is the TCP address for incoming peers ("127.0.0.1:6881", ":0");
	// empty means no listener (we only dial out).
	Listen string
	// CacheSize bounds verified piece data held in memory, in bytes (default 512 MiB).
	CacheSize int64
	// Readahead caps a reader's readahead window in bytes (default 64 MiB); it is also
	// capped by the cache's size.
	Readahead int64
	// MaxPeers caps connections per torrent (default 50).
	MaxPeers int
	// MaxHalfOpen caps the outgoing connections being set up at once, across
	// torrents (default 32); MaxPeersPerIP caps a torrent's connections to one
	// IP address, both ways (default 4; loopback is not limited). See connmgr.go.
	MaxHalfOpen   int
	MaxPeersPerIP int
	limitLoopback bool // tests: apply MaxPeersPerIP to loopback too
	// metadataPieceTimeout overrides metadataPieceTimeout (tests; magnet.go).
	metadataPieceTimeout time.Duration
	// UploadSlots is the number of peers we upload to by rate, plus one
	// optimistic unchoke (default 4).
	UploadSlots int
	// MaxUploadRate caps upload in bytes per second across all torrents (0: none).
	MaxUploadRate int64
	// Fetch says what is fetched besides what readers need: FetchLazy (only
	// that, the default), FetchFile (every opened file, whole) or FetchAll (the
	// whole torrent), in the background: rarest first, below readers' deadlines,
	// a bounded part of the cache at a time.
	Fetch Fetch
	// DHT turns on the BEP 5 DHT: peers for torrents and magnets are looked up
	// and our torrents announced. DHTBootstrap lists host:port of nodes to join
	// through (dht.DefaultBootstrap() for the public DHT); DHTStateFile keeps
	// the node table across runs.
	DHT          bool
	DHTBootstrap []string
	DHTStateFile string
	// SnubTimeout drops a peer that delivers no block for this long while our
	// requests are outstanding (default 60 s).
	SnubTimeout time.Duration
	// Tracker configures tracker announces; Tracker.Logger defaults to Logger.
	Tracker tracker.Config
	// Encryption is the policy for Message Stream Encryption toward peers
	// (default EncryptionPreferPlain: dial plain, accept both).
	Encryption Encryption
	// NoUTP turns uTP (BEP 29) off: no uTP listener on the listen port
	// number, and peers are dialled over TCP only.
	NoUTP bool
	// Logger receives the engine's logs; nil discards them.
	Logger *slog.Logger
	// LSD turns on BEP 14 Local Service Discovery on the listen address's
	// interface (localnet.go); LSDGroup overrides the multicast group (tests).
	LSD      bool
	LSDGroup netip.AddrPort
	// PortMap maps the listen port on the gateway by NAT-PMP or UPnP IGD
	// (portmap.go); PortMapGateway and PortMapSSDP override discovery (tests).
	PortMap        bool
	PortMapGateway netip.AddrPort
	PortMapSSDP    netip.AddrPort
	// Idle puts a torrent to sleep once nothing has read from it for this
	// long (0: never): its connections close and its timers stop, and the
	// next read wakes it (state.go). A torrent with TorrentOptions.NoSleep
	// never sleeps.
	Idle time.Duration
	// DiskCache, if set, is the disk tier under the RAM cache for every
	// torrent of the client (tier.go); the caller opens and closes it.
	DiskCache *storage.DiskCache
}

// Fetch is a background download policy.
type Fetch int

// Fetch policies.
const (
	FetchLazy Fetch = iota
	FetchFile
	FetchAll
)

// ParseFetch parses "lazy", "file" or "all".
func ParseFetch(s string) (Fetch, error) {
	switch s {
	case "lazy":
		return FetchLazy, nil
	case "file":
		return FetchFile, nil
	case "all":
		return FetchAll, nil
	}
	return 0, fmt.Errorf("fetch mode %q: want lazy, file or all", s)
}

// Client runs torrents: it owns the listener, the tracker client, the hashing
// workers and the piece cache that all its torrents share.
type Client struct {
	cfg    Config
	log    *slog.Logger
	peerID bt.PeerID
	cache  *cache.Cache
	trk    *tracker.Client
	ln     net.Listener
	hashes chan struct{} // hashing slots: at most GOMAXPROCS pieces hashed at once
	upload *tokenBucket  // nil: no upload limit
	// halfOpen counts outgoing connections being set up (connmgr.go).
	halfOpen atomic.Int32
	dht      *dht.Node  // nil without the DHT
	dht6     *dht.Node  // the IPv6 node when dht is the IPv4 one (BEP 32), or nil
	tr       transports // TCP or uTP per peer
	// dhtReady is closed once the DHT has bootstrapped (or failed to).
	dhtReady chan struct{}
	local    localNet // LSD and port mapping (localnet.go)

	// liveConns counts open peer connections; idleKick wakes idleLoop (idle.go).
	liveConns atomic.Int64
	idleKick  chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex               // guards torrents, opening, nextID, closed
	torrents map[bt.InfoHash]*Torrent // with magnets that have no info yet
	opening  map[bt.InfoHash]bool     // AddTorrent opening their tier (addopen.go)
	nextID   uint32
	closed   bool
}

// NewClient starts a client; Close stops it.
func NewClient(cfg Config) (*Client, error) {
	if cfg.CacheSize == 0 {
		cfg.CacheSize = 512 << 20
	}
	if cfg.Readahead == 0 {
		cfg.Readahead = 64 << 20
	}
	if cfg.MaxPeers == 0 {
		cfg.MaxPeers = 50
	}
	if cfg.MaxHalfOpen == 0 {
		cfg.MaxHalfOpen = defaultMaxHalfOpen
	}
	if cfg.MaxPeersPerIP == 0 {
		cfg.MaxPeersPerIP = defaultMaxPeersPerIP
	}
	if cfg.UploadSlots == 0 {
		cfg.UploadSlots = 4
	}
	if cfg.SnubTimeout == 0 {
		cfg.SnubTimeout = 60 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Tracker.Logger == nil {
		cfg.Tracker.Logger = cfg.Logger
	}
	if cfg.PeerID == (bt.PeerID{}) {
		cfg.PeerID = bt.NewPeerID()
	}
	boundTierQueue(cfg) // tierqueue.go
	ch, err := cache.New(cfg.CacheSize)
	if err != nil {
		return nil, err
	}
	c := &Client{
		cfg:      cfg,
		log:      cfg.Logger,
		peerID:   cfg.PeerID,
		cache:    ch,
		trk:      tracker.NewClient(cfg.Tracker),
		hashes:   make(chan struct{}, runtime.GOMAXPROCS(0)),
		torrents: make(map[bt.InfoHash]*Torrent),
		idleKick: make(chan struct{}, 1),
	}
	if cfg.MaxUploadRate > 0 {
		c.upload = newTokenBucket(cfg.MaxUploadRate)
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	if cfg.Listen != "" {
		// No TCP keep-alive on accepted connections: the wire has its own
		// (peerconn's keepalive messages and read deadlines), and Go's default
		// costs three setsockopt calls per accept. A sleeping torrent's peers
		// redial it about once a minute each (libtorrent's reconnect time), so
		// accepts are most of an idle process's CPU.
		ln, err := (&net.ListenConfig{KeepAlive: -1}).Listen(context.Background(), "tcp", cfg.Listen)
		if err != nil {
			ch.Close()
			c.trk.Close()
			return nil, fmt.Errorf("listen %s: %w", cfg.Listen, err)
		}
		c.ln = ln
	}
	if !cfg.NoUTP {
		// Before the DHT, which then takes another UDP port if it must.
		if err := c.startUTP(); err != nil {
			c.Close()
			return nil, err
		}
	}
	c.dhtReady = make(chan struct{})
	if cfg.DHT {
		if err := c.startDHT(); err != nil {
			c.Close()
			return nil, err
		}
	}
	if c.ln != nil {
		c.wg.Add(1)
		go c.acceptLoop() // after startDHT: connConfig reads c.dht
	}
	if c.tr.utp != nil && c.tr.accept {
		c.wg.Add(1)
		go c.acceptUTP() // likewise
	}
	c.startLocalNet()
	c.startIdle() // idle.go
	return c, nil
}

// PeerID returns our peer id.
func (c *Client) PeerID() bt.PeerID { return c.peerID }

// ListenAddr returns the address peers can connect to, or an invalid AddrPort
// when the client does not listen.
func (c *Client) ListenAddr() netip.AddrPort {
	if c.ln == nil {
		return netip.AddrPort{}
	}
	ap, err := netip.ParseAddrPort(c.ln.Addr().String())
	if err != nil {
		return netip.AddrPort{}
	}
	return ap
}

// CacheStats returns the shared piece cache's counters.
func (c *Client) CacheStats() cache.Stats { return c.cache.Stats() }

// TorrentOptions are per-torrent settings.
type TorrentOptions struct {
	// Peers are dialled directly, in addition to what trackers return.
	Peers []netip.AddrPort
	// NoTrackers skips the torrent's trackers.
	NoTrackers bool
	// UploadOnly makes the torrent upload only: it announces BEP 21
	// upload_only to every peer, is never interested, and fetches nothing in
	// the background (hyperblow seed: it serves what its tier holds, complete
	// or not). With OpenTier, a tier that cannot be opened makes AddTorrent
	// fail: there would be nothing to serve.
	UploadOnly bool
	// WebSeeds are BEP 19 mirrors (http, https) used beside the torrent's own
	// url-list.
	WebSeeds []string
	// NoSleep keeps the torrent awake whatever Config.Idle says: a torrent
	// seeded on purpose (seed, get --seed).
	NoSleep bool
	// MetadataTimeout gives up a magnet's metadata fetch after this long
	// (AddMagnet; 0: no limit): the torrent then fails (Torrent.Err).
	MetadataTimeout time.Duration
	// OpenTier, if set, opens this torrent's store below the RAM cache
	// instead of Config.DiskCache (a storage.Layout for --data), given the
	// torrent and the events the engine listens to (tier.go). It runs once
	// the info is known: in AddTorrent, or for a magnet on the owner
	// goroutine when its metadata verifies (it may hash what is there; a
	// resume record keeps that short). The torrent closes the tier when it
	// stops.
	OpenTier func(mt *metainfo.Torrent, ev storage.Events) (storage.Tier, error)
}

// AddTorrent starts a torrent. Its tier (opts.OpenTier: a seed's data, the
// files of --data) is opened first, without the client's lock (addopen.go):
// other torrents are added and read meanwhile.
func (c *Client) AddTorrent(mt *metainfo.Torrent, opts TorrentOptions) (*Torrent, error) {
	if err := checkVerifiable(mt); err != nil {
		return nil, err
	}
	id, err := c.reserve(mt.InfoHash)
	if err != nil {
		return nil, err
	}
	t, err := newTorrent(c, id, mt, opts) // opens the tier: it may hash for long
	if err := c.finishAdd(mt.InfoHash, t, err); err != nil {
		return nil, err
	}
	return t, nil
}

// RemoveTorrent stops a torrent and forgets it. After Close it does nothing
// (Close stopped it); Close waits for a removal under way before it closes the
// cache.
func (c *Client) RemoveTorrent(t *Torrent) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	delete(c.torrents, t.InfoHash())
	c.wg.Add(1)
	c.mu.Unlock()
	defer c.wg.Done()
	t.close()
	if t.info != nil { // read after the owner stopped
		c.cache.Drop(t.id, t.info.NumPieces)
	}
}

// Close stops every torrent (trackers are told "stopped", bounded in time) and
// the listener. Blocked reads return ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	ts := make([]*Torrent, 0, len(c.torrents))
	for _, t := range c.torrents {
		ts = append(ts, t)
	}
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, t := range ts {
		wg.Add(1)
		go func() { defer wg.Done(); t.close() }()
	}
	wg.Wait()
	c.stopLocalNet()
	c.cancel()
	if c.ln != nil {
		c.ln.Close()
	}
	if c.tr.utp != nil {
		c.tr.utp.Close()
	}
	if c.dht != nil {
		c.dht.Close() // saves the node table
	}
	if c.dht6 != nil {
		c.dht6.Close()
	}
	c.wg.Wait()
	c.trk.Close()
	c.cache.Close()
	return nil
}

func (c *Client) acceptLoop() {
	defer c.wg.Done()
	for {
		nc, err := c.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				c.log.Warn("accept failed", "err", err)
			}
			return
		}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.handleIncoming(nc)
		}()
	}
}

// connConfig is what all our connections share.
func (c *Client) connConfig() peerconn.Config {
	res := wire.Reserved{}.WithFast().WithExtended()
	if c.dht != nil {
		res = res.WithDHT()
	}
	cfg := peerconn.Config{
		// Room for a full reqq of blocks plus our own messages.
		MaxQueueBytes: upQueueBytes + 4<<20,
		PeerID:        c.peerID,
		Reserved:      res,
		BlockAlloc:    allocBlock,
		Encryption:    c.cfg.Encryption,
		InfoHashes:    c.servedInfoHashes,
		Dial:          c.dialCounted, // idle.go: counted in Conns
		Logger:        c.log,
	}
	if c.upload != nil {
		cfg.UploadLimiter = c.upload
	}
	return cfg
}

func (c *Client) handleIncoming(nc net.Conn) {
	nc = c.countConn(nc) // idle.go: counted in Conns
	var t *Torrent
	cfg := c.connConfig()
	cfg.Lookup = func(h bt.InfoHash) (peerconn.Torrent, bool) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if t = c.torrents[h]; t != nil { // a magnet too: its own peers fetch its info
			return t.connTorrent(), true
		}
		if t = c.hybridByV2(h); t != nil { // BEP 52: a v2 peer of a hybrid
			pt := t.connTorrent()
			pt.InfoHash = h
			return pt, true
		}
		return peerconn.Torrent{}, false
	}
	conn, err := peerconn.Accept(c.ctx, nc, cfg)
	if err != nil {
		c.log.Debug("incoming connection refused", "addr", nc.RemoteAddr(), "err", err)
		return
	}
	t.incoming(conn)
}
