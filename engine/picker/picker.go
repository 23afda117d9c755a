// Package picker decides which 16 KiB blocks to request from which peer.
//
// It is a plain struct with no goroutines, clocks or I/O: the torrent's owner
// goroutine calls it and passes the time in. It knows
//   - what is wanted and by when: each wanted piece has a deadline; a blocked read
//     is "now", readahead gets later deadlines; earlier deadlines are served first;
//   - what is in flight: per block, which peers were asked and when;
//   - how many connected peers have each piece (availability), to break ties
//     rarest first.
//
// Duplicates are spent only where they buy time. Endgame (a peer with free
// request slots is given a duplicate of a block another peer holds, at most
// MaxDuplicates requests per block) applies only at the end of the whole
// download, when at most EndgamePieces pieces of the torrent are missing; a
// streaming reader, which wants few pieces at a time, is never in endgame. Before
// that, only blocks of urgent pieces (a read waits: the deadline has passed) that
// their peer is late with (Late says so) are duplicated, at most
// MaxLateDuplicates blocks of a piece at once. The first copy to arrive wins and
// the engine cancels the others. Duplicates counts every duplicate request.
package picker

import (
	"slices"
	"time"

	"github.com/hyperblow/hyperblow/engine/bt"
)

// PeerKey identifies a connected peer to the picker; the engine assigns them.
type PeerKey uint32

// Block is one request: Length bytes at Begin inside Piece.
type Block struct {
	Piece  int
	Begin  int
	Length int
}

// MaxDuplicates bounds how many peers may be asked for one block at once.
const MaxDuplicates = 2

// EndgamePieces is how many of the most urgent pieces endgame duplicates cover,
// and how few pieces of the torrent may be missing for endgame to begin.
const EndgamePieces = 4

// MaxLateDuplicates bounds the blocks of one urgent piece that are duplicated
// at once because their peer is late (16 blocks: 256 KiB).
const MaxLateDuplicates = 16

// Picker holds the download plan of one torrent.
type Picker struct {
	pieceLength int64
	totalLength int64
	numPieces   int

	avail []uint16
	wants map[int]time.Time // piece -> deadline
	// order is the wanted pieces sorted by (deadline, availability, index).
	// While dirty is false it is kept exact as wants change, an entry moved
	// or inserted by binary search (a window's next piece, a piece done:
	// no sort); a change of many at once (a bitfield, a peer gone) marks it
	// dirty, and the next pick sorts it whole. A sort per piece done cost a
	// cp 9 % of the mount's CPU.
	order  []wantEntry
	dirty  bool
	active map[int]*activePiece

	background    bt.Bitfield // pieces wanted with no deadline
	numBackground int

	// missing is how many pieces of the torrent are not verified yet (SetMissing);
	// endgame waits until it is at most EndgamePieces. -1: unknown (endgame as
	// soon as few pieces are wanted).
	missing int

	// Duplicates counts requests handed out for blocks already asked of another
	// peer (endgame and late blocks).
	Duplicates int64

	// Late, if set, tells whether a request outstanding at holder for age is
	// late: by that peer's usual delivery time, or because asker (the peer
	// being filled) would deliver it much sooner. front: the block's piece
	// has the earliest deadline of all wanted pieces. Blocks of urgent pieces
	// (deadline passed: a read waits) that are late are duplicated to asker.
	// now is the time of the pick (one clock read per pick, not per block).
	Late func(holder, asker PeerKey, age time.Duration, front bool, now time.Time) bool
	// LateMin is the least age at which Late can answer true: younger
	// requests are not asked about. A reader at the front of a download (a
	// cp) waits on every piece, so every fill walks every block in flight:
	// with 4 seeders, asking Late about each took a quarter of the mount's
	// CPU, on the owner goroutine.
	LateMin time.Duration
}

// wantEntry is a wanted piece with its sort key.
type wantEntry struct {
	deadline time.Time
	avail    uint16
	piece    int
}

func compareEntries(a, b wantEntry) int {
	if c := a.deadline.Compare(b.deadline); c != 0 {
		return c
	}
	if a.avail != b.avail {
		return int(a.avail) - int(b.avail)
	}
	return a.piece - b.piece
}

// entry is piece i's key now; i must be wanted.
func (p *Picker) entry(i int) wantEntry {
	return wantEntry{p.wants[i], p.avail[i], i}
}

