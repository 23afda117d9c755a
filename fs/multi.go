package fs

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unicode/utf8"

	gofs "github.com/hanwen/go-fuse/v2/fs"

	"github.com/hyperblow/hyperblow/engine/metainfo"
)

// MaxFolders is the most torrents one MultiRoot holds at once.
const MaxFolders = 10_000

// MultiRoot is the root of a mount that holds several torrents: one folder per
// torrent, each a Root, so a torrent's folder holds what a single-torrent
// mount holds at its root (a single-file torrent's folder holds its one file).
// Folders may be added and removed while mounted (a watched folder of .torrent
// files); the kernel is told of each change, so `ls` is right at once.
//
// Names: a folder is named after its torrent (the caller gives the sanitized
// info name, a magnet's dn, or the info-hash). A name another folder has gets
// " (2)", " (3)", ... A folder keeps its name while it is mounted, and a torrent
// removed and added again gets its old name back if it is free.
//
// Removal: Remove takes the folder out of the tree at once, but the open
// handles of its files keep working; the channel Remove returns is closed once
// the last of them is released. After that its files no longer open (ENOENT)
// and the caller may stop the torrent.
type MultiRoot struct {
	dir
	opts Options

	mu      sync.Mutex // guards the fields below; never held while telling the kernel
	added   bool       // OnAdd has run: folders go straight into the tree
	early   []*folder  // folders added before OnAdd, in order
	folders map[string]*folder
	byName  map[string]*folder
	given   map[string]string // every key's last name, for the life of the mount
}

// folder is one torrent's folder in a MultiRoot.
type folder struct {
	key, name string
	root      *Root
	in        *gofs.Inode // nil until it is in the tree
}

var (
	_ gofs.NodeOnAdder   = (*MultiRoot)(nil)
	_ gofs.NodeGetattrer = (*MultiRoot)(nil)
)

// NewMultiRoot returns an empty root for several torrents; opts apply to the
// root folder itself (each torrent's Root has its own).
func NewMultiRoot(opts Options) *MultiRoot {
	m := &MultiRoot{
		opts:    opts,
		folders: map[string]*folder{},
		byName:  map[string]*folder{},
		given:   map[string]string{},
	}
	m.dir.opts = &m.opts
	return m
}

// OnAdd puts the folders added before the mount into the tree.
func (m *MultiRoot) OnAdd(ctx context.Context) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.added = true
	for _, f := range m.early {
		m.attach(ctx, f)
	}
	m.early = nil
}

// Add shows r, the Root of the torrent known by key (its info-hash), as a
// folder named after name, and returns the folder's name. It may be called
// before the root is mounted. A key already shown is an error.
func (m *MultiRoot) Add(key, name string, r *Root) (string, error) {
	m.mu.Lock()
	if _, dup := m.folders[key]; dup {
		m.mu.Unlock()
		return "", fmt.Errorf("torrent %s: already in the mount", key)
	}
	if len(m.folders) >= MaxFolders {
		m.mu.Unlock()
		return "", fmt.Errorf("torrent %s: the mount already holds %d torrents, the most it may", key, MaxFolders)
	}
	f := &folder{key: key, name: m.pick(key, name), root: r}
	m.folders[key] = f
	m.byName[f.name] = f
	m.given[key] = f.name
	if !m.added {
		m.early = append(m.early, f)
		m.mu.Unlock()
		return f.name, nil
	}
	m.attach(context.Background(), f)
	m.mu.Unlock()
	m.NotifyEntry(f.name) // a lookup that failed before now finds it
	return f.name, nil
}

// attach builds f's tree (Root.OnAdd) and links it under the root. Call with
// m.mu held.
func (m *MultiRoot) attach(ctx context.Context, f *folder) {
	f.in = m.NewPersistentInode(ctx, f.root, gofs.StableAttr{Mode: syscall.S_IFDIR})
	m.AddChild(f.name, f.in, false)
}

