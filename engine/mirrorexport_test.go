package engine

// MirrorCopied returns how many bytes of t's web seeds' blocks were copied on the
// owner goroutine rather than adopted with the fetch's buffer.
func MirrorCopied(t *Torrent) int64 {
	var n int64
	for _, mr := range t.mirrors {
		n += mr.copied.Load()
	}
	return n
}

// MirrorVerified returns how many pieces t's web seeds delivered verified by
// the job that fetched them, not hashed on a hasher goroutine of the owner's.
func MirrorVerified(t *Torrent) int64 {
	var n int64
	for _, mr := range t.mirrors {
		n += mr.verified.Load()
	}
	return n
}

// MirrorPreempted returns how many read-ahead jobs t's web seeds cancelled for
// a seek's piece.
func MirrorPreempted(t *Torrent) int64 {
	var n int64
	for _, mr := range t.mirrors {
		n += mr.preempted.Load()
	}
	return n
}

// MirrorWaiting reports, from the owner goroutine, how many web-seed jobs are
// in flight and whether a read waits for piece i.
func MirrorWaiting(t *Torrent, i int) (jobs int, waiting bool) {
	t.onOwner(func() {
		for _, mr := range t.mirrors {
			jobs += len(mr.jobs)
		}
		waiting = t.futures[i] != nil
	})
	return jobs, waiting
}

// MirrorSpares reports, from the owner goroutine, whether t's web seeds' spare
// piece buffers were made since it started or last slept, how many are held,
// and how many times they were made.
func MirrorSpares(t *Torrent) (made bool, held, rounds int) {
	t.onOwner(func() {
		made, rounds = t.sparesMade, t.spareRounds
		if len(t.mirrors) > 0 {
			held = len(t.mirrors[0].spares)
		}
	})
	return made, held, rounds
}

// MirrorJobsFor reports, from the owner goroutine, how many web-seed jobs in
// flight are fetching piece i whole, and whether all of its blocks are asked.
func MirrorJobsFor(t *Torrent, i int) (n int, asked bool) {
	t.onOwner(func() {
		asked = t.pk.AllAsked(i)
		for _, mr := range t.mirrors {
			for job := range mr.jobs {
				k := job.blocksLeftOf(i)
				if k > 0 && int64(k)*16<<10 >= t.info.PieceLen(i) {
					n++
				}
			}
		}
	})
	return n, asked
}

// MirrorStreams returns how many open streams t's web seeds hold (a job
// reads them) and keep parked (webseed/stream.go).
func MirrorStreams(t *Torrent) (held, parked int) {
	for _, mr := range t.mirrors {
		h, p := mr.m.Streams()
		held += h
		parked += p
	}
	return held, parked
}

// MirrorContinued returns how many reads t's web seeds made on an open stream
// instead of a request.
func MirrorContinued(t *Torrent) (n int64) {
	for _, mr := range t.mirrors {
		n += mr.m.Continued()
	}
	return n
}
