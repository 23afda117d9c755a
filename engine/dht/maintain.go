package dht

import (
	"context"
	"time"
)

// Maintenance limits per tick.
const (
	maxRefreshesPerTick = 4
	maxPingsPerTick     = maxVerifying / 2
)

// maintainLoop runs maintain periodically until Close.
func (n *Node) maintainLoop() {
	defer n.wg.Done()
	tick := min(max(n.cfg.RefreshInterval/4, time.Second), time.Minute)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case now := <-t.C:
			n.maintain(now)
		}
	}
}

// maintain does the periodic work of BEP 5: ping questionable nodes (so that bad ones
// are found and replaced), refresh buckets not changed for RefreshInterval with a
// lookup of a random id in their range, and drop expired announcements. Token secrets
// rotate lazily, when tokens are made or checked.
func (n *Node) maintain(now time.Time) {
	n.mu.Lock()
	var targets []ID
	if n.table.len() > 0 {
		for _, i := range n.table.staleBuckets(now, n.cfg.RefreshInterval, maxRefreshesPerTick) {
			targets = append(targets, n.table.refreshTarget(i))
		}
	}
	qs := n.table.questionable(now, maxPingsPerTick)
	n.store.expire(now)
	n.mu.Unlock()
	for _, q := range qs {
		n.pingAsync(q.Addr)
	}
	for _, target := range targets {
		ctx, cancel := context.WithTimeout(n.ctx, 5*n.cfg.QueryTimeout)
		_, err := n.lookup(ctx, target, methodFindNode, nil, nil)
		cancel()
		if err != nil {
			n.log.Debug("dht: bucket refresh", "target", target, "err", err)
		}
		if n.ctx.Err() != nil {
			return
		}
	}
}
