package picker

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
)

var t0 = time.Unix(1000, 0)

func all(int) bool { return true }

func TestEarliestDeadlineFirst(t *testing.T) {
	p := New(10, 2*bt.BlockSize, 10*2*bt.BlockSize)
	p.Want(7, t0.Add(3*time.Second))
	p.Want(2, t0.Add(1*time.Second))
	p.Want(5, t0)
	got := p.Pick(1, all, 4, t0)
	want := []Block{{5, 0, bt.BlockSize}, {5, bt.BlockSize, bt.BlockSize}, {2, 0, bt.BlockSize}, {2, bt.BlockSize, bt.BlockSize}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("block %d: got %v, want %v", i, got[i], want[i])
		}
	}
	// An earlier want moves ahead.
	p.Want(9, t0.Add(-time.Second))
	if got := p.Pick(2, all, 1, t0); got[0].Piece != 9 {
		t.Fatalf("got %v, want piece 9 first", got)
	}
}

func TestOnlyPiecesThePeerHas(t *testing.T) {
	p := New(4, bt.BlockSize, 4*bt.BlockSize)
	p.Want(0, t0)
	p.Want(1, t0.Add(time.Second))
	got := p.Pick(1, func(i int) bool { return i == 1 }, 10, t0)
	if len(got) != 1 || got[0].Piece != 1 {
		t.Fatalf("got %v, want only piece 1", got)
	}
}

func TestShortLastPiece(t *testing.T) {
	p := New(2, 2*bt.BlockSize, 2*bt.BlockSize+100)
	p.Want(1, t0)
	got := p.Pick(1, all, 10, t0)
	if len(got) != 1 || got[0].Length != 100 {
		t.Fatalf("got %v, want one block of 100 bytes", got)
	}
}

func TestReceiveCompleteAndEndgame(t *testing.T) {
	p := New(1, 2*bt.BlockSize, 2*bt.BlockSize)
	p.Want(0, t0)
	a := p.Pick(1, all, 10, t0)
	if len(a) != 2 {
		t.Fatalf("peer 1 got %v", a)
	}
	// Everything is asked of peer 1: peer 2 gets endgame duplicates.
	b := p.Pick(2, all, 10, t0)
	if len(b) != 2 {
		t.Fatalf("endgame: peer 2 got %v, want 2 duplicates", b)
	}
	// A third peer gets nothing: MaxDuplicates reached.
	if c := p.Pick(3, all, 10, t0); len(c) != 0 {
		t.Fatalf("peer 3 got %v, want none", c)
	}
	r := p.Received(2, b[0])
	if !r.Expected || !r.First || r.Complete || len(r.CancelAt) != 1 || r.CancelAt[0] != 1 {
		t.Fatalf("first copy: %+v", r)
	}
	if r := p.Received(1, a[0]); r.First {
		t.Fatalf("second copy reported first: %+v", r)
	}
	r = p.Received(1, a[1])
	if !r.First || !r.Complete {
		t.Fatalf("last block: %+v", r)
	}
}

func TestUnrequestedBlockIsNotExpected(t *testing.T) {
	p := New(2, bt.BlockSize, 2*bt.BlockSize)
	p.Want(0, t0)
	p.Pick(1, all, 10, t0)
	if r := p.Received(2, Block{0, 0, bt.BlockSize}); r.Expected {
		t.Fatal("block from a peer never asked was expected")
	}
	if r := p.Received(1, Block{1, 0, bt.BlockSize}); r.Expected {
		t.Fatal("block of an unwanted piece was expected")
	}
	if r := p.Received(1, Block{0, 0, 100}); r.Expected {
		t.Fatal("block of the wrong length was expected")
	}
}

func TestChokeFreesBlocks(t *testing.T) {
	p := New(1, 2*bt.BlockSize, 2*bt.BlockSize)
	p.Want(0, t0)
	p.Pick(1, all, 10, t0)
	p.DropPeerRequests(1)
	if got := p.Pick(2, all, 10, t0); len(got) != 2 {
		t.Fatalf("after choke peer 2 got %v, want both blocks fresh", got)
	}
	if p.InFlight(2) != 2 || p.InFlight(1) != 0 {
		t.Fatalf("in flight: peer1 %d peer2 %d", p.InFlight(1), p.InFlight(2))
	}
}

