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
// handle's position and grow its readahead. A FUSE READ becomes Reader.ReadAt with
// the request's context: it blocks until the bytes are verified. Reads are always
// full; a short read means end of file to the kernel.
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
