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
	"time"

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
func (mf *metaFetch) note(addr netip.AddrPort, o peerOutcome) {
	if mf.outcomes == nil {
		mf.outcomes = make(map[netip.AddrPort]peerOutcome)
	}
	prev, known := mf.outcomes[addr]
	if !known && len(mf.outcomes) >= 2*maxKnownPeers {
		return // bounded: incoming peers come from ports of their own
	}
	if o > prev {
		mf.outcomes[addr] = o
	}
}

// cannot reports an outcome after which a peer cannot send the metadata.
func (o peerOutcome) cannot() bool {
	return o == outNoExt || o == outNoMetadata || o == outBadMetadata
}

// hopeless reports a magnet's fetch that cannot succeed: every known peer
// connected and showed it cannot send the metadata (no extension protocol, no
// ut_metadata, bad metadata), and no new peer can come (no tracker, no DHT,
// no listener). It then fails at once instead of at its timeout.
func (t *Torrent) hopeless() bool {
	mf := t.meta
	if len(t.addrs) == 0 || t.c.ln != nil || t.c.dht != nil || t.announcer != nil || t.dialing > 0 {
		return false
	}
	for _, p := range t.peers {
		if !p.closing && !mf.outcomes[p.addr].cannot() {
			return false
		}
	}
	for a := range t.addrs {
		if !mf.outcomes[a].cannot() {
			return false
		}
	}
	return true
}

// failure explains a failed metadata fetch to a person.
func (mf *metaFetch) failure(t *Torrent, cause error) error {
	why := mf.why(t, len(t.addrs))
	if mf.layers != nil {
		why = mf.layers.why() // v2layers.go: the metadata came, the piece layers did not
	}
	if errors.Is(cause, context.DeadlineExceeded) {
		return fmt.Errorf("metadata of %s not found in %v: %s", t.ih, t.opts.MetadataTimeout, why)
	}
	if errors.Is(cause, context.Canceled) {
		return fmt.Errorf("metadata of %s: interrupted after %v: %s", t.ih, time.Since(mf.started).Round(time.Second), why)
	}
	return fmt.Errorf("metadata of %s: %w (%s)", t.ih, cause, why)
}

// noteDial records a failed dial, by its cause.
func (mf *metaFetch) noteDial(addr netip.AddrPort, err error) {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		mf.note(addr, outRefused)
	case errors.Is(err, peerconn.ErrInfoHashMismatch):
		mf.note(addr, outWrongTorrent)
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, peerconn.ErrPeerClosed):
		mf.note(addr, outHandshakeClosed)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, peerconn.ErrHandshakeTimeout),
		errors.As(err, &ne) && ne.Timeout():
		mf.note(addr, outTimedOut)
	default:
		mf.lastDialErr = err
		mf.note(addr, outDialFailed)
	}
}

// why says what happened to the peers of a failed metadata fetch, e.g.
// "connected to 1 peer; it does not support the extension protocol (BEP 10),
// so it cannot send metadata".
func (mf *metaFetch) why(t *Torrent, known int) string {
	if known == 0 {
		return "no peers found (no tracker answered with peers, none given with x.pe or --peer)"
	}
	n := map[peerOutcome]int{}
	for _, o := range mf.outcomes {
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
		if n[outDialFailed] > 0 && mf.lastDialErr != nil {
			s += "; last error: " + mf.lastDialErr.Error()
		}
		parts = append(parts, s)
	}
	if rest := known - connected - failed; rest > 0 {
		// A dial still under way (a peer that refused TCP is tried over uTP
		// too) has not failed yet: say so rather than "not tried".
		dialing := 0
		for a, st := range t.addrs {
			if _, done := mf.outcomes[a]; !done && st.dialing {
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
