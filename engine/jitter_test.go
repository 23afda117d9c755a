package engine

import (
	"testing"
	"time"
)

// The readahead horizon stays readaheadHorizon while the swarm delivers
// steadily, grows (up to 3x) when its delivery swings, and ignores the
// windows in which nothing was asked.
func TestDeliveryJitterHorizon(t *testing.T) {
	const tick = 250 * time.Millisecond
	run := func(rates []float64, busy func(i int) bool) time.Duration {
		var j deliveryJitter
		var h time.Duration
		for i, r := range rates { // one rate per second, 4 ticks each
			for range 4 {
				b := busy(i)
				got := int64(r * tick.Seconds())
				if !b {
					got = 0
				}
				h = j.sample(got, tick, b)
			}
		}
		return h
	}
	always := func(int) bool { return true }
	steady := make([]float64, 20)
	for i := range steady {
		steady[i] = 2e6
	}
	if h := run(steady[:2], always); h != 0 {
		t.Errorf("after 2 s: horizon %v, want 0 (not known yet)", h)
	}
	if h := run(steady, always); h < readaheadHorizon || h > readaheadHorizon*11/10 {
		t.Errorf("steady 2 MB/s: horizon %v, want about %v", h, readaheadHorizon)
	}
	swing := make([]float64, 20)
	for i := range swing {
		swing[i] = float64(i%2) * 4e6 // 0, 4, 0, 4 MB/s: a peer that stalls every other second
	}
	if h := run(swing, always); h < 2*readaheadHorizon {
		t.Errorf("delivery swinging 0-4 MB/s: horizon %v, want at least %v", h, 2*readaheadHorizon)
	}
	// Seconds with nothing outstanding (a reader that has what it asked
	// for) are not swings in delivery.
	if h := run(swing, func(i int) bool { return i%2 == 1 }); h < readaheadHorizon || h > readaheadHorizon*11/10 {
		t.Errorf("idle every other second: horizon %v, want about %v", h, readaheadHorizon)
	}
}
