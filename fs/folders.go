package fs

import (
	"log/slog"
	"sync"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/session"
)

// Folders shows a session's torrents in a mount (session.Folders), one at
// the mount's root (NewOneFolder) or each in a folder of its own
// (NewMultiFolders). Root is what to mount.
type Folders interface {
	session.Folders
	Root() gofs.InodeEmbedder
}

// entryRoot is the folder of a torrent: its files, or while a magnet
// resolves its status file.
func entryRoot(e *session.Entry, opts Options) *Root {
	if t, mt := e.Torrent(), e.Metainfo(); t != nil && mt != nil {
		if mt.CreationDate > 0 {
			opts.ModTime = time.Unix(mt.CreationDate, 0)
		}
		return NewRoot(t, opts)
	}
	return NewPendingRoot(e.StatusText, opts)
}

// NewOneFolder shows one torrent at the mount's root, with the options
// opts gives; failed is told when a magnet's metadata does not come.
func NewOneFolder(opts func() Options, log *slog.Logger, failed func(*session.Entry, error)) Folders {
	return &oneFolder{opts: opts, log: log, failed: failed}
}

type oneFolder struct {
	opts   func() Options
	log    *slog.Logger
	failed func(*session.Entry, error)
	root   *Root
}

func (o *oneFolder) Root() gofs.InodeEmbedder { return o.root }

func (o *oneFolder) Add(e *session.Entry) (string, error) {
	o.root = entryRoot(e, o.opts())
	return e.WantName(), nil
}

func (o *oneFolder) Attach(e *session.Entry) {
	o.root.Attach(e.Torrent())
	mt := e.Metainfo()
	o.log.Info("metadata fetched", "torrent", mt.Info.Name, "files", len(mt.Info.VisibleFiles()), "size", mt.Info.TotalLength)
}

func (o *oneFolder) Failed(e *session.Entry, err error) { o.failed(e, err) }

func (o *oneFolder) Remove(e *session.Entry) <-chan struct{} { return nil } // never: no watched folder

// NewMultiFolders shows each torrent in a folder of root, each folder with
// the options opts gives. A magnet whose metadata does not come keeps its
// folder, its status file saying why, and the others go on.
func NewMultiFolders(root *MultiRoot, opts func() Options, log *slog.Logger) Folders {
	return &multiFolders{opts: opts, log: log, root: root, roots: map[bt.InfoHash]*Root{}}
}

type multiFolders struct {
	opts func() Options
	log  *slog.Logger
	root *MultiRoot

	mu    sync.Mutex // guards roots
	roots map[bt.InfoHash]*Root
}

func (m *multiFolders) Root() gofs.InodeEmbedder { return m.root }

func (m *multiFolders) Add(e *session.Entry) (string, error) {
	r := entryRoot(e, m.opts())
	name, err := m.root.Add(e.InfoHash().String(), e.WantName(), r)
	if err == nil {
		m.mu.Lock()
		m.roots[e.InfoHash()] = r
		m.mu.Unlock()
	}
	return name, err
}

func (m *multiFolders) Attach(e *session.Entry) {
	m.mu.Lock()
	r := m.roots[e.InfoHash()]
	m.mu.Unlock()
	if r != nil {
		r.Attach(e.Torrent())
	}
}

func (m *multiFolders) Failed(e *session.Entry, err error) {
	m.log.Error("metadata not fetched; the folder stays empty", "folder", session.Safe(e.Name()), "info_hash", e.InfoHash().String(), "err", err)
}

func (m *multiFolders) Remove(e *session.Entry) <-chan struct{} {
	m.mu.Lock()
	delete(m.roots, e.InfoHash())
	m.mu.Unlock()
	return m.root.Remove(e.InfoHash().String())
}
