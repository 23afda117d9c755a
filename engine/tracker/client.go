package tracker

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
)

// Defaults for Config.
const (
	DefaultUDPRetryBase  = 15 * time.Second // BEP 15
	DefaultUDPMaxRetries = 8                // BEP 15: n goes up to 8
	DefaultUserAgent     = "Hyperblow/0001"
	defaultHTTPTimeout   = 60 * time.Second
	maxUDPRetries        = 20 // keeps base·2^n finite
)

// Config configures a Client. The zero value is usable.
type Config struct {
	// HTTPClient performs HTTP(S) announces; nil means a client with a 60 s timeout.
	HTTPClient *http.Client
	// UDPRetryBase is the BEP 15 retransmission base: the n-th transmission waits
	// UDPRetryBase·2^n for a reply. Zero means 15 s.
	UDPRetryBase time.Duration
	// UDPMaxRetries is the largest n, so a request is sent at most UDPMaxRetries+1
	// times. Zero means 8; negative means no retransmission.
	UDPMaxRetries int
	// UDPAddr is the local address of the shared UDP socket; "" means any address
	// (dual-stack where possible) and any port.
	UDPAddr string
	// Resolver resolves tracker host names; nil means net.DefaultResolver.
	Resolver *net.Resolver
	// UserAgent is sent to HTTP trackers; "" means DefaultUserAgent.
	UserAgent string
	// Logger receives only debug records about dropped UDP datagrams; nil discards.
	Logger *slog.Logger
}

// Client announces to and scrapes HTTP and UDP trackers. One Client is meant to be
// shared by all torrents of a process; its methods are safe for concurrent use.
type Client struct {
	http          *http.Client
	userAgent     string
	udpRetryBase  time.Duration
	udpMaxRetries int
	udpAddr       string
	resolver      *net.Resolver
	log           *slog.Logger
	now           func() time.Time // replaced in tests

	mu     sync.Mutex // guards sock, closed, conns
	sock   *udpSocket // opened on first UDP request
	closed bool
	conns  map[netip.AddrPort]connID
}

// NewClient returns a Client; it opens no socket until a UDP tracker is used.
func NewClient(cfg Config) *Client {
	c := &Client{
		http:          cfg.HTTPClient,
		userAgent:     cfg.UserAgent,
		udpRetryBase:  cfg.UDPRetryBase,
		udpMaxRetries: cfg.UDPMaxRetries,
		udpAddr:       cfg.UDPAddr,
		resolver:      cfg.Resolver,
		log:           cfg.Logger,
		now:           time.Now,
		conns:         make(map[netip.AddrPort]connID),
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: defaultHTTPTimeout}
	}
	if c.userAgent == "" {
		c.userAgent = DefaultUserAgent
	}
	if c.udpRetryBase <= 0 {
		c.udpRetryBase = DefaultUDPRetryBase
	}
	switch {
	case c.udpMaxRetries == 0:
		c.udpMaxRetries = DefaultUDPMaxRetries
	case c.udpMaxRetries < 0:
		c.udpMaxRetries = 0
	}
	c.udpMaxRetries = min(c.udpMaxRetries, maxUDPRetries)
	if c.resolver == nil {
		c.resolver = net.DefaultResolver
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c
}

// Announce sends one announce to the tracker at trackerURL (http, https or udp).
func (c *Client) Announce(ctx context.Context, trackerURL string, req AnnounceRequest) (*AnnounceResponse, error) {
	u, err := c.parseURL(trackerURL)
	if err != nil {
		return nil, err
	}
	var resp *AnnounceResponse
	if u.Scheme == "udp" {
		resp, err = c.announceUDP(ctx, u, req)
	} else {
		resp, err = c.announceHTTP(ctx, u, req)
	}
	if err != nil {
		return nil, fmt.Errorf("tracker %s: %w", redact(u), err)
	}
	return resp, nil
}

// Scrape asks the tracker at trackerURL about the given torrents and returns one result
// per hash, in order (BEP 48, BEP 15). No hashes means no request: an HTTP scrape
// without info_hash would ask for every torrent the tracker knows.
func (c *Client) Scrape(ctx context.Context, trackerURL string, hashes []bt.InfoHash) ([]ScrapeResult, error) {
	u, err := c.parseURL(trackerURL)
	if err != nil || len(hashes) == 0 {
		return nil, err
	}
	var res []ScrapeResult
	if u.Scheme == "udp" {
		res, err = c.scrapeUDP(ctx, u, hashes)
	} else {
		res, err = c.scrapeHTTP(ctx, u, hashes)
	}
	if err != nil {
		return nil, fmt.Errorf("tracker %s: %w", redact(u), err)
	}
	return res, nil
}

// Close closes the shared UDP socket; pending and later requests fail with ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	sock := c.sock
	c.sock, c.closed = nil, true
	c.mu.Unlock()
	if sock != nil {
		return sock.close()
	}
	return nil
}

// parseURL checks the scheme and that the Client is open.
func (c *Client) parseURL(trackerURL string) (*url.URL, error) {
	u, err := url.Parse(trackerURL)
	if err != nil {
		return nil, fmt.Errorf("tracker %q: %w", trackerURL, err)
	}
	switch u.Scheme {
	case "http", "https", "udp":
	default:
		return nil, fmt.Errorf("tracker %s: %w %q", redact(u), ErrUnsupportedScheme, u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("tracker %s: no host", redact(u))
	}
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("tracker %s: %w", redact(u), ErrClosed)
	}
	return u, nil
}

// socket returns the shared UDP socket, opening it on first use.
func (c *Client) socket() (*udpSocket, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if c.sock == nil {
		s, err := listenUDP(c.udpAddr, c.log)
		if err != nil {
			return nil, fmt.Errorf("open UDP socket: %w", err)
		}
		c.sock = s
	}
	return c.sock, nil
}

// redact prints a tracker URL without its query, which may hold a private passkey.
func redact(u *url.URL) string {
	v := *u
	v.User = nil
	v.Fragment, v.RawFragment = "", ""
	if v.RawQuery != "" {
		v.RawQuery = "…"
	}
	return v.String()
}
