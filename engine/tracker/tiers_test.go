package tracker

import (
	"context"
	"errors"
	"reflect"
	"testing"
)

func noShuffle(int, func(i, j int)) {}

// tryScript answers announces from a set of working URLs and records the order tried.
type tryScript struct {
	works map[string]bool
	tried []string
}

func (s *tryScript) try(_ context.Context, u string) (*AnnounceResponse, error) {
	s.tried = append(s.tried, u)
	if s.works[u] {
		return &AnnounceResponse{}, nil
	}
	return nil, errors.New("down: " + u)
}

func TestTiersMoveWorkingToFront(t *testing.T) {
	tl := newTierList([][]string{{"a1", "a2", "a3"}, {"b1"}}, noShuffle)
	s := &tryScript{works: map[string]bool{"a2": true}}
	_, u, err := walkTier(context.Background(), tl.tiers[0], s.try)
	if err != nil || u != "a2" {
		t.Fatalf("got %q, %v; want a2", u, err)
	}
	if want := []string{"a1", "a2"}; !reflect.DeepEqual(s.tried, want) {
		t.Fatalf("tried %v, want %v", s.tried, want)
	}
	tl.promote(0, u)
	if want := [][]string{{"a2", "a1", "a3"}, {"b1"}}; !reflect.DeepEqual(tl.urls(), want) {
		t.Fatalf("order %v, want %v", tl.urls(), want)
	}
	s.tried = nil
	walkTier(context.Background(), tl.tiers[0], s.try)
	if want := []string{"a2"}; !reflect.DeepEqual(s.tried, want) {
		t.Fatalf("second round tried %v, want %v", s.tried, want)
	}
}

func TestTiersDropEmpty(t *testing.T) {
	tl := newTierList([][]string{{"a1", "a2"}, {}, {"", "b1", "b2"}, {"c1"}}, noShuffle)
	if want := [][]string{{"a1", "a2"}, {"b1", "b2"}, {"c1"}}; !reflect.DeepEqual(tl.urls(), want) {
		t.Fatalf("tiers %v, want %v", tl.urls(), want)
	}
	// A working tracker moves only within its own tier; tier order is fixed.
	tl.promote(1, "b2")
	if want := [][]string{{"a1", "a2"}, {"b2", "b1"}, {"c1"}}; !reflect.DeepEqual(tl.urls(), want) {
		t.Fatalf("order %v, want %v", tl.urls(), want)
	}
}

func TestTiersAllFail(t *testing.T) {
	s := &tryScript{}
	_, _, err := walkTier(context.Background(), []string{"a", "b"}, s.try)
	if err == nil || len(s.tried) != 2 {
		t.Fatalf("got %v after %v", err, s.tried)
	}
}

func TestTiersStopOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &tryScript{}
	_, _, err := walkTier(ctx, []string{"a", "b"}, func(ctx context.Context, u string) (*AnnounceResponse, error) {
		cancel()
		return s.try(ctx, u)
	})
	if !errors.Is(err, context.Canceled) || len(s.tried) != 1 {
		t.Fatalf("got %v after %v", err, s.tried)
	}
}

func TestTiersShuffleOnce(t *testing.T) {
	calls := 0
	rev := func(n int, swap func(i, j int)) {
		calls++
		for i := 0; i < n/2; i++ {
			swap(i, n-1-i)
		}
	}
	src := [][]string{{"a", "b", "c"}, {"d"}}
	tl := newTierList(src, rev)
	if want := [][]string{{"c", "b", "a"}, {"d"}}; !reflect.DeepEqual(tl.urls(), want) || calls != 2 {
		t.Fatalf("got %v after %d shuffles", tl.urls(), calls)
	}
	if src[0][0] != "a" {
		t.Fatal("the caller's slice was shuffled")
	}
}
