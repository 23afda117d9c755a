package session

import (
	"github.com/hyperblow/hyperblow/engine"
	"github.com/hyperblow/hyperblow/engine/storage"
)

// Each tier in the status JSON (issue 13, point 6):
//
//	torrents[].tier            where the torrent's pieces are, and what its
//	                           reads found in each tier:
//	  ram_bytes                piece bytes in the RAM cache now (0 in the
//	                           terminal view's light snapshots)
//	  ram_hits                 pieces served to readers from RAM
//	  disk                     true when the torrent has a disk tier
//	  disk_bytes               piece bytes held on disk now
//	  disk_hits, disk_misses   pieces served from disk; RAM misses the disk
//	                           did not hold either (they went to the swarm)
//	  disk_writes              pieces written to disk
//	  disk_queued_bytes        verified bytes waiting to be written (write-behind)
//	  disk_dropped             pieces not written: the queue was full, or the
//	                           disk tier stopped writing (degraded)
//	  disk_write_errors, disk_evictions, disk_corrupt (failed verification on
//	                           read, dropped and fetched again)
//	  disk_degraded, disk_error  writes stopped after an error (a full disk, a
//	                           read-only folder): stored pieces are still
//	                           served, new ones stay in RAM
//	  advertised               pieces a new peer is told we have
//	  rejected_requests, peers_reset  peer requests for pieces no longer held,
//	                           refused, and connections reset for insisting
//	disk                       the disk cache folder, every torrent (absent
//	                           without one): held_bytes (piece files, headers
//	                           included), max_bytes (--disk-cache),
//	                           queued_bytes, hits, misses, writes,
//	                           write_errors, dropped, evictions, corrupt,
//	                           degraded, error

// TierStatus is a torrent's "tier" object.
type TierStatus struct {
	RAMBytes         int64  `json:"ram_bytes"`
	RAMHits          int64  `json:"ram_hits"`
	Disk             bool   `json:"disk"`
	DiskBytes        int64  `json:"disk_bytes"`
	DiskHits         int64  `json:"disk_hits"`
	DiskMisses       int64  `json:"disk_misses"`
	DiskWrites       int64  `json:"disk_writes"`
	DiskQueuedBytes  int64  `json:"disk_queued_bytes"`
	DiskDropped      int64  `json:"disk_dropped"`
	DiskWriteErrors  int64  `json:"disk_write_errors"`
	DiskEvictions    int64  `json:"disk_evictions"`
	DiskCorrupt      int64  `json:"disk_corrupt"`
	DiskDegraded     bool   `json:"disk_degraded"`
	DiskError        string `json:"disk_error,omitempty"`
	Advertised       int    `json:"advertised"`
	RejectedRequests int64  `json:"rejected_requests"`
	PeersReset       int64  `json:"peers_reset"`
}

// DiskStatus is the "disk" object: the whole disk cache folder.
type DiskStatus struct {
	HeldBytes   int64  `json:"held_bytes"`
	MaxBytes    int64  `json:"max_bytes"`
	QueuedBytes int64  `json:"queued_bytes"`
	Hits        int64  `json:"hits"`
	Misses      int64  `json:"misses"`
	Writes      int64  `json:"writes"`
	WriteErrors int64  `json:"write_errors"`
	Dropped     int64  `json:"dropped"`
	Evictions   int64  `json:"evictions"`
	Corrupt     int64  `json:"corrupt"`
	Degraded    bool   `json:"degraded"`
	Error       string `json:"error,omitempty"`
}

// tierStatus is a torrent's tier object; ramBytes is counted by the caller
// (it costs a lookup per piece).
func tierStatus(s engine.TierStats, ramBytes int64) TierStatus {
	ts := TierStatus{RAMBytes: ramBytes, RAMHits: s.RAMHits, Disk: s.HasDisk, DiskHits: s.DiskHits, DiskMisses: s.DiskMisses,
		Advertised: s.Advertised, RejectedRequests: s.RejectedRequests, PeersReset: s.PeersReset}
	if s.HasDisk {
		d := s.Disk
		ts.DiskBytes, ts.DiskWrites, ts.DiskQueuedBytes, ts.DiskDropped = d.HeldBytes, d.Writes, d.QueuedBytes, d.Dropped
		ts.DiskWriteErrors, ts.DiskEvictions, ts.DiskCorrupt = d.WriteErrors, d.Evictions, d.Corrupt
		ts.DiskDegraded, ts.DiskError = d.Degraded, d.LastError
	}
	return ts
}

// diskStatus is the "disk" object, nil without a disk cache.
func diskStatus(d storage.Stats) *DiskStatus {
	if d.MaxBytes == 0 {
		return nil
	}
	return &DiskStatus{HeldBytes: d.HeldBytes, MaxBytes: d.MaxBytes, QueuedBytes: d.QueuedBytes, Hits: d.Hits, Misses: d.Misses,
		Writes: d.Writes, WriteErrors: d.WriteErrors, Dropped: d.Dropped, Evictions: d.Evictions, Corrupt: d.Corrupt,
		Degraded: d.Degraded, Error: d.LastError}
}

// tierMetrics are the per-torrent /metrics of each tier.
var tierMetrics = []struct {
	name, typ, help string
	value           func(t TorrentStatus) float64
}{
	{"hyperblow_ram_held_bytes", "gauge", "Piece bytes of the torrent in the RAM cache.", func(t TorrentStatus) float64 { return float64(t.Tier.RAMBytes) }},
	{"hyperblow_ram_hits_total", "counter", "Pieces served to readers from the RAM cache.", func(t TorrentStatus) float64 { return float64(t.Tier.RAMHits) }},
	{"hyperblow_disk_held_bytes", "gauge", "Piece bytes of the torrent held in the disk tier.", func(t TorrentStatus) float64 { return float64(t.Tier.DiskBytes) }},
	{"hyperblow_disk_hits_total", "counter", "Pieces served to readers from the disk tier.", func(t TorrentStatus) float64 { return float64(t.Tier.DiskHits) }},
	{"hyperblow_disk_misses_total", "counter", "RAM misses the disk tier did not hold either.", func(t TorrentStatus) float64 { return float64(t.Tier.DiskMisses) }},
	{"hyperblow_disk_writes_total", "counter", "Pieces written to the disk tier.", func(t TorrentStatus) float64 { return float64(t.Tier.DiskWrites) }},
	{"hyperblow_disk_dropped_total", "counter", "Verified pieces not written to the disk tier (queue full, or writes stopped).", func(t TorrentStatus) float64 { return float64(t.Tier.DiskDropped) }},
	{"hyperblow_disk_write_errors_total", "counter", "Failed writes to the disk tier.", func(t TorrentStatus) float64 { return float64(t.Tier.DiskWriteErrors) }},
	{"hyperblow_disk_degraded", "gauge", "1 when the disk tier stopped writing after an error (full disk, read-only folder), else 0.", func(t TorrentStatus) float64 {
		if t.Tier.DiskDegraded {
			return 1
		}
		return 0
	}},
}
