package tracker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"
)

// State is where one tracker stands, as a status page shows it.
type State int

// Tracker states. A tracker goes from waiting to announcing to ok or failing, and
// between ok and failing afterwards.
const (
	// StateWaiting: not contacted yet; or a backup, behind a tracker of its tier
	// that answers (BEP 12 asks only the first one that works).
	StateWaiting State = iota
	// StateAnnouncing: its first announce is under way.
	StateAnnouncing
	// StateOK: its last announce was answered.
	StateOK
	// StateFailing: its last announce failed, or the one under way has had no
	// answer for AnnouncerConfig.SlowAfter.
	StateFailing
)

// String returns "waiting", "announcing", "ok" or "failing".
func (s State) String() string {
	switch s {
	case StateAnnouncing:
		return "announcing"
	case StateOK:
		return "ok"
	case StateFailing:
		return "failing"
	}
	return "waiting"
}

// Status is one tracker's state, a copy taken by Announcer.Trackers.
type Status struct {
	URL   string // as configured, with any query (a private passkey) hidden
	Tier  int    // its BEP 12 tier, counted from 0
	State State
	// Announcing: an announce to it is under way now.
	Announcing bool
	// Peers, Seeders and Leechers come from its last answer.
	Peers, Seeders, Leechers int
	LastOK                   time.Time // when it last answered; zero if never
	// Err says why it is failing ("" unless State is StateFailing): the reason of
	// the last failure, or that the announce under way has had no answer yet.
	Err      string
	Failures int // failed announces in a row
	// Since is when it entered its current state.
	Since time.Time
	// Next is when it will next be announced to; zero while an announce is under
	// way, and for a backup that will be tried only if the trackers before it fail.
	Next time.Time
}

// statusTable holds every tracker's Status, in tier order. It is written by the
// Announcer's goroutines and read by Announcer.Trackers; mu guards all of it.
type statusTable struct {
	mu       sync.Mutex
	all      []Status
	raw      []string // the URL of all[i] as given, the key of lookups
	attempts uint64   // announces begun, numbering them for slow
	current  []uint64 // the number of the announce under way to all[i]
	// changed, when not nil (tests), is poked after every change.
	changed chan struct{}
}

// unlock releases mu after a change and pokes changed.
func (st *statusTable) unlock() {
	st.mu.Unlock()
	if st.changed != nil {
		poke(st.changed)
	}
}

func newStatusTable(tiers [][]string) *statusTable {
	st := &statusTable{}
	for i, tier := range tiers {
		for _, u := range tier {
			st.all = append(st.all, Status{URL: redactString(u), Tier: i})
			st.raw = append(st.raw, u)
			st.current = append(st.current, 0)
		}
	}
	return st
}

// find returns the entry of u in tier, or nil. Caller holds mu.
func (st *statusTable) find(tier int, u string) *Status {
	if i := st.index(tier, u); i >= 0 {
		return &st.all[i]
	}
	return nil
}

func (st *statusTable) index(tier int, u string) int {
	for i := range st.all {
		if st.all[i].Tier == tier && st.raw[i] == u {
			return i
		}
	}
	return -1
}

// snapshot copies the table.
func (st *statusTable) snapshot() []Status {
	st.mu.Lock()
	defer st.mu.Unlock()
	return append([]Status(nil), st.all...)
}

// begin records that an announce to u has started, and returns its number for slow.
func (st *statusTable) begin(tier int, u string, now time.Time) uint64 {
	st.mu.Lock()
	defer st.unlock()
	i := st.index(tier, u)
	if i < 0 {
		return 0
	}
	st.attempts++
	st.current[i] = st.attempts
	s := &st.all[i]
	s.Announcing = true
	s.Next = time.Time{}
	if s.State == StateWaiting {
		s.State, s.Since = StateAnnouncing, now
	}
	return st.attempts
}

