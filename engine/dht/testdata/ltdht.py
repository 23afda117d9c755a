#!/usr/bin/python3
"""A python3-libtorrent DHT node on 127.0.0.1 for engine/dht's interop test.

It seeds a small generated torrent with DHT as its only source of peers, and
obeys commands on stdin (one a line):

  add HOST:PORT     add a DHT node (libtorrent's routing table starts empty)
  announce          force a DHT announce of the torrent
  lookup HEX40      DHT get_peers for an info-hash; prints "PEERS ip:port ..."
  quit

It prints "READY <port> <infohash hex>" once listening; its DHT node uses the
same UDP port. No bootstrap routers, no LSD/UPnP/NAT-PMP: nothing leaves
127.0.0.1.
"""
import os
import shutil
import sys
import tempfile
import threading
import time

import libtorrent as lt


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def main():
    verbose = os.environ.get("DHT_TEST_LOG") == "1"
    mask = (lt.alert.category_t.dht_notification | lt.alert.category_t.dht_operation_notification
            | lt.alert.category_t.status_notification | lt.alert.category_t.error_notification)
    if verbose:
        mask |= lt.alert.category_t.dht_log_notification
    s = lt.session({
        "listen_interfaces": "127.0.0.1:0",
        "enable_dht": True,
        "dht_bootstrap_nodes": "",
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        # libtorrent keeps one node per IP in its routing table and in searches,
        # and ignores "dark" address ranges; every node here is on 127.0.0.1.
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        "dht_ignore_dark_internet": False,
        "dht_enforce_node_id": False,
        # libtorrent answers at most 5 queries/s per IP (then blocks the IP for
        # minutes) within 8000 B/s: all our test nodes share 127.0.0.1.
        "dht_block_ratelimit": 1000,
        "dht_upload_rate_limit": 1000000,
        "alert_mask": mask,
    })
    d = tempfile.mkdtemp(prefix="ltdht-")
    with open(os.path.join(d, "data.bin"), "wb") as f:
        f.write(os.urandom(64 * 1024))
    fs = lt.file_storage()
    lt.add_files(fs, os.path.join(d, "data.bin"))
    ct = lt.create_torrent(fs, 16 * 1024)
    lt.set_piece_hashes(ct, d)
    ti = lt.torrent_info(ct.generate())
    h = s.add_torrent({"ti": ti, "save_path": d})
    for _ in range(200):
        if s.listen_port() and h.status().is_seeding:
            break
        time.sleep(0.05)
    print("READY %d %s" % (s.listen_port(), str(ti.info_hash())), flush=True)

    lock = threading.Lock()
    waiting = {}

    def alerts():
        while True:
            s.wait_for_alert(200)
            for a in s.pop_alerts():
                if isinstance(a, lt.dht_get_peers_reply_alert):
                    ih = str(a.info_hash)
                    with lock:
                        ev = waiting.get(ih)
                        if ev is not None:
                            ev[1].extend("%s:%d" % p for p in a.peers())
                            ev[0].set()
                elif verbose:
                    log("lt:", a.what(), a.message())

    threading.Thread(target=alerts, daemon=True).start()

    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "add":
            host, port = cmd[1].rsplit(":", 1)
            s.add_dht_node((host, int(port)))
            print("OK", flush=True)
        elif cmd[0] == "announce":
            h.force_dht_announce()
            print("OK", flush=True)
        elif cmd[0] == "lookup":
            ih = cmd[1].lower()
            ev = (threading.Event(), [])
            with lock:
                waiting[ih] = ev
            s.dht_get_peers(lt.sha1_hash(bytes.fromhex(ih)))
            ev[0].wait(5)
            with lock:
                del waiting[ih]
            print("PEERS " + " ".join(sorted(set(ev[1]))), flush=True)
        elif cmd[0] == "quit":
            break
    s.remove_torrent(h)
    shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
