#!/usr/bin/python3
"""lthelper: python3-libtorrent as a reference client for Hyperblow's integration tests.

Subcommands (every socket is bound to 127.0.0.1; DHT, LSD, UPnP and NAT-PMP are off):

  make [--piece-length N] [--tracker URL]... [--pad] [--format v1|v2|hybrid] DATA OUT.torrent
      Write a .torrent for the file or folder DATA (each tracker in its own tier),
      v1 by default, or BitTorrent v2-only or hybrid (BEP 52).
      --pad aligns files to pieces with BEP 47 padding files. Prints the info JSON
      (info_hash is the v2 hash truncated to 20 bytes for a v2-only torrent, as in
      the swarm; info_hash_v2 is the whole v2 hash, "" for v1).
  info TORRENT
      Print what libtorrent reads from TORRENT as JSON (the reference for `info --json`).
  seed [--port N] [--dht] [--encryption forced] [--utp-only] TORRENT SAVE_PATH
      Check the data under SAVE_PATH, then seed it. Prints "READY <port>" once the
      torrent is seeding and listening, then runs until killed or its parent dies.
  get [--port N] [--peer HOST:PORT]... [--timeout S] [--encryption forced] [--utp-only] TORRENT|MAGNET SAVE_PATH
      Download into SAVE_PATH (from the trackers and the given peers) and exit 0 once
      complete; exit 1 on timeout. With --encryption it also prints, after DONE, one
      "PEER HOST:PORT rc4|plaintext|none" line per peer it downloaded from: how that
      connection was encrypted.

--encryption forced: every connection, in and out, must use Message Stream
Encryption with RC4 (out_enc_policy = in_enc_policy = pe_forced, allowed_enc_level
= pe_rc4); libtorrent drops plain handshakes.
--utp-only: TCP off both ways (enable_incoming_tcp = enable_outgoing_tcp = False),
uTP (BEP 29) on both ways: peers reach it, and it reaches them, over uTP only.
  probe --peer HOST:PORT [--seconds S] [--want-bytes N] TORRENT SAVE_PATH
      Leech from that one peer for up to S seconds (until libtorrent sees it as
      upload-only and got N bytes from it) and print how libtorrent sees it, as JSON.
      The connection is kept open even when neither side wants anything more.

It prints libtorrent's errors and tracker replies to stderr so a failing test shows why.
"""

import argparse
import json
import os
import sys
import time

import libtorrent as lt


def info_json(ti):
    fs = ti.files()
    # A v2 single-file torrent gets a padding file too (libtorrent aligns its last piece).
    real = [i for i in range(fs.num_files()) if not fs.file_flags(i) & lt.file_storage.flag_pad_file]
    p0 = fs.file_path(real[0])
    multi = len(real) > 1 or os.sep in p0 or "/" in p0
    files = []
    for i in range(fs.num_files()):
        path = fs.file_path(i).replace(os.sep, "/")
        pad = bool(fs.file_flags(i) & lt.file_storage.flag_pad_file)
        if multi:
            # libtorrent prefixes the torrent's name; the torrent-relative path lacks it.
            path = path.split("/", 1)[1]
        elif pad:
            path = path.split("/", 1)[1]
        files.append({"path": path, "length": fs.file_size(i), "pad": pad})
    tiers = {}
    for tr in ti.trackers():
        tiers.setdefault(tr.tier, []).append(tr.url)
    ih = ti.info_hashes()
    return {
        "name": ti.name(),
        "info_hash": str(ih.v1) if ih.has_v1() else str(ih.v2)[:40],
        "info_hash_v2": str(ih.v2) if ih.has_v2() else "",
        "piece_length": ti.piece_length(),
        "num_pieces": ti.num_pieces(),
        "total_length": ti.total_size(),
        "private": ti.priv(),
        "multi_file": multi,
        "trackers": [tiers[k] for k in sorted(tiers)],
        "files": files,
    }


def cmd_make(a):
    data = os.path.abspath(a.data)
    fs = lt.file_storage()
    lt.add_files(fs, data)
    if fs.num_files() == 0:
        sys.exit("lthelper: no files under %s" % data)
    flags = {"v1": lt.create_torrent.v1_only, "v2": lt.create_torrent.v2_only, "hybrid": 0}[a.format]
    if a.pad:
        # canonical_files gives a v1 torrent the v2 file order and piece-aligned padding.
        flags |= lt.create_torrent.canonical_files
    ct = lt.create_torrent(fs, a.piece_length, flags=flags)
    for tier, url in enumerate(a.tracker):
        ct.add_tracker(url, tier)
    ct.set_creator("hyperblow integration tests")
    lt.set_piece_hashes(ct, os.path.dirname(data))
    with open(a.out, "wb") as f:
        f.write(lt.bencode(ct.generate()))
    print(json.dumps(info_json(lt.torrent_info(a.out))))


def cmd_info(a):
    print(json.dumps(info_json(lt.torrent_info(a.torrent))))


