package engine

import (
	"math"
	"time"
)

// deliveryJitter estimates how unevenly the swarm delivers, to size a
// player's readahead in time: the buffer must hold readaheadHorizon at the
// reader's pace, and more when the swarm's delivery swings (a peer that
// stalls, a link whose rate comes in bursts), so that a dip does not drain it.
//
// It samples the swarm's delivery over windows of a second, counting only
// windows during which some peer's pipeline was kept at least half full at
// every tick (demand above supply: a reader that has all it asked for
// receives little, and that is not jitter), and
// keeps a smoothed mean and mean deviation of those rates, as TCP keeps SRTT
// and RTTVAR.
type deliveryJitter struct {
	acc   int64         // bytes delivered in the current window
	dt    time.Duration // its length so far
	idle  bool          // a tick of it had nothing outstanding
	mean  float64       // smoothed rate of busy windows, bytes/s
	dev   float64       // smoothed mean deviation from it
	count int           // busy windows sampled
}

const jitterWindow = time.Second

// sample adds a tick: bytes delivered over dt, and whether the swarm's
// pipelines were kept full during it. It returns the readahead horizon to use, or 0 while
// it does not know yet.
func (j *deliveryJitter) sample(bytes int64, dt time.Duration, busy bool) time.Duration {
	j.acc += bytes
	j.dt += dt
	j.idle = j.idle || !busy
	if j.dt >= jitterWindow {
		if !j.idle {
			r := float64(j.acc) / j.dt.Seconds()
			if j.count == 0 {
				j.mean, j.dev = r, r/2
			} else {
				j.dev = 0.75*j.dev + 0.25*math.Abs(r-j.mean)
				j.mean = 0.875*j.mean + 0.125*r
			}
			j.count++
		}
		j.acc, j.dt, j.idle = 0, 0, false
	}
	return j.horizon()
}

// horizon is readaheadHorizon stretched by the swarm's relative deviation:
// steady delivery keeps it, delivery that swings by its whole mean triples it
// (the most it grows).
func (j *deliveryJitter) horizon() time.Duration {
	if j.count < 3 || j.mean <= 0 {
		return 0
	}
	f := min(3, 1+2*j.dev/j.mean)
	return time.Duration(f * float64(readaheadHorizon))
}
