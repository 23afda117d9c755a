package storage_test

import (
	"errors"
	"log/slog"

	"github.com/hyperblow/hyperblow/cache"
	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/metainfo"
	"github.com/hyperblow/hyperblow/engine/storage"
)

// Example_wiring shows how the engine is meant to use a tier (see the package
// doc): Put after verification, reads from RAM, then the tier, then the swarm,
// and the advertised set following the tier's events.
func Example_wiring() {
	var (
		log   = slog.Default()
		ram   *cache.Cache // the engine's RAM cache
		mt    *metainfo.Torrent
		id    uint32        // the engine's torrent number, for cache keys
		owner chan tierNote // the torrent's owner goroutine reads this
	)
	dir, _ := storage.DefaultCacheDir()
	dc, err := storage.OpenDiskCache(storage.DiskCacheConfig{Dir: dir, MaxBytes: storage.DefaultDiskCacheSize(dir), Log: log})
	if err != nil {
		log.Warn("no disk cache; RAM only", "err", err)
		return
	}
	tier, err := dc.Torrent(storage.SpecOf(mt.InfoHash, mt.Info, storage.Events{
		// Never block: the owner re-reads tier.Bitfield() if a note is lost.
		Stored:  func(i int) { trySend(owner, tierNote{i, true}) },
		Evicted: func(i int) { trySend(owner, tierNote{i, false}) },
	}))
	if err != nil {
		log.Warn("no disk cache for this torrent; RAM only", "err", err)
		return
	}
	advertised := tier.Bitfield() // the BITFIELD sent to new peers

	// In the owner, once piece i verified (data is the immutable piece buffer):
	onVerified := func(i int, data []byte) {
		ram.Put(cache.Key{Torrent: id, Piece: uint32(i)}, data)
		tier.Put(i, data) // queued, never blocks; HAVE follows on Stored
	}

	// In a reader's goroutine (never the owner's): RAM, then disk, then swarm.
	read := func(i int) ([]byte, bool) {
		k := cache.Key{Torrent: id, Piece: uint32(i)}
		if d, ok := ram.Get(k); ok {
			return d, true
		}
		d, err := tier.Get(i) // verified on this read
		switch {
		case err == nil:
			ram.Put(k, d) // the kernel reads a piece in several READs
			return d, true
		case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrCorrupt):
		default:
			log.Warn("disk cache read", "piece", i, "err", err)
		}
		return nil, false // want{piece: i, deadline: now} to the owner
	}

	// In the owner, for each note: HAVE on Stored; on Evicted stop advertising
	// the piece to new peers and REJECT requests for it.
	onNote := func(n tierNote, peersHave []bt.Bitfield) {
		if n.stored {
			advertised.Set(n.piece)
		} else {
			advertised.Clear(n.piece)
		}
	}
	_, _, _ = onVerified, read, onNote
}

type tierNote struct {
	piece  int
	stored bool
}

func trySend(ch chan tierNote, n tierNote) {
	select {
	case ch <- n:
	default:
	}
}