func TestExpiredAndUnwant(t *testing.T) {
	p := New(2, bt.BlockSize, 2*bt.BlockSize)
	p.Want(0, t0)
	p.Want(1, t0)
	p.Pick(1, all, 1, t0)
	p.Pick(1, all, 1, t0.Add(10*time.Second))
	exp := p.Expired(t0.Add(15*time.Second), 8*time.Second)
	if len(exp) != 1 || exp[0].Block.Piece != 0 {
		t.Fatalf("expired %v, want piece 0's block", exp)
	}
	out := p.Unwant(1)
	if len(out) != 1 || out[0].Peer != 1 {
		t.Fatalf("unwant returned %v", out)
	}
	if got := p.Pick(2, all, 10, t0); len(got) != 1 || got[0].Piece != 0 {
		t.Fatalf("after expiry/unwant peer 2 got %v", got)
	}
}

func TestFailedPieceIsRequestedAgain(t *testing.T) {
	p := New(1, bt.BlockSize, bt.BlockSize)
	p.Want(0, t0)
	b := p.Pick(1, all, 1, t0)
	if r := p.Received(1, b[0]); !r.Complete {
		t.Fatal("not complete")
	}
	p.PieceFailed(0)
	if got := p.Pick(2, all, 1, t0); len(got) != 1 {
		t.Fatalf("failed piece not re-requested: %v", got)
	}
}

func BenchmarkPick10kPieces50Peers(b *testing.B) {
	const n = 10000
	p := New(n, 256<<10, n*256<<10)
	for i := 0; i < n; i++ {
		p.Want(i, t0.Add(time.Duration(i)*time.Millisecond))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		peer := PeerKey(i % 50)
		blocks := p.Pick(peer, all, 16, t0)
		for _, blk := range blocks {
			if r := p.Received(peer, blk); r.Complete {
				p.PieceDone(blk.Piece)
				p.Want(blk.Piece, t0.Add(time.Hour))
			}
		}
	}
}

func TestExclusiveRefetch(t *testing.T) {
	p := New(1, 2*bt.BlockSize, 2*bt.BlockSize)
	p.Want(0, t0)
	p.PieceFailedExclusive(0)
	a := p.Pick(1, all, 1, t0)
	if len(a) != 1 {
		t.Fatalf("owner got %v", a)
	}
	if b := p.Pick(2, all, 10, t0); len(b) != 0 {
		t.Fatalf("second peer got %v of an exclusive piece", b)
	}
	if a2 := p.Pick(1, all, 10, t0); len(a2) != 1 {
		t.Fatalf("owner got %v, want the other block", a2)
	}
	// The owner chokes us: another peer may take the piece over.
	p.DropPeerRequests(1)
	if b := p.Pick(2, all, 10, t0); len(b) != 2 {
		t.Fatalf("after the owner left, peer 2 got %v", b)
	}
}

// A block of an urgent piece held too long by a slow peer is asked of a faster
// one; blocks of readahead pieces (deadline in the future) are left alone.
func TestLateBlockDuplicatedToAnotherPeer(t *testing.T) {
	p := New(6, 2*bt.BlockSize, 12*bt.BlockSize)
	p.Late = func(holder, _ PeerKey, age time.Duration, _ bool, _ time.Time) bool {
		return holder == 1 && age > time.Second
	}
	p.Want(0, t0) // a blocked read
	for i := 1; i < 6; i++ {
		p.Want(i, t0.Add(time.Minute)) // readahead
	}
	slow := p.Pick(1, all, 20, t0)
	if len(slow) != 12 {
		t.Fatalf("slow peer got %v", slow)
	}
	if got := p.Pick(2, all, 10, t0.Add(500*time.Millisecond)); len(got) != 0 {
		t.Fatalf("not late yet, but peer 2 got %v", got)
	}
	got := p.Pick(2, all, 10, t0.Add(2*time.Second))
	if len(got) != 2 || got[0].Piece != 0 || got[1].Piece != 0 {
		t.Fatalf("late blocks of the urgent piece: peer 2 got %v, want both blocks of piece 0", got)
	}
	r := p.Received(2, got[0])
	if !r.First || len(r.CancelAt) != 1 || r.CancelAt[0] != 1 {
		t.Fatalf("the fast copy: %+v, want first and a cancel at the slow peer", r)
	}
}