// insert puts e in order (not dirty).
func (p *Picker) insert(e wantEntry) {
	k, _ := slices.BinarySearchFunc(p.order, e, compareEntries)
	p.order = slices.Insert(p.order, k, e)
}

// remove takes e, as it was inserted, out of order (not dirty).
func (p *Picker) remove(e wantEntry) {
	if k, ok := slices.BinarySearchFunc(p.order, e, compareEntries); ok {
		p.order = slices.Delete(p.order, k, k+1)
	} else {
		p.dirty = true // cannot happen; sort again rather than trust it
	}
}

type activePiece struct {
	// exclusive pieces (re-fetched after a hash failure with several senders) are
	// asked of one peer only, so a second failure names the culprit.
	exclusive bool
	owner     PeerKey // the one peer of an exclusive piece; 0 = not chosen yet
	blocks    []blockState
	received  int
	unasked   int // blocks with no outstanding request and not received
	firstFree int // no block before this index is unasked
}

type blockState struct {
	received bool
	reqs     []request
}

type request struct {
	peer PeerKey
	at   time.Time
}

// New returns a picker for a torrent of the given geometry.
func New(numPieces int, pieceLength, totalLength int64) *Picker {
	return &Picker{
		pieceLength: pieceLength,
		totalLength: totalLength,
		numPieces:   numPieces,
		avail:       make([]uint16, numPieces),
		wants:       make(map[int]time.Time),
		active:      make(map[int]*activePiece),
		missing:     -1,
	}
}

// SetMissing tells the picker how many pieces of the torrent are not verified
// yet; endgame duplicates begin only when at most EndgamePieces are.
func (p *Picker) SetMissing(n int) { p.missing = n }

// PieceLen returns the length of piece i (the last one may be short).
func (p *Picker) PieceLen(i int) int {
	if i == p.numPieces-1 {
		return int(p.totalLength - int64(i)*p.pieceLength)
	}
	return int(p.pieceLength)
}

func (p *Picker) numBlocks(i int) int { return (p.PieceLen(i) + bt.BlockSize - 1) / bt.BlockSize }

// Want marks piece i as wanted by deadline; an existing want keeps the earlier one.
func (p *Picker) Want(i int, deadline time.Time) {
	if i < 0 || i >= p.numPieces {
		return
	}
	d, ok := p.wants[i]
	if ok && !deadline.Before(d) {
		return
	}
	if ok && !p.dirty {
		p.remove(p.entry(i))
	}
	p.wants[i] = deadline
	if !p.dirty {
		p.insert(p.entry(i))
	}
}

// SetDeadline sets piece i's deadline, later or earlier, if it is wanted.
func (p *Picker) SetDeadline(i int, deadline time.Time) {
	if d, ok := p.wants[i]; ok && !d.Equal(deadline) {
		if !p.dirty {
			p.remove(p.entry(i))
		}
		p.wants[i] = deadline
		if !p.dirty {
			p.insert(p.entry(i))
		}
	}
}

// Unwant withdraws piece i. Outstanding requests for it are returned so the
// engine can cancel them; blocks already received are forgotten with the piece.
func (p *Picker) Unwant(i int) []Outstanding {
	if _, ok := p.wants[i]; !ok {
		return nil
	}
	p.unwant(i)
	out := p.outstanding(i)
	delete(p.active, i)
	return out
}

// AllAsked reports whether every block of piece i not yet received has a
// request outstanding (false if the piece is not under way).
func (p *Picker) AllAsked(i int) bool {
	ap, ok := p.active[i]
	return ok && ap.unasked == 0
}

// Wanted reports whether piece i is wanted.
func (p *Picker) Wanted(i int) bool { _, ok := p.wants[i]; return ok }

// Active reports whether piece i has blocks requested or received (its
// download has started).
func (p *Picker) Active(i int) bool { _, ok := p.active[i]; return ok }

// NumWanted is the number of wanted pieces.
func (p *Picker) NumWanted() int { return len(p.wants) }

// Outstanding is a request in flight to a peer.
type Outstanding struct {
	Peer  PeerKey
	Block Block
}

// Outstanding returns the requests in flight for piece i.
func (p *Picker) Outstanding(i int) []Outstanding { return p.outstanding(i) }

