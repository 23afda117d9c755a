package engine

import "net/netip"

// An incoming connection comes from an ephemeral port, so it does not mark the
// peer's listening address connected by itself, and the torrent would dial that
// address too. The peer on the other side then finds a second connection from
// us, closes one of the two (addConn's rule: the side with the smaller peer id
// keeps the one it dialled), and a closed dial counts as a failure: the address
// is redialled after its back-off, again and again, for as long as the two stay
// connected. An idle torrent paid a dial every few minutes per such peer, and
// TestIdleTickAllocs counted them. The peer's extension handshake names its
// listening port (BEP 10 "p"): the address it makes with the connection's IP is
// taken as connected while the incoming connection lasts.

// claimListenAddr marks an incoming peer's listening address connected, if it
// is known and not being dialled (a dial in flight meets the connection in
// addConn, which keeps one of the two).
func (t *Torrent) claimListenAddr(p *peer) {
	if !p.incoming {
		return
	}
	la := p.listenAddr()
	if !la.IsValid() {
		return
	}
	if st := t.addrs[la]; st != nil && !st.connected && !st.dialing {
		st.connected, st.claimed = true, true
	}
}

// claimNewAddr marks a newly learnt address connected when an incoming peer
// has named it as its listening address.
func (t *Torrent) claimNewAddr(st *addrState, a netip.AddrPort) {
	for _, p := range t.peers {
		if p.incoming && !p.closing && p.listenAddr() == a {
			st.connected, st.claimed = true, true
			return
		}
	}
}

// releaseListenAddr undoes claimListenAddr when the incoming connection ends:
// the address may be dialled again, with its back-off untouched (the
// connection said nothing about whether the address answers).
func (t *Torrent) releaseListenAddr(p *peer) {
	if !p.incoming {
		return
	}
	la := p.listenAddr()
	if !la.IsValid() {
		return
	}
	if st := t.addrs[la]; st != nil && st.claimed {
		st.connected, st.claimed = false, false
	}
}
