package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"syscall"

	"github.com/hyperblow/hyperblow/engine/peerconn"
)

// peerOutcome is how far a peer got during a metadata fetch, for the message
// that explains a failure. Later outcomes are further along: a peer keeps the
// furthest it reached (a redial that fails does not hide that it connected).
type peerOutcome int

const (
	outNone            peerOutcome = iota
	outDialFailed                  // the connection or handshake failed otherwise
	outTimedOut                    // no answer in time
	outRefused                     // connection refused
	outHandshakeClosed             // connected; it closed the connection during the handshake
	outWrongTorrent                // connected; it answered for another torrent
	outNoExt                       // connected; no extension protocol (BEP 10)
	outConnected                   // connected with BEP 10; its extension handshake did not come
	outNoMetadata                  // its extension handshake offers no ut_metadata (BEP 9)
	outOffering                    // offers metadata
	outRejected                    // rejected our metadata requests
	outBadMetadata                 // sent metadata that did not check out, or broke the protocol
)

// note records that addr reached o (unless it reached further before).
func (rr *resolveRun) note(addr netip.AddrPort, o peerOutcome) {
	if rr.outcomes == nil {
		rr.outcomes = make(map[netip.AddrPort]peerOutcome)
	}
	if o > rr.outcomes[addr] {
		rr.outcomes[addr] = o
	}
}

// hopeless reports a fetch that cannot succeed: every known peer connected
// and showed it cannot send the metadata (no extension protocol, no
// ut_metadata, bad metadata), and no new peer can come (no tracker, no DHT,
// no listener). It then fails at once instead of at its timeout.
func (rr *resolveRun) hopeless() bool {
	r := rr.r
	if len(rr.addrs) == 0 || r.c.ln != nil || r.c.dht != nil || r.ann.Load() != nil || len(rr.conns) > 0 || rr.dialing > 0 {
		return false
	}
	for a := range rr.addrs {
		switch rr.outcomes[a] {
		case outNoExt, outNoMetadata, outBadMetadata:
		default:
			return false
		}
	}
	return true
}

// noteDial records a failed dial, by its cause.
func (rr *resolveRun) noteDial(addr netip.AddrPort, err error) {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		rr.note(addr, outRefused)
	case errors.Is(err, peerconn.ErrInfoHashMismatch):
		rr.note(addr, outWrongTorrent)
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, peerconn.ErrPeerClosed):
		rr.note(addr, outHandshakeClosed)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, peerconn.ErrHandshakeTimeout),
		errors.As(err, &ne) && ne.Timeout():
		rr.note(addr, outTimedOut)
	default:
		rr.lastDialErr = err
		rr.note(addr, outDialFailed)
	}
}

// why says what happened to the peers of a failed metadata fetch, e.g.
// "connected to 1 peer; it does not support the extension protocol (BEP 10),
// so it cannot send metadata".
func (rr *resolveRun) why(known int) string {
	if known == 0 {
		return "no peers found (no tracker answered with peers, none given with x.pe or --peer)"
	}
	n := map[peerOutcome]int{}
	for _, o := range rr.outcomes {
		n[o]++
	}
	connected := 0
	for o := outHandshakeClosed; o <= outBadMetadata; o++ {
		connected += n[o]
	}
	failed := n[outRefused] + n[outTimedOut] + n[outDialFailed]
	var parts []string
	if connected > 0 {
		type fact struct {
			o         peerOutcome
			one, many string
		}
		facts := []fact{
			{outHandshakeClosed, "closed the connection during the BitTorrent handshake", "closed the connection during the BitTorrent handshake"},
			{outWrongTorrent, "answered for another torrent", "answered for another torrent"},
			{outNoExt, "does not support the extension protocol (BEP 10), so it cannot send metadata", "do not support the extension protocol (BEP 10), so they cannot send metadata"},
			{outConnected, "did not answer our extension handshake", "did not answer our extension handshake"},
			{outNoMetadata, "does not offer metadata (BEP 9 ut_metadata)", "do not offer metadata (BEP 9 ut_metadata)"},
			{outOffering, "offers metadata but did not send it in time", "offer metadata but did not send it in time"},
			{outRejected, "rejected our metadata requests", "rejected our metadata requests"},
			{outBadMetadata, "sent metadata that did not match the info-hash, or broke the protocol, and was dropped", "sent metadata that did not match the info-hash, or broke the protocol, and were dropped"},
		}
		var said []string
		for _, f := range facts {
			switch k := n[f.o]; {
			case k == 0:
			case connected == 1:
				said = append(said, "it "+f.one)
			case k == 1:
				said = append(said, "1 "+f.one)
			default:
				said = append(said, fmt.Sprintf("%d %s", k, f.many))
			}
		}
		s := fmt.Sprintf("connected to %d %s", connected, plural(connected, "peer", "peers"))
		if connected == 1 {
			s += "; " + strings.Join(said, ", ")
		} else {
			s += ": " + strings.Join(said, ", ")
		}
		parts = append(parts, s)
	}
	if failed > 0 {
		var causes []string
		for _, c := range []struct {
			o    peerOutcome
			what string
		}{{outRefused, "refused"}, {outTimedOut, "timed out"}, {outDialFailed, "failed"}} {
			if k := n[c.o]; k > 0 {
				causes = append(causes, fmt.Sprintf("%d %s", k, c.what))
			}
		}
		s := fmt.Sprintf("could not connect to %d of %d %s (%s)", failed, known, plural(known, "peer", "peers"), strings.Join(causes, ", "))
		if failed == known {
			s = fmt.Sprintf("could not connect to any of %d %s (%s)", known, plural(known, "peer", "peers"), strings.Join(causes, ", "))
			if known == 1 {
				s = "could not connect to the one peer: " + map[bool]string{true: "connection refused", false: "no answer in time"}[n[outRefused] == 1]
				if n[outDialFailed] == 1 {
					s = "could not connect to the one peer"
				}
			}
		}
		if n[outDialFailed] > 0 && rr.lastDialErr != nil {
			s += "; last error: " + rr.lastDialErr.Error()
		}
		parts = append(parts, s)
	}
	if rest := known - connected - failed; rest > 0 {
		// A dial still under way (a peer that refused TCP is tried over uTP
		// too) has not failed yet: say so rather than "not tried".
		dialing := 0
		for a, st := range rr.addrs {
			if _, done := rr.outcomes[a]; !done && st.dialing {
				dialing++
			}
		}
		dialing = min(dialing, rest)
		if dialing > 0 {
			parts = append(parts, fmt.Sprintf("still connecting to %d %s", dialing, plural(dialing, "peer", "peers")))
		}
		if rest -= dialing; rest > 0 {
			parts = append(parts, fmt.Sprintf("%d %s not tried yet", rest, plural(rest, "peer was", "peers were")))
		}
	}
	return strings.Join(parts, "; ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
