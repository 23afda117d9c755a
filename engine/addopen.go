package engine

import (
	"fmt"

	"github.com/hyperblow/hyperblow/engine/bt"
)

// Adding a torrent opens its tier first (OpenTier: a Layout may hash its
// files for minutes when no resume record vouches for them). That runs
// without the client's lock, so that other torrents are added, removed and
// read meanwhile: the info-hash is reserved (Client.opening) under the lock,
// the torrent built and its tier opened outside it, and the torrent started
// under the lock again, unless the client closed meanwhile. Close waits for
// an add under way (c.wg), which then closes the tier it opened.

// reserve claims ih for an AddTorrent and gives it an id; finishAdd must
// follow.
func (c *Client) reserve(ih bt.InfoHash) (uint32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, ErrClosed
	}
	if _, ok := c.torrents[ih]; ok || c.opening[ih] {
		return 0, fmt.Errorf("torrent %s: already added", ih)
	}
	if c.opening == nil {
		c.opening = map[bt.InfoHash]bool{}
	}
	c.opening[ih] = true
	c.wg.Add(1) // Close waits for this add
	c.nextID++
	return c.nextID, nil
}

// finishAdd releases what reserve claimed for ih and starts t (built by
// newTorrent, with err), or, when the client closed meanwhile, closes its
// tier.
func (c *Client) finishAdd(ih bt.InfoHash, t *Torrent, err error) error {
	defer c.wg.Done()
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.opening, ih)
	if err != nil {
		return err
	}
	if c.closed {
		t.cancel()
		t.closeTier() // the owner never ran
		return ErrClosed
	}
	c.torrents[t.ih] = t
	t.start()
	c.lsdAdded(t)
	return nil
}
