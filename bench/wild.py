#!/usr/bin/python3
"""wild.py: the rounds and the report of bench/wild (issue 14: web seeds, v2/hybrid).

bench/wild starts nginx and the seeders and makes the torrents; this measures, in each
round, on fresh mounts:
  curl of the nginx URL (whole file: rate, time_starttransfer; and a 64 KiB range at the
  round's random offset: time_starttransfer);
  the web-seed torrent: cp, dd at offset 0, dd at the random offset (each a fresh mount);
  dd of the local file at both offsets (the command's own cost);
  v1, v2 and hybrid from their seeders: cp.
Then writes the markdown report (stdout, and --out FILE).
"""

import argparse
import hashlib
import json
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import time

MOUNT_FLAGS = ["--no-dht", "--no-lsd", "--no-upnp", "--disk-cache", "0", "--no-utp", "--listen", "127.0.0.1:0",
               "--read-timeout", "60s"]
FAILS = []


def g(rec, *keys):
    """rec[keys[0]][keys[1]]..., None where a level is missing."""
    v = rec
    for k in keys:
        v = v.get(k) if isinstance(v, dict) else None
    return v


def log(msg):
    sys.stderr.write("%s bench/wild: %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


class Mount:
    """A fresh `hyperblow mount` of TORRENT at WORK/mnt, ready when its file shows."""

    def __init__(self, a, torrent, extra, name):
        self.mnt = os.path.join(a.work, "mnt")
        self.logf = open(os.path.join(a.work, "mount.%s.log" % name), "ab")
        self.t0 = time.monotonic()
        self.p = subprocess.Popen([a.bin, "mount", "-v" if a.verbose else "--quiet"] + MOUNT_FLAGS + extra + [torrent, self.mnt],
                                  stdout=self.logf, stderr=self.logf)
        self.file = os.path.join(self.mnt, os.path.basename(a.data))
        deadline = time.monotonic() + 30
        while not os.path.exists(self.file):
            if self.p.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("mount %s did not become ready (see mount.%s.log)" % (torrent, name))
            time.sleep(0.002)
        self.ready_s = time.monotonic() - self.t0

    def close(self):
        """Unmounts; returns the mount process's CPU seconds (user+system, whole life)."""
        if self.p.poll() is None:
            subprocess.run(["fusermount3", "-u", self.mnt], stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while True:
                pid, status, ru = os.wait4(self.p.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() > deadline:
                    # It did not exit after the unmount: its goroutines to its log, and a failure.
                    self.p.send_signal(3)  # SIGQUIT
                    _, status, ru = os.wait4(self.p.pid, 0)
                    raise RuntimeError("the mount process did not exit within 30 s of fusermount3 -u "
                                       "(goroutines in %s)" % self.logf.name)
                time.sleep(0.01)
            self.p.returncode = os.waitstatus_to_exitcode(status)
        except ChildProcessError:
            return None
        finally:
            self.logf.close()
        return ru.ru_utime + ru.ru_stime


def timed(argv, timeout=600):
    t = time.monotonic()
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    dt = time.monotonic() - t
    if r.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(argv), r.returncode, r.stderr.decode()[-300:]))
    return dt, r.stdout.decode()


def dd(path, off):
    return timed(["dd", "if=" + path, "of=/dev/null", "bs=64k", "count=1", "skip=%d" % (off >> 16), "status=none"])[0]


def cp_test(a, torrent, extra, name, want, size):
    m = Mount(a, torrent, extra, name)
    dst = os.path.join(a.copies, "copy")
    try:
        wall, _ = timed(["cp", m.file, dst])
    finally:
        cpu = m.close()
    ok = sha256(dst) == want
    os.unlink(dst)
    if not ok:
        raise RuntimeError("%s: the copy's sha256 differs" % name)
    return {"cp_s": wall, "MBps": size / wall / 1e6, "cpu_s": cpu, "cpu_s_per_GiB": cpu / (size / 2**30),
            "ready_s": m.ready_s}


def first_byte_test(a, name, off, then=None):
    """dd at off on a fresh mount; with then, also dd at then on the same mount after it."""
    m = Mount(a, a.ws_torrent, [], name)
    try:
        t = dd(m.file, off)
        if then is not None:
            t = (t, dd(m.file, then))
    finally:
        m.close()
    return t


def fuse_ceiling(a, size):
    """cp of a file of SIZE served from RAM by bench/fuseceiling (Hyperblow's mount options)."""
    mnt = os.path.join(a.work, "mnt")
    p = subprocess.Popen([a.fuseceiling, "-size", str(size), mnt], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        if p.stdout.readline().strip() != b"READY":
            raise RuntimeError("fuseceiling did not mount")
        wall, _ = timed(["cp", os.path.join(mnt, "ceiling.bin"), os.path.join(a.copies, "copy")])
        os.unlink(os.path.join(a.copies, "copy"))
        return {"cp_s": wall, "MBps": size / wall / 1e6}
    finally:
        p.terminate()
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            subprocess.run(["umount", "-l", mnt], stderr=subprocess.DEVNULL)


def guarded(rec, key, fn):
    try:
        rec[key] = fn()
    except Exception as e:  # a failed measurement is reported, the run goes on
        FAILS.append("round %d %s: %s" % (rec["round"], key, e))
        log("FAILED: round %d %s: %s" % (rec["round"], key, e))


def curl(url, rng=None):
    argv = ["curl", "-sf", "-o", "/dev/null", "-w", "%{time_starttransfer} %{time_total} %{size_download}"]
    if rng:
        argv += ["-r", rng]
    _, out = timed(argv + [url])
    ttfb, total, n = out.split()
    return {"ttfb_s": float(ttfb), "total_s": float(total), "bytes": int(n), "MBps": int(n) / float(total) / 1e6}


def children_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def lt_get(a, size, want):
    """python3-libtorrent (bench/lt.py get) downloads the web-seed torrent to /dev/shm: rate from add to
    finished, and its first verified piece (from add)."""
    dst = os.path.join(a.copies, "lt")
    os.makedirs(dst, exist_ok=True)
    c0 = children_cpu()
    try:
        _, out = timed([sys.executable, a.lt, "get", "--timeout", "600", "--ip", a.lt_ip, a.ws_torrent, dst], timeout=700)
        cpu = children_cpu() - c0
        j = json.loads(out.strip().splitlines()[-1])
        got = os.path.join(dst, os.path.basename(a.data))
        if sha256(got) != want:
            raise RuntimeError("libtorrent: the copy's sha256 differs")
    finally:
        subprocess.run(["rm", "-rf", dst])
    return {"done_s": j["done_s"], "first_piece_s": j["first_piece_s"], "MBps": size / j["done_s"] / 1e6,
            "cpu_s_per_GiB": cpu / (size / 2**30)}


ARIA2_FLAGS = ["--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false", "--enable-peer-exchange=false",
               "--seed-time=0", "--file-allocation=none", "--summary-interval=0", "--console-log-level=warn",
               "--allow-overwrite=true", "--auto-file-renaming=false", "--follow-torrent=true"]


def aria2_get(a, size, want):
    """aria2c downloads the web-seed torrent (its url-list: aria2's web-seeding) to /dev/shm: the process's wall time."""
    dst = os.path.join(a.copies, "aria2")
    os.makedirs(dst, exist_ok=True)
    c0 = children_cpu()
    try:
        wall, _ = timed(["aria2c", "--dir=" + dst] + ARIA2_FLAGS + [a.ws_torrent], timeout=700)
        cpu = children_cpu() - c0
        got = os.path.join(dst, os.path.basename(a.data))
        if sha256(got) != want:
            raise RuntimeError("aria2c: the copy's sha256 differs")
    finally:
        subprocess.run(["rm", "-rf", dst])
    return {"wall_s": wall, "MBps": size / wall / 1e6, "cpu_s_per_GiB": cpu / (size / 2**30)}


def clients_in_turn(a, rec, r, size, want):
    """The mount's cp, libtorrent and aria2c, starting one later each round."""
    tests = [("ws_cp", lambda: cp_test(a, a.ws_torrent, [], "ws", want, size)),
             ("lt", lambda: lt_get(a, size, want)),
             ("aria2", lambda: aria2_get(a, size, want))]
    k = (r - 1) % len(tests)
    for key, fn in tests[k:] + tests[:k]:
        guarded(rec, key, fn)


def plen_bytes(s):
    m = re.fullmatch(r"(\d+)(KiB|MiB)?", s)
    if not m:
        raise SystemExit("wild.py: --piece-length %s: say e.g. 256KiB or 1MiB" % s)
    return int(m.group(1)) << {"KiB": 10, "MiB": 20, None: 0}[m.group(2)]


def round_start(a, r, size):
    """A round's record and random 64 KiB-aligned offset (away from the first and
    last 4 MiB), with what every round measures first: dd's own cost on the local
    file (in the page cache) at 0 and at the offset, and curl's whole file and
    64 KiB range at the offset."""
    rec = {"round": r, "load": open("/proc/loadavg").read().split()[:3]}
    off = random.randrange(4 << 20, size - (4 << 20) - (64 << 10)) >> 16 << 16
    rec["offset"] = off
    dd(a.data, 0)
    rec["dd_local_0_s"] = statistics.median(dd(a.data, 0) for _ in range(5))
    rec["dd_local_rand_s"] = statistics.median(dd(a.data, off) for _ in range(5))
    guarded(rec, "curl", lambda: curl(a.url))
    guarded(rec, "curl_range", lambda: curl(a.url, "%d-%d" % (off, off + (64 << 10) - 1)))
    return rec, off


def measure_wan(a):
    size = os.path.getsize(a.data)
    log("sha256 of the data")
    want = sha256(a.data)
    rounds = []
    for r in range(1, a.rounds + 1):
        rec, off = round_start(a, r, size)
        # A verifying client waits for a whole piece: curl's time for that piece.
        pl = plen_bytes(a.piece_length)
        p = off // pl * pl
        guarded(rec, "curl_piece0", lambda: curl(a.url, "0-%d" % (pl - 1)))
        guarded(rec, "curl_piecerand", lambda: curl(a.url, "%d-%d" % (p, p + pl - 1)))
        clients_in_turn(a, rec, r, size, want)
        guarded(rec, "ws_fb0", lambda: first_byte_test(a, "ws", 0, off))
        if "ws_fb0" in rec:
            rec["ws_fb0_s"], rec["ws_samerand_s"] = rec.pop("ws_fb0")
        guarded(rec, "ws_fbrand_s", lambda: first_byte_test(a, "ws", off))
        log("round %d: %s" % (r, json.dumps(rec)))
        rounds.append(rec)
    return size, rounds


def measure(a):
    size = os.path.getsize(a.data)
    log("sha256 of the data")
    want = sha256(a.data)
    torrents = [t.split("=") for t in a.torrent]  # name, path, peer
    rounds = []
    for r in range(1, a.rounds + 1):
        rec, off = round_start(a, r, size)
        clients_in_turn(a, rec, r, size, want)
        if a.fuseceiling:
            guarded(rec, "fuse_ceiling", lambda: fuse_ceiling(a, size))
        guarded(rec, "ws_fb0", lambda: first_byte_test(a, "ws", 0, off))
        if "ws_fb0" in rec:
            rec["ws_fb0_s"], rec["ws_samerand_s"] = rec.pop("ws_fb0")
        guarded(rec, "ws_fbrand_s", lambda: first_byte_test(a, "ws", off))
        # The formats in turn, starting one later each round, so that none is always first.
        for name, path, peer in torrents[(r - 1) % len(torrents):] + torrents[:(r - 1) % len(torrents)]:
            guarded(rec, "bt_" + name, lambda: cp_test(a, path, ["--peer", peer], name, want, size))
        log("round %d: %s" % (r, json.dumps(rec)))
        rounds.append(rec)
    return size, rounds


def med(rounds, *keys):
    vals = []
    for rec in rounds:
        v = rec
        for k in keys:
            v = v.get(k) if isinstance(v, dict) else None
        if v is not None:
            vals.append(v)
    return statistics.median(vals) if vals else None


def fmt(v, f="%.2f"):
    return "—" if v is None else f % v


def div(x, y):
    return None if x is None or not y else x / y


def versions():
    lt = subprocess.run([sys.executable, "-c", "import libtorrent; print(libtorrent.__version__)"],
                        stdout=subprocess.PIPE, text=True).stdout.strip()
    ar = subprocess.run(["aria2c", "--version"], stdout=subprocess.PIPE, text=True).stdout.split("\n")[0].split()[-1]
    return lt, ar


def reference_setup():
    lt, ar = versions()
    return ("python3-libtorrent %s (`bench/lt.py get`: one session on 127.0.0.1, DHT/LSD/UPnP/NAT-PMP off, "
            "libtorrent's default web-seed settings; timed from add_torrent to finished, the files written "
            "to /dev/shm) and aria2c %s (`aria2c %s TORRENT`, files to /dev/shm; the process's wall time, its "
            "start included). Each copy's sha256 is checked; their CPU is the process's user+system time "
            "(getrusage of children) per GiB." % (lt, ar, " ".join(ARIA2_FLAGS)))


def reference_rows(rounds, ws_rate, curl_rate, row):
    lt_rate, ar_rate = med(rounds, "lt", "MBps"), med(rounds, "aria2", "MBps")
    out = []
    f = "%.2f" if curl_rate and curl_rate < 100 else "%.0f"
    for name, key, v in (("python3-libtorrent", "lt", lt_rate), ("aria2c", "aria2", ar_rate)):
        out.append(row("(reference) %s from the same web seed: rate / `curl` rate" % name,
                       "%s (%s / %s MB/s), its CPU %s s/GiB" % (fmt(div(v, curl_rate)), fmt(v, f), fmt(curl_rate, f),
                                                               fmt(med(rounds, key, "cpu_s_per_GiB"))), "no target", None))
    for name, v in (("python3-libtorrent", lt_rate), ("aria2c", ar_rate)):
        out.append(row("(reference) web-seed mount `cp` rate / %s's" % name,
                       "%s (%s / %s MB/s)" % (fmt(div(ws_rate, v)), fmt(ws_rate, f), fmt(v, f)), "no target", None))
    return out


def report(a, size, rounds):
    load_end = " ".join(open("/proc/loadavg").read().split()[:3])
    elapsed = time.time() - a.t0
    curl_rate, curl_fb, curl_rfb = med(rounds, "curl", "MBps"), med(rounds, "curl", "ttfb_s"), med(rounds, "curl_range", "ttfb_s")
    ws_rate, ws_cpu = med(rounds, "ws_cp", "MBps"), med(rounds, "ws_cp", "cpu_s_per_GiB")
    fb0, fbr = med(rounds, "ws_fb0_s"), med(rounds, "ws_fbrand_s")
    l0, lr = med(rounds, "dd_local_0_s"), med(rounds, "dd_local_rand_s")
    fb0n = None if fb0 is None else max(fb0 - l0, 0)
    fbrn = None if fbr is None else max(fbr - lr, 0)
    bt = {n: (med(rounds, "bt_" + n, "MBps"), med(rounds, "bt_" + n, "cpu_s_per_GiB")) for n in ("v1", "v2", "hybrid")}

    def row(what, measured, target, ok):
        state = "—" if ok is None else ("**met**" if ok else "**missed**")
        return "| %s | %s | %s | %s |" % (what, measured, target, state)

    def cmp(v, lim, le):
        return None if v is None else (v <= lim if le else v >= lim)

    r_ws = div(ws_rate, curl_rate)
    r_fb0, r_fbr = div(fb0n, curl_fb), div(fbrn, curl_rfb)
    L = []
    mode = "quick" if a.quick else "full"
    L.append("# Web seeds and v2/hybrid torrents on loopback (bench/wild, issue 14)")
    L.append("")
    L.append("Run of %s UTC, %s mode: %d MiB of random bytes, %d round%s (figures: median, min–max), %.0f s in all. "
             "%d cores; load average %s at the start, %s at the end: **the machine is shared** with other work, "
             "which adds noise to every figure (nice %s). Network: %s; nginx %s, python3-libtorrent seeders "
             "(bench/lt.py, TCP only). Made by `bench/wild%s`."
             % (time.strftime("%Y-%m-%d %H:%M", time.gmtime(a.t0)), mode, size >> 20, a.rounds, "" if a.rounds == 1 else "s",
                elapsed, os.cpu_count(), a.load_start, load_end, a.nice, a.netns, a.nginx, " --quick" if a.quick else ""))
    L.append("")
    L.append("## Targets")
    L.append("")
    L.append("| target (issue 14) | measured | limit | |")
    L.append("|---|---|---|---|")
    L.append(row("web seed: mount `cp` rate / `curl` rate", "%s (%s / %s MB/s)" % (fmt(r_ws), fmt(ws_rate, "%.0f"), fmt(curl_rate, "%.0f")),
                 "≥ 0.80", cmp(r_ws, 0.80, False)))
    L.append(row("web seed: first byte at offset 0, fresh mount / `curl`'s", "%s (%s ms / %s ms)" % (fmt(r_fb0, "%.1f"), fmt(fb0n and fb0n * 1e3, "%.1f"), fmt(curl_fb and curl_fb * 1e3, "%.2f")),
                 "≤ 2", cmp(r_fb0, 2, True)))
    L.append(row("web seed: first byte at a random offset, fresh mount / `curl -r`'s", "%s (%s ms / %s ms)" % (fmt(r_fbr, "%.1f"), fmt(fbrn and fbrn * 1e3, "%.1f"), fmt(curl_rfb and curl_rfb * 1e3, "%.2f")),
                 "≤ 2", cmp(r_fbr, 2, True)))
    L.extend(reference_rows(rounds, ws_rate, curl_rate, row))
    for n in ("v2", "hybrid"):
        rr = div(bt[n][0], bt["v1"][0])
        L.append(row("%s `cp` rate / v1's" % n, "%s (%s / %s MB/s)" % (fmt(rr), fmt(bt[n][0], "%.0f"), fmt(bt["v1"][0], "%.0f")),
                     "≥ 0.90", cmp(rr, 0.90, False)))
    for n in ("v2", "hybrid"):
        rc = div(bt[n][1], bt["v1"][1])
        L.append(row("%s mount CPU per GiB / v1's" % n, "%s (%s / %s s/GiB)" % (fmt(rc), fmt(bt[n][1]), fmt(bt["v1"][1])),
                     "≤ 1.15", cmp(rc, 1.15, True)))
    fc = med(rounds, "fuse_ceiling", "MBps")
    if fc is not None:
        L.append(row("(context) web-seed mount `cp` rate / the FUSE `cp` ceiling (bench/fuseceiling)",
                     "%s (%s / %s MB/s); v1 from libtorrent: %s" % (fmt(div(ws_rate, fc)), fmt(ws_rate, "%.0f"), fmt(fc, "%.0f"), fmt(div(bt["v1"][0], fc))),
                     "no target", None))
        L.append(row("(context) the FUSE `cp` ceiling / `curl` rate", "%s" % fmt(div(fc, curl_rate)), "no target", None))
    mb = open(a.mirror_bench).read() if a.mirror_bench else ""
    efb = re.search(r"BenchmarkMirrorFirstByte-\d+\s+\d+\s+[\d.]+ ns/op\s+([\d.]+) get-ms\s+([\d.]+) ms/read\s+([\d.]+) x-get", mb)
    erd = re.search(r"BenchmarkMirrorRead-\d+\s+\d+\s+[\d.]+ ns/op\s+([\d.]+) MB/s\s+([\d.]+) cpu-s/GiB", mb)
    if efb:
        L.append(row("(context) web seed, engine without FUSE: first 64 KiB on a fresh client / a plain GET's first byte "
                     "(BenchmarkMirrorFirstByte, 10 runs)", "%.1f (%s ms / %s ms)" % (float(efb.group(3)), efb.group(2), efb.group(1)),
                     "no target", None))
    if erd:
        L.append(row("(context) web seed, engine without FUSE: 64 MiB read / `curl` rate (BenchmarkMirrorRead, 10 runs)",
                     "%s (%s MB/s / %s MB/s), %s CPU s/GiB" % (fmt(div(float(erd.group(1)), curl_rate)), erd.group(1), fmt(curl_rate, "%.0f"), erd.group(2)),
                     "no target", None))
    sr = med(rounds, "ws_samerand_s")
    L.append(row("(context) web seed: first byte at the random offset after the read at 0, same mount",
                 "%s ms (dd on the local file subtracted)" % fmt(sr and max(sr - lr, 0) * 1e3, "%.1f"), "no target", None))
    L.append("")
    L.append("The mount's first byte is the wall time of `dd bs=64k count=1` on a fresh mount (started once "
             "the file shows in it) minus that of the same `dd` on the local file (in the page cache: "
             "%s ms at offset 0, %s ms at the random offset; the cost of starting `dd`), against "
             "`curl -w %%{time_starttransfer}`, which counts from curl's start of the transfer (connection "
             "included, process start not). Without the subtraction: %s ms and %s ms, %s× and %s× curl's."
             % (fmt(l0 and l0 * 1e3, "%.1f"), fmt(lr and lr * 1e3, "%.1f"), fmt(fb0 and fb0 * 1e3, "%.1f"),
                fmt(fbr and fbr * 1e3, "%.1f"), fmt(div(fb0, curl_fb), "%.1f"), fmt(div(fbr, curl_rfb), "%.1f")))
    L.append("")
    L.append("## Figures per round")
    L.append("")
    L.append("| round | load | curl MB/s | curl first byte ms (0 / range) | web-seed mount cp MB/s | its CPU s/GiB | "
             "libtorrent MB/s | aria2c MB/s | first byte ms, fresh mount (0 / random) | random, same mount ms | dd local ms (0 / random) | FUSE ceiling cp MB/s | v1 MB/s, CPU s/GiB | v2 | hybrid |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")

    for rec in rounds:
        ms = lambda v: fmt(v and v * 1e3, "%.1f")
        bts = ["%s, %s" % (fmt(g(rec, "bt_" + n, "MBps"), "%.0f"), fmt(g(rec, "bt_" + n, "cpu_s_per_GiB"))) for n in ("v1", "v2", "hybrid")]
        L.append("| %d | %s | %s | %s / %s | %s | %s | %s | %s | %s / %s | %s | %s / %s | %s | %s |" % (
            rec["round"], " ".join(rec["load"]), fmt(g(rec, "curl", "MBps"), "%.0f"),
            fmt(g(rec, "curl", "ttfb_s") and g(rec, "curl", "ttfb_s") * 1e3, "%.2f"),
            fmt(g(rec, "curl_range", "ttfb_s") and g(rec, "curl_range", "ttfb_s") * 1e3, "%.2f"),
            fmt(g(rec, "ws_cp", "MBps"), "%.0f"), fmt(g(rec, "ws_cp", "cpu_s_per_GiB")),
            fmt(g(rec, "lt", "MBps"), "%.0f"), fmt(g(rec, "aria2", "MBps"), "%.0f"),
            ms(rec.get("ws_fb0_s")), ms(rec.get("ws_fbrand_s")), ms(rec.get("ws_samerand_s")),
            ms(rec.get("dd_local_0_s")), ms(rec.get("dd_local_rand_s")),
            fmt(g(rec, "fuse_ceiling", "MBps"), "%.0f"), " | ".join(bts)))
    L.append("")
    L.append("Medians: web-seed mount %s s/GiB of CPU; v1 %s, v2 %s, hybrid %s MB/s; time to mount (file visible) "
             "is not part of any figure."
             % (fmt(ws_cpu), fmt(bt["v1"][0], "%.0f"), fmt(bt["v2"][0], "%.0f"), fmt(bt["hybrid"][0], "%.0f")))
    L.append("")
    L.append("## BenchmarkVerifyPiece (`go test -run x -bench BenchmarkVerifyPiece -benchtime 2s ./engine/metainfo`)")
    L.append("")
    L.append("One piece (1 MiB) verified per op, one core: v1 is SHA-1 of the piece, v2 the SHA-256 merkle tree "
             "of its 16 KiB blocks up to the piece's root, hybrid the same as v2 (VerifyPiece uses the piece layers when "
             "the torrent has them, as here, and SHA-1 only without them).")
    L.append("")
    L.append("```")
    bench = open(a.verify_bench).read() if a.verify_bench else ""
    L.extend(l for l in bench.splitlines() if l.startswith(("Benchmark", "goos", "goarch", "cpu")))
    L.append("```")
    rates = dict(re.findall(r"BenchmarkVerifyPiece/(\w+)-\d+\s+\d+\s+[\d.]+ ns/op\s+([\d.]+) MB/s", bench))
    if "v1" in rates:
        L.append("")
        L.append("Verification CPU per GiB, from these: " + ", ".join(
            "%s %.2f s" % (n, 1073.741824 / float(rates[n])) for n in ("v1", "v2", "hybrid") if n in rates) + ".")
    if mb:
        L.append("")
        L.append("## BenchmarkMirrorFirstByte, BenchmarkMirrorRead (`go test -bench 'BenchmarkMirror(FirstByte|Read)$' "
                 "-benchtime 10x ./engine`, from the same nginx)")
        L.append("")
        L.append("The engine alone (no FUSE), a 64 MiB file, 1 MiB pieces, a fresh client per run: the first 64 KiB at "
                 "offset 0 (ms/read) against the first byte of a plain Go GET of that range (get-ms, a new connection "
                 "each), and the whole file read with 1 MiB ReadAt calls (cpu-s/GiB: the test process's CPU per GiB).")
        L.append("")
        L.append("```")
        L.extend(l for l in mb.splitlines() if l.startswith("Benchmark"))
        L.append("```")
    if FAILS:
        L.append("")
        L.append("## Failures")
        L.append("")
        L.extend("- " + f for f in FAILS)
    L.append("")
    L.append("## Setup")
    L.append("")
    L.append("- Web seed: `hyperblow create --web-seed http://127.0.0.1:PORT/ --piece-length 1MiB` of the file (its "
             "only source: a url-list, no tracker), nginx serving the folder (sendfile on, one worker, from the page "
             "cache). `curl -o /dev/null` of the whole file, and of a 64 KiB range at the round's random offset.")
    L.append("- v1, v2, hybrid: `hyperblow create [--v2|--hybrid] --piece-length 1MiB`, each seeded by its own "
             "python3-libtorrent session (`bench/lt.py seed`, TCP only) on 127.0.0.2, .3, .4.")
    L.append("- Every mount: `hyperblow mount --quiet %s [--peer SEEDER] TORRENT MNT` (default cache size), fresh for every "
             "test; `cp` to tmpfs (/dev/shm) and the copy's sha256 checked; CPU is the mount process's user+system "
             "time over its whole life (wait4) per GiB copied. The random offset is 64 KiB-aligned, away from the "
             "first and last 4 MiB, one per round." % " ".join(MOUNT_FLAGS))
    L.append("- Reference clients of the same web-seed torrent: " + reference_setup())
    L.append("- Each round: dd on the local file, curl (whole, range), the web-seed mount (`cp`), libtorrent and aria2c "
             "(these three in turn: round 2 starts with libtorrent, round 3 with aria2c), the FUSE `cp` "
             "ceiling (bench/fuseceiling: a file of the same size served from RAM through Hyperblow's own fs.Mount, "
             "what any mount here can reach), `dd` at 0 then at the random offset on one fresh web-seed mount, `dd` at "
             "the random offset on another fresh one, then v1, v2, hybrid `cp` (round 2 starts with v2, round 3 with hybrid, ...).")
    text = "\n".join(L) + "\n"
    # Notes written by hand between the markers survive a rewrite of the file.
    if a.out and os.path.exists(a.out):
        m = re.search(r"<!-- notes:begin.*?<!-- notes:end -->\n", open(a.out).read(), re.S)
        if m:
            text = text.replace("## Figures per round", m.group(0) + "\n## Figures per round", 1)
    sys.stdout.write(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
        log("wrote " + a.out)


def report_wan(a, size, rounds):
    load_end = " ".join(open("/proc/loadavg").read().split()[:3])
    elapsed = time.time() - a.t0
    ms = lambda v: fmt(v and v * 1e3, "%.0f")
    curl_rate, curl_fb, curl_rfb = med(rounds, "curl", "MBps"), med(rounds, "curl", "ttfb_s"), med(rounds, "curl_range", "ttfb_s")
    p0, pr = med(rounds, "curl_piece0", "total_s"), med(rounds, "curl_piecerand", "total_s")
    ws_rate, ws_cpu = med(rounds, "ws_cp", "MBps"), med(rounds, "ws_cp", "cpu_s_per_GiB")
    lt_rate, ar_rate = med(rounds, "lt", "MBps"), med(rounds, "aria2", "MBps")
    fb0, fbr, sr = med(rounds, "ws_fb0_s"), med(rounds, "ws_fbrand_s"), med(rounds, "ws_samerand_s")
    l0, lr = med(rounds, "dd_local_0_s"), med(rounds, "dd_local_rand_s")
    fb0n = None if fb0 is None else max(fb0 - l0, 0)
    fbrn = None if fbr is None else max(fbr - lr, 0)
    srn = None if sr is None else max(sr - lr, 0)
    ltfp = med(rounds, "lt", "first_piece_s")

    def row(what, measured, target, ok):
        state = "—" if ok is None else ("**met**" if ok else "**missed**")
        return "| %s | %s | %s | %s |" % (what, measured, target, state)

    def cmp(v, lim, le):
        return None if v is None else (v <= lim if le else v >= lim)

    r_ws, r_fb0, r_fbr = div(ws_rate, curl_rate), div(fb0n, curl_fb), div(fbrn, curl_rfb)
    L = []
    L.append("# Web seed through the WAN lab's link (bench/wild --wan %s, issue 14)" % a.wan)
    L.append("")
    L.append("Run of %s UTC, %s mode: %d MiB of random bytes, %d round%s (figures: median), %.0f s in all. "
             "%d cores; load average %s at the start, %s at the end: **the machine is shared** with other work "
             "(nice %s). Network: %s; nginx %s behind %s. Made by `bench/wild --wan %s%s`; %s pieces."
             % (time.strftime("%Y-%m-%d %H:%M", time.gmtime(a.t0)), "quick" if a.quick else "full", size >> 20,
                a.rounds, "" if a.rounds == 1 else "s", elapsed, os.cpu_count(), a.load_start, load_end, a.nice,
                a.netns, a.nginx, a.link, a.wan, " --quick" if a.quick else "", a.piece_length))
    L.append("")
    L.append("## Targets (issue 14), through the link")
    L.append("")
    L.append("| target | measured | limit | |")
    L.append("|---|---|---|---|")
    L.append(row("web seed: mount `cp` rate / `curl` rate", "%s (%s / %s MB/s)" % (fmt(r_ws), fmt(ws_rate, "%.2f"), fmt(curl_rate, "%.2f")),
                 "≥ 0.80", cmp(r_ws, 0.80, False)))
    L.append(row("web seed: first byte at offset 0, fresh mount / `curl`'s", "%s (%s ms / %s ms)" % (fmt(r_fb0, "%.1f"), ms(fb0n), ms(curl_fb)),
                 "≤ 2", cmp(r_fb0, 2, True)))
    L.append(row("web seed: first byte at a random offset, fresh mount / `curl -r`'s", "%s (%s ms / %s ms)" % (fmt(r_fbr, "%.1f"), ms(fbrn), ms(curl_rfb)),
                 "≤ 2", cmp(r_fbr, 2, True)))
    L.extend(reference_rows(rounds, ws_rate, curl_rate, row))
    L.append(row("(floor) `curl` of one whole %s piece (what a verifying client waits for)" % a.piece_length + " / `curl`'s first byte, at 0",
                 "%s (%s ms / %s ms)" % (fmt(div(p0, curl_fb), "%.1f"), ms(p0), ms(curl_fb)), "no target", None))
    L.append(row("(floor) the same at the random offset's piece / `curl -r`'s first byte",
                 "%s (%s ms / %s ms)" % (fmt(div(pr, curl_rfb), "%.1f"), ms(pr), ms(curl_rfb)), "no target", None))
    L.append(row("(context) fresh mount's first byte / curl's time for the whole piece, at 0 and at the random offset",
                 "%s and %s" % (fmt(div(fb0n, p0)), fmt(div(fbrn, pr))), "no target", None))
    L.append(row("(context) first byte at the random offset after the read at 0, same mount",
                 "%s ms" % ms(srn), "no target", None))
    L.append(row("(context) python3-libtorrent: its first verified piece, from add_torrent",
                 "%s ms" % ms(ltfp), "no target", None))
    L.append("")
    L.append("The mount's first byte is the wall time of `dd bs=64k count=1` on a fresh mount (started once the "
             "file shows in it) minus that of the same `dd` on the local file (%s / %s ms), against `curl -w "
             "%%{time_starttransfer}` (its connection is not delayed by the lab: the link delays data, not the "
             "handshake). The torrent has %s pieces and the mount serves only verified bytes, so its first byte "
             "comes no earlier than a whole piece: the floor rows give curl's own time for that piece."
             % (fmt(l0 and l0 * 1e3, "%.1f"), fmt(lr and lr * 1e3, "%.1f"), a.piece_length))
    L.append("")
    if a.out and os.path.exists(a.out):
        m = re.search(r"<!-- notes:begin.*?<!-- notes:end -->\n", open(a.out).read(), re.S)
        if m:
            L.append(m.group(0))
    L.append("## Figures per round")
    L.append("")
    L.append("| round | load | curl MB/s | curl first byte ms (0 / range) | curl whole piece ms (0 / random) | mount cp MB/s | "
             "its CPU s/GiB | libtorrent MB/s (first piece ms) | aria2c MB/s | first byte ms, fresh mount (0 / random) | random, same mount ms |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|")

    for rec in rounds:
        L.append("| %d | %s | %s | %s / %s | %s / %s | %s | %s | %s (%s) | %s | %s / %s | %s |" % (
            rec["round"], " ".join(rec["load"]), fmt(g(rec, "curl", "MBps"), "%.2f"),
            ms(g(rec, "curl", "ttfb_s")), ms(g(rec, "curl_range", "ttfb_s")),
            ms(g(rec, "curl_piece0", "total_s")), ms(g(rec, "curl_piecerand", "total_s")),
            fmt(g(rec, "ws_cp", "MBps"), "%.2f"), fmt(g(rec, "ws_cp", "cpu_s_per_GiB")),
            fmt(g(rec, "lt", "MBps"), "%.2f"), ms(g(rec, "lt", "first_piece_s")), fmt(g(rec, "aria2", "MBps"), "%.2f"),
            ms(rec.get("ws_fb0_s") and rec["ws_fb0_s"] - rec["dd_local_0_s"]),
            ms(rec.get("ws_fbrand_s") and rec["ws_fbrand_s"] - rec["dd_local_rand_s"]),
            ms(rec.get("ws_samerand_s") and rec["ws_samerand_s"] - rec["dd_local_rand_s"])))
    L.append("")
    L.append("Medians: web-seed mount %s CPU s/GiB." % fmt(ws_cpu))
    if FAILS:
        L.append("")
        L.append("## Failures")
        L.append("")
        L.extend("- " + f for f in FAILS)
    L.append("")
    L.append("## Setup")
    L.append("")
    L.append("- The link: %s. The torrent: `hyperblow create --web-seed http://RELAY/ --piece-length %s` (a url-list "
             "with the relay's address, no tracker, no peer); nginx serves the folder from the page cache (one "
             "worker, sendfile)." % (a.link, a.piece_length))
    L.append("- `curl -o /dev/null` through the relay: the whole file (rate, first byte), a 64 KiB range at the round's "
             "random offset (first byte), and the whole piece at 0 and at the random offset's piece (time_total).")
    L.append("- Every mount: `hyperblow mount --quiet %s TORRENT MNT`, fresh for every test; `cp` to /dev/shm, sha256 "
             "checked; CPU: the mount process's user+system time over its life per GiB. `dd` at 0 then at the random "
             "offset on one fresh mount, at the random offset on another." % " ".join(MOUNT_FLAGS))
    L.append("- Reference clients of the same torrent: " + reference_setup())
    L.append("- Each round: curl (whole, range, pieces), then the mount's `cp`, libtorrent and aria2c in turn (round 2 "
             "starts with libtorrent, round 3 with aria2c), then the first-byte mounts.")
    text = "\n".join(L) + "\n"
    sys.stdout.write(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
        log("wrote " + a.out)


def main():
    ap = argparse.ArgumentParser(prog="wild.py")
    for k in ("--bin", "--work", "--copies", "--data", "--url", "--ws-torrent", "--load-start", "--netns", "--nginx"):
        ap.add_argument(k, required=True)
    ap.add_argument("--torrent", action="append", default=[], help="NAME=PATH=PEER")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--verify-bench")
    ap.add_argument("--mirror-bench")
    ap.add_argument("--t0", type=float, default=time.time())
    ap.add_argument("--nice", default="0")
    ap.add_argument("--quick", type=int, default=0)
    ap.add_argument("--out")
    ap.add_argument("--fuseceiling")
    ap.add_argument("--verbose", type=int, default=0)
    ap.add_argument("--lt", required=True, help="bench/lt.py")
    ap.add_argument("--wan", help="the link's rate (bench/wild --wan)")
    ap.add_argument("--link", help="the link, in words")
    ap.add_argument("--lt-ip", default="127.0.0.1", help="the address libtorrent's session binds to (its web-seed connections too)")
    ap.add_argument("--piece-length", default="1MiB", help="the web-seed torrent's (--wan)")
    a = ap.parse_args()
    if a.wan:
        size, rounds = measure_wan(a)
        report_wan(a, size, rounds)
    else:
        size, rounds = measure(a)
        report(a, size, rounds)
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()
