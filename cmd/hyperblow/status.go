package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hyperblow/hyperblow/session"
	"github.com/hyperblow/hyperblow/termview"
)

// The status server (mount --status ADDR) and the status command that reads it.
//
// Where it listens: ADDR is HOST:PORT, :PORT or PORT. Without a host it is
// 127.0.0.1. A host name must be "localhost": a name is never resolved to a
// non-loopback address behind the user's back. An IP address is taken as
// given, so serving beyond this machine takes an explicit address such as
// 0.0.0.0:9100 (and is logged as a warning: the page shows the names of the
// files and what is read, to anyone who can reach it).

const statusUsage = `Usage: hyperblow status [flags] ADDR

Show what a running mount is doing, from the status server it started with
"hyperblow mount --status ADDR": per torrent its state (active, sleeping,
seeding or failed), the progress (pieces verified), download and upload
rates, peers, open readers and bytes served to them, and each tracker's state (ok with the peers of its last answer, or failing with the
reason; when it is next asked); the cache's counters; and magnet links whose
metadata is still on its way. ADDR must be that status server: anything else
(a BitTorrent port, another web server) gets an error that says so.

ADDR is HOST:PORT, :PORT (127.0.0.1) or an http:// URL. --json prints the
server's JSON, indented (/status sends it on one line; /status?pretty indents it). Its fields (snake_case, stable): time; goroutines and
connections (the process's, all torrents); torrents[]: name, info_hash, state,
total_length, piece_length, num_pieces, pieces_have, pieces_verified, pieces_held, pieces_wanted, held_bytes, downloaded_bytes,
uploaded_bytes, served_to_readers_bytes, wasted_bytes, duplicate_bytes, hash_failures,
peers_banned, dials, dial_failures, refused_per_ip, peers_replaced,
download_rate, upload_rate (bytes/s), files[] (path, length),
peers[] (address, peer_id, client, transport: tcp|utp, ip_version: 4|6, incoming,
fast, am_choking, am_interested,
peer_choking, peer_interested, optimistic, snubbed, pieces, requests, depth,
rtt_ms, downloaded_bytes, uploaded_bytes, download_rate, upload_rate), readers[] (id,
piece, window_bytes, rate), waiting[] (piece, waiters), trackers[] (url, tier,
state: waiting|announcing|ok|failing, announcing, peers, seeders, leechers,
error, failures, last_ok_seconds_ago, next_announce_in_seconds); magnets[] (name,
info_hash, state, elapsed_seconds, peers_known, peers_tried, peers_connected,
peers_offering, metadata_size, metadata_pieces_have, metadata_pieces_total,
error, trackers[] as above); cache (hits, misses, evictions, rejections, held_bytes, hot_bytes,
max_bytes). The same data is served at /metrics for Prometheus.

--peers lists each peer: its address, NET (transport and IP version, as
utp/v6), client, flags, pieces and rates. Peer flags: C it chokes us, c we
choke it, I it is interested, i we are interested, F fast extension (BEP 6),
E it connected to us, O our optimistic unchoke, S snubbed (our requests to
it timed out), X encrypted (MSE, RC4).

Examples:
  hyperblow mount --status :9100 movie.torrent ~/mnt &
  hyperblow status :9100
  hyperblow status --peers 127.0.0.1:9100
  hyperblow status --json :9100 | jq '.torrents[0].served_to_readers_bytes'
  curl -s http://127.0.0.1:9100/metrics

Flags:
`

// The status JSON's types are the session's snapshot (session.Snapshot).
type (
	statusJSON        = session.Snapshot
	torrentStatusJSON = session.TorrentStatus
	trackerStatusJSON = session.TrackerStatus
	fileStatusJSON    = session.FileStatus
	peerStatusJSON    = session.PeerStatus
	readerStatusJSON  = session.ReaderStatus
	waitingStatusJSON = session.WaitingStatus
	magnetStatusJSON  = session.MagnetStatus
	cacheStatusJSON   = session.CacheStatus
	networkStatusJSON = session.NetworkStatus
	webSeedStatusJSON = session.WebSeedStatus
)

// statusListenAddr applies the listening rules above to --status ADDR.
func statusListenAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		if _, perr := strconv.ParseUint(addr, 10, 16); perr != nil {
			return "", usagef("--status %q: want HOST:PORT, :PORT or PORT (e.g. 127.0.0.1:9100)", addr)
		}
		host, port = "", addr
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", usagef("--status %q: bad port %q", addr, port)
	}
	switch {
	case host == "":
		host = "127.0.0.1"
	case strings.EqualFold(host, "localhost"):
	default:
		if _, err := netip.ParseAddr(host); err != nil {
			return "", usagef("--status %q: %q is a name, not an address: the status server listens on loopback "+
				"(127.0.0.1, ::1, localhost) unless given an IP address explicitly, e.g. 0.0.0.0:%s", addr, host, port)
		}
	}
	return net.JoinHostPort(host, port), nil
}

// startStatus serves --status ADDR (nothing when addr is empty): the
// session's snapshot as JSON at /status and as Prometheus text at /metrics
// (session.Handler). It listens before it returns; stop closes it.
func startStatus(log *slog.Logger, addr string, s *session.Session) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	laddr, err := statusListenAddr(addr)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", laddr)
	if err != nil {
		return nil, fmt.Errorf("--status %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      60 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	go srv.Serve(ln)
	bound := ln.Addr().String()
	if ap, err := netip.ParseAddrPort(bound); err == nil && !ap.Addr().IsLoopback() {
		log.Warn("the status server is reachable from other machines: it shows file names and what is read",
			"addr", bound)
	}
	log.Info("status server", "addr", bound, "url", "http://"+bound+"/status")
	return func() { srv.Close() }, nil
}

func runStatus(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("status", statusUsage, stdout)
	asJSON := fs.Bool("json", false, "print the server's JSON, indented")
	peers := fs.Bool("peers", false, "list each torrent's peers too")
	timeout := fs.Duration("timeout", 10*time.Second, "give up when the server does not answer in time")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("status: want ADDR, got %d arguments (see hyperblow status --help)", len(pos))
	}
	u, err := statusURL(pos[0])
	if err != nil {
		return err
	}
	st, body, err := session.FetchSnapshot(u, pos[0], *timeout)
	if err != nil {
		return err
	}
	if *asJSON {
		// The server sends it on one line (cheaper for it); indented here.
		var out bytes.Buffer
		if json.Indent(&out, body, "", "  ") != nil {
			out.Reset()
			out.Write(body)
		}
		_, err := stdout.Write(out.Bytes())
		return err
	}
	printStatus(stdout, st, *peers)
	return nil
}

// statusURL turns the status command's ADDR into the URL of /status.
func statusURL(addr string) (string, error) {
	if strings.Contains(addr, "://") {
		u, err := url.Parse(addr)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "", usagef("status: %q is not an http:// URL", addr)
		}
		if u.Path == "" || u.Path == "/" {
			u.Path = "/status"
		}
		return u.String(), nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		host, port = "", addr
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", usagef("status: ADDR %q: want HOST:PORT, :PORT or an http:// URL", addr)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/status", nil
}

// printStatus prints the status for people (termview.PrintStatus).
func printStatus(w io.Writer, st statusJSON, peers bool) { termview.PrintStatus(w, st, peers) }

// percent prints part/whole with one decimal; 100.0% only when complete.
func percent(part, whole int) string { return termview.Percent(part, whole) }