func (p *Picker) outstanding(i int) []Outstanding {
	ap := p.active[i]
	if ap == nil {
		return nil
	}
	var out []Outstanding
	for b, bs := range ap.blocks {
		for _, r := range bs.reqs {
			out = append(out, Outstanding{r.peer, p.block(i, b)})
		}
	}
	return out
}

func (p *Picker) block(piece, b int) Block {
	begin := b * bt.BlockSize
	return Block{Piece: piece, Begin: begin, Length: min(bt.BlockSize, p.PieceLen(piece)-begin)}
}

// PeerHas records that a peer announced piece i (HAVE or BITFIELD).
func (p *Picker) PeerHas(i int) {
	if i < 0 || i >= p.numPieces || p.avail[i] == ^uint16(0) {
		return
	}
	_, wanted := p.wants[i]
	if wanted && !p.dirty {
		p.remove(p.entry(i))
	}
	p.avail[i]++
	if wanted && !p.dirty {
		p.insert(p.entry(i))
	}
}

// PeerHasBitfield records a peer's bitfield: PeerHas for each piece it holds,
// with the order sorted once afterwards instead of moved piece by piece.
func (p *Picker) PeerHasBitfield(bf bt.Bitfield) {
	p.dirty = true
	for i := 0; i < p.numPieces; i++ {
		if bf.Has(i) {
			p.PeerHas(i)
		}
	}
}

// PeerGone removes a disconnected peer: availability drops and its outstanding
// requests become free again.
func (p *Picker) PeerGone(peer PeerKey, bf bt.Bitfield) {
	for i := 0; i < p.numPieces; i++ {
		if bf.Has(i) && p.avail[i] > 0 {
			p.avail[i]--
		}
	}
	p.dirty = true
	p.DropPeerRequests(peer)
}

// DropPeerRequests forgets every request outstanding at peer (it choked us or left).
func (p *Picker) DropPeerRequests(peer PeerKey) {
	for _, ap := range p.active {
		for b := range ap.blocks {
			ap.dropReq(b, peer)
		}
	}
}

func (ap *activePiece) dropReq(b int, peer PeerKey) bool {
	bs := &ap.blocks[b]
	for k, r := range bs.reqs {
		if r.peer == peer {
			bs.reqs = slices.Delete(bs.reqs, k, k+1)
			if len(bs.reqs) == 0 && !bs.received {
				ap.unasked++
				ap.firstFree = min(ap.firstFree, b)
			}
			if ap.exclusive && ap.owner == peer && !ap.askedOf(peer) {
				// The owner gave up (choked, left, timed out): another single
				// peer finishes the piece.
				ap.owner = 0
			}
			return true
		}
	}
	return false
}

func (ap *activePiece) askedOf(peer PeerKey) bool {
	for b := range ap.blocks {
		if ap.blocks[b].askedOf(peer) {
			return true
		}
	}
	return false
}

// Rejected forgets one request (BEP 6 REJECT, or our own CANCEL) and reports
// whether it was outstanding.
func (p *Picker) Rejected(peer PeerKey, blk Block) bool {
	ap := p.active[blk.Piece]
	if ap == nil || blk.Begin%bt.BlockSize != 0 || blk.Begin/bt.BlockSize >= len(ap.blocks) {
		return false
	}
	return ap.dropReq(blk.Begin/bt.BlockSize, peer)
}

// Received records an arriving block. It reports whether the block was expected
// (requested from this peer, or from anyone in the same piece: a late copy after a
// timeout is still good data), whether it is the first copy, the peers whose
// duplicate requests should now be cancelled, and whether the piece is complete.
func (p *Picker) Received(peer PeerKey, blk Block) (r ReceiveResult) {
	ap, b := p.activeBlock(blk)
	if ap == nil {
		return r
	}
	bs := &ap.blocks[b]
	asked := false
	for _, q := range bs.reqs {
		if q.peer == peer {
			asked = true
			r.SentAt = q.at
		} else {
			r.CancelAt = append(r.CancelAt, q.peer)
		}
	}
	if !asked {
		r.CancelAt = nil
		return r
	}
	r.Expected = true
	if bs.received {
		ap.dropReq(b, peer)
		return r
	}
	ap.keep(b, &r)
	return r
}

