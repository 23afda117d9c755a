package dht

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Node. The zero value is usable: a random id, any free port on
// every IPv4 address, no bootstrap nodes, no state file, and the defaults below.
type Config struct {
	// Addr is the UDP address to listen on. An IPv6 host ("[::]:6881", "[::1]:0")
	// makes an IPv6-only node (BEP 32): its own socket and routing table, its
	// peers and nodes IPv6; Pair joins it to the IPv4 node of the same client.
	// Default "0.0.0.0:0"; tests use "127.0.0.1:0".
	Addr string
	// ID is the node id. Zero means the id saved in StateFile, or else a random one.
	ID ID
	// Bootstrap lists host:port of nodes to join the DHT through. Nil means none:
	// callers that want the public DHT pass DefaultBootstrap() explicitly, so that a
	// test can never reach the Internet by forgetting a field.
	Bootstrap []string
	// StateFile, if set, is where Save (and Close) keeps the node id and the routing
	// table, and where New loads them from.
	StateFile string
	// QueryTimeout bounds the wait for one reply. Default 2 s.
	QueryTimeout time.Duration
	// MaxInFlight bounds this node's outstanding queries. Default 64.
	MaxInFlight int
	// RateLimitPerIP is how many queries a second one source IP gets answered (burst:
	// one second's worth). Default 5; negative means unlimited.
	RateLimitPerIP float64
	// UploadRate is the byte budget a second for all replies to other nodes' queries
	// (burst: one second's worth, at least two full packets). Default 8192; negative
	// means unlimited.
	UploadRate int
	// RefreshInterval is how long a bucket may go unchanged before it is refreshed by
	// a lookup of a random id in its range (BEP 5: 15 minutes, the default).
	RefreshInterval time.Duration
	// MaxPeersPerInfoHash and MaxInfoHashes bound the store of announced peers.
	// Defaults 100 and 10,000.
	MaxPeersPerInfoHash int
	MaxInfoHashes       int
	// Logger receives debug and warning logs; nil discards them.
	Logger *slog.Logger
}

// DefaultBootstrap returns the well-known public DHT routers.
func DefaultBootstrap() []string {
	return []string{"router.bittorrent.com:6881", "dht.transmissionbt.com:6881", "router.utorrent.com:6881"}
}

// Defaults for Config fields left zero.
const (
	defaultQueryTimeout    = 2 * time.Second
	defaultMaxInFlight     = 64
	defaultRefreshInterval = 15 * time.Minute
)

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = "0.0.0.0:0"
	}
	if c.QueryTimeout <= 0 {
		c.QueryTimeout = defaultQueryTimeout
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = defaultMaxInFlight
	}
	if c.RateLimitPerIP == 0 {
		c.RateLimitPerIP = defaultRatePerIP
	}
	if c.UploadRate == 0 {
		c.UploadRate = defaultUploadRate
	}
	if c.RefreshInterval <= 0 {
		c.RefreshInterval = defaultRefreshInterval
	}
	if c.MaxPeersPerInfoHash <= 0 {
		c.MaxPeersPerInfoHash = defaultMaxPeersPerIH
	}
	if c.MaxInfoHashes <= 0 {
		c.MaxInfoHashes = defaultMaxInfoHashes
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c
}

// packetWriter is the sending half of the UDP socket (a fake in handler tests).
type packetWriter interface {
	WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
}

// Node is a BEP 5 DHT node: one UDP socket, a routing table, a store of announced
// peers, and the lookups that use them. Its methods are safe for concurrent use.
type Node struct {
	cfg  Config
	log  *slog.Logger
	self ID
	addr netip.AddrPort
	conn *net.UDPConn // nil for a socketless node in tests
	out  packetWriter
	v6   bool                 // an IPv6 node (BEP 32); else IPv4
	pair atomic.Pointer[Node] // the node of the other family (Pair), or nil

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // the reader, maintenance and ping goroutines

	mu        sync.Mutex // guards everything below up to txMu
	closed    bool
	table     *table
	store     *peerStore
	tokens    *tokens
	limiter   *ipLimiter // nil when unlimited
	budget    tokenBucket
	pinging   map[netip.AddrPort]bool // verification pings in flight
	persisted []NodeInfo              // nodes loaded from StateFile, for Bootstrap

	txMu     sync.Mutex // guards pending; never held with mu
	pending  map[string]*pendingQuery
	inflight chan struct{} // one token per outstanding query

	stats counters
}

