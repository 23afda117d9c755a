package storage

// LimitQueue lowers the write-behind queue's bound to n bytes (n > 0, and
// below the bound it has). The engine calls it with a share of its RAM cache:
// a queued piece the RAM cache has evicted is memory the cache's budget does
// not count, and the process's memory limit is the cache plus a small margin.
// With the default 64 MiB queue over a 64 MiB cache, the Go runtime collected
// garbage nearly all the time to stay under that limit (bench/tier: cp with the
// disk tier at 0.31x the rate of RAM only, 4x the CPU). A smaller queue drops
// more pieces only when the disk is slower than the network, where any queue
// fills.
func (c *DiskCache) LimitQueue(n int64) {
	if n <= 0 {
		return
	}
	c.q.mu.Lock()
	lower := n < c.q.max
	c.q.mu.Unlock()
	if lower {
		c.q.setMax(n)
	}
}

// QueueLimit is the write-behind queue's bound in bytes.
func (c *DiskCache) QueueLimit() int64 {
	c.q.mu.Lock()
	defer c.q.mu.Unlock()
	return c.q.max
}