// ReceivedLate records a block that came after we cancelled its request at
// peer (Received said it was not expected): the peer had already sent it.
// While its piece is still under way and lacks it, it is kept as the first
// copy (the piece's hash check vouches for it as for any block); other
// requests for it are to be cancelled.
func (p *Picker) ReceivedLate(peer PeerKey, blk Block) (r ReceiveResult) {
	ap, b := p.activeBlock(blk)
	if ap == nil || ap.blocks[b].received {
		return r
	}
	for _, q := range ap.blocks[b].reqs {
		if q.peer != peer {
			r.CancelAt = append(r.CancelAt, q.peer)
		}
	}
	ap.keep(b, &r)
	return r
}

// activeBlock finds blk among the blocks of a piece under way: the piece
// and the block's index, or nil if it is not one of them (its piece is not
// under way, or its offset or length is not a block's).
func (p *Picker) activeBlock(blk Block) (*activePiece, int) {
	ap := p.active[blk.Piece]
	if ap == nil || blk.Begin%bt.BlockSize != 0 || blk.Begin/bt.BlockSize >= len(ap.blocks) {
		return nil, 0
	}
	b := blk.Begin / bt.BlockSize
	if blk.Length != p.block(blk.Piece, b).Length {
		return nil, 0
	}
	return ap, b
}

// keep records block b as received, the first copy, in r; its requests are
// forgotten (the caller cancels those of other peers).
func (ap *activePiece) keep(b int, r *ReceiveResult) {
	bs := &ap.blocks[b]
	if len(bs.reqs) == 0 {
		ap.unasked--
	}
	bs.reqs = bs.reqs[:0]
	bs.received = true
	ap.received++
	r.Expected, r.First = true, true
	r.Complete = ap.received == len(ap.blocks)
}

// ReceiveResult is what Received found.
type ReceiveResult struct {
	Expected bool      // we asked this peer for this block
	First    bool      // the first copy: store it
	Complete bool      // every block of the piece has arrived
	CancelAt []PeerKey // other peers asked for the same block
	SentAt   time.Time // when this peer was asked for it
}

// PieceDone removes a verified piece from the plan.
func (p *Picker) PieceDone(i int) {
	delete(p.active, i)
	p.SetBackground(i, false)
	if _, ok := p.wants[i]; ok {
		p.unwant(i)
	}
}

// unwant deletes wanted piece i from wants and order.
func (p *Picker) unwant(i int) {
	if !p.dirty {
		p.remove(p.entry(i))
	}
	delete(p.wants, i)
}

// PieceFailed resets a piece whose hash did not match; it stays wanted and will
// be requested again.
func (p *Picker) PieceFailed(i int) { delete(p.active, i) }

// PieceFailedExclusive resets piece i like PieceFailed, and has it fetched again
// from a single peer: after a failure with several senders, this tells which
// of them sends bad data.
func (p *Picker) PieceFailedExclusive(i int) {
	delete(p.active, i)
	ap := p.activate(i)
	ap.exclusive = true
}

// Expired returns requests older than timeout; the picker forgets them so their
// blocks can be asked of another peer. The engine should send CANCEL for each.
func (p *Picker) Expired(now time.Time, timeout time.Duration) []Outstanding {
	var out []Outstanding
	for i, ap := range p.active {
		for b := range ap.blocks {
			for _, r := range ap.blocks[b].reqs {
				if now.Sub(r.at) > timeout {
					out = append(out, Outstanding{r.peer, p.block(i, b)})
				}
			}
		}
	}
	for _, o := range out {
		p.active[o.Block.Piece].dropReq(o.Block.Begin/bt.BlockSize, o.Peer)
	}
	return out
}

func (p *Picker) sortOrder() {
	if !p.dirty {
		return
	}
	p.order = p.order[:0]
	for i := range p.wants {
		p.order = append(p.order, p.entry(i))
	}
	slices.SortFunc(p.order, compareEntries)
	p.dirty = false
}

// Pick returns up to max blocks to request from peer, which holds the pieces for
// which has returns true. Earliest deadline first; within a piece, blocks in order.
// When nothing new is left, endgame duplicates are handed out.
func (p *Picker) Pick(peer PeerKey, has func(int) bool, max int, now time.Time) []Block {
	return p.pick(peer, has, max, now, false)
}