// Late is told which urgent piece is at the front (the earliest deadline):
// the engine duplicates only that one's blocks early.
func TestLateToldTheFrontPiece(t *testing.T) {
	p := New(3, bt.BlockSize, 3*bt.BlockSize)
	front := map[int]bool{}
	asked := map[PeerKey]map[int]bool{}
	p.Late = func(holder, _ PeerKey, age time.Duration, f bool, _ time.Time) bool {
		for piece := range asked[holder] {
			front[piece] = f // holder 1 holds one block per piece; record what each call says
		}
		return false
	}
	p.Want(2, t0)                         // the read that waits first
	p.Want(0, t0.Add(time.Millisecond))   // urgent too, later
	p.Want(1, t0.Add(2*time.Millisecond)) // urgent too, later still
	for i := 0; i < 3; i++ {
		got := p.Pick(1, func(j int) bool { return j == i }, 1, t0)
		if len(got) != 1 {
			t.Fatalf("peer 1 got %v for piece %d", got, i)
		}
	}
	fronts := 0
	for i := 0; i < 3; i++ {
		asked[1] = map[int]bool{i: true}
		p.Pick(2, func(j int) bool { return j == i }, 1, t0.Add(5*time.Millisecond))
		if front[i] {
			fronts++
			if i != 2 {
				t.Errorf("piece %d was called the front, want piece 2 (the earliest deadline)", i)
			}
		}
	}
	if fronts != 1 {
		t.Errorf("%d pieces called the front, want 1", fronts)
	}
}

func TestBackgroundRarestFirstBelowDeadlines(t *testing.T) {
	p := New(4, bt.BlockSize, 4*bt.BlockSize)
	for i := 0; i < 4; i++ {
		p.SetBackground(i, true)
	}
	// Piece 2 is the rarest: one peer has it; the others two each.
	for _, i := range []int{0, 0, 1, 1, 2, 3, 3} {
		p.PeerHas(i)
	}
	p.Want(3, t0) // a reader's deadline beats the background
	got := p.Pick(1, all, 2, t0)
	if len(got) != 2 || got[0].Piece != 3 || got[1].Piece != 2 {
		t.Fatalf("got %v, want the deadline piece 3, then the rarest background piece 2", got)
	}
	if p.NumBackground() != 4 {
		t.Fatalf("%d background pieces", p.NumBackground())
	}
	r := p.Received(1, got[1])
	if !r.Complete {
		t.Fatal("not complete")
	}
	p.PieceDone(2)
	if p.Background(2) || p.NumBackground() != 3 {
		t.Fatal("a verified piece stays in the background set")
	}
}

// A streaming reader wants a few pieces at a time of a torrent that is far from
// complete: that is not endgame, and a peer with free slots gets no duplicates
// of blocks on their way from another peer.
func TestNoEndgameWhileManyPiecesAreMissing(t *testing.T) {
	p := New(100, 2*bt.BlockSize, 100*2*bt.BlockSize)
	p.SetMissing(100)
	p.Want(10, t0.Add(time.Second))
	p.Want(11, t0.Add(2*time.Second))
	if a := p.Pick(1, all, 10, t0); len(a) != 4 {
		t.Fatalf("peer 1 got %v, want the 4 blocks", a)
	}
	if b := p.Pick(2, all, 10, t0); len(b) != 0 {
		t.Fatalf("peer 2 got %v while 100 pieces are missing: a streaming window is not endgame", b)
	}
	if p.Duplicates != 0 {
		t.Fatalf("Duplicates = %d, want 0", p.Duplicates)
	}
	// The last pieces of the download: endgame.
	p.SetMissing(2)
	if b := p.Pick(2, all, 10, t0); len(b) != 4 {
		t.Fatalf("peer 2 got %v with 2 pieces missing, want 4 endgame duplicates", b)
	}
	if p.Duplicates != 4 {
		t.Fatalf("Duplicates = %d, want 4", p.Duplicates)
	}
}

