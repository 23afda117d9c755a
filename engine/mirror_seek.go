package engine

import (
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
)

// A read that waits for a piece no job holds, on a mirror whose jobs (all it
// may run, mirrorJobs) are read-ahead, waited for a job to end before its
// piece was even asked: over the WAN lab's 80 ms link (bench/wild --wan, 1 MiB
// pieces) a fresh mount's seek after its first read, the head and tail it
// primes in flight, took 0.6 s at 10 MB/s and 2.1-2.4 s at 2 MB/s, against
// 0.18 and 0.6 s for curl to fetch the piece. As a peer's urgent block may go
// beyond its pipeline's depth (picker.PickUrgent), the waited piece now gets a
// job at once, beyond mirrorJobs; and when it is a seek away from every job
// (seekAway: not a stream's next piece, where the tail that opening the file
// wants would be cancelled and asked again at each wait), the read-ahead jobs
// that would keep the link for longer than mirrorSeekPreempt are cancelled,
// their blocks going back to the picker and the cancel not counted as a
// failure, so the waited piece has the mirror's path (which its connections
// share) to itself instead of a third of it.

// mirrorSeekPreempt is how long a read-ahead job may still keep the mirror
// busy, at the mirror's rate, and not be cancelled for a seek's piece.
const mirrorSeekPreempt = 50 * time.Millisecond

// seekBeyondDepth starts a job for urgent pieces on a mirror whose jobs are
// all read-ahead and at mirrorJobs, cancelling those that a seek should not
// wait behind (owner).
func (t *Torrent) seekBeyondDepth(mr *mirror, now time.Time) {
	if mr.banned || mr.noRange || now.Before(mr.retryAt) || len(mr.jobs) < mirrorJobs {
		return
	}
	for job := range mr.jobs {
		if job.urgent || job.preempted {
			return // a read's piece is on its way already, or one was just started
		}
	}
	pieces := max(1, (int64(mirrorMinJob)+t.info.PieceLength-1)/t.info.PieceLength)
	n := int((pieces*t.info.PieceLength + bt.BlockSize - 1) / bt.BlockSize)
	blocks := t.pk.PickUrgent(mr.key, hasAll, n, now)
	if len(blocks) == 0 {
		return
	}
	runs := t.contiguousRuns(blocks)
	rate := max(mr.rate, mirrorMinRate)
	seek := true
	for job := range mr.jobs {
		seek = seek && t.seekAway(job, runs[0][0].Piece)
	}
	if !seek {
		// A stream that outruns the read-ahead: its next urgent pieces join
		// the job, up to the usual size (mirrorJobBlocks), rather than go
		// out one request per piece, each a round trip more on a path
		// whose losses keep the window small.
		if more := t.mirrorJobBlocks(mr) - len(blocks); more > 0 {
			blocks = append(blocks, t.pk.PickUrgent(mr.key, hasAll, more, now)...)
			runs = t.contiguousRuns(blocks)
		}
	}
	for job := range mr.jobs {
		if !seek {
			break // a stream's next pieces: the new job runs beside them
		}
		var left int64
		for _, b := range job.blocks[job.delivered:] {
			left += int64(b.Length)
		}
		if time.Duration(float64(left)/rate*float64(time.Second)) > mirrorSeekPreempt {
			job.preempted = true
			job.cancel()
			mr.preempted.Add(1)
			t.log.Debug("web seed: read-ahead job cancelled for a seek", "url", mr.m.URL(),
				"pieces", [2]int{job.blocks[0].Piece, job.blocks[len(job.blocks)-1].Piece}, "left", left,
				"for", runs[0][0].Piece)
		}
	}
	t.log.Debug("web seed: urgent job beyond the mirror's depth", "url", mr.m.URL(), "piece", runs[0][0].Piece)
	for _, run := range runs {
		t.startMirrorJob(mr, run, true)
	}
}

// seekAway reports whether a read waiting for piece p is a seek away from the
// job: no reader's window holds both p and a piece the job has yet to
// deliver (a stream's read-ahead, which its next reads need), and no read
// waits for such a piece (the kernel's readahead READs run ahead of a stream's
// reads and wait too).
func (t *Torrent) seekAway(job *mirrorJob, p int) bool {
	left := job.blocks[job.delivered:]
	if len(left) == 0 {
		return false
	}
	for _, b := range left {
		if t.futures[b.Piece] != nil {
			return false
		}
	}
	first, last := left[0].Piece, left[len(left)-1].Piece
	for _, w := range t.windows {
		if p >= w.lo && p < w.hi && first < w.hi && last >= w.lo {
			return false
		}
	}
	return true
}