// PickUrgent is Pick restricted to urgent pieces (deadline passed: a read
// waits), for a peer whose pipeline is already full: an urgent block may go a
// little beyond the usual depth rather than wait until a slot frees.
func (p *Picker) PickUrgent(peer PeerKey, has func(int) bool, max int, now time.Time) []Block {
	return p.pick(peer, has, max, now, true)
}

func (p *Picker) pick(peer PeerKey, has func(int) bool, max int, now time.Time, urgentOnly bool) []Block {
	if max <= 0 || (len(p.wants) == 0 && p.numBackground == 0) {
		return nil
	}
	p.sortOrder()
	var out []Block
	for k, e := range p.order {
		i := e.piece
		if urgentOnly && e.deadline.After(now) {
			return out // sorted by deadline: the rest is not urgent
		}
		if !has(i) {
			continue
		}
		ap := p.activate(i)
		if ap.exclusive && ap.owner != 0 && ap.owner != peer {
			continue
		}
		if ap.unasked == 0 {
			if p.Late != nil && !ap.exclusive && !e.deadline.After(now) {
				out = p.duplicateLate(out, peer, i, ap, max, now, k == 0)
				if len(out) >= max {
					return out
				}
			}
			continue
		}
		out = p.askBlocks(out, peer, i, ap, max, now)
		if len(out) >= max {
			return out
		}
	}
	if urgentOnly {
		return out
	}
	// Endgame, at the end of a download (a few pieces left, every block asked):
	// a peer with free slots duplicates blocks in flight at others. Before the
	// end only late blocks of urgent pieces are duplicated (above).
	if len(out) < max {
		out = p.pickBackground(out, peer, has, max, now)
	}
	if len(out) > 0 || len(p.wants) > EndgamePieces || p.numBackground > EndgamePieces || p.missing > EndgamePieces {
		return out // not the end of a download
	}
	seen := 0
	for _, e := range p.order {
		if len(out) >= max || seen >= EndgamePieces {
			break
		}
		i := e.piece
		ap := p.active[i]
		if ap == nil || !has(i) || ap.exclusive {
			continue
		}
		seen++
		for b := range ap.blocks {
			if len(out) >= max {
				break
			}
			bs := &ap.blocks[b]
			if bs.received || len(bs.reqs) == 0 || len(bs.reqs) >= MaxDuplicates || bs.askedOf(peer) {
				continue
			}
			bs.reqs = append(bs.reqs, request{peer, now})
			p.Duplicates++
			out = append(out, p.block(i, b))
		}
	}
	return out
}

// duplicateLate asks peer for blocks of urgent piece i that another peer holds
// longer than its usual delivery time (Late says so): the first copy to arrive
// wins and the engine cancels the other.
func (p *Picker) duplicateLate(out []Block, peer PeerKey, i int, ap *activePiece, max int, now time.Time, front bool) []Block {
	dups := -1 // counted on the first candidate: most pieces have none
	for b := range ap.blocks {
		if len(out) >= max {
			break
		}
		bs := &ap.blocks[b]
		if bs.received || len(bs.reqs) != 1 || bs.reqs[0].peer == peer {
			continue
		}
		age := now.Sub(bs.reqs[0].at)
		if age < p.LateMin {
			continue
		}
		if dups < 0 {
			dups = 0
			for b := range ap.blocks {
				if len(ap.blocks[b].reqs) > 1 {
					dups++
				}
			}
		}
		if dups >= MaxLateDuplicates {
			break
		}
		if !p.Late(bs.reqs[0].peer, peer, age, front, now) {
			continue
		}
		bs.reqs = append(bs.reqs, request{peer, now})
		dups++
		p.Duplicates++
		out = append(out, p.block(i, b))
	}
	return out
}

func (bs *blockState) askedOf(peer PeerKey) bool {
	for _, r := range bs.reqs {
		if r.peer == peer {
			return true
		}
	}
	return false
}

func (p *Picker) activate(i int) *activePiece {
	ap := p.active[i]
	if ap == nil {
		n := p.numBlocks(i)
		ap = &activePiece{blocks: make([]blockState, n), unasked: n}
		p.active[i] = ap
	}
	return ap
}

// InFlight returns how many requests are outstanding at peer.
func (p *Picker) InFlight(peer PeerKey) int {
	n := 0
	for _, ap := range p.active {
		for b := range ap.blocks {
			if ap.blocks[b].askedOf(peer) {
				n++
			}
		}
	}
	return n
}
