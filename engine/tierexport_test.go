package engine

// SetTierHoldBytes changes how many bytes of the pieces its tier refused a
// torrent keeps (holdUnstored; 0: none) and returns a func that restores the
// bound.
func SetTierHoldBytes(n int64) (restore func()) {
	if n == 0 {
		n = -1
	}
	old := tierHoldTest.Swap(n)
	return func() { tierHoldTest.Store(old) }
}
