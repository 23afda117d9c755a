package tracker

import (
	"context"
	"errors"
	"math/rand/v2"
)

// tierList is a BEP 12 announce-list: trackers in tiers; within a tier, in an order
// shuffled once, with the last one that answered moved to the front. It is owned by
// one goroutine (the Announcer's Run) and has no lock.
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

// walkTier calls try for each tracker of one tier, in order, until one succeeds, and
// returns its answer and URL. If every tracker fails it returns all their errors
// joined; it stops early when ctx ends. urls is not changed: the caller moves the
// one that answered to the front with promote.
func walkTier(ctx context.Context, urls []string, try func(ctx context.Context, url string) (*AnnounceResponse, error)) (*AnnounceResponse, string, error) {
	var errs []error
	for _, u := range urls {
		resp, err := try(ctx, u)
		if err == nil {
			return resp, u, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			return nil, "", ctx.Err()
		}
	}
	return nil, "", errors.Join(errs...)
}

// promote moves u to the front of tier i (BEP 12: the tracker that answered is
// asked first next time). The order of the others is kept.
func (t *tierList) promote(i int, u string) {
	tier := t.tiers[i]
	for k, v := range tier {
		if v == u {
			copy(tier[1:k+1], tier[:k])
			tier[0] = u
			return
		}
	}
}

// urls returns the current order, for tests and status.
func (t *tierList) urls() [][]string {
	out := make([][]string, len(t.tiers))
	for i, tier := range t.tiers {
		out[i] = append([]string(nil), tier...)
	}
	return out
}
