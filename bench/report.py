#!/usr/bin/python3
"""report.py: turns bench/run's measurements (JSON lines from measure.py) into the
markdown of bench/RESULTS.md: the issue 7 targets marked met or missed, then every
figure as median (min–max) for Hyperblow and btfs, their ratio, the fraction of the
slowest ceiling, the ceilings themselves, and the machine."""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess

MiB = 1024 * 1024

# The figure (a prefix of its id) -> the same command run on the local source files.
# Issue 11's "loopback cp throughput: no lower than today's": the figures it is compared
# with, per mode and cp variant (MB/s, where they come from).
# The third figure is the plain client's rate in that run (None: not known), so that the
# ratio to it, which the machine's load moves less, can be compared too.
BEFORE = {
    "full": {
        "256k": (214, "RESULTS.md of 2026-11-24 (commit b1fc414, 1 seeder)", 167),
        "1m": (184, "RESULTS.md of 2026-11-24 (commit b1fc414, 1 seeder)", 164),
        "1m-4s": (327, "issue 11's \"four seeders, 327 MB/s\", measured by its author (piece size not stated)", None),
    },
    "quick": {
        "256k": (96.9, "RESULTS-quick.md of 2026-11-24 (1 seeder)", 112),
        "1m": (87.4, "RESULTS-quick.md of 2026-11-24 (1 seeder)", 145),
    },
}
BEGIN, END = "<!-- wan:begin -->", "<!-- wan:end -->"  # bench/wanreport.py's section

FLOORS = {"ttfb_": "floor_dd_s", "ffprobe_s": "floor_ffprobe_s", "seek_decode_s": "floor_seek_decode_s",
          "find_s": "floor_find_s", "lsR_s": "floor_lsR_s"}


def sh(argv, default="?"):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20)
        return (out.stdout or out.stderr).strip() or default
    except (OSError, subprocess.TimeoutExpired):
        return default


def load(path):
    recs = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if line.strip():
                    recs.append(json.loads(line))
    return recs


class Figures:
    """Values per (who, metric id) across rounds; who is hyperblow, btfs or ceiling."""

    def __init__(self, recs):
        self.v = {}
        for r in recs:
            for k, x in r["metrics"].items():
                self.v.setdefault((r["client"], k), []).append(x)

    def all(self, who, key):
        return self.v.get((who, key), [])

    def med(self, who, key):
        xs = self.all(who, key)
        return statistics.median(xs) if xs else None

    def max(self, who, key):
        xs = self.all(who, key)
        return max(xs) if xs else None


def fmt(x, unit=""):
    if x is None:
        return "—"
    if unit == "s":
        return "%.3f s" % x if x < 10 else "%.1f s" % x
    if abs(x) >= 100:
        s = "%.0f" % x
    elif abs(x) >= 10:
        s = "%.1f" % x
    elif abs(x) >= 1:
        s = "%.2f" % x
    else:
        s = "%.3f" % x
    return s + (" " + unit if unit else "")


def spread(f, who, key, unit):
    xs = f.all(who, key)
    if not xs:
        return "—"
    m = statistics.median(xs)
    if len(xs) == 1:
        return fmt(m, unit)
    return "%s (%s–%s)" % (fmt(m, unit), fmt(min(xs)).split()[0], fmt(max(xs)).split()[0])


