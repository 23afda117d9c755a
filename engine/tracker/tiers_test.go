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
	_, u, err := tl.announce(context.Background(), s.try)
	if err != nil || u != "a2" {
		t.Fatalf("got %q, %v; want a2", u, err)
	}
	if want := []string{"a1", "a2"}; !reflect.DeepEqual(s.tried, want) {
		t.Fatalf("tried %v, want %v", s.tried, want)
	}
	if want := [][]string{{"a2", "a1", "a3"}, {"b1"}}; !reflect.DeepEqual(tl.urls(), want) {
		t.Fatalf("order %v, want %v", tl.urls(), want)
	}
	s.tried = nil
	tl.announce(context.Background(), s.try)
	if want := []string{"a2"}; !reflect.DeepEqual(s.tried, want) {
		t.Fatalf("second round tried %v, want %v", s.tried, want)
	}
}

func TestTiersInOrder(t *testing.T) {
	tl := newTierList([][]string{{"a1", "a2"}, {}, {"", "b1", "b2"}, {"c1"}}, noShuffle)
	s := &tryScript{works: map[string]bool{"b2": true, "c1": true}}
	_, u, err := tl.announce(context.Background(), s.try)
	if err != nil || u != "b2" {
		t.Fatalf("got %q, %v; want b2", u, err)
	}
	if want := []string{"a1", "a2", "b1", "b2"}; !reflect.DeepEqual(s.tried, want) {
		t.Fatalf("tried %v, want %v", s.tried, want)
	}
	// A working tracker moves only within its own tier; tier order is fixed.
	if want := [][]string{{"a1", "a2"}, {"b2", "b1"}, {"c1"}}; !reflect.DeepEqual(tl.urls(), want) {
		t.Fatalf("order %v, want %v", tl.urls(), want)
	}
}

func TestTiersAllFail(t *testing.T) {
	tl := newTierList([][]string{{"a"}, {"b"}}, noShuffle)
	s := &tryScript{}
	_, _, err := tl.announce(context.Background(), s.try)
	if err == nil || len(s.tried) != 2 {
		t.Fatalf("got %v after %v", err, s.tried)
	}
	if _, _, err := newTierList(nil, nil).announce(context.Background(), s.try); !errors.Is(err, errNoTrackers) {
		t.Fatalf("empty list: got %v", err)
	}
}

func TestTiersStopOnCancel(t *testing.T) {
	tl := newTierList([][]string{{"a", "b"}}, noShuffle)
	ctx, cancel := context.WithCancel(context.Background())
	s := &tryScript{}
	_, _, err := tl.announce(ctx, func(ctx context.Context, u string) (*AnnounceResponse, error) {
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
