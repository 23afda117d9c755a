package dht

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
)

func TestPeerStore(t *testing.T) {
	s := newPeerStore(3, 2)
	ih1, ih2, ih3 := bt.InfoHash{1}, bt.InfoHash{2}, bt.InfoHash{3}
	p := func(i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), 6881)
	}
	for i := range 3 {
		s.add(ih1, p(i), t0.Add(time.Duration(i)*time.Minute))
	}
	// A fourth peer evicts the oldest.
	s.add(ih1, p(3), t0.Add(3*time.Minute))
	got := s.get(ih1, 10, t0.Add(3*time.Minute))
	slices.SortFunc(got, netip.AddrPort.Compare)
	if want := []netip.AddrPort{p(1), p(2), p(3)}; !slices.Equal(got, want) {
		t.Fatalf("peers %v, want %v", got, want)
	}
	if s.peers != 3 {
		t.Fatalf("count %d", s.peers)
	}
	// Re-announcing renews without growing.
	s.add(ih1, p(1), t0.Add(20*time.Minute))
	if s.peers != 3 {
		t.Fatalf("count %d after renewal", s.peers)
	}
	// get honours max and expiry: at 34 minutes only p(1) (renewed at 20) is live.
	if got := s.get(ih1, 1, t0.Add(3*time.Minute)); len(got) != 1 {
		t.Fatalf("max 1: %v", got)
	}
	if got := s.get(ih1, 10, t0.Add(34*time.Minute)); !slices.Equal(got, []netip.AddrPort{p(1)}) {
		t.Fatalf("after expiry: %v", got)
	}
	// Info-hash limit: a third is refused while two are live.
	if !s.add(ih2, p(9), t0.Add(21*time.Minute)) {
		t.Fatal("second info-hash refused")
	}
	if s.add(ih3, p(9), t0.Add(21*time.Minute)) {
		t.Fatal("third info-hash accepted over the limit")
	}
	// Once the others expire (and a sweep is due), a new info-hash fits.
	if !s.add(ih3, p(9), t0.Add(2*time.Hour)) {
		t.Fatal("new info-hash refused after expiry")
	}
	if len(s.swarms) != 1 || s.peers != 1 {
		t.Fatalf("after sweep: %d swarms, %d peers", len(s.swarms), s.peers)
	}
	// A full swarm whose peers have all expired is emptied, and the new peer kept.
	s2 := newPeerStore(1, 10)
	s2.add(ih1, p(1), t0)
	s2.add(ih1, p(2), t0.Add(time.Hour))
	if got := s2.get(ih1, 10, t0.Add(time.Hour)); !slices.Equal(got, []netip.AddrPort{p(2)}) || s2.peers != 1 {
		t.Fatalf("full expired swarm: %v, %d peers", got, s2.peers)
	}
}
