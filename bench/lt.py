#!/usr/bin/python3
"""lt.py: the benchmark's python3-libtorrent peers (Debian's /usr/bin/python3).

Subcommands; every socket is on 127.0.0.1, DHT/LSD/UPnP/NAT-PMP are off and uTP is
off in both directions (the swarm is TCP only, as in issue 7's measurements):

  make --piece-length N --tracker URL DATA OUT.torrent
      Write a v1 .torrent of the file or folder DATA. Prints the info-hash.
  seed [--utp-only] [--upload-rate B/s] --stats FILE TORRENT=SAVE_PATH...
      Check every torrent's data, then seed them all from one session. Prints
      "READY <port>" once every torrent is seeding, then rewrites FILE (JSON, atomically)
      every 0.2 s with the payload bytes uploaded per info-hash since start and the
      session's uTP counters ("utp": utp_packet_loss, utp_timeout, ...). Runs until
      SIGTERM or until its parent dies. --utp-only: TCP off both ways, uTP (BEP 29)
      on (bench/utp). --upload-rate: the session's upload limit in bytes/s (bench/lsd).
  get [--timeout S] TORRENT SAVE_PATH
      The plain client: download the whole torrent from its tracker; prints one JSON
      line {"connected_s", "first_piece_s", "done_s", "bytes", "rate_Bps"}: times from
      add_torrent (libtorrent waits about 0.5 s before its first announce), the rate
      from the first connection to a seeder to the end. Exit 1 on timeout.
"""

import argparse
import json
import os
import signal
import sys
import time

import libtorrent as lt


def log(msg):
    sys.stderr.write("lt.py[%d]: %s\n" % (os.getpid(), msg))
    sys.stderr.flush()


def session(ip, progress=False, utp_only=False, upload_rate=0, no_outgoing=False):
    mask = (lt.alert.category_t.error_notification | lt.alert.category_t.status_notification
            | lt.alert.category_t.tracker_notification)
    if progress:
        mask |= lt.alert.category_t.piece_progress_notification | lt.alert.category_t.connect_notification
    settings = {
        "listen_interfaces": "%s:0" % ip,
        "outgoing_interfaces": ip,
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_outgoing_utp": False,
        "enable_incoming_utp": False,
        "allow_multiple_connections_per_ip": True,
        "announce_to_all_trackers": True,
        "announce_to_all_tiers": True,
        "ssrf_mitigation": False,  # the tracker lives on 127.0.0.1
        "unchoke_slots_limit": -1,
        "user_agent": "hyperblow-bench/" + lt.__version__,
        "alert_mask": mask,
        # Every torrent active and checked at once, and room for their peers
        # (bench/idle seeds 200 torrents to two mounts).
        "active_limit": -1,
        "active_seeds": -1,
        "active_downloads": -1,
        "active_checking": 16,
        "connections_limit": 4000,
    }
    if utp_only:
        settings.update({
            "enable_outgoing_tcp": False,
            "enable_incoming_tcp": False,
            "enable_outgoing_utp": True,
            "enable_incoming_utp": True,
        })
    if upload_rate:
        settings["upload_rate_limit"] = upload_rate
    if no_outgoing:
        # It only accepts: a client that reaches it through a relay (bench/idle --wan)
        # is not dialled back on its own address, around the relay.
        settings["enable_outgoing_tcp"] = False
        settings["enable_outgoing_utp"] = False
    return lt.session(settings)


def drain(ses):
    """Logs errors; returns the alerts for the caller to inspect."""
    alerts = ses.pop_alerts()
    for al in alerts:
        if al.category() & lt.alert.category_t.error_notification:
            log(al.message())
    return alerts


def cmd_make(a):
    fs = lt.file_storage()
    data = os.path.abspath(a.data)
    lt.add_files(fs, data)
    if fs.num_files() == 0:
        sys.exit("lt.py: no files under %s" % data)
    ct = lt.create_torrent(fs, a.piece_length, flags=lt.create_torrent.v1_only)
    ct.add_tracker(a.tracker, 0)
    ct.set_creator("hyperblow bench")
    lt.set_piece_hashes(ct, os.path.dirname(data))
    with open(a.out, "wb") as f:
        f.write(lt.bencode(ct.generate()))
    print(str(lt.torrent_info(a.out).info_hashes().v1))


def add(ses, torrent, save_path):
    p = lt.add_torrent_params()
    p.ti = lt.torrent_info(torrent)
    p.save_path = os.path.abspath(save_path)
    return ses.add_torrent(p)


def utp_counters(alerts, last):
    """The uTP counters of the newest session_stats_alert in alerts, else last."""
    for al in alerts:
        if isinstance(al, lt.session_stats_alert):
            last = {n[len("utp."):]: v for n, v in al.values.items() if n.startswith("utp.utp_")}
    return last