// counters are the Node's statistics, updated atomically.
type counters struct {
	queriesSent, queriesReceived, repliesSent, errorsSent, timeouts  atomic.Int64
	droppedRate, droppedBudget, droppedMalformed, droppedUnsolicited atomic.Int64
}

// New opens the UDP socket and starts the node's reader and maintenance goroutines.
// It does not join the DHT: call Bootstrap.
func New(cfg Config) (*Node, error) {
	n, err := newNode(cfg)
	if err != nil {
		return nil, err
	}
	network := "udp4"
	if ap, err := netip.ParseAddrPort(n.cfg.Addr); err == nil && ap.Addr().Is6() && !ap.Addr().Is4In6() {
		network, n.v6 = "udp6", true // IPV6_V6ONLY: IPv4 stays with the IPv4 node
	}
	laddr, err := net.ResolveUDPAddr(network, n.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("dht: listen address %q: %w", n.cfg.Addr, err)
	}
	conn, err := net.ListenUDP(network, laddr)
	if err != nil {
		return nil, fmt.Errorf("dht: listen on %q: %w", n.cfg.Addr, err)
	}
	n.conn, n.out = conn, conn
	n.addr = unmap(conn.LocalAddr().(*net.UDPAddr).AddrPort())
	n.wg.Add(2)
	go n.readLoop()
	go n.maintainLoop()
	n.log.Debug("dht: node started", "addr", n.addr, "id", n.self)
	return n, nil
}

// NewShared starts a node on a UDP socket that another protocol reads: uTP
// shares its port with the DHT, as BEP 29 clients do. The node sends with w
// and receives what the socket's reader hands to Deliver; addr is the
// socket's address in the node's family (0.0.0.0:PORT, [::]:PORT). Close
// leaves the socket open.
func NewShared(cfg Config, w interface {
	WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
}, addr netip.AddrPort) (*Node, error) {
	n, err := newNode(cfg)
	if err != nil {
		return nil, err
	}
	n.out = w
	n.v6 = addr.Addr().Is6() && !addr.Addr().Is4In6()
	n.addr = unmap(addr)
	n.wg.Add(1)
	go n.maintainLoop()
	n.log.Debug("dht: node started on a shared socket", "addr", n.addr, "id", n.self)
	return n, nil
}

// Deliver hands a shared node (NewShared) one datagram; b is not kept.
func (n *Node) Deliver(b []byte, from netip.AddrPort) {
	n.handlePacket(b, from, time.Now())
}

// newNode builds a Node without a socket or goroutines.
func newNode(cfg Config) (*Node, error) {
	cfg = cfg.withDefaults()
	n := &Node{
		cfg:      cfg,
		log:      cfg.Logger,
		self:     cfg.ID,
		pending:  make(map[string]*pendingQuery),
		inflight: make(chan struct{}, cfg.MaxInFlight),
		pinging:  make(map[netip.AddrPort]bool),
	}
	if cfg.StateFile != "" {
		st, err := loadState(cfg.StateFile)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			n.log.Warn("dht: ignoring state file", "file", cfg.StateFile, "err", err)
		default:
			if n.self.IsZero() {
				n.self = st.ID
			}
			n.persisted = st.Nodes
		}
	}
	if n.self.IsZero() {
		n.self = RandomID()
	}
	now := time.Now()
	n.table = newTable(n.self, now)
	n.store = newPeerStore(cfg.MaxPeersPerInfoHash, cfg.MaxInfoHashes)
	n.tokens = newTokens(now)
	if cfg.RateLimitPerIP > 0 {
		n.limiter = newIPLimiter(cfg.RateLimitPerIP, maxTrackedIPs)
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	return n, nil
}

// Addr returns the address the node's socket is bound to.
func (n *Node) Addr() netip.AddrPort { return n.addr }

// ID returns the node id.
func (n *Node) ID() ID { return n.self }

