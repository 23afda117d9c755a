package tracker

import (
	"context"
	"errors"
	"math/rand/v2"
)

// tierList is a BEP 12 announce-list: tiers tried in order; within a tier, trackers in
// an order shuffled once, with the last one that answered moved to the front. It is
// owned by one goroutine (the Announcer's) and has no lock.
type tierList struct {
	tiers [][]string
}

// newTierList copies src without empty URLs or tiers and shuffles each tier with
// shuffle (rand.Shuffle when nil).
func newTierList(src [][]string, shuffle func(n int, swap func(i, j int))) *tierList {
	if shuffle == nil {
		shuffle = rand.Shuffle
	}
	t := &tierList{}
	for _, tier := range src {
		var urls []string
		for _, u := range tier {
			if u != "" {
				urls = append(urls, u)
			}
		}
		if len(urls) == 0 {
			continue
		}
		shuffle(len(urls), func(i, j int) { urls[i], urls[j] = urls[j], urls[i] })
		t.tiers = append(t.tiers, urls)
	}
	return t
}

// errNoTrackers is returned by announce when the list is empty.
var errNoTrackers = errors.New("no trackers")

// announce calls try for each tracker in BEP 12 order until one succeeds, moves that
// tracker to the front of its tier, and returns its answer and URL. If every tracker
// fails it returns all their errors joined; it stops early when ctx ends.
func (t *tierList) announce(ctx context.Context, try func(ctx context.Context, url string) (*AnnounceResponse, error)) (*AnnounceResponse, string, error) {
	if len(t.tiers) == 0 {
		return nil, "", errNoTrackers
	}
	var errs []error
	for _, tier := range t.tiers {
		for i, u := range tier {
			resp, err := try(ctx, u)
			if err == nil {
				copy(tier[1:i+1], tier[:i])
				tier[0] = u
				return resp, u, nil
			}
			errs = append(errs, err)
			if ctx.Err() != nil {
				return nil, "", ctx.Err()
			}
		}
	}
	return nil, "", errors.Join(errs...)
}

// urls returns the current order, for tests and status.
func (t *tierList) urls() [][]string {
	out := make([][]string, len(t.tiers))
	for i, tier := range t.tiers {
		out[i] = append([]string(nil), tier...)
	}
	return out
}
