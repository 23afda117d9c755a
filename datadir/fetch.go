package datadir

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/metainfo"
	"github.com/hyperblow/hyperblow/engine/storage"
	"github.com/hyperblow/hyperblow/session"
)

// Options are how Start fetches.
type Options struct {
	Log *slog.Logger // nil: slog.Default
	// NoSleep keeps the torrent awake (get --seed: it seeds on purpose).
	NoSleep bool
	// Check, if set, is called when hashing what DIR/NAME holds begins, on a
	// hashing goroutine: root is DIR/NAME, total the bytes to hash and done
	// how many are hashed so far. The func it returns is called once the
	// check ends (a progress line starts and stops there).
	Check func(root string, total int64, done func() int64) (end func())
}

// Interrupted is Start's error when its ctx ended first.
type Interrupted struct {
	// Checking is the folder whose check was cut short; "" while the
	// metadata was being fetched.
	Checking string
}

func (e *Interrupted) Error() string {
	if e.Checking == "" {
		return "interrupted while fetching the metadata"
	}
	return "interrupted while checking " + e.Checking
}

// Fetch is one torrent being fetched into DIR/NAME, as by hyperblow get: a
// torrent of a session whose tier is DIR/NAME (a storage.Layout, as mount
// --data) and which fetches all of itself (the session's FetchAll). What DIR
// already holds is checked first, as for mount --data: pieces the resume
// record (DIR/.hyperblow/INFOHASH.resume) lists, in files unchanged since, are
// trusted, every other piece whose bytes are there is hashed; the record is
// kept as mount --data keeps it (at least every 64 MiB written, on Sync and
// at Close), so a restarted get hashes only what changed since. The fetch is
// done when the Layout holds every piece, and fails, saying why, when the
// Layout's writes stop (a full disk, a folder made read-only).
type Fetch struct {
	dir   string
	opts  Options
	ctx   context.Context // cancels the check of what DIR holds
	sess  *session.Session
	entry *session.Entry
	mt    *metainfo.Torrent

	// Set by openTier (in Start for a .torrent, on the torrent's goroutine
	// once a magnet's info is here; read after WaitInfo).
	lay      *storage.Layout
	chk      storage.LayoutCheck
	openErr  error
	complete chan struct{} // closed when the Layout holds every piece
	doneOnce sync.Once
}

// Start starts src in s with DIR/NAME as its tier, fetching a magnet's
// metadata first, and returns once what DIR holds is checked. ctx cancels
// the metadata fetch and the check; the torrent then runs until s closes.
// An error of a cut-short Start is an *Interrupted.
func Start(ctx context.Context, s *session.Session, src session.Source, dir string, opts Options) (*Fetch, error) {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	f := &Fetch{dir: dir, opts: opts, ctx: ctx, sess: s, complete: make(chan struct{})}
	if m := src.Magnet; m != nil {
		opts.Log.Info("fetching metadata", "info_hash", m.InfoHash.String(), "name", session.Safe(m.Name))
	}
	// A magnet's torrent fetches the metadata from its peers, opens DIR/NAME
	// then, and downloads from the same connections.
	e, err := s.Start(ctx, src, session.StartOptions{OpenTier: f.openTier, NoSleep: opts.NoSleep})
	if err != nil {
		if ctx.Err() != nil {
			return nil, &Interrupted{Checking: dir}
		}
		return nil, err
	}
	f.entry = e
	mt, err := e.WaitInfo(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, &Interrupted{}
		}
		return nil, fmt.Errorf("metadata: %w", err)
	}
	if src.Magnet != nil {
		opts.Log.Info("metadata fetched", "torrent", session.Safe(mt.Info.Name), "size", mt.Info.TotalLength)
	}
	f.mt = mt
	if f.openErr != nil || f.lay == nil {
		if ctx.Err() != nil {
			return nil, &Interrupted{Checking: filepath.Join(dir, mt.Info.Name)}
		}
		return nil, f.openErr
	}
	return f, nil
}

// openTier opens DIR/NAME as the torrent's tier: the torrent's files at
// their full size, with the resume record of mount --data (what it vouches
// for is trusted, every other piece whose bytes are all there hashed).
func (f *Fetch) openTier(mt *metainfo.Torrent, ev storage.Events) (storage.Tier, error) {
	info := mt.Info
	root := filepath.Join(f.dir, info.Name)
	var hashed atomic.Int64 // pieces
	var once sync.Once
	var end func()
	var endMu sync.Mutex // guards end: set on a hashing goroutine, called here
	stored := ev.Stored
	ev.Stored = func(i int) {
		stored(i)
		if f.lay.Complete() {
			f.doneOnce.Do(func() { close(f.complete) })
		}
	}
	st, lay, chk, err := f.sess.OpenData(f.ctx, f.dir, mt, storage.LayoutConfig{
		Log: f.opts.Log,
		CheckProgress: func(n, total int) {
			once.Do(func() {
				toCheck := min(int64(total)*info.PieceLength, info.TotalLength)
				f.opts.Log.Info("checking existing data", "path", session.Safe(root), "bytes", toCheck)
				if f.opts.Check == nil {
					return
				}
				endMu.Lock()
				defer endMu.Unlock()
				end = f.opts.Check(root, toCheck, func() int64 { return min(hashed.Load()*info.PieceLength, toCheck) })
			})
			hashed.Store(max(hashed.Load(), int64(n)))
		},
	}, ev)
	endMu.Lock()
	if end != nil {
		end()
	}
	endMu.Unlock()
	f.lay, f.chk, f.openErr = lay, chk, err
	if err != nil {
		return nil, err
	}
	if s := lay.Stats(); s.Degraded {
		f.openErr = fmt.Errorf("%s: cannot write here: %s", session.Safe(root), s.LastError)
		st.Close()
		return nil, f.openErr
	}
	if lay.Complete() {
		f.doneOnce.Do(func() { close(f.complete) })
	}
	return st, nil
}

// Metainfo is the torrent's.
func (f *Fetch) Metainfo() *metainfo.Torrent { return f.mt }

// Torrent is the running torrent (its peers, its counters).
func (f *Fetch) Torrent() *engine.Torrent { return f.entry.Torrent() }

// Layout is DIR/NAME, the torrent's tier: what it holds, Sync.
func (f *Fetch) Layout() *storage.Layout { return f.lay }

// Checked is what the check at Start found in DIR/NAME.
func (f *Fetch) Checked() storage.LayoutCheck { return f.chk }

// Complete is closed once the Layout holds every piece.
func (f *Fetch) Complete() <-chan struct{} { return f.complete }

// Wait waits until the Layout holds every piece (nil), ctx ends (its
// error), or the Layout's writes stopped: then the error says why, and what
// was written stays for the next run.
func (f *Fetch) Wait(ctx context.Context) error {
	check := time.NewTicker(time.Second)
	defer check.Stop()
	for {
		select {
		case <-f.complete:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-check.C:
			if st := f.lay.Stats(); st.Degraded {
				return fmt.Errorf("writing %s stopped: %s", session.Safe(f.lay.Root()), st.LastError)
			}
		}
	}
}
