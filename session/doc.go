// Package session owns the set of torrents of one Hyperblow process, on one
// engine client: mount (one torrent or many), get, seed and info all go
// through it; cmd/hyperblow only turns flags into a Config, wires the session
// to a mount (Folders) and prints.
//
// What it does:
//   - Sources. ParseSource turns a SOURCE (a .torrent file, an http(s) URL of
//     one, a magnet link, an info-hash) into a Source. Start starts one
//     torrent on its own (get, seed, info); Add puts it in the set, where
//     each info-hash is one torrent however many sources hold it (refcounted:
//     Remove drops one source, and the torrent goes with the last).
//   - Watched folders. Watch follows a folder's *.torrent and *.magnet files:
//     a file whole and quiet is added, a file removed is removed (inotify,
//     and a rescan for what it misses).
//   - One cache budget. Config.CacheSize and Readahead size the engine
//     client's one cache, shared by every torrent, and the process's memory
//     limit; nothing else sizes them.
//   - One status. Snapshot is the status of every torrent and magnet, the
//     process's goroutines and open connections: GET /status serves it as
//     JSON, /metrics as Prometheus text (Handler), the terminal view
//     (package termview) draws it. Nothing gathers status a second way.
//   - The idle policy. The engine does the timing (Config.Idle): a torrent
//     nothing reads for that long sleeps. The session decides which may:
//     none with Config.NoSleep (seed, get --seed), each other one.
//
// The lifecycle of a torrent, as Snapshot shows it (TorrentStatus.State, and
// magnets[] while there is no torrent yet):
//
//	magnet ──> resolving ──(metadata verified)──> active <──> sleeping
//	               │                                │   (nothing read for --idle;
//	               v                                v    the next read wakes it)
//	             failed                          seeding (holds every piece;
//	   (not found in --metadata-timeout)          with NoSleep it never sleeps)
//	.torrent ─────────────────────────────────> active
//
// A torrent leaves the set when its last source goes: its folder leaves the
// mount at once (Folders.Remove), and the torrent stops once nothing in the
// folder is open. Stop ends every change (additions, removals, resolutions,
// watchers) and waits for those under way; Close then stops the engine.
//
// Magnets. Today a magnet resolves through engine.Client.Resolve and then
// starts a torrent with the peers that gave the metadata; this is done in one
// function, startMagnet, the only place that knows how.
//
// Concurrency. Session.mu guards the set; the engine is changed under it (or
// by a removal counted in a WaitGroup) so that Stop can end every change
// before the client closes. Folders.Add and Remove are called with mu held;
// Attach and Failed without. Entry.mu guards one entry's torrent and
// metadata; it is taken after Session.mu, never before.
package session
