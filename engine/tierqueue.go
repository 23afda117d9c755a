package engine

// tierQueueShare bounds the disk cache's write-behind queue to this fraction
// of the RAM cache (storage.DiskCache.LimitQueue says why): 1/4 of it, so
// that pieces queued for the disk and evicted from RAM meanwhile stay within
// the margin the process's memory limit leaves above the cache (48 MiB,
// session.New). Never below tierQueueMin: a burst of a few seconds of reading
// must still fit while the disk catches up (TestDiskTierRemountFetchesNothing
// reads 16 MiB through a 32 MiB cache and wants all of it on disk).
const (
	tierQueueShare = 4
	tierQueueMin   = 16 << 20
)

// boundTierQueue applies tierQueueShare to cfg's disk cache, if any.
func boundTierQueue(cfg Config) {
	if cfg.DiskCache != nil {
		cfg.DiskCache.LimitQueue(max(cfg.CacheSize/tierQueueShare, tierQueueMin))
	}
}
