package engine

// The lifecycle states of a torrent, as status shows them. A magnet starts in
// StateResolving (no info yet); a torrent with its info is StateActive, or
// StateSeeding once it holds every piece; an idle torrent that nothing reads
// is put to sleep (StateSleeping: no connections, no timers) and woken by the
// next read; StateFailed is a torrent that cannot go on (its metadata was not
// found, say).

// TorrentState is where a torrent stands in its lifecycle.
type TorrentState int32

// The states of a torrent. The zero value is StateActive.
const (
	StateActive TorrentState = iota
	StateResolving
	StateSleeping
	StateSeeding
	StateFailed
)

func (s TorrentState) String() string {
	switch s {
	case StateActive:
		return "active"
	case StateResolving:
		return "resolving"
	case StateSleeping:
		return "sleeping"
	case StateSeeding:
		return "seeding"
	case StateFailed:
		return "failed"
	}
	return "unknown"
}

// State returns where the torrent stands. The lifecycle code sets t.state;
// an active torrent that holds every piece is reported as seeding.
func (t *Torrent) State() TorrentState {
	s := TorrentState(t.state.Load())
	if info := t.Info(); s == StateActive && info != nil && t.stats.haveBytes.Load() >= info.TotalLength {
		return StateSeeding
	}
	return s
}

// Conns returns the number of peer connections open across the client's
// torrents and magnets, TCP and uTP, incoming and outgoing, counted from the
// connection's setup (before the handshake) to its close.
func (c *Client) Conns() int { return int(c.liveConns.Load()) }