def write_stats(path, handles, started, utp=None):
    up = {}
    for h in handles:
        st = h.status()
        up[str(st.info_hashes.v1)] = {"uploaded": st.total_payload_upload, "peers": st.num_peers}
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"t": time.time(), "since": started, "torrents": up, "utp": utp or {}}, f)
    os.replace(tmp, path)


def cmd_seed(a):
    ppid = os.getppid()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    ses = session(a.ip, utp_only=a.utp_only, upload_rate=a.upload_rate, no_outgoing=a.no_outgoing)
    if a.upload_rate:
        # Peers on a local network (bench/lsd's 10.78.0.0/24) are in the local peer
        # class, which the session's limit does not cover: limit it too.
        pc = ses.get_peer_class(lt.session.local_peer_class_id)
        pc["upload_limit"] = a.upload_rate
        ses.set_peer_class(lt.session.local_peer_class_id, pc)
    handles = []
    for spec in a.torrents:
        torrent, _, save = spec.partition("=")
        handles.append(add(ses, torrent, save))
    deadline = time.time() + a.check_timeout
    while True:
        drain(ses)
        sts = [h.status() for h in handles]
        for st in sts:
            if st.errc.value() != 0:
                sys.exit("lt.py: %s: torrent error: %s" % (st.name, st.errc.message()))
        if all(st.state == lt.torrent_status.seeding for st in sts) and ses.listen_port() != 0:
            break
        if time.time() > deadline or stop:
            bad = ["%s %s %.1f%%" % (st.name, st.state, st.progress * 100) for st in sts if st.state != lt.torrent_status.seeding]
            sys.exit("lt.py: not seeding after %d s: %s (is the data complete?)" % (a.check_timeout, ", ".join(bad)))
        time.sleep(0.05)
    for h in handles:
        h.force_reannounce()
    started = time.time()
    write_stats(a.stats, handles, started)
    print("READY %d" % ses.listen_port(), flush=True)
    utp = {}
    while not stop and os.getppid() == ppid:
        utp = utp_counters(drain(ses), utp)
        write_stats(a.stats, handles, started, utp)
        ses.post_session_stats()
        time.sleep(0.2)
    log("stopping")


def cmd_get(a):
    ses = session(a.ip, progress=True)
    t0 = time.monotonic()
    h = add(ses, a.torrent, a.save_path)
    first = connected = None
    deadline = t0 + a.timeout
    while time.monotonic() < deadline:
        for al in drain(ses):
            now = time.monotonic() - t0
            # The first connection to a seeder (not to itself, which the tracker lists too).
            if connected is None and isinstance(al, lt.peer_connect_alert) and al.endpoint[0] != a.ip:
                connected = now
            if first is None and isinstance(al, lt.piece_finished_alert):
                first = now
        st = h.status()
        if st.errc.value() != 0:
            sys.exit("lt.py: torrent error: %s" % st.errc.message())
        if first is None and st.num_pieces > 0:
            first = time.monotonic() - t0  # coarser: the alert was not seen
        if st.is_seeding:
            done = time.monotonic() - t0
            if connected is None:
                connected = 0.0
            print(json.dumps({"first_piece_s": first, "connected_s": connected, "done_s": done,
                              "bytes": st.total_wanted, "rate_Bps": st.total_wanted / (done - connected)}), flush=True)
            return
        time.sleep(0.001 if first is None else 0.02)
    st = h.status()
    sys.exit("lt.py: download timed out at %.1f%% with %d peers" % (st.progress * 100, st.num_peers))


def main():
    ap = argparse.ArgumentParser(prog="lt.py")
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("--piece-length", type=int, required=True)
    m.add_argument("--tracker", required=True)
    m.add_argument("data")
    m.add_argument("out")
    s = sub.add_parser("seed")
    s.add_argument("--stats", required=True)
    s.add_argument("--ip", default="127.0.0.1")
    s.add_argument("--check-timeout", type=int, default=300)
    s.add_argument("--utp-only", action="store_true")
    s.add_argument("--upload-rate", type=int, default=0)
    s.add_argument("--no-outgoing", action="store_true", help="never dial peers, only accept")
    s.add_argument("torrents", nargs="+", metavar="TORRENT=SAVE_PATH")
    g = sub.add_parser("get")
    g.add_argument("--timeout", type=float, default=300)
    g.add_argument("--ip", default="127.0.0.1")
    g.add_argument("torrent")
    g.add_argument("save_path")
    a = ap.parse_args()
    {"make": cmd_make, "seed": cmd_seed, "get": cmd_get}[a.cmd](a)


if __name__ == "__main__":
    main()
