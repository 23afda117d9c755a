package engine

// PiecesInRAM counts the pieces in [lo, hi) that are in the RAM cache now, and
// their bytes: the RAM tier's share of what PiecesHeld counts (the rest is on
// disk). It costs one cache lookup per piece.
func (t *Torrent) PiecesInRAM(lo, hi int) (pieces int, bytes int64) {
	info := t.Info()
	if info == nil {
		return 0, 0
	}
	lo, hi = max(lo, 0), min(hi, info.NumPieces)
	for i := lo; i < hi; i++ {
		if t.c.cache.Has(t.cacheKey(i)) {
			pieces++
			bytes += info.PieceLen(i)
		}
	}
	return pieces, bytes
}
