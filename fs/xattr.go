package fs

import (
	"context"
	"fmt"
	"strings"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"

	"github.com/hyperblow/hyperblow/engine"
)

// Extended attributes tell what a mount holds without reading it, for example
// with `getfattr -d -m user.hyperblow FILE`:
//
//	user.hyperblow.infohash  the torrent's info-hash, 40 hex digits (every node)
//	user.hyperblow.progress  the share of the pieces that are verified and
//	                         still held, in memory or on disk (the disk
//	                         tier), e.g. "37.5%" (files: the
//	                         file's pieces; the root: the whole torrent's)
//	user.hyperblow.pieces    files only: one character per piece of the file,
//	                         '#' held and '.' missing; a file of more than
//	                         MaxPiecesXattr pieces gets one character per run of
//	                         pieces ('+' for a run partly held) and a note
//
// They are computed from the cache and the disk tier's index on every call (the kernel does not cache
// xattrs), so they follow the download; a call never waits for the network or
// the torrent's owner goroutine. It costs one cache lookup per piece.
const (
	XattrInfoHash = "user.hyperblow.infohash"
	XattrProgress = "user.hyperblow.progress"
	XattrPieces   = "user.hyperblow.pieces"
)

// MaxPiecesXattr is the longest user.hyperblow.pieces map, in characters.
const MaxPiecesXattr = 4096

var (
	_ gofs.NodeGetxattrer  = (*file)(nil)
	_ gofs.NodeListxattrer = (*file)(nil)
	_ gofs.NodeGetxattrer  = (*dir)(nil)
	_ gofs.NodeListxattrer = (*dir)(nil)
	_ gofs.NodeGetxattrer  = (*Root)(nil)
	_ gofs.NodeListxattrer = (*Root)(nil)
)

// Getxattr answers the user.hyperblow.* attributes of a file.
func (f *file) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	lo, hi := filePieces(f.t.Info().PieceLength, f.f.Offset, f.f.Length)
	switch attr {
	case XattrInfoHash:
		return putXattr(dest, f.t.InfoHash().String())
	case XattrProgress:
		return putXattr(dest, progress(f.t, lo, hi))
	case XattrPieces:
		return putXattr(dest, pieceMap(f.t.PieceHeld, lo, hi, MaxPiecesXattr))
	}
	return 0, syscall.ENODATA
}

// Listxattr lists a file's attributes.
func (f *file) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	return putXattr(dest, xattrList(XattrInfoHash, XattrProgress, XattrPieces))
}

// Getxattr answers the user.hyperblow.* attributes of a folder: the info-hash,
// and at the root the whole torrent's progress. A magnet mount's root has none
// until the metadata is here.
func (d *dir) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	t, isRoot := d.torrent()
	if t == nil {
		return 0, syscall.ENODATA
	}
	switch {
	case attr == XattrInfoHash:
		return putXattr(dest, t.InfoHash().String())
	case attr == XattrProgress && isRoot:
		return putXattr(dest, progress(t, 0, t.Info().NumPieces))
	}
	return 0, syscall.ENODATA
}

// Listxattr lists a folder's attributes.
func (d *dir) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	t, isRoot := d.torrent()
	switch {
	case t == nil:
		return 0, 0
	case isRoot:
		return putXattr(dest, xattrList(XattrInfoHash, XattrProgress))
	}
	return putXattr(dest, xattrList(XattrInfoHash))
}

// torrent finds the torrent the folder belongs to through its torrent's root
// (the mount's root, or a torrent's folder in a MultiRoot), and whether the
// folder is that root; nil while a magnet resolves.
func (d *dir) torrent() (*engine.Torrent, bool) {
	in := d.EmbeddedInode()
	root := rootOf(in)
	if root == nil {
		return nil, false
	}
	root.mu.Lock()
	defer root.mu.Unlock()
	return root.t, &root.dir == d
}

// putXattr copies val into dest per the getxattr(2) size protocol: a buffer too
// small gets ERANGE and the size needed (go-fuse turns that into the plain
// size when the caller asked for the size only).
func putXattr(dest []byte, val string) (uint32, syscall.Errno) {
	if len(dest) < len(val) {
		return uint32(len(val)), syscall.ERANGE
	}
	return uint32(copy(dest, val)), 0
}

// xattrList is the listxattr(2) form: names, each NUL-terminated.
func xattrList(names ...string) string {
	return strings.Join(names, "\x00") + "\x00"
}

// filePieces is the range of pieces [lo, hi) that bytes [off, off+length) of
// the torrent touch; empty for an empty file.
func filePieces(pieceLen, off, length int64) (lo, hi int) {
	if length <= 0 || pieceLen <= 0 {
		return 0, 0
	}
	return int(off / pieceLen), int((off+length-1)/pieceLen) + 1
}

// progress is the share of pieces [lo, hi) held, as "37.5%"; an empty range
// (an empty file) is complete.
func progress(t *engine.Torrent, lo, hi int) string {
	if hi <= lo {
		return "100.0%"
	}
	held, _ := t.PiecesHeld(lo, hi)
	return formatPercent(held, hi-lo)
}

// formatPercent prints part/whole with one decimal, never rounding up to
// 100.0% before the whole is there nor down to 0.0% once a piece is.
func formatPercent(part, whole int) string {
	if whole <= 0 || part >= whole {
		return "100.0%"
	}
	if part <= 0 {
		return "0.0%"
	}
	tenths := int64(part) * 1000 / int64(whole)
	tenths = min(max(tenths, 1), 999)
	return fmt.Sprintf("%d.%d%%", tenths/10, tenths%10)
}

// pieceMap draws pieces [lo, hi): '#' held, '.' missing. Beyond width pieces,
// each character stands for a run of pieces ('#' all held, '.' none, '+' some)
// and a note says how many.
func pieceMap(held func(int) bool, lo, hi, width int) string {
	n := hi - lo
	if n <= 0 {
		return ""
	}
	if n <= width {
		b := make([]byte, n)
		for i := range b {
			b[i] = '.'
			if held(lo + i) {
				b[i] = '#'
			}
		}
		return string(b)
	}
	b := make([]byte, width)
	for c := range b {
		from, to := lo+c*n/width, lo+(c+1)*n/width
		got := 0
		for i := from; i < to; i++ {
			if held(i) {
				got++
			}
		}
		switch got {
		case 0:
			b[c] = '.'
		case to - from:
			b[c] = '#'
		default:
			b[c] = '+'
		}
	}
	per := (n + width - 1) / width
	return fmt.Sprintf("%s (%d pieces, about %d per character: # all held, + some, . none)", b, n, per)
}