def main():
    ap = argparse.ArgumentParser()
    for a in ("results", "spec", "out", "mode", "rounds", "seeders", "cp-seeders", "cache-size", "failures", "btfs-why", "netns",
              "elapsed", "root", "nice"):
        ap.add_argument("--" + a, default="")
    ap.add_argument("--load", action="append", default=[])
    a = ap.parse_args()
    recs = load(a.results)
    spec = json.load(open(a.spec))
    f = Figures(recs)
    variants = spec["variants"]
    many = spec.get("cp_many", [])  # cp from --cp-seeders seeders (e.g. "1m-4s")
    cpvars = variants + many

    def pieces(v):  # "256k pieces" or "1m pieces, 4 seeders"
        return "%s pieces, %d seeders" % (v.split("-")[0], spec["cp_seeders"]) if v in many else "%s pieces" % v
    big = spec["torrents"]["big-" + variants[0]]["size"]
    have_btfs = any(r["client"] == "btfs" for r in recs)
    cache_mib = parse_size(a.cache_size) / MiB
    H, B, C = "hyperblow", "btfs", "ceiling"
    bigname = "%d MiB" % (big // MiB) if big < 1 << 30 else "%g GiB" % (big / (1 << 30))

    # The slowest ceiling for a throughput: loopback TCP, SHA-1, FUSE cp, the plain client.
    def slowest(v):
        xs = [f.med(C, k) for k in ("tcp_MBps", "sha1_MBps", "fuse_cp_MBps", "plain_MBps." + v)]
        xs = [x for x in xs if x]
        return min(xs) if xs else None

    # ---- targets
    targets = []

    def target(name, value, limit, ok_if_le, how):
        if value is None or limit is None:
            targets.append((name, "not measured", how, "—"))
            return
        met = value <= limit if ok_if_le else value >= limit
        targets.append((name, "**met**" if met else "**missed**", how, met))

    for v in cpvars:
        cp, fuse, plain = f.med(H, "cp_MBps." + v), f.med(C, "fuse_cp_MBps"), f.med(C, "plain_MBps." + v)
        lim = 0.7 * min(fuse, plain) if fuse and plain else None
        target("`cp` %s, %s ≥ 70 %% of min(FUSE cp ceiling, plain client)" % (bigname, pieces(v)), cp, lim, False,
               "%s vs 0.7 × min(%s, %s) = %s" % (fmt(cp, "MB/s"), fmt(fuse), fmt(plain), fmt(lim, "MB/s")))
    for v in variants:
        tt, fp = f.med(H, "ttfb_fresh_random_s." + v), f.med(C, "plain_first_piece_s." + v)
        lim = 10 * fp if fp else None
        target("first byte at a random offset, fresh mount, %s pieces ≤ 10 × plain client's first piece (after it connects)" % v, tt, lim, True,
               "%s vs 10 × %s = %s (`dd` of a local file alone: %s)" % (fmt(tt, "s"), fmt(fp, "s"), fmt(lim, "s"), fmt(f.med(C, "floor_dd_s"), "s")))
    for key, name, div in (("ffprobe_s", "`ffprobe` ≤ 1/20 of btfs", 20),
                           ("seek_decode_s", "seek-and-decode (`ffmpeg -ss`) ≤ 1/20 of btfs", 20),
                           ("fetched_MB.seek", "bytes fetched for one seek-and-decode ≤ 1/4 of btfs", 4),
                           ("find_s", "`find` over the multi-file torrent ≤ 1/10 of btfs", 10)):
        hv, bv = f.med(H, key), f.med(B, key)
        unit = "MB" if "MB" in key else "s"
        lim = bv / div if bv is not None else None
        floor = f.med(C, FLOORS.get(key, ""))
        note = ""
        if floor:
            note = " (the command alone, on the local files: %s%s)" % (
                fmt(floor, "s"), "; no filesystem can meet this limit here" if lim is not None and lim < floor else "")
        target(name, hv, lim, True, "%s vs %s / %d = %s%s" % (fmt(hv, unit), fmt(bv, unit), div, fmt(lim, unit), note))
    for v in variants:
        rss = f.max(H, "rss_hwm_MiB.cp." + v)
        target("peak RSS while copying %s (%s pieces) ≤ --cache-size + 64 MiB" % (bigname, v), rss, cache_mib + 64, True,
               "%s (highest VmHWM of all rounds) vs %s" % (fmt(rss, "MiB"), fmt(cache_mib + 64, "MiB")))

    # ---- figures
    rows = []  # (label, key, unit, kind) kind: time|rate|plain
    for v in variants:
        rows += [
            ("first byte, offset 0, fresh mount (%s pieces)" % v, "ttfb_zero_s." + v, "s", "ttfb:" + v),
            ("first byte, random offset, fresh mount (%s)" % v, "ttfb_fresh_random_s." + v, "s", "ttfb:" + v),
            ("first byte, random offset, same mount, median of %d (%s)" % (spec["random_reads"], v),
             "ttfb_warm_random_s." + v, "s", "ttfb:" + v),
            ("bytes fetched per byte read, %d random 64 KiB reads (%s)" % (spec["random_reads"] + 1, v),
             "fetch_per_read.reads." + v, "", ""),
            ("`cp` %s throughput, sha256 checked (%s)" % (bigname, v), "cp_MBps." + v, "MB/s", "rate:" + v),
            ("bytes fetched per byte copied (%s)" % v, "fetch_per_read.cp." + v, "", ""),
            ("peak RSS during cp, VmHWM (%s)" % v, "rss_hwm_MiB.cp." + v, "MiB", ""),
            ("peak anonymous RSS during cp, sampled at 20 Hz (%s)" % v, "rss_anon_MiB.cp." + v, "MiB", ""),
        ]
    for v in many:
        rows += [
            ("`cp` %s throughput, sha256 checked (%s)" % (bigname, pieces(v)), "cp_MBps." + v, "MB/s", "rate:" + v),
            ("bytes fetched per byte copied (%s)" % pieces(v), "fetch_per_read.cp." + v, "", ""),
            ("peak RSS during cp, VmHWM (%s)" % pieces(v), "rss_hwm_MiB.cp." + v, "MiB", ""),
        ]
    for v in cpvars:
        rows += [
            ("CPU seconds per GiB copied: the filesystem's process, mount to unmount (%s)" % pieces(v),
             "cpu_s_per_GiB.cp." + v, "s", ""),
            ("CPU seconds per GiB copied: the `cp` process itself (%s)" % pieces(v), "cp_cpu_s_per_GiB.cp." + v, "s", ""),
        ]
    rows += [
        ("`ffprobe` on a fresh mount", "ffprobe_s", "s", ""),
        ("bytes fetched for ffprobe", "fetched_MB.ffprobe", "MB", ""),
        ("seek-and-decode: `ffmpeg -ss %s -frames:v 1`, fresh mount" % spec["torrents"]["video"]["mid"], "seek_decode_s", "s", ""),
        ("bytes fetched for the seek-and-decode", "fetched_MB.seek", "MB", ""),
        ("bytes ffmpeg read for the seek-and-decode (rchar)", "read_MB.seek", "MB", ""),
        ("`find` over the multi-file torrent, fresh mount", "find_s", "s", ""),
        ("`ls -lR` over the multi-file torrent, fresh mount", "lsR_s", "s", ""),
        ("time to mount (start to the file visible), cp test (%s)" % variants[-1], "mount_s.cp." + variants[-1], "s", ""),
    ]

    def ratio(key):
        hv, bv = f.med(H, key), f.med(B, key)
        if hv is None or not bv:
            return "—"
        r = hv / bv
        return ("%.3g×" % r) if r < 100 else ("%.0f×" % r)

    def fraction(key, kind):
        hv = f.med(H, key)
        if not kind or hv is None:
            return "—"
        what, v = kind.split(":")
        if what == "rate":
            s = slowest(v)
            return "%.0f %%" % (100 * hv / s) if s else "—"
        fp = f.med(C, "plain_first_piece_s." + v)
        return "%.0f %% (of %s)" % (100 * fp / hv, fmt(fp, "s")) if fp and hv else "—"

    L = []
    L.append("# Hyperblow benchmark results%s" % (" (--quick)" if a.mode == "quick" else ""))
    L.append("")
    now = datetime.datetime.now(datetime.timezone.utc)
    L.append("Written by `bench/run%s` on %s. How to run it and what each figure means: "
             "[bench/README.md](README.md)." % (" --quick" if a.mode == "quick" else "", now.strftime("%Y-%m-%d %H:%M UTC")))
    L.append("")
    L.append("Setup: %s single-file torrent in 256 KiB and 1 MiB piece variants, a %.0f MB H.264 MP4 "
             "(moov at the end, 256 KiB pieces), and a multi-file torrent of %d files and folders; "
             "opentracker and %s TCP-only python3-libtorrent seeder(s) on loopback%s; Hyperblow mounted with "
             "`--cache-size %s`; %s round(s), Hyperblow then btfs in each, every test on a fresh mount "
             "after dropping the page cache (the seeders' data is read back in first)."
             % (bigname, os.path.getsize(spec["torrents"]["video"]["source"]) / 1e6, spec["torrents"]["multi"]["entries"],
                a.seeders, " (and %d, each a session of its own on 127.0.0.2 and up, for one more `cp`, of a torrent "
                "of the same bytes with 1 MiB pieces)" % spec["cp_seeders"] if many else "", a.cache_size, a.rounds))
    L.append("")
    L.append("## Targets (issue 7, item 3)")
    L.append("")
    L.append("| target | result | measured (medians) |")
    L.append("|---|---|---|")
    for name, res, how, _ in targets:
        L.append("| %s | %s | %s |" % (name, res, how))
    L.append("")
    loads = [float(x) for r in recs for x in r.get("load", [])]
    if loads and max(loads) > 0.75 * (os.cpu_count() or 1):
        L.append("The machine was shared while this ran: the 1-minute load average went up to %.1f on %d cores "
                 "(per run in *Every value, per round*), so times carry noise from other work." % (max(loads), os.cpu_count()))
        L.append("")
    if not have_btfs:
        L.append("btfs was not measured: %s." % (a.btfs_why or "see the failures below"))
        L.append("")
    L += loopback_cp(f, spec, a, cpvars, pieces, bigname)
    L.append("## Figures")
    L.append("")
    L.append("Median (min–max) over the rounds. *Hyperblow/btfs*: the ratio of the medians (a time "
             "below 1× or a rate above 1× favours Hyperblow). *Of the slowest ceiling*: for a rate, "
             "Hyperblow's median as a fraction of the slowest of the ceilings below; for a first byte, "
             "the plain client's time to its first piece divided by Hyperblow's time.")
    L.append("")
    L.append("| figure | Hyperblow | btfs | Hyperblow/btfs | of the slowest ceiling | the command on the local files |")
    L.append("|---|---|---|---|---|---|")
    for label, key, unit, kind in rows:
        floor = next((v for k, v in FLOORS.items() if key.startswith(k)), None)
        L.append("| %s | %s | %s | %s | %s | %s |" % (label, spread(f, H, key, unit), spread(f, B, key, unit), ratio(key),
                                                       fraction(key, kind), spread(f, C, floor, "s") if floor else ""))
    worst = [f.max(w, k) for w in (H,) for k in [x for (_, x) in f.v if _ == H and x.startswith("rss_hwm_MiB.")]]
    L.append("")
    hw = max([x for x in worst if x is not None], default=None)
    bw = max([x for (w, k), xs in f.v.items() if w == B and k.startswith("rss_hwm_MiB.") for x in xs], default=None)
    L.append("Highest VmHWM of any mount: Hyperblow %s, btfs %s. For Hyperblow, *bytes fetched* is its own "
             "`downloaded=` count logged at unmount (the seeders' upload counters agree: %s); for btfs it is what "
             "the seeders uploaded." % (fmt(hw, "MiB"), fmt(bw, "MiB"), agreement(f)))
    L.append("")
    L.append("## Ceilings (measured in the same run)")
    L.append("")
    L.append("| ceiling | median (min–max) |")
    L.append("|---|---|")
    L.append("| loopback TCP, one stream (bench/ceiling tcp) | %s |" % spread(f, C, "tcp_MBps", "MB/s"))
    L.append("| SHA-1 on one core, 1 MiB blocks, Go crypto/sha1 (bench/ceiling sha1) | %s |" % spread(f, C, "sha1_MBps", "MB/s"))
    L.append("| FUSE, %s file in RAM, Hyperblow's mount options: `cp` (bench/fuseceiling) | %s |" % (bigname, spread(f, C, "fuse_cp_MBps", "MB/s")))
    L.append("| FUSE, same: `dd bs=1M` to /dev/null | %s |" % spread(f, C, "fuse_dd_MBps", "MB/s"))
    for v in cpvars:
        L.append("| plain python3-libtorrent client, no FUSE, whole %s torrent (%s): rate from connection to completion | %s |" % (bigname, pieces(v), spread(f, C, "plain_MBps." + v, "MB/s")))
        L.append("| the same: CPU seconds per GiB (user + system, the whole download) | %s |" % spread(f, C, "plain_cpu_s_per_GiB." + v, "s"))
        L.append("| the same: time to its first piece, from its connection to the seeder | %s |" % spread(f, C, "plain_first_piece_s." + v, "s"))
        L.append("| the same: time to its first piece, from adding the torrent (libtorrent waits ~0.5 s before announcing) | %s |" % spread(f, C, "plain_first_piece_from_start_s." + v, "s"))
        L.append("| the same: peak RSS of the client | %s |" % spread(f, C, "plain_rss_MiB." + v, "MiB"))
    L.append("")
    L.append("The commands by themselves, on the local source files (in the page cache), without FUSE or "
             "a network: every figure of a mount includes this much (process start-up is slow on this VM).")
    L.append("")
    L.append("| command, on the local files | median (min–max) |")
    L.append("|---|---|")
    for label, key in (("`dd bs=64k count=1` at a random offset", "floor_dd_s"), ("`ffprobe` of the video", "floor_ffprobe_s"),
                       ("`ffmpeg -ss MIDDLE -frames:v 1` of the video", "floor_seek_decode_s"),
                       ("`find` over the tree", "floor_find_s"), ("`ls -lR` over the tree", "floor_lsR_s")):
        L.append("| %s | %s |" % (label, spread(f, C, key, "s")))
    L.append("")
    L.append("## Machine")
    L.append("")
    mem = open("/proc/meminfo").readline().split()[1]
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    commit = sh(["git", "-C", a.root, "rev-parse", "--short", "HEAD"])
    dirty = sh(["git", "-C", a.root, "status", "--porcelain", "--untracked-files=no"], "")
    L.append("| | |")
    L.append("|---|---|")
    L.append("| CPU | %s × %s |" % (os.cpu_count(), cpu))
    L.append("| memory | %.1f GiB |" % (int(mem) / 1024 / 1024))
    L.append("| kernel | %s |" % platform.release())
    L.append("| date | %s |" % now.strftime("%Y-%m-%d"))
    L.append("| load average at start, end | %s |" % " → ".join(a.load))
    L.append("| Hyperblow | commit %s%s, %s |" % (commit, " with local changes" if dirty else "", sh(["go", "version"]).replace("go version ", "")))
    L.append("| btfs | %s |" % sh(["sh", "-c", "btfs --version 2>&1 | grep -i 'btfs version\\|libtorrent version' | tr '\\n' ' '"]))
    L.append("| python3-libtorrent (seeders, plain client) | %s |" % sh(["/usr/bin/python3", "-c", "import libtorrent; print(libtorrent.__version__)"]))
    L.append("| network | %s |" % ("a private network namespace holding only `lo`" if a.netns == "1" else "the host's loopback"))
    L.append("| whole run | %s s, mode %s, nice %s |" % (a.elapsed, a.mode, a.nice or "0"))
    L.append("")
    notes = [n for r in recs for n in r.get("notes", [])]
    fails = [l.strip() for l in open(a.failures)] if a.failures and os.path.exists(a.failures) else []
    errs = [e for r in recs for e in r.get("errors", [])]
    if notes:
        L.append("## Notes")
        L.append("")
        L += ["- " + n for n in notes]
        L.append("")
    L.append("## Failures")
    L.append("")
    items = errs + [x for x in fails if x]
    if items:
        for e in items:
            first, _, rest = e.partition("\n")
            L.append("- " + first)
            if rest.strip():
                L.append("")
                L.append("  ```")
                L += ["  " + x for x in rest.splitlines()]
                L.append("  ```")
    else:
        L.append("None.")
    L.append("")
    L.append("<details><summary>Every value, per round</summary>")
    L.append("")
    L.append("| round | who | took | load average (1 min) at start → end |")
    L.append("|---|---|---|---|")
    for r in recs:
        L.append("| %d | %s | %.0f s | %s |" % (r["round"], r["client"], r["seconds"], " → ".join(r.get("load", []))))
    L.append("")
    L.append("| who | figure | values by round |")
    L.append("|---|---|---|")
    for (who, key) in sorted(f.v):
        L.append("| %s | `%s` | %s |" % (who, key, ", ".join(fmt(x) for x in f.v[(who, key)])))
    L.append("")
    L.append("</details>")
    text = "\n".join(L) + "\n"
    # bench/wanreport.py's section (the WAN scenarios) is kept as it is: bench/run --no-wan
    # rewrites the loopback part only. A run with the WAN scenarios replaces it afterwards.
    try:
        with open(a.out) as old:
            prev = old.read()
    except OSError:
        prev = ""
    if BEGIN in prev and END in prev:
        text += "\n" + prev[prev.index(BEGIN):prev.index(END) + len(END)] + "\n"
    tmp = a.out + ".tmp"
    with open(tmp, "w") as out:
        out.write(text)
    os.replace(tmp, a.out)
    # A short summary on the terminal.
    for name, res, how, _ in targets:
        print("%-9s %s: %s" % (res.strip("*"), name, how))


def loopback_cp(f, spec, a, cpvars, pieces, bigname):
    """Issue 11, item 6: cp from 1 and from --cp-seeders seeders against the FUSE cp
    ceiling and the plain client from as many seeders, CPU per GiB, and its targets."""
    H, B, C = "hyperblow", "btfs", "ceiling"
    L = ["## Loopback `cp` from %s and %s seeders, CPU per GiB (issue 11, item 6)" % (
        a.seeders, spec.get("cp_seeders") or "—"), ""]
    if not spec.get("cp_many"):
        L += ["Only %s seeder(s): `--cp-seeders` was 0 or not above `--seeders`." % a.seeders, ""]
    targets = []
    before = BEFORE.get(a.mode, {})
    for v in cpvars:
        hv, pv = f.med(H, "cpu_s_per_GiB.cp." + v), f.med(C, "plain_cpu_s_per_GiB." + v)
        name = "CPU per GiB for `cp` on loopback (%s) ≤ the plain libtorrent client's" % pieces(v)
        if hv is None or pv is None:
            targets.append((name, "not measured", "—"))
        else:
            targets.append((name, "**met**" if hv <= pv else "**missed**",
                            "Hyperblow's mount %s/GiB vs the plain client's %s/GiB (%.2f×)" % (fmt(hv, "s"), fmt(pv, "s"), hv / pv)))
    for v in cpvars:
        hv = f.med(H, "cp_MBps." + v)
        name = "loopback `cp` throughput (%s) no lower than today's" % pieces(v)
        if v not in before:
            targets.append((name, "not compared", "%s; no earlier figure for this %s" % (
                fmt(hv, "MB/s"), "mode" if a.mode == "quick" else "variant")))
        elif hv is None:
            targets.append((name, "not measured", "—"))
        else:
            was, where, plain_was = before[v]
            pv = f.med(C, "plain_MBps." + v)
            rel = ""
            if plain_was and pv:
                rel = "; against the plain client of the same run: %.2f× now, %.2f× then" % (hv / pv, was / plain_was)
            targets.append((name, "**met**" if hv >= was else "**missed**",
                            "%s (median; best round %s) vs %s from %s%s" % (
                                fmt(hv, "MB/s"), fmt(f.max(H, "cp_MBps." + v), "MB/s"), fmt(was, "MB/s"), where, rel)))
    L += ["| target | result | measured (medians of this run) |", "|---|---|---|"]
    L += ["| %s | %s | %s |" % t for t in targets]
    L.append("")
    L += ["The throughput rows compare with figures of another day, which the machine's load moves by up to "
          "a factor of two here. `bench/cpab` measures this tree against the tree of the day issue 11 was "
          "filed (e3a2472) in one run, the two binaries taking turns: [RESULTS-cpab-1s.md](RESULTS-cpab-1s.md), "
          "[RESULTS-cpab-4s.md](RESULTS-cpab-4s.md).", ""]
    L += ["`cp` of the %s file to tmpfs, median (min–max) over the rounds, each filesystem and the plain client "
          "from the same seeders, in the same run; the FUSE `cp` ceiling is the same for every row." % bigname, ""]
    L += ["| `cp`, %s | Hyperblow | btfs | plain libtorrent client (no FUSE) | FUSE `cp` ceiling | Hyperblow / plain client |" % bigname,
          "|---|---|---|---|---|---|"]
    for v in cpvars:
        hv, pv = f.med(H, "cp_MBps." + v), f.med(C, "plain_MBps." + v)
        L.append("| %s | %s | %s | %s | %s | %s |" % (
            pieces(v), spread(f, H, "cp_MBps." + v, "MB/s"), spread(f, B, "cp_MBps." + v, "MB/s"),
            spread(f, C, "plain_MBps." + v, "MB/s"), spread(f, C, "fuse_cp_MBps", "MB/s"),
            "%.2f×" % (hv / pv) if hv and pv else "—"))
    L.append("")
    L += ["CPU seconds (user + system) per GiB delivered. Hyperblow and btfs: their process over its whole "
          "life, mount to unmount (wait4), divided by the bytes `cp` copied; `cp`: its own process (it "
          "runs on the mount, so it is listed apart). The plain client: its process for the whole download "
          "(`/usr/bin/time`), per GiB of the torrent. A btfs `cp` that hit its time limit counts the part copied.", ""]
    L += ["| CPU s per GiB | Hyperblow (mount) | `cp` on Hyperblow | btfs (its process) | `cp` on btfs | plain libtorrent client | Hyperblow / plain client |",
          "|---|---|---|---|---|---|---|"]
    for v in cpvars:
        hv, pv = f.med(H, "cpu_s_per_GiB.cp." + v), f.med(C, "plain_cpu_s_per_GiB." + v)
        L.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            pieces(v), spread(f, H, "cpu_s_per_GiB.cp." + v, "s"), spread(f, H, "cp_cpu_s_per_GiB.cp." + v, "s"),
            spread(f, B, "cpu_s_per_GiB.cp." + v, "s"), spread(f, B, "cp_cpu_s_per_GiB.cp." + v, "s"),
            spread(f, C, "plain_cpu_s_per_GiB." + v, "s"), "%.2f×" % (hv / pv) if hv and pv else "—"))
    L.append("")
    return L


def agreement(f):
    """How far Hyperblow's own count is from the seeders' count, over every test."""
    pairs = []
    for (who, key), xs in f.v.items():
        if who == "hyperblow" and key.startswith("fetched_seeder_MB."):
            own = f.all("hyperblow", key.replace("fetched_seeder_MB.", "fetched_MB."))
            pairs += list(zip(own, xs))
    if not pairs:
        return "not compared"
    worst = max(abs(a - b) for a, b in pairs)
    return "within %.2f MB on every mount" % worst


def parse_size(s):
    s = s.strip()
    for suf, mul in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if s.endswith(suf):
            return float(s[: -len(suf)]) * mul
    return float(s)


if __name__ == "__main__":
    main()
