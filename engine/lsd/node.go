package lsd

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
)

// The BEP 14 multicast groups: IPv4 (organisation-local scope) and IPv6
// (site-local scope).
var (
	Group  = netip.MustParseAddrPort("239.192.152.143:6771")
	Group6 = netip.MustParseAddrPort("[ff15::efc0:988f]:6771")
)

// Defaults.
const (
	DefaultInterval        = 5 * time.Minute // libtorrent and WebTorrent: every 5 minutes
	DefaultMinInterval     = time.Minute     // no torrent announced more often than this
	DefaultAcceptPerSecond = 20              // announces read per second, beyond that dropped
)

// Config configures a Node.
type Config struct {
	// Port is our BitTorrent listen port, announced to others.
	Port uint16
	// Interface is where the multicast group is joined and announces are
	// sent; nil chooses one with ChooseInterface(ListenAddr, Group's family).
	Interface *net.Interface
	// ListenAddr is the host the client listens on (unspecified: any).
	ListenAddr netip.Addr
	// Group is where announces go (default lsd.Group).
	Group netip.AddrPort
	// Conn, when set, is used instead of joining Group on Interface: tests
	// pass a loopback socket and point Group at another.
	Conn net.PacketConn
	// Torrents lists what we announce: called every Interval.
	Torrents func() []bt.InfoHash
	// OnPeer gets each peer heard of; it reports whether we have the
	// torrent (then we answer with our own announce).
	OnPeer func(bt.InfoHash, netip.AddrPort) bool

	Interval        time.Duration
	MinInterval     time.Duration
	AcceptPerSecond int
	Logger          *slog.Logger
}

// Stats counts what a Node did.
type Stats struct {
	Sent, Received, Dropped, Bad, Peers int64
}

// Node is a running LSD announcer and listener.
type Node struct {
	cfg    Config
	conn   net.PacketConn
	cookie string
	host   string
	kick   chan struct{}
	// sendBackoff is the wait before sending again after a failed send;
	// owned by the announce loop.
	sendBackoff time.Duration
	done        chan struct{}
	wg          sync.WaitGroup

	mu       sync.Mutex // guards lastSent, pending, stats
	lastSent map[bt.InfoHash]time.Time
	pending  map[bt.InfoHash]bool
	seen     map[seenKey]time.Time // peers heard of lately, bounded by maxSeen
	stats    Stats
}

// New opens the socket and starts the loops.
func New(cfg Config) (*Node, error) {
	if cfg.Group == (netip.AddrPort{}) {
		cfg.Group = Group
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.MinInterval == 0 {
		cfg.MinInterval = DefaultMinInterval
	}
	if cfg.AcceptPerSecond == 0 {
		cfg.AcceptPerSecond = DefaultAcceptPerSecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Torrents == nil {
		cfg.Torrents = func() []bt.InfoHash { return nil }
	}
	if cfg.OnPeer == nil {
		cfg.OnPeer = func(bt.InfoHash, netip.AddrPort) bool { return false }
	}
	if cfg.Port == 0 {
		return nil, errors.New("lsd: no listen port to announce")
	}
	conn := cfg.Conn
	if conn == nil {
		ifi := cfg.Interface
		if ifi == nil {
			var err error
			if ifi, err = ChooseInterface(cfg.ListenAddr, cfg.Group.Addr().Is6()); err != nil {
				return nil, err
			}
		}
		network := "udp4"
		if cfg.Group.Addr().Is6() {
			network = "udp6"
		}
		uc, err := net.ListenMulticastUDP(network, ifi, net.UDPAddrFromAddrPort(cfg.Group))
		if err != nil {
			return nil, fmt.Errorf("lsd: join %s on %s: %w", cfg.Group, ifi.Name, err)
		}
		conn = uc
	}
	var c [8]byte
	rand.Read(c[:])
	n := &Node{
		cfg:      cfg,
		conn:     conn,
		cookie:   hex.EncodeToString(c[:]),
		host:     cfg.Group.String(),
		kick:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		lastSent: make(map[bt.InfoHash]time.Time),
		pending:  make(map[bt.InfoHash]bool),
		seen:     make(map[seenKey]time.Time),
	}
	n.wg.Add(2)
	go n.readLoop()
	go n.announceLoop()
	return n, nil
}

// ChooseInterface picks the multicast interface: the one that holds addr
// when addr is a specific address, else the first interface that is up,
// can multicast, is not loopback and has an address of the family asked
// (IPv6 when v6).
func ChooseInterface(addr netip.Addr, v6 bool) (*net.Interface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("lsd: interfaces: %w", err)
	}
	specific := addr.IsValid() && !addr.IsUnspecified()
	for i := range ifs {
		ifi := &ifs[i]
		if ifi.Flags&net.FlagUp == 0 || ifi.Flags&net.FlagMulticast == 0 {
			continue
		}
		if !specific && ifi.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifi.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			p, err := netip.ParsePrefix(a.String())
			if err != nil {
				continue
			}
			ip := p.Addr().Unmap()
			if specific && ip == addr.Unmap() || !specific && ip.Is6() == v6 {
				return ifi, nil
			}
		}
	}
	if specific {
		return nil, fmt.Errorf("lsd: no multicast interface holds %s", addr)
	}
	family := "IPv4"
	if v6 {
		family = "IPv6"
	}
	return nil, fmt.Errorf("lsd: no multicast interface with an %s address is up", family)
}

