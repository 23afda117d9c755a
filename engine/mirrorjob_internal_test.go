package engine

import (
	"testing"

	"github.com/hyperblow/hyperblow/engine/bt"
	"github.com/hyperblow/hyperblow/engine/metainfo"
)

// TestMirrorJobBlocks: a job asks for mirrorJobTime of the mirror's rate in
// whole pieces, at least mirrorMinJob (and one piece), at most mirrorMaxJob.
// A stream that outruns the read-ahead gets this much in its job beyond the
// depth (seekBeyondDepth), not one piece.
func TestMirrorJobBlocks(t *testing.T) {
	perMiB := (1 << 20) / bt.BlockSize
	for _, c := range []struct {
		plen int64
		rate float64
		want int // blocks
	}{
		{1 << 20, 0, perMiB},                 // no rate yet: mirrorMinJob
		{1 << 20, 4.5e6, 5 * perMiB},         // 4.5 MB/s: five 1 MiB pieces
		{1 << 20, 1e9, 8 * perMiB},           // capped at mirrorMaxJob
		{4 << 20, 0, 4 * perMiB},             // at least one piece
		{256 << 10, 1.5e6, 6 * (perMiB / 4)}, // 1.5 MB/s in 256 KiB pieces
	} {
		tor := &Torrent{info: &metainfo.Info{PieceLength: c.plen}}
		if got := tor.mirrorJobBlocks(&mirror{rate: c.rate}); got != c.want {
			t.Errorf("pieces of %d, rate %.0f: %d blocks, want %d", c.plen, c.rate, got, c.want)
		}
	}
}
