#!/usr/bin/python3
"""Capture real KRPC packets from python3-libtorrent into testdata/captures.

Run from engine/dht:  /usr/bin/python3 testdata/capture.py

A raw UDP socket on 127.0.0.1 plays a DHT node: it queries libtorrent (so we
capture libtorrent's responses and errors) and, once libtorrent knows it, answers
libtorrent's own queries (so we capture libtorrent's pings, find_node, get_peers
and announce_peer). Each packet is written verbatim as captures/lt-<what>.bin.
Node ids and tokens are random, so reruns produce different bytes.
"""
import os
import socket
import tempfile
import time

import libtorrent as lt

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "captures")


def bstr(b):
    return str(len(b)).encode() + b":" + b


def save(name, data):
    with open(os.path.join(OUT, "lt-" + name + ".bin"), "wb") as f:
        f.write(data)
    print("saved", name, len(data), "bytes")


def main():
    os.makedirs(OUT, exist_ok=True)
    s = lt.session({
        "listen_interfaces": "127.0.0.1:0", "enable_dht": True, "dht_bootstrap_nodes": "",
        "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
        "dht_restrict_routing_ips": False, "dht_restrict_search_ips": False,
        "dht_ignore_dark_internet": False,
    })
    ih = os.urandom(20)
    d = tempfile.mkdtemp(prefix="ltcapture-")
    atp = lt.add_torrent_params()
    atp.info_hashes = lt.info_hash_t(lt.sha1_hash(ih))
    atp.save_path = d
    h = s.add_torrent(atp)
    time.sleep(0.5)
    ltaddr = ("127.0.0.1", s.listen_port())

    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    u.settimeout(2)
    me = os.urandom(20)

    def ask(name, q, args):
        a = b"d2:id" + bstr(me) + args + b"e"
        u.sendto(b"d1:a" + a + b"1:q" + bstr(q) + b"1:t2:tx1:y1:qe", ltaddr)
        data, _ = u.recvfrom(4096)
        save(name, data)
        return data

    ask("ping-reply", b"ping", b"")
    ask("find_node-reply", b"find_node", b"6:target" + bstr(os.urandom(20)))
    r = ask("get_peers-reply", b"get_peers", b"9:info_hash" + bstr(ih))
    ask("announce_peer-error", b"announce_peer", b"9:info_hash" + bstr(ih) + b"4:porti6881e5:token3:bad")
    ask("unknown-method-error", b"vote", b"")

    # Now libtorrent queries us: answer everything with a token and no nodes.
    s.add_dht_node(u.getsockname())
    h.force_dht_announce()
    seen = set()
    deadline = time.time() + 10
    while time.time() < deadline and "announce_peer" not in seen:
        try:
            data, src = u.recvfrom(4096)
        except socket.timeout:
            h.force_dht_announce()
            continue
        for q in (b"ping", b"find_node", b"get_peers", b"announce_peer"):
            if b"1:q" + bstr(q) in data and q.decode() not in seen:
                seen.add(q.decode())
                save(q.decode() + "-query", data)
        t = data[data.index(b"1:t") + 3:]
        n = int(t[:t.index(b":")])
        tid = t[t.index(b":") + 1:][:n]
        u.sendto(b"d1:rd2:id" + bstr(me) + b"5:token" + bstr(b"tok") + b"e1:t" + bstr(tid) + b"1:y1:re", src)
    print("captured queries:", sorted(seen))


if __name__ == "__main__":
    main()