// Late blocks of an urgent piece are duplicated, but only MaxLateDuplicates of
// one piece at a time.
func TestLateDuplicatesAreBounded(t *testing.T) {
	const blocks = 64
	p := New(10, blocks*bt.BlockSize, 10*blocks*bt.BlockSize)
	p.SetMissing(10)
	p.Late = func(PeerKey, PeerKey, time.Duration, bool, time.Time) bool { return true }
	p.Want(3, t0.Add(-time.Hour)) // a read waits
	if a := p.Pick(1, all, blocks, t0); len(a) != blocks {
		t.Fatalf("peer 1 got %d blocks, want %d", len(a), blocks)
	}
	later := t0.Add(5 * time.Second)
	b := p.Pick(2, all, blocks, later)
	if len(b) != MaxLateDuplicates {
		t.Fatalf("peer 2 got %d late duplicates, want %d", len(b), MaxLateDuplicates)
	}
	if c := p.Pick(3, all, blocks, later); len(c) != 0 {
		t.Fatalf("peer 3 got %d more duplicates of the same piece, want 0", len(c))
	}
	// One duplicated block arrives: room for one more.
	p.Received(2, b[0])
	if c := p.Pick(3, all, blocks, later); len(c) != 1 {
		t.Fatalf("peer 3 got %d duplicates after one arrived, want 1", len(c))
	}
	if p.Duplicates != MaxLateDuplicates+1 {
		t.Fatalf("Duplicates = %d, want %d", p.Duplicates, MaxLateDuplicates+1)
	}
}

// Received tells when the peer was asked, for its round-trip estimate.
func TestReceivedTellsWhenAsked(t *testing.T) {
	p := New(1, bt.BlockSize, bt.BlockSize)
	p.Want(0, t0)
	a := p.Pick(1, all, 1, t0.Add(time.Second))
	if r := p.Received(1, a[0]); !r.SentAt.Equal(t0.Add(time.Second)) {
		t.Fatalf("SentAt = %v, want %v", r.SentAt, t0.Add(time.Second))
	}
}

func TestPickUrgentOnlyTakesWaitedPieces(t *testing.T) {
	p := New(3, bt.BlockSize, 3*bt.BlockSize)
	p.Want(0, t0.Add(time.Minute))
	p.Want(1, t0.Add(-time.Second))
	p.Want(2, t0.Add(time.Second))
	got := p.PickUrgent(1, all, 10, t0)
	if len(got) != 1 || got[0].Piece != 1 {
		t.Fatalf("urgent pick got %v, want piece 1 only", got)
	}
}

// Late is not asked about requests younger than LateMin, and it is given the
// pick's time: a reader at the front of a download makes every fill walk every
// block in flight, and a clock read and a callback per block cost the owner a
// quarter of its CPU in a cp from 4 seeders.
func TestLateMinSkipsYoungRequests(t *testing.T) {
	p := New(8, 4*bt.BlockSize, 32*bt.BlockSize)
	calls := 0
	var told time.Time
	p.Late = func(_, _ PeerKey, age time.Duration, _ bool, now time.Time) bool {
		calls++
		told = now
		if age < 300*time.Millisecond {
			t.Errorf("Late asked about a request %v old, under LateMin", age)
		}
		return true
	}
	p.LateMin = 300 * time.Millisecond
	p.Want(0, t0) // blocked reads
	p.Want(1, t0)
	for i := 2; i < 8; i++ {
		p.Want(i, t0.Add(time.Minute)) // readahead, not late whatever its age
	}
	if got := p.Pick(1, all, 8, t0); len(got) != 8 {
		t.Fatalf("peer 1 got %v", got)
	}
	if got := p.Pick(2, func(i int) bool { return i < 2 }, 8, t0.Add(100*time.Millisecond)); len(got) != 0 || calls != 0 {
		t.Fatalf("requests 100 ms old: peer 2 got %v and Late was called %d times, want nothing and 0", got, calls)
	}
	at := t0.Add(400 * time.Millisecond)
	got := p.Pick(2, func(i int) bool { return i < 2 }, 8, at)
	if calls == 0 || len(got) == 0 {
		t.Fatalf("requests 400 ms old: Late called %d times, peer 2 got %v; want calls and duplicates", calls, got)
	}
	if !told.Equal(at) {
		t.Fatalf("Late was told now = %v, want the pick's time %v", told, at)
	}
}

