package engine

import (
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine/peerconn"
)

// The peak rate is measured over a second of ticks: a tick that brings a
// lost segment's held-back data at once does not count as a faster peer,
// while a peer's first busy tick still counts in full (a ramping peer is
// not held back).
func TestPeakRateOverWindow(t *testing.T) {
	p := &peer{peerChoking: true}
	tr := &Torrent{peers: map[*peerconn.Conn]*peer{nil: p}}
	tick := func(b int64) {
		p.down += b
		tr.updateRates(250 * time.Millisecond)
	}
	tick(512 << 10) // 2 MiB/s from the first tick
	if p.peakRate < 1.9*(1<<20) {
		t.Fatalf("peak %.0f B/s after a first tick of 2 MiB/s, want it at once", p.peakRate)
	}
	for range 8 {
		tick(512 << 10)
	}
	tick(0)       // a loss: the kernel holds what came behind it
	tick(1 << 20) // and hands it over with the retransmission: 4 MiB/s in one tick
	tick(512 << 10)
	if p.peakRate > 2.1*(1<<20) {
		t.Fatalf("peak %.2f MiB/s after a bunched tick on a 2 MiB/s peer, want about 2", p.peakRate/(1<<20))
	}
}