// Close stops the loops and closes the socket.
func (n *Node) Close() error {
	select {
	case <-n.done:
		return nil
	default:
	}
	close(n.done)
	err := n.conn.Close()
	n.wg.Wait()
	return err
}

// Stats returns the counters.
func (n *Node) Stats() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stats
}

// Addr is the local address of the socket.
func (n *Node) Addr() net.Addr { return n.conn.LocalAddr() }

// Announce asks for ih to be announced soon, within the per-torrent limit.
func (n *Node) Announce(ih bt.InfoHash) {
	n.mu.Lock()
	n.pending[ih] = true
	n.mu.Unlock()
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

func (n *Node) announceLoop() {
	defer n.wg.Done()
	for _, ih := range n.cfg.Torrents() {
		n.Announce(ih)
	}
	every := time.NewTicker(n.cfg.Interval)
	defer every.Stop()
	var retry <-chan time.Time // set while an announce waits for its minute
	for {
		select {
		case <-n.done:
			return
		case <-every.C:
			for _, ih := range n.cfg.Torrents() {
				n.Announce(ih)
			}
			continue
		case <-n.kick:
		case <-retry:
		}
		retry = nil
		if wait := n.sendDue(time.Now()); wait > 0 {
			retry = time.After(wait)
		}
	}
}

// sendDue sends the pending infohashes whose limit allows it and returns how
// long until the next one may go (0: none waits).
func (n *Node) sendDue(now time.Time) time.Duration {
	n.mu.Lock()
	var due []bt.InfoHash
	var wait time.Duration
	for ih := range n.pending {
		if last, ok := n.lastSent[ih]; ok && now.Sub(last) < n.cfg.MinInterval {
			if w := n.cfg.MinInterval - now.Sub(last); wait == 0 || w < wait {
				wait = w
			}
			continue
		}
		due = append(due, ih)
		delete(n.pending, ih)
		n.lastSent[ih] = now
	}
	// Forget what has not been sent for long, so the map stays small.
	for ih, last := range n.lastSent {
		if now.Sub(last) > 2*n.cfg.Interval {
			delete(n.lastSent, ih)
		}
	}
	n.mu.Unlock()
	if len(due) == 0 {
		return wait
	}
	dst := net.UDPAddrFromAddrPort(n.cfg.Group)
	var sendErr error
	for _, msg := range Encode(n.host, n.cfg.Port, due, n.cookie) {
		if _, err := n.conn.WriteTo(msg, dst); err != nil {
			sendErr = err
			continue
		}
		n.mu.Lock()
		n.stats.Sent++
		n.mu.Unlock()
	}
	if sendErr == nil {
		n.sendBackoff = 0
		return wait
	}
	// The interface may not be ready yet (a link just up, no route to the
	// group): try again in a second, then less often, up to MinInterval.
	n.sendBackoff = min(max(2*n.sendBackoff, time.Second), n.cfg.MinInterval)
	n.cfg.Logger.Debug("lsd announce not sent", "group", n.cfg.Group.String(), "retry_in", n.sendBackoff, "err", sendErr)
	n.mu.Lock()
	for _, ih := range due {
		n.pending[ih] = true
		delete(n.lastSent, ih)
	}
	n.mu.Unlock()
	if wait == 0 || n.sendBackoff < wait {
		wait = n.sendBackoff
	}
	return wait
}

func (n *Node) readLoop() {
	defer n.wg.Done()
	buf := make([]byte, MaxMessage+1)
	tokens := float64(n.cfg.AcceptPerSecond)
	last := time.Now()
	for {
		m, from, err := n.conn.ReadFrom(buf)
		if err != nil {
			select {
			case <-n.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			n.cfg.Logger.Debug("lsd read", "err", err)
			select { // an error that repeats must not spin
			case <-n.done:
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		now := time.Now()
		tokens = min(float64(n.cfg.AcceptPerSecond), tokens+now.Sub(last).Seconds()*float64(n.cfg.AcceptPerSecond))
		last = now
		if tokens < 1 {
			n.count(func(s *Stats) { s.Dropped++ })
			continue
		}
		tokens--
		n.handle(buf[:m], from)
	}
}

func (n *Node) count(f func(*Stats)) {
	n.mu.Lock()
	f(&n.stats)
	n.mu.Unlock()
}

func (n *Node) handle(b []byte, from net.Addr) {
	ua, ok := from.(*net.UDPAddr)
	if !ok {
		return
	}
	a, err := Parse(b)
	if err != nil {
		n.count(func(s *Stats) { s.Bad++ })
		n.cfg.Logger.Debug("lsd message refused", "from", from.String(), "err", err)
		return
	}
	if a.Cookie == n.cookie {
		return // our own, looped back
	}
	n.count(func(s *Stats) { s.Received++ })
	// The zone stays: a link-local IPv6 peer is dialled through the
	// interface it was heard on.
	ip := ua.AddrPort().Addr().Unmap()
	if !LocalSource(ip) {
		n.count(func(s *Stats) { s.Bad++ })
		return
	}
	peer := netip.AddrPortFrom(ip, a.Port)
	for _, ih := range a.InfoHashes {
		n.count(func(s *Stats) { s.Peers++ })
		if n.cfg.OnPeer(ih, peer) && n.firstHeard(ih, peer) {
			n.Announce(ih) // answer a newcomer, so it learns of us too
		}
	}
}

type seenKey struct {
	ih   bt.InfoHash
	peer netip.AddrPort
}

// maxSeen bounds the memory of peers heard of: past it, the memory starts
// again (at worst a few more answers).
const maxSeen = 4096

// firstHeard reports whether peer has not announced ih within two Intervals:
// only a newcomer is answered, so two clients do not answer each other for
// ever.
func (n *Node) firstHeard(ih bt.InfoHash, peer netip.AddrPort) bool {
	now := time.Now()
	k := seenKey{ih, peer}
	n.mu.Lock()
	defer n.mu.Unlock()
	if t, ok := n.seen[k]; ok && now.Sub(t) < 2*n.cfg.Interval {
		n.seen[k] = now
		return false
	}
	if len(n.seen) >= maxSeen {
		clear(n.seen)
	}
	n.seen[k] = now
	return true
}

// LocalSource reports whether an announce from ip can be from the local
// network: a private (RFC 1918, RFC 4193), link-local or loopback address.
// The socket is bound to the wildcard address, so a unicast datagram from
// anywhere can reach it; those are not local peers.
func LocalSource(ip netip.Addr) bool {
	return ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLoopback()
}
