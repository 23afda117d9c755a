package session

import (
	"context"
	"fmt"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/bt"
)

// Adding a .torrent to the set starts its engine torrent, which first opens
// its tier: with --data, a Layout that may hash DIR/NAME for minutes. That
// runs without the session's lock, so that the status snapshot, the mount's
// folders and the other sources of the set carry on meanwhile: the entry
// waits in Session.opening, where another Add of the same info-hash counts
// one more source and Remove takes one away; Stop waits for it (wg). A
// magnet's start does not open anything (its tier opens when the metadata
// comes, on its own goroutine), so it stays under the lock.

// startUnlocked starts e's torrent (src.Torrent set) with s.mu released; s.mu
// is held on entry and on return. gone: the entry is not to be added after
// all (the session stopped, or every source of it was removed meanwhile);
// err then says why, or is nil when its sources went.
func (s *Session) startUnlocked(ctx context.Context, e *Entry, src Source) (gone bool, err error) {
	h := src.InfoHash()
	if s.opening == nil {
		s.opening = map[bt.InfoHash]*Entry{}
	}
	s.opening[h] = e
	s.wg.Add(1) // Stop waits for this start
	s.mu.Unlock()
	err = s.start(ctx, e, src, nil)
	s.mu.Lock()
	s.wg.Done()
	delete(s.opening, h)
	if err != nil || (!s.stopped && len(e.refs) > 0) {
		return false, err
	}
	if t := e.Torrent(); t != nil {
		s.mu.Unlock()
		s.client.RemoveTorrent(t)
		s.mu.Lock()
	}
	if s.stopped {
		return true, fmt.Errorf("torrent %s: %w", h, engine.ErrClosed)
	}
	s.log.Info("torrent removed while it started", "info_hash", h.String())
	return true, nil
}
