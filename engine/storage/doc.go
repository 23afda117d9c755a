// Package storage keeps verified pieces below the RAM cache, in one of two tiers
// that implement Tier:
//
//   - DiskCache (--cache-dir DIR --disk-cache SIZE): a piece store bounded in
//     bytes, keyed by info-hash, least recently used evicted first, shared by
//     every torrent of a process and by several processes.
//   - Layout (--data DIR): the torrent's own files, complete and usable outside
//     Hyperblow, never evicted, with a resume record so that a restart hashes
//     nothing it can trust.
//
// ReaderTier is a third, read only: a torrent's bytes in an io.ReaderAt (an
// in-process seed: the engine's tests), checked at open by the Layout's code
// (hashPieces). A seed is a torrent whose tier holds every piece.
//
// It imports bt and metainfo only; the engine calls it, never the reverse.
//
// # What goes in, and when
//
// Only verified pieces: the engine calls Put after a piece's hash matched, and
// the tier's writer checks the SHA-1 again before writing (0.6 ms per MiB, on
// the writer goroutine), so a piece that does not match never reaches disk,
// whatever the caller does. The engine, which hashed the piece a moment
// before, uses DiskCache's PutVerified instead: the header takes the torrent's
// SHA-1 of the piece without hashing it again (on two busy cores the second
// hash was a share of cp's rate), and every read verifies the piece anyway.
// Put never waits: the piece joins a queue bounded in bytes (64 MiB by
// default; the engine lowers it to a quarter of its RAM cache, at least
// 16 MiB) that one writer goroutine drains; when the queue is full the piece
// is refused. The engine keeps up to 16 MiB of refused pieces and hands them
// again when the queue has room, and past that asks peers only for what a
// read waits for (engine/tier.go, tierBacklog), so a disk slower than the
// network slows the readahead, never a read. A piece still queued is served
// from the queue.
//
// # DiskCache on disk: one file per piece
//
//	DIR/lock                    LOCK_EX while a torrent is opened, or a scan evicts
//	DIR/<info-hash hex>/lock    LOCK_SH while a process has the torrent open
//	DIR/<info-hash hex>/<index> a 64-byte header (magic, info-hash, index,
//	                            length, SHA-1 of the piece, CRC-32C), then the piece
//	DIR/<info-hash hex>/.tmp-*  a piece being written
//
// A piece is written to a temporary file and renamed to its index; Stored
// fires after that. Rename is atomic, so after a kill -9 a piece file is
// either absent or whole (the page cache survives the process): the folder
// listing is the record of what is stored, and it needs no journal to replay
// or compact. This was chosen over one data file plus an append-only journal
// because every piece file describes itself (a damaged file costs that piece
// only, never the index of the others), eviction is an unlink (no holes to
// punch, no compaction), and processes share the folder with two flocks and no
// journal writer to elect. The cost is an inode per piece.
//
// No piece is fsynced on the write path. Every read verifies the piece (below),
// so an fsync before the rename bought durability across a power cut, never
// correctness, and it held the writer to the disk's fsync rate: 40-60 MB/s on
// the build VM, while loopback peers deliver 100-250 MB/s, so the write-behind
// queue refused most pieces of a fast cp, and a second cp fetched 596 MiB of
// 1 GiB again (bench/tier). Durability is batched off the write path instead
// (durable.go): a syncer goroutine fsyncs what was written (the files, then
// each folder once) every 5 s or 256 MiB, and when a torrent or the cache
// closes. A marker, DIR/.unsynced-<pid>-<n> (the boot id and a time, written
// durably before the first unsynced piece), says which pieces a power cut may
// have torn: a cache opened in a later boot verifies every piece file modified
// since that time and deletes the bad ones before it counts any as held, so a
// power cut costs at most the last few seconds of pieces, fetched again, and
// never a wrong byte nor a bitfield entry that is not there. A marker of this
// boot whose process died (kill -9) costs no hashing: the opener syncfs's the
// folder and removes it.
//
// Opening a torrent trusts the names and sizes it finds (a file of the wrong
// size is deleted), so opening a large cache reads no piece. Every Get reads
// the whole file and checks the header and the SHA-1 (and, for v1 torrents,
// that the recorded hash is the torrent's): a piece torn by a lying disk,
// changed behind our back or rotted is never served, whenever it happened, not
// only on the first read after a restart. It costs about what the read costs
// (BenchmarkRead/disk ≈ /layout ≈ 2 ms per MiB, from the page cache), and the
// engine keeps the piece in RAM after a disk hit, so it is paid once per RAM
// miss. A piece that fails is deleted, counted (Stats.Corrupt) and reported
// with Evicted; Get returns ErrCorrupt and the engine fetches it again.
//
// # Sharing a folder
//
// The cache bound covers the folder, whoever wrote it. A process rescans the
// folder under DIR/lock when its estimate says a write does not fit, and after
// every MaxBytes/16 bytes it wrote (so the folder may exceed the bound by about
// that much per process between scans). A scan may evict pieces of this
// process's open torrents and of torrents that no process has open (it takes
// their lock exclusively, without waiting), oldest first: last use in this
// process, or the file's mtime, which every Get sets, across processes. It
// never evicts pieces of a torrent another process has open: that process may
// have advertised them to its peers. When what remains cannot be evicted, the
// write is dropped. Pieces another process writes for a torrent this one has
// open are picked up at the next scan (Stored fires for them).
//
// # Layout: resume record
//
// Pieces are written in place (pwrite, no fsync each). Every ResumeEvery bytes
// (64 MiB), on Sync and on Close, the writer fsyncs the files and then writes
// DIR/.hyperblow/<info-hash>.resume (temporary file, fsync, rename, fsync
// folder): the pieces held, and each file's size, mtime (ns) and inode. On
// open, a piece listed there whose files all still carry the recorded stamps is
// trusted without hashing; every other piece whose bytes may be there (the
// files are long enough, and not a sparse hole) is hashed in parallel. Writing
// data before the record makes the record true after a power cut; a file
// written after it has a new mtime and is hashed again. So a truncated or
// damaged file costs only the pieces it breaks, and a clean restart hashes
// nothing. Layout verifies every Get as well: the files are the user's, and a
// change that keeps the mtime (touch -r, a tool that restores it) is caught
// when the piece is read.
//
// One writer: a Layout that writes holds an exclusive flock on DIR/NAME (the
// file, or the torrent's folder) from open to Close, so a second process
// given the same folder fails with ErrInUse before it hashes or writes
// anything; the kernel drops the lock when a process dies, so kill -9 leaves
// none behind. A read-only Layout (seed) takes none: it verifies every read.
//
// # Failures
//
// Open fails only when the folder cannot be created or locked (the engine then
// logs a warning and runs with RAM only). A folder that cannot be written
// opens degraded: what it holds is served, nothing is added. A write error
// (ENOSPC, EROFS, EIO, EDQUOT) removes the temporary file, logs one warning,
// sets Stats.Degraded and LastError, and stops writes: the engine carries on
// with RAM only; what is stored is still served, verified.
//
// # Concurrency
//
// Every exported method is safe for concurrent use. Lock order: DIR/lock
// (flock) before DiskCache.mu before CacheTorrent.mu; Layout.wmu before
// Layout.mu; the write-behind queue's mutex is a leaf. Events are called from
// the writer goroutine, from a scan (which holds DIR/lock), or from the
// goroutine whose Get found a piece bad, with none of the mutexes above held
// but possibly the folder lock: they must not block and must not call back
// into the store.
//
// # Wiring into the engine
//
// Done in engine/tier.go and engine/honest.go, as planned below, except: the
// caller opens the DiskCache (engine.Config.DiskCache; cmd's --cache-dir and
// --disk-cache); a Layout comes in through TorrentOptions.OpenTier, which the
// engine calls with its Events; and a peer that keeps asking for what was
// evicted is disconnected after 32 rejects (its next connection gets a true
// bitfield), not choked. Item 6 is wired as planned: mount --data, get and
// seed open a Layout through OpenTier (session.OpenData; seed's read-only, with
// LayoutConfig.ReadOnly and Root), get is a torrent with FetchAll, and seed one
// with TorrentOptions.UploadOnly. A Layout keeps every piece: the engine hands
// it again a piece its queue refused (engine/tier.go, retryUnstored).
//
//  1. Client: open one DiskCache for the process (Config: CacheDir, DiskCache);
//     on error log a warning and go on with RAM only. A torrent, once its info
//     is known: tier = dc.Torrent(storage.SpecOf(ih, info, events)), or
//     OpenLayout(ctx, ih, info, dataDir, cfg) for --data, run off the owner
//     goroutine (it may hash; ctx cancels), and t.have starts from
//     tier.Bitfield() (what is held counts for the picker, and for what we
//     advertise).
//  2. Events forward to the owner without blocking, e.g. a buffered channel,
//     and on overflow an atomic flag after which the owner re-reads
//     tier.Bitfield().
//  3. Put: in the owner, where a piece verified (owner.go, next to
//     t.c.cache.Put(t.cacheKey(i), data)): if t.tier != nil { t.tier.Put(i, data) }.
//     It never blocks the owner.
//  4. Reads check RAM, then the tier, then the network: Torrent.pieceData (any
//     goroutine) gets from the RAM cache; on a miss, tier.Get(i) on the
//     reader's own goroutine (never the owner's: it reads and hashes up to a
//     piece), and on success cache.Put(key, data) so the next READs of that
//     piece hit RAM; ErrNotFound or ErrCorrupt fall through to want{piece}.
//     The owner's "is it here already" checks (cache.Has in owner.go) add
//     tier.Has(i). Uploads read blocks the same way (RAM, then tier), off the
//     owner goroutine.
//  5. HAVE honesty. With a tier, advertise the tier: BITFIELD to a new peer is
//     tier.Bitfield(), HAVE goes out on Stored (not on verification), and
//     on Evicted the piece leaves the set we advertise to new peers; a peer
//     that asks for it gets REJECT (BEP 6), or a choke without the fast
//     extension. A Layout never evicts, so what it advertised stays true; a
//     DiskCache evicts only the least recently used of a large bound, and
//     never what another process advertised. With RAM only, advertise what
//     the RAM cache's pinned set can keep (issue 13, point 4).
//  6. get and seed: get is a torrent with a Layout and --fetch all; when
//     Layout.Complete() it is a seed without re-reading; seed opens the same
//     Layout (partial data seeds what it holds). Layout.Sync when the download
//     completes, Close on exit.
//  7. Status: DiskCache.Stats (every torrent) and Tier.Stats per torrent:
//     bytes held, hits, misses, writes, write errors, drops, evictions,
//     corrupt, degraded.
//
// # Default
//
// Recommended: a modest disk cache in the user's cache folder
// ($XDG_CACHE_HOME/hyperblow/pieces, else ~/.cache/hyperblow/pieces), 2 GiB
// capped at a tenth of the free space there, --disk-cache 0 for RAM only.
// The measured waste of RAM only (a rewatch, a seek back past the cache or a
// remount downloads again; two concurrent copies fetched 28 % twice) and the
// partial seed that lies both come from holding pieces in RAM alone, and the
// cost of the disk tier is off the read path (write-behind, drops instead of
// waits). The cache folder is the place the XDG spec gives to data that may be
// deleted at any time, which is what this is; a folder that is full, read-only
// or missing degrades to RAM only with a warning, never a failure to mount.
package storage