def new_session(port, dht=False, encryption=None, host="127.0.0.1", utp_only=False):
    # host "::1" listens (and connects) on the IPv6 loopback only.
    listen = "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)
    settings = {
        "listen_interfaces": listen,
        "outgoing_interfaces": host,
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "allow_multiple_connections_per_ip": True,
        "announce_to_all_trackers": True,
        "announce_to_all_tiers": True,
        # The trackers of these tests live on 127.0.0.1.
        "ssrf_mitigation": False,
        "allow_idna": True,
        "enable_outgoing_utp": False,
        "unchoke_slots_limit": -1,
        "user_agent": "lthelper/" + lt.__version__,
        "alert_mask": lt.alert.category_t.error_notification
        | lt.alert.category_t.status_notification
        | lt.alert.category_t.tracker_notification,
    }
    if encryption == "forced":
        settings.update({
            "out_enc_policy": int(lt.enc_policy.pe_forced),
            "in_enc_policy": int(lt.enc_policy.pe_forced),
            "allowed_enc_level": int(lt.enc_level.pe_rc4),
            "prefer_rc4": True,
        })
    if utp_only:
        settings.update({
            "enable_outgoing_tcp": False,
            "enable_incoming_tcp": False,
            "enable_outgoing_utp": True,
            "enable_incoming_utp": True,
        })
    if dht:
        # A DHT on 127.0.0.1 only: no bootstrap routers; every node shares one IP,
        # which libtorrent's defaults treat as suspicious; announce often.
        settings.update({
            "enable_dht": True,
            "dht_bootstrap_nodes": "",
            "dht_restrict_routing_ips": False,
            "dht_restrict_search_ips": False,
            "dht_ignore_dark_internet": False,
            "dht_enforce_node_id": False,
            "dht_block_ratelimit": 1000,
            "dht_upload_rate_limit": 1000000,
            "dht_announce_interval": 2,
        })
    return lt.session(settings)


def log(msg):
    sys.stderr.write("lthelper[%d]: %s\n" % (os.getpid(), msg))
    sys.stderr.flush()


def drain(ses):
    for al in ses.pop_alerts():
        cat = al.category()
        if cat & (lt.alert.category_t.error_notification | lt.alert.category_t.tracker_notification) or isinstance(
            al, (lt.listen_succeeded_alert, lt.listen_failed_alert)
        ):
            log(al.message())


def add(ses, torrent, save_path, peers=()):
    if torrent.startswith("magnet:"):  # get only: metadata (and v2 piece layers) from the peers
        p = lt.parse_magnet_uri(torrent)
    else:
        p = lt.add_torrent_params()
        p.ti = lt.torrent_info(torrent)
    p.save_path = save_path
    h = ses.add_torrent(p)
    for peer in peers:
        host, port = peer.rsplit(":", 1)
        h.connect_peer((host, int(port)))
    return h


def cmd_seed(a):
    ppid = os.getppid()
    ses = new_session(a.port, dht=a.dht, encryption=a.encryption, host=a.host, utp_only=a.utp_only)
    h = add(ses, a.torrent, os.path.abspath(a.save_path))
    deadline = time.time() + 120
    while True:
        drain(ses)
        st = h.status()
        if st.errc.value() != 0:
            sys.exit("lthelper: torrent error: %s" % st.errc.message())
        if st.state == lt.torrent_status.seeding and ses.listen_port() != 0:
            break
        if time.time() > deadline:
            sys.exit("lthelper: not seeding after 120 s (state %s, %.1f%%): is the data complete?" % (st.state, st.progress * 100))
        time.sleep(0.05)
    h.force_reannounce()
    print("READY %d" % ses.listen_port(), flush=True)
    while os.getppid() == ppid:
        drain(ses)
        time.sleep(0.2)
    log("parent gone, exiting")


def peer_encryption(pi):
    if pi.flags & lt.peer_info.rc4_encrypted:
        return "rc4"
    if pi.flags & lt.peer_info.plaintext_encrypted:
        return "plaintext"
    return "none"


def cmd_get(a):
    ses = new_session(a.port, encryption=a.encryption, utp_only=a.utp_only)
    h = add(ses, a.torrent, os.path.abspath(a.save_path), a.peer)
    deadline = time.time() + a.timeout
    peers = {}  # "host:port" -> encryption, of peers we downloaded from
    while time.time() < deadline:
        drain(ses)
        if a.encryption:
            for pi in h.get_peer_info():
                if pi.total_download > 0:
                    peers["%s:%d" % pi.ip] = peer_encryption(pi)
        st = h.status()
        if st.errc.value() != 0:
            sys.exit("lthelper: torrent error: %s" % st.errc.message())
        if st.is_seeding:
            print("DONE %d" % st.total_done, flush=True)
            for addr in sorted(peers):
                print("PEER %s %s" % (addr, peers[addr]), flush=True)
            return
        time.sleep(0.05)
    st = h.status()
    sys.exit("lthelper: download timed out at %.1f%% with %d peers" % (st.progress * 100, st.num_peers))