// slow records that announce number attempt to u, if still under way, has had no
// answer after "after". It reports whether that is news (the tracker was not
// failing already), to be logged; a tracker already failing keeps its last reason.
func (st *statusTable) slow(tier int, u string, attempt uint64, after time.Duration, now time.Time) bool {
	st.mu.Lock()
	defer st.unlock()
	i := st.index(tier, u)
	if i < 0 || st.current[i] != attempt {
		return false
	}
	s := &st.all[i]
	if !s.Announcing || s.State == StateFailing {
		return false
	}
	s.State, s.Since = StateFailing, now
	s.Err = fmt.Sprintf("no answer after %v, still trying", after)
	return true
}

// ok records an answer from u. It reports the state before, for the log.
func (st *statusTable) ok(tier int, u string, resp *AnnounceResponse, now time.Time) (before State) {
	st.mu.Lock()
	defer st.unlock()
	s := st.find(tier, u)
	if s == nil {
		return StateOK
	}
	before = s.State
	if s.State != StateOK {
		s.Since = now
	}
	s.State, s.Announcing, s.Err, s.Failures = StateOK, false, "", 0
	s.Peers, s.Seeders, s.Leechers, s.LastOK = len(resp.Peers), resp.Seeders, resp.Leechers, now
	return before
}

// fail records a failed announce to u with its reason. It reports whether that is
// news to log: the first failure, or a reason different from the last one. A
// tracker that keeps failing the same way is logged once.
func (st *statusTable) fail(tier int, u, reason string, now time.Time) bool {
	st.mu.Lock()
	defer st.unlock()
	s := st.find(tier, u)
	if s == nil {
		return false
	}
	news := s.State != StateFailing || s.Err != reason
	if s.State != StateFailing {
		s.Since = now
	}
	s.State, s.Announcing, s.Err = StateFailing, false, reason
	s.Failures++
	return news
}

// abandon records that the announce under way to u was cancelled (shutdown): it
// is no longer under way, and a tracker never heard from is waiting again.
func (st *statusTable) abandon(tier int, u string) {
	st.mu.Lock()
	defer st.unlock()
	if s := st.find(tier, u); s != nil {
		s.Announcing = false
		if s.State == StateAnnouncing {
			s.State = StateWaiting
		}
	}
}

// schedule sets when the trackers of a tier are next announced to. After an
// answer only the first of order (the one that answered) is; the others are
// backups. After a failed round the whole tier is tried again at next.
func (st *statusTable) schedule(tier int, order []string, answered bool, next time.Time) {
	st.mu.Lock()
	defer st.unlock()
	for i, u := range order {
		if s := st.find(tier, u); s != nil {
			s.Next = next
			if answered && i > 0 {
				s.Next = time.Time{}
			}
		}
	}
}

// Reason says in a few words why an announce failed, for a status page: the
// error without the "tracker URL:" prefix that the page shows apart, and plain
// words for the usual network failures.
func Reason(err error, timeout time.Duration) string {
	var dns *net.DNSError
	var fe *FailureError
	switch {
	case errors.As(err, &fe):
		return "tracker says: " + fe.Reason
	case errors.As(err, &dns):
		if dns.IsNotFound {
			return fmt.Sprintf("cannot resolve %s: no such host", dns.Name)
		}
		return fmt.Sprintf("cannot resolve %s: %s", dns.Name, dns.Err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("no answer within %v", timeout)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "host unreachable"
	}
	msg := err.Error()
	// Client errors read "tracker URL: cause"; the URL is shown beside the reason.
	if strings.HasPrefix(msg, "tracker ") {
		if _, rest, ok := strings.Cut(msg, ": "); ok {
			msg = rest
		}
	}
	return msg
}

// redactString is redact for a URL as given; one that does not parse is shown as
// far as its query.
func redactString(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		s, _, _ := strings.Cut(raw, "?")
		return cleanText(s)
	}
	return redact(u)
}
