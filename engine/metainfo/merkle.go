package metainfo

import (
	"crypto/sha256"
	"math/bits"
)

// BEP 52 merkle trees: the leaves are the SHA-256 of each 16 KiB block of a file (the
// last one may be shorter); a tree's width is a power of two, and leaves past the end of
// the file are 32 zero bytes, so a missing subtree of height h hashes to zeroHash(h).

// BlockSize is the leaf size of BEP 52 merkle trees.
const BlockSize = 16 << 10

// zeroHashes[h] is the root of a subtree of height h whose leaves are all zero hashes.
var zeroHashes = func() (z [64][32]byte) {
	for h := 1; h < len(z); h++ {
		z[h] = sha256.Sum256(append(z[h-1][:], z[h-1][:]...))
	}
	return z
}()

// nextPow2 returns the smallest power of two >= n (1 for n <= 1).
func nextPow2(n int) int {
	if n <= 1 {
		return 1
	}
	return 1 << bits.Len(uint(n-1))
}

// merkleRoot reduces a layer of 32-byte hashes to its root, as a tree of width
// hashes (a power of two >= len(layer)/32) whose missing entries are pad, a subtree root
// of the layer's own height. layer is overwritten.
func merkleRoot(layer []byte, width int, pad [32]byte) [32]byte {
	n := len(layer) / 32
	if n == 0 {
		return rootOfPads(pad, width)
	}
	var pair [64]byte
	for width > 1 {
		half := (n + 1) / 2
		for k := 0; k < half; k++ {
			copy(pair[:32], layer[64*k:])
			if 2*k+1 < n {
				copy(pair[32:], layer[64*k+32:])
			} else {
				copy(pair[32:], pad[:])
			}
			s := sha256.Sum256(pair[:])
			copy(layer[32*k:], s[:])
		}
		copy(pair[:32], pad[:])
		copy(pair[32:], pad[:])
		pad = sha256.Sum256(pair[:])
		n, width = half, width/2
	}
	return [32]byte(layer[:32])
}

func rootOfPads(pad [32]byte, width int) [32]byte {
	for ; width > 1; width /= 2 {
		pad = sha256.Sum256(append(pad[:], pad[:]...))
	}
	return pad
}

// leafHashes appends the SHA-256 of each 16 KiB block of data (the last one may be
// shorter) to dst.
func leafHashes(dst, data []byte) []byte {
	for len(data) > 0 {
		n := min(len(data), BlockSize)
		s := sha256.Sum256(data[:n])
		dst = append(dst, s[:]...)
		data = data[n:]
	}
	return dst
}

// MerkleRoot returns the BEP 52 "pieces root" of a file's content: the root of the tree
// over its 16 KiB blocks, of width the next power of two of the block count. It is the
// zero hash for empty data, which BEP 52 leaves out of the torrent.
func MerkleRoot(data []byte) [32]byte {
	leaves := leafHashes(make([]byte, 0, 32*((len(data)+BlockSize-1)/BlockSize)), data)
	return merkleRoot(leaves, nextPow2(len(leaves)/32), [32]byte{})
}

// pieceRoot returns the root of the subtree of one piece of pieceLength bytes over data,
// the piece's part of a file (shorter for a file's last piece, whose missing leaves are
// zero hashes). buf is scratch space, reused when large enough.
func pieceRoot(data []byte, pieceLength int64, buf []byte) ([32]byte, []byte) {
	buf = leafHashes(buf[:0], data)
	return merkleRoot(buf, int(pieceLength/BlockSize), [32]byte{}), buf
}

// layerRoot returns the root of a file's tree given its piece layer (one hash per piece)
// and the piece length: the layer is padded with the roots of all-zero pieces.
func layerRoot(layer []byte, pieceLength int64) [32]byte {
	h := bits.TrailingZeros64(uint64(pieceLength / BlockSize))
	return merkleRoot(layer, nextPow2(len(layer)/32), zeroHashes[h])
}