// AddNode asks the node at addr for its id with a ping, in the background, and adds it
// to the routing table if it answers (BEP 5: a peer's PORT message names its DHT
// node). An address of the other family goes to the paired node, if any.
func (n *Node) AddNode(addr netip.AddrPort) {
	addr = unmap(addr)
	if !n.ownFamily(addr) {
		if o := n.pair.Load(); o != nil {
			o.pingAsync(addr)
		}
		return
	}
	n.pingAsync(addr)
}

// Pair joins an IPv4 and an IPv6 node of one client (BEP 32): each asks with
// want ["n4", "n6"], answers such a want from both tables, and hands the nodes
// of the other family that replies name to the other node.
func Pair(v4, v6 *Node) {
	v4.pair.Store(v6)
	v6.pair.Store(v4)
}

// IPv6 reports whether n is an IPv6 node.
func (n *Node) IPv6() bool { return n.v6 }

// ownFamily reports whether a (unmapped) is of the node's address family.
func (n *Node) ownFamily(a netip.AddrPort) bool { return a.Addr().Is6() == n.v6 }

// want is the "want" our queries carry: both families when paired, else none
// (a node answers with its own family by default).
func (n *Node) want() uint8 {
	if n.pair.Load() != nil {
		return wantN4 | wantN6
	}
	return 0
}

// closestFor returns the verified nodes of n's table nearest target (for a
// paired node's reply to a want of our family).
func (n *Node) closestFor(target ID, now time.Time) []NodeInfo {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.table.closest(target, K, now, true)
}

// Stats is a snapshot of a Node's state and counters.
type Stats struct {
	Nodes        int // good nodes in the routing table
	Questionable int // questionable and bad nodes still in the table
	Buckets      int
	InfoHashes   int // info-hashes with announced peers stored
	Peers        int // announced peers stored

	QueriesSent        int64 // our queries, including retries by lookups
	QueriesReceived    int64 // well-formed queries from other nodes within the rate limit
	RepliesSent        int64 // responses to those
	ErrorsSent         int64 // KRPC errors sent
	Timeouts           int64 // our queries that got no reply in time
	DroppedRateLimit   int64 // queries not answered: their IP was over RateLimitPerIP
	DroppedBudget      int64 // replies not sent: over the UploadRate budget
	DroppedMalformed   int64 // packets that did not parse
	DroppedUnsolicited int64 // responses to no query of ours (or from the wrong address)
}

// Stats returns a snapshot of the node's state and counters.
func (n *Node) Stats() Stats {
	n.mu.Lock()
	c := n.table.counts(time.Now())
	s := Stats{
		Nodes: c.Good, Questionable: c.Questionable + c.Bad, Buckets: c.Buckets,
		InfoHashes: len(n.store.swarms), Peers: n.store.peers,
	}
	n.mu.Unlock()
	s.QueriesSent = n.stats.queriesSent.Load()
	s.QueriesReceived = n.stats.queriesReceived.Load()
	s.RepliesSent = n.stats.repliesSent.Load()
	s.ErrorsSent = n.stats.errorsSent.Load()
	s.Timeouts = n.stats.timeouts.Load()
	s.DroppedRateLimit = n.stats.droppedRate.Load()
	s.DroppedBudget = n.stats.droppedBudget.Load()
	s.DroppedMalformed = n.stats.droppedMalformed.Load()
	s.DroppedUnsolicited = n.stats.droppedUnsolicited.Load()
	return s
}

// Close saves the state file (if configured), closes the socket, and waits for every
// goroutine the node started. Queries and lookups in progress return ErrClosed.
// Closing twice is harmless.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	n.mu.Unlock()
	var saveErr error
	if n.cfg.StateFile != "" {
		saveErr = n.Save()
	}
	n.cancel()
	var closeErr error
	if n.conn != nil {
		closeErr = n.conn.Close()
	}
	n.wg.Wait()
	return errors.Join(saveErr, closeErr)
}

// goBackground runs f in a goroutine that Close waits for, unless the node is closed.
// Callers must not hold n.mu.
func (n *Node) goBackground(f func()) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
	return true
}