// Remove takes key's folder out of the mount and tells the kernel. The channel
// is closed once no file of the folder is open any more (at once if none is);
// nil if key is not in the mount.
func (m *MultiRoot) Remove(key string) <-chan struct{} {
	m.mu.Lock()
	f := m.folders[key]
	if f == nil {
		m.mu.Unlock()
		return nil
	}
	delete(m.folders, key)
	delete(m.byName, f.name)
	if f.in == nil {
		for i, e := range m.early {
			if e == f {
				m.early = append(m.early[:i], m.early[i+1:]...)
				break
			}
		}
	} else {
		m.RmChild(f.name)
	}
	m.mu.Unlock()
	if f.in != nil {
		if errno := m.NotifyDelete(f.name, f.in); errno != 0 {
			m.NotifyEntry(f.name)
		}
	}
	idle := f.root.open.remove()
	done := make(chan struct{})
	go func() {
		<-idle
		if f.in != nil {
			f.in.RmAllChildren() // drops the tree's persistent inodes
		}
		close(done)
	}()
	return done
}

// Names returns the folders' names by key.
func (m *MultiRoot) Names() map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]string, len(m.folders))
	for k, f := range m.folders {
		out[k] = f.name
	}
	return out
}

// pick chooses key's folder name. Call with m.mu held.
func (m *MultiRoot) pick(key, want string) string {
	if prev, ok := m.given[key]; ok && m.byName[prev] == nil {
		return prev
	}
	base := want
	if !validName(base) {
		base = key
	}
	if m.byName[base] == nil {
		return base
	}
	for n := 2; ; n++ {
		if c := numberedName(base, n); m.byName[c] == nil {
			return c
		}
	}
}

// validName: a name the kernel takes as one directory entry. Names from
// metainfo are already sanitized; this guards against a caller that forgot.
func validName(s string) bool {
	return s != "" && s != "." && s != ".." && len(s) <= metainfo.MaxNameLen &&
		!strings.ContainsAny(s, "/\x00") && utf8.ValidString(s)
}

// numberedName is base with " (n)" after it, cut to fit in a name.
func numberedName(base string, n int) string {
	suffix := " (" + strconv.Itoa(n) + ")"
	max := metainfo.MaxNameLen - len(suffix)
	if len(base) > max {
		for max > 0 && !utf8.RuneStart(base[max]) {
			max--
		}
		base = base[:max]
	}
	return base + suffix
}

// rootOf is the Root of the torrent in belongs to: in itself or its nearest
// ancestor that is a Root; nil if there is none (a MultiRoot, or a folder
// taken out of the tree).
func rootOf(in *gofs.Inode) *Root {
	for i := 0; in != nil && i <= metainfo.MaxPathDepth+1; i++ {
		if r, ok := in.Operations().(*Root); ok {
			return r
		}
		_, in = in.Parent()
	}
	return nil
}

// openCount counts the open handles of a Root's files, so that a folder taken
// out of a MultiRoot keeps working for its open files and its torrent is
// stopped only after the last is released.
type openCount struct {
	mu      sync.Mutex
	n       int
	removed bool          // the folder was taken out of the mount
	gone    bool          // removed and no handle left: files no longer open
	idle    chan struct{} // made by remove; closed when gone becomes true
}

// acquire counts a new handle, or reports false once the folder is gone.
func (c *openCount) acquire() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone {
		return false
	}
	c.n++
	return true
}

func (c *openCount) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n--
	if c.removed && c.n == 0 && !c.gone {
		c.gone = true
		close(c.idle)
	}
}

// remove marks the folder removed and returns a channel closed once no handle
// is open.
func (c *openCount) remove() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.removed {
		return c.idle
	}
	c.removed = true
	c.idle = make(chan struct{})
	if c.n == 0 {
		c.gone = true
		close(c.idle)
	}
	return c.idle
}