// A block whose request we cancelled (Rejected) and that came anyway is kept
// while its piece still lacks it, and its other requests are to be
// cancelled; a second copy, a block of a piece not under way or of the
// wrong length is not kept.
func TestReceivedLate(t *testing.T) {
	p := New(2, 2*bt.BlockSize, 4*bt.BlockSize)
	p.Want(0, t0)
	a := p.Pick(1, all, 2, t0) // both blocks of piece 0 from peer 1
	if len(a) != 2 || a[0].Piece != 0 {
		t.Fatalf("peer 1 got %v", a)
	}
	for _, o := range p.Outstanding(0) {
		if !p.Rejected(o.Peer, o.Block) { // a seek withdrew them
			t.Fatalf("request %+v was not outstanding", o)
		}
	}
	if n := len(p.Outstanding(0)); n != 0 {
		t.Fatalf("%d requests outstanding after withdrawing them all", n)
	}
	b := p.Pick(2, all, 1, t0) // asked again, of peer 2
	if len(b) != 1 || b[0] != a[0] {
		t.Fatalf("peer 2 got %v, want %v asked again", b, a[0])
	}
	if r := p.Received(1, a[0]); r.Expected {
		t.Fatalf("a cancelled block was expected: %+v", r)
	}
	r := p.ReceivedLate(1, a[0])
	if !r.First || r.Complete || len(r.CancelAt) != 1 || r.CancelAt[0] != 2 {
		t.Fatalf("late block: %+v, want the first copy and peer 2's request to cancel", r)
	}
	if r := p.ReceivedLate(2, a[0]); r.First {
		t.Fatalf("a second copy was kept: %+v", r)
	}
	if r := p.ReceivedLate(1, Block{1, 0, bt.BlockSize}); r.First {
		t.Fatal("a block of a piece not under way was kept")
	}
	if r := p.ReceivedLate(1, Block{0, bt.BlockSize, 100}); r.First {
		t.Fatal("a block of the wrong length was kept")
	}
	if r := p.ReceivedLate(1, a[1]); !r.First || !r.Complete {
		t.Fatalf("the last block, late: %+v, want it kept and the piece complete", r)
	}
}

// BenchmarkPickStream is a sequential read: a window of 256 wanted pieces
// ahead of the reader, 4 peers taking 8 blocks at a time; each op is one
// piece received whole, verified, and the window moved on by one (its new
// piece wanted by a later deadline). ns/op is the picker's cost per piece.
func BenchmarkPickStream(b *testing.B) {
	const window, pl = 256, 1 << 20
	n := b.N + window
	p := New(n, pl, int64(n)*pl)
	deadline := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Millisecond) }
	for i := range window {
		p.Want(i, deadline(i))
	}
	peer := PeerKey(0)
	b.ResetTimer()
	for done := 0; done < b.N; {
		peer = (peer + 1) % 4
		for _, blk := range p.Pick(peer, all, 8, t0) {
			if r := p.Received(peer, blk); r.Complete {
				p.PieceDone(blk.Piece)
				p.Want(blk.Piece+window, deadline(blk.Piece+window))
				done++
			}
		}
	}
}

// The order kept piece by piece is always the one a full sort gives: random
// wants, deadline moves, pieces done or withdrawn, HAVEs, bitfields and peers
// gone, with picks between them.
func TestOrderKeptEqualsSorted(t *testing.T) {
	const n = 64
	rng := rand.New(rand.NewPCG(1, 2))
	p := New(n, 2*bt.BlockSize, n*2*bt.BlockSize)
	checked := 0
	for step := range 20000 {
		i := rng.IntN(n)
		d := t0.Add(time.Duration(rng.IntN(20)) * time.Second) // ties, to reach the tie-breaks
		switch rng.IntN(9) {
		case 0, 1:
			p.Want(i, d)
		case 2:
			p.SetDeadline(i, d)
		case 3:
			p.Unwant(i)
		case 4:
			p.PieceDone(i)
		case 5:
			p.PeerHas(i)
		case 6:
			if rng.IntN(20) == 0 {
				bf := bt.NewBitfield(n)
				bf.Set(i)
				if rng.IntN(2) == 0 {
					p.PeerHasBitfield(bf)
				} else {
					p.PeerGone(PeerKey(9), bf)
				}
			}
		default:
			p.Pick(PeerKey(1+rng.IntN(3)), all, 1+rng.IntN(4), d)
		}
		if p.dirty {
			continue
		}
		checked++
		want := make([]wantEntry, 0, len(p.wants))
		for j, dl := range p.wants {
			want = append(want, wantEntry{dl, p.avail[j], j})
		}
		slices.SortFunc(want, compareEntries)
		if !slices.Equal(p.order, want) {
			t.Fatalf("step %d: order %v\nwant %v", step, p.order, want)
		}
	}
	if checked < 10000 {
		t.Fatalf("only %d steps left the order kept (not dirty)", checked)
	}
}
