// Package fs presents torrents as a read-only FUSE filesystem (go-fuse v2).
//
// # Tree
//
// The tree is built once, when the root is added (OnAdd), from the torrent's
// validated file list: every directory and file is a persistent inode, so lookup,
// readdir and getattr are answered from memory in O(1) per entry and never wait on
// the network. Sizes and modes are right before a byte is fetched. Content is
// immutable, so entries are cached by the kernel for a long time and files are
// opened with FOPEN_KEEP_CACHE; attributes are kept for a second only, because a
// file's st_blocks follows the bytes held (blocks.go). Options.UID, GID and Umask
// set owner and modes, which the kernel enforces (default_permissions).
//
// # Reads
//
// Each open file handle holds one engine.Reader, so the engine can follow that
// handle's position and grow its readahead. A FUSE READ becomes
// Reader.ReadShared with the request's context: it blocks until the bytes are
// verified, and the reply is the verified pieces' own memory (one slice per
// piece, written to /dev/fuse with writev), not a copy: piece memory is never
// reused, so it stays valid while go-fuse writes it. Reads are always full; a
// short read means end of file to the kernel.
//
// go-fuse's readers wait for requests in a blocking read(2), each holding a P
// meanwhile; Mount adds as many Ps to the process as they can hold (procs.go),
// so that the goroutines a READ wakes never wait for the runtime to take one
// back.
//
// # Interrupts
//
// When the reading process is signalled, the kernel sends INTERRUPT and go-fuse
// cancels the request's context: the read returns EINTR at once and its wait is
// withdrawn, while the engine keeps what is already in flight (a Go program reading
// the mount is interrupted by its own runtime and simply retries).
//
// # Errors
//
// errno is the one place where engine errors become errno values.
package fs