def cmd_probe(a):
    """Leech from one peer and report how libtorrent sees it (JSON).

    It ends once libtorrent has seen the peer as upload-only and got want_bytes from
    it, or after a.seconds. On loopback the whole exchange takes a few milliseconds:
    libtorrent gets every piece an upload-only peer has, and then, by default
    (close_redundant_connections), closes the connection, since neither side wants
    anything from the other; a probe that looked only now and then would miss the
    peer's flags (issue 16). So the probe keeps such connections open, and what it
    reports only moves forward: upload_only once seen, the most downloaded, the most
    pieces. It wakes on every alert (a piece finished, the peer came or went), with
    a 0.1 s bound, and a disconnection of the peer is reported with its reason.
    """
    ses = new_session(a.port)
    ses.apply_settings({
        "close_redundant_connections": False,
        "alert_mask": lt.alert.category_t.error_notification
        | lt.alert.category_t.status_notification
        | lt.alert.category_t.tracker_notification
        | lt.alert.category_t.connect_notification
        | lt.alert.category_t.peer_notification
        | lt.alert.category_t.piece_progress_notification,
    })
    h = add(ses, a.torrent, os.path.abspath(a.save_path), [a.peer])
    deadline = time.time() + a.seconds
    seen = {"connected": False, "upload_only": False, "seed": False, "pieces": 0, "downloaded": 0}
    disconnects = []
    while True:
        for al in ses.pop_alerts():
            if isinstance(al, lt.peer_disconnected_alert):
                if "%s:%d" % al.endpoint == a.peer:
                    disconnects.append(al.message())
                    log(al.message())
            elif al.category() & lt.alert.category_t.error_notification:
                log(al.message())
        connected = False
        for pi in h.get_peer_info():
            if "%s:%d" % pi.ip != a.peer:
                continue
            connected = True
            seen["upload_only"] = seen["upload_only"] or bool(pi.flags & lt.peer_info.upload_only)
            seen["seed"] = seen["seed"] or bool(pi.flags & lt.peer_info.seed)
            seen["client"] = pi.client.decode("utf-8", "replace") if isinstance(pi.client, bytes) else pi.client
            seen["pieces"] = max(seen["pieces"], sum(1 for x in pi.pieces if x))
            seen["downloaded"] = max(seen["downloaded"], pi.total_download)
        seen["connected"] = connected
        if seen["upload_only"] and seen["downloaded"] >= a.want_bytes:
            break
        left = deadline - time.time()
        if left <= 0:
            log("gave up after %.1f s: %s" % (a.seconds, json.dumps(seen)))
            break
        ses.wait_for_alert(int(min(left, 0.1) * 1000) + 1)
    if disconnects:
        seen["disconnects"] = disconnects
    seen["total_done"] = h.status().total_done
    print(json.dumps(seen), flush=True)


def main():
    ap = argparse.ArgumentParser(prog="lthelper")
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("--piece-length", type=int, default=256 * 1024)
    m.add_argument("--tracker", action="append", default=[])
    m.add_argument("--pad", action="store_true")
    m.add_argument("--format", choices=["v1", "v2", "hybrid"], default="v1")
    m.add_argument("data")
    m.add_argument("out")
    i = sub.add_parser("info")
    i.add_argument("torrent")
    s = sub.add_parser("seed")
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--host", default="127.0.0.1", help="address to listen on: 127.0.0.1, or ::1 for IPv6 only")
    s.add_argument("--dht", action="store_true", help="DHT on, on 127.0.0.1 only (its node listens on the same port)")
    s.add_argument("--encryption", choices=["forced"], help="only RC4-encrypted (MSE) connections")
    s.add_argument("--utp-only", action="store_true", help="TCP off: uTP only, in and out")
    s.add_argument("torrent")
    s.add_argument("save_path")
    g = sub.add_parser("get")
    g.add_argument("--port", type=int, default=0)
    g.add_argument("--peer", action="append", default=[])
    g.add_argument("--timeout", type=float, default=120)
    g.add_argument("--encryption", choices=["forced"], help="only RC4-encrypted (MSE) connections")
    g.add_argument("--utp-only", action="store_true", help="TCP off: uTP only, in and out")
    g.add_argument("torrent")
    g.add_argument("save_path")
    pr = sub.add_parser("probe")
    pr.add_argument("--port", type=int, default=0)
    pr.add_argument("--peer", required=True)
    pr.add_argument("--seconds", type=float, default=20)
    pr.add_argument("--want-bytes", type=int, default=1)
    pr.add_argument("torrent")
    pr.add_argument("save_path")
    a = ap.parse_args()
    {"make": cmd_make, "info": cmd_info, "seed": cmd_seed, "get": cmd_get, "probe": cmd_probe}[a.cmd](a)


if __name__ == "__main__":
    main()
