package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"

	"github.com/hyperblow/hyperblow/engine/storage"
)

// tierFlags are --cache-dir and --disk-cache: the disk tier under the RAM
// cache (engine/storage.DiskCache), shared by every torrent of the process
// and by other processes using the same folder.
//
// The default is a modest disk cache in the user's cache folder
// ($XDG_CACHE_HOME/hyperblow/pieces, else ~/.cache/hyperblow/pieces): 2 GiB,
// or a tenth of the free space there if less (below 64 MiB: none). With RAM
// alone a rewatch, a seek back past the cache or a remount downloads the same
// bytes again, and a partial seed advertises what it has already evicted; the
// disk tier costs nothing on the read path (write-behind, drops instead of
// waits). --disk-cache 0 is RAM only.
//
// --data DIR keeps each torrent's pieces in its own files instead, DIR/NAME
// as get writes them (session.Config.DataDir): complete files, never
// evicted. With --data the disk cache is not opened: --data wins, every
// torrent's tier is its files.
type tierFlags struct {
	cacheDir   string
	diskCache  diskSizeFlag
	data       string
	registered bool // only commands that register the flags get a disk tier
}

// diskSizeFlag is a size, or "auto" (-1): the default for the folder.
type diskSizeFlag int64

const diskSizeAuto = -1

// Kind is what --help says it takes.
func (*diskSizeFlag) Kind() string { return "SIZE" }

func (s *diskSizeFlag) String() string {
	if *s == diskSizeAuto {
		return "auto"
	}
	return formatSize(int64(*s))
}

func (s *diskSizeFlag) Set(v string) error {
	if v == "auto" {
		*s = diskSizeAuto
		return nil
	}
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	if n > 0 && n < 16<<20 {
		return fmt.Errorf("disk cache %q below 16MiB: give 0 for none", v)
	}
	*s = diskSizeFlag(n)
	return nil
}

// register adds --cache-dir and --disk-cache to fs.
func (f *tierFlags) register(fs *flag.FlagSet) {
	f.registered = true
	f.diskCache = diskSizeAuto
	fs.StringVar(&f.cacheDir, "cache-dir", "", "folder of the disk cache of verified pieces, shared by mounts (default $XDG_CACHE_HOME/hyperblow/pieces or ~/.cache/hyperblow/pieces)")
	fs.Var(&f.diskCache, "disk-cache", "disk space for verified pieces below the memory cache, least recently used evicted (e.g. 2GiB; auto: 2GiB or a tenth of the free space; 0: memory only)")
	fs.StringVar(&f.data, "data", "", "keep each torrent's pieces in its own files under this folder (DIR/NAME, as get writes them): complete files usable outside Hyperblow, never evicted; what is there already is not fetched again. Instead of the disk cache")
}

// dataDir is --data as an absolute folder, made if missing; "" without it.
func (f *tierFlags) dataDir() (string, error) {
	if f.data == "" {
		return "", nil
	}
	dir, err := filepath.Abs(f.data)
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		return "", fmt.Errorf("--data %s: %w", f.data, err)
	}
	return dir, nil
}

// open opens the disk cache the flags ask for, or returns nil: memory only
// (not registered, --disk-cache 0, too little free space, or a folder that
// cannot be created or locked, which is logged: a mount never fails for it).
// Each torrent's view of it is closed, and its queue written, when the torrent
// stops.
func (f *tierFlags) open(log *slog.Logger) *storage.DiskCache {
	if !f.registered || f.diskCache == 0 {
		return nil
	}
	if f.data != "" { // --data wins: every torrent's tier is its files
		if f.cacheDir != "" || f.diskCache != diskSizeAuto {
			log.Warn("--data is given: the disk cache (--cache-dir, --disk-cache) is not used", "data", f.data)
		}
		return nil
	}
	return storage.OpenDefaultDiskCache(f.cacheDir, int64(f.diskCache), log)
}

// pinFolders gives the background process of --daemon, which runs in /, the
// folders as parsed here, made absolute: --data and --cache-dir are added at
// the end of the flags (before the positional arguments pos), where they win
// over any earlier form of them (--data d, -cache-dir=c, -o data=d).
func (f *tierFlags) pinFolders(args, pos []string) []string {
	var pin []string
	for _, fl := range []struct{ name, val string }{{"data", f.data}, {"cache-dir", f.cacheDir}} {
		if fl.val == "" {
			continue
		}
		if a, err := filepath.Abs(fl.val); err == nil {
			pin = append(pin, "--"+fl.name+"="+a)
		}
	}
	at := len(args) - len(pos)
	if at > 0 && args[at-1] == "--" {
		at--
	}
	return slices.Concat(args[:at], pin, args[at:])
}
