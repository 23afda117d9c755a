package tracker

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
)

// connIDLifetime is how long a BEP 15 connection id is reused for one tracker address.
const connIDLifetime = time.Minute

// connID is a cached BEP 15 connection id.
type connID struct {
	id uint64
	at time.Time // when the connect reply arrived
}

// announceUDP performs a BEP 15 announce.
func (c *Client) announceUDP(ctx context.Context, u *url.URL, req AnnounceRequest) (*AnnounceResponse, error) {
	to, err := c.resolveUDP(ctx, u)
	if err != nil {
		return nil, err
	}
	reply, err := c.connected(ctx, to, func(b []byte, id uint64, tx uint32) []byte {
		return appendAnnounceRequest(b, id, tx, &req)
	})
	if err != nil {
		return nil, err
	}
	return parseUDPAnnounce(reply, to.Addr().Unmap().Is6())
}

// scrapeUDP performs BEP 15 scrapes, udpMaxScrapeHashes info-hashes at a time.
func (c *Client) scrapeUDP(ctx context.Context, u *url.URL, hashes []bt.InfoHash) ([]ScrapeResult, error) {
	to, err := c.resolveUDP(ctx, u)
	if err != nil {
		return nil, err
	}
	out := make([]ScrapeResult, 0, len(hashes))
	for chunk := range chunks(hashes, udpMaxScrapeHashes) {
		reply, err := c.connected(ctx, to, func(b []byte, id uint64, tx uint32) []byte {
			return appendScrapeRequest(b, id, tx, chunk)
		})
		if err != nil {
			return nil, err
		}
		res, err := parseUDPScrape(reply, len(chunk))
		if err != nil {
			return nil, err
		}
		out = append(out, res...)
	}
	return out, nil
}

// chunks yields s in consecutive pieces of at most n elements.
func chunks[T any](s []T, n int) func(func([]T) bool) {
	return func(yield func([]T) bool) {
		for len(s) > 0 {
			k := min(n, len(s))
			if !yield(s[:k]) {
				return
			}
			s = s[k:]
		}
	}
}

// connected runs one request that needs a connection id. Every (re)transmission asks
// for a current connection id, so one that expires during a long back-off is renewed
// (BEP 15). A tracker error drops the cached id, in case it was the reason.
func (c *Client) connected(ctx context.Context, to netip.AddrPort, build func(b []byte, id uint64, tx uint32) []byte) ([]byte, error) {
	reply, err := c.exchange(ctx, to, func(ctx context.Context, tx uint32) ([]byte, error) {
		id, err := c.connectionID(ctx, to)
		if err != nil {
			return nil, err
		}
		return build(make([]byte, 0, udpAnnounceLen), id, tx), nil
	})
	if err != nil {
		return nil, err
	}
	if action, _, _ := udpHeader(reply); action == actionError {
		c.forgetConnectionID(to)
	}
	return reply, nil
}

// connectionID returns a connection id for "to" younger than connIDLifetime, running a
// connect exchange if there is none.
func (c *Client) connectionID(ctx context.Context, to netip.AddrPort) (uint64, error) {
	c.mu.Lock()
	cid, ok := c.conns[to]
	c.mu.Unlock()
	if ok && c.now().Sub(cid.at) < connIDLifetime {
		return cid.id, nil
	}
	reply, err := c.exchange(ctx, to, func(_ context.Context, tx uint32) ([]byte, error) {
		return appendConnectRequest(nil, tx), nil
	})
	if err != nil {
		return 0, fmt.Errorf("connect: %w", err)
	}
	id, err := parseUDPConnect(reply)
	if err != nil {
		return 0, fmt.Errorf("connect: %w", err)
	}
	c.mu.Lock()
	c.conns[to] = connID{id: id, at: c.now()}
	c.mu.Unlock()
	return id, nil
}

func (c *Client) forgetConnectionID(to netip.AddrPort) {
	c.mu.Lock()
	delete(c.conns, to)
	c.mu.Unlock()
}

// exchange sends a request to "to" and waits for the reply with its transaction id,
// retransmitting after base·2^n for n = 0..UDPMaxRetries (BEP 15). The transaction id
// stays the same across retransmissions, so a late reply to an earlier copy counts.
// build is called before every transmission.
func (c *Client) exchange(ctx context.Context, to netip.AddrPort, build func(ctx context.Context, tx uint32) ([]byte, error)) ([]byte, error) {
	sock, err := c.socket()
	if err != nil {
		return nil, err
	}
	tx, w := sock.register(to)
	defer sock.unregister(tx)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for n := 0; ; n++ {
		pkt, err := build(ctx, tx)
		if err != nil {
			return nil, err
		}
		if err := sock.send(pkt, to); err != nil {
			return nil, err
		}
		timer.Reset(retryDelay(c.udpRetryBase, n))
		select {
		case reply := <-w.reply:
			return reply, nil
		case <-timer.C:
			if n >= c.udpMaxRetries {
				return nil, fmt.Errorf("%w after %d transmissions", ErrTimeout, n+1)
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-sock.done:
			return nil, ErrClosed
		}
	}
}

// resolveUDP finds the address of a udp:// tracker, resolving its host with ctx. IPv4
// is preferred when a name has both kinds of address.
func (c *Client) resolveUDP(ctx context.Context, u *url.URL) (netip.AddrPort, error) {
	port, err := strconv.ParseUint(u.Port(), 10, 16)
	if err != nil || port == 0 {
		return netip.AddrPort{}, fmt.Errorf("UDP tracker needs a port 1-65535, got %q", u.Port())
	}
	host := u.Hostname()
	if addr, err := netip.ParseAddr(host); err == nil {
		return netip.AddrPortFrom(addr.Unmap().WithZone(""), uint16(port)), nil
	}
	addrs, err := c.resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if len(addrs) == 0 {
		return netip.AddrPort{}, fmt.Errorf("no address for %q", host)
	}
	best := addrs[0].Unmap()
	for _, a := range addrs {
		if a.Unmap().Is4() {
			best = a.Unmap()
			break
		}
	}
	return netip.AddrPortFrom(best.WithZone(""), uint16(port)), nil
}
