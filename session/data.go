package session

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/metainfo"
	"github.com/hyperblow/hyperblow/engine/storage"
)

// --data DIR (issue 13): each torrent of the session keeps its pieces in its
// own files, DIR/NAME, laid out as `hyperblow get` writes them (so a folder
// that get filled mounts with nothing to fetch, and the other way round).
// The files are complete and usable outside Hyperblow and are never evicted;
// what they hold, verified (a resume record in DIR/.hyperblow makes a
// remount quick), counts as had. The torrent's tier is its Layout instead of
// the disk cache.
//
// Two torrents of one session whose files would be the same (the same name)
// cannot share them: the second one runs without a data tier (RAM only), with
// a warning.

// dataRoots are the Layout roots in use in this process, so that two
// torrents never write the same files.
type dataRoots struct {
	mu    sync.Mutex
	roots map[string]bt.InfoHash
}

func (d *dataRoots) claim(root string, h bt.InfoHash) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.roots == nil {
		d.roots = map[string]bt.InfoHash{}
	}
	if other, ok := d.roots[root]; ok && other != h {
		return fmt.Errorf("data %s: already the files of torrent %s in this process (same name): not shared", root, other)
	}
	d.roots[root] = h
	return nil
}

func (d *dataRoots) release(root string, h bt.InfoHash) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.roots[root] == h {
		delete(d.roots, root)
	}
}

// dataLayout is a Layout whose root is released from the session's set when
// the torrent closes it. It keeps Complete, which tells the engine the tier
// keeps every piece.
type dataLayout struct {
	*storage.Layout
	release func()
}

func (l dataLayout) Close() error {
	err := l.Layout.Close()
	l.release()
	return err
}

// OpenData opens the torrent's files under dir as its tier (for
// engine.TorrentOptions.OpenTier): cfg's Events are the engine's. ctx cancels
// the check of what is there.
func (s *Session) OpenData(ctx context.Context, dir string, mt *metainfo.Torrent, cfg storage.LayoutConfig, ev storage.Events) (storage.Tier, *storage.Layout, storage.LayoutCheck, error) {
	root := cfg.Root
	if root == "" {
		root = filepath.Join(dir, mt.Info.Name)
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, nil, storage.LayoutCheck{}, fmt.Errorf("data %s: %w", root, err)
	}
	if err := s.data.claim(root, mt.InfoHash); err != nil {
		return nil, nil, storage.LayoutCheck{}, err
	}
	if cfg.Log == nil {
		cfg.Log = s.log
	}
	cfg.Events = ev
	lay, chk, err := storage.OpenLayout(ctx, mt.InfoHash, mt.Info, dir, cfg)
	if err != nil {
		s.data.release(root, mt.InfoHash)
		return nil, nil, chk, err
	}
	return dataLayout{Layout: lay, release: func() { s.data.release(root, mt.InfoHash) }}, lay, chk, nil
}

// openDataTier is the OpenTier of a torrent of a session with Config.DataDir.
func (s *Session) openDataTier(mt *metainfo.Torrent, ev storage.Events) (storage.Tier, error) {
	if s.openHook != nil {
		s.openHook(mt)
	}
	st, lay, chk, err := s.OpenData(s.ctx, s.cfg.DataDir, mt, storage.LayoutConfig{}, ev)
	if err != nil {
		return nil, err
	}
	s.log.Info("data: the torrent's files", "torrent", Safe(mt.Info.Name), "path", Safe(lay.Root()),
		"held_bytes", chk.HeldBytes, "pieces_trusted", chk.Trusted, "pieces_hashed", chk.Hashed, "pieces_valid", chk.Valid)
	return st, nil
}
