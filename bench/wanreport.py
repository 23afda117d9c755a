#!/usr/bin/python3
"""wanreport.py: bench/wan's measurements (JSON lines from wan.py) as the WAN section of
the results markdown, spliced between "<!-- wan:begin -->" and "<!-- wan:end -->" into
--out (appended when the markers are absent; the rest of the file is left as it is).
--link l3 (bench/wan --l3, IP-level links): between "<!-- wan-l3:begin -->" and
"<!-- wan-l3:end -->" (quick mode: "wan-l3-quick"), so that one file can hold a run over
each kind of link."""

import argparse
import datetime
import json
import os

MiB = 1024 * 1024


def markers(link, mode):
    tag = "wan" if link == "relay" else ("wan-l3" if mode == "full" else "wan-l3-quick")
    return "<!-- %s:begin -->" % tag, "<!-- %s:end -->" % tag


# How each kind of link is described in the report.
LINKS = {
    "relay": {"heading": "TCP relays (`hblink --link`)",
              "setup": "Each seeder (python3-libtorrent, TCP only) sits behind its own `hblink` TCP relay, which "
                       "terminates TCP: the seeders' TCP runs over loopback to the relay (no loss, no slow start over "
                       "the delay) and the relay shapes the stream; the tracker gives out only the relays' addresses.",
              "bytes": "relays: bytes taken from the seeders / delivered (TCP payload)"},
    "l3": {"heading": "IP-level links (`hblink --tun`)",
           "setup": "Each seeder (python3-libtorrent, TCP only) runs in a network namespace of its own, whose only "
                    "device besides lo is the far end of its own IP-level link (`hblink --tun`: two TUN devices, "
                    "10.201.*i*.1 here and 10.201.*i*.2 there, MTU 1500). Every IP packet between a client and a "
                    "seeder (TCP set-up, data, ACKs, retransmissions) crosses the link's rate, delay ± jitter and "
                    "64 KiB drop-tail queue, and the kernels' TCP runs end to end across it (slow start, losses, "
                    "congestion control); the tracker gives out the seeders' far addresses.",
           "bytes": "link, down: IP bytes taken from the seeders / delivered"},
}


def fmt_s(x):
    return "—" if x is None else ("%.2f s" % x if x < 10 else "%.1f s" % x)


def fmt_mb(x):
    return "—" if x is None else "%.1f MB" % (x / 1e6)


def fmt_pct(x):
    return "—" if x is None else "%.1f %%" % (100 * x)


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "—"
    return "%.2f×" % (a / b)


class Results:
    def __init__(self, path):
        self.recs = []
        with open(path) as f:
            for line in f:
                if line.strip():
                    self.recs.append(json.loads(line))
        self.local = next((r for r in self.recs if r["kind"] == "wan-local"), {"metrics": {}, "errors": []})
        self.scen = [r for r in self.recs if r["kind"] == "wan-scenario"]
        self.tests = [r for r in self.recs if r["kind"] == "wan"]

    def get(self, scenario, test, client, key):
        for r in self.tests:
            if (r["scenario"], r["test"], r["client"]) == (scenario, test, client):
                if r["errors"]:
                    return None  # a failed test's figures are not reported
                return r["metrics"].get(key)
        return None

    def errors(self):
        out = list(self.local.get("errors", []))
        for r in self.scen + self.tests:
            out += r.get("errors", [])
        return out


def wasted(R, s, test, c):
    if c == "hyperblow":
        return R.get(s, test, c, "hb_wasted_bytes")
    return None


def unread(R, s, test, c):
    d, n = R.get(s, test, c, "downloaded_bytes"), R.get(s, test, c, "needed_bytes")
    return None if d is None or n is None else d - n


def verdict(ok):
    return "—" if ok is None else ("**met**" if ok else "**missed**")


def sessions(R, s, kind):
    """The test names of the mpv sessions on one file, in order."""
    seen = []
    for r in R.tests:
        if r["scenario"] == s and r["test"].startswith("mpv-%s-" % kind) and r["test"] not in seen:
            seen.append(r["test"])
    return seen


def total(R, s, tests, c, key):
    xs = [R.get(s, t, c, key) for t in tests]
    return None if not xs or any(x is None for x in xs) else sum(xs)


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def targets(R, s, spec):
    rows = []
    hb = "hyperblow"
    mp4, mkv = sessions(R, s, "mp4"), sessions(R, s, "mkv")
    # wasted / downloaded, over every session of a kind
    for tests, what, lim in ((mp4, "playback (mpv, MP4, every session)", 0.03), (mkv, "playback (mpv, MKV)", 0.03),
                             (["probe-seek"], "around a seek-and-decode (ffprobe + `ffmpeg -ss`)", 0.10)):
        if not tests or not any(r["test"] == tests[0] and r["scenario"] == s for r in R.tests):
            continue
        w, d = total(R, s, tests, hb, "hb_wasted_bytes"), total(R, s, tests, hb, "hb_downloaded_bytes")
        label = "wasted ÷ downloaded ≤ %d %%, %s" % (lim * 100, what)
        if w is None or not d:
            rows.append((label, None, "not measured"))
        else:
            rows.append((label, w / d <= lim, "%s (%s of %s)" % (fmt_pct(w / d), fmt_mb(w), fmt_mb(d))))
    d, n = R.get(s, "probe-seek", hb, "downloaded_bytes"), R.get(s, "probe-seek", hb, "needed_bytes")
    if d is not None and n is not None:
        lim = 2.5 * n + 2 * MiB
        floor = R.get(s, "probe-seek", hb, "needed_pieces_bytes")
        note = ""
        if floor is not None:
            # The whole pieces the reads touch: no client that verifies pieces can fetch less.
            note = "; the pieces they touch alone: %s%s" % (fmt_mb(floor), " (the target is below it: it cannot be met with these pieces)" if floor > lim else "")
        rows.append(("bytes fetched for ffprobe + `ffmpeg -ss` ≤ 2.5 × what they read + 2 pieces", d <= lim,
                     "%s vs 2.5 × %s + 2 MiB = %s%s" % (fmt_mb(d), fmt_mb(n), fmt_mb(lim), note)))
    for t in mp4 + mkv:
        pct = int(t.rsplit("-", 1)[1])
        x = R.get(s, t, hb, "seek_resume_s.%d" % pct)
        rows.append(("mpv seek-to-resume ≤ 1 s at %d %% (%s)" % (pct, t.split("-")[1].upper()), None if x is None else x <= 1.0,
                     "%s (playback-restart after %s; btfs %s)" % (fmt_s(x), fmt_s(R.get(s, t, hb, "seek_restart_s.%d" % pct)),
                                                                  fmt_s(R.get(s, t, "btfs", "seek_resume_s.%d" % pct)))))
    for tests, what in ((mp4, "MP4, every session"), (mkv, "MKV")):
        if not tests:
            continue
        n, t = total(R, s, tests, hb, "stalls"), total(R, s, tests, hb, "stall_s")
        rows.append(("stalls after the start: none (%s)" % what, None if n is None else n == 0,
                     "—" if n is None else "%d, %s in all (btfs: %s)" % (n, fmt_s(t), total(R, s, tests, "btfs", "stalls"))))
    a = median([R.get(s, t, hb, "first_frame_s") for t in mp4])
    b = median([R.get(s, t, "btfs", "first_frame_s") for t in mp4])
    rows.append(("first frame (mpv, MP4, median of the sessions) ≤ 1/5 of btfs's",
                 None if a is None or b is None else a <= b / 5,
                 "%s vs %s / 5 = %s" % (fmt_s(a), fmt_s(b), fmt_s(None if b is None else b / 5))))
    return rows


def figures(R, s, test, kind, seeks, link):
    clients = ("hyperblow", "btfs")
    rows = []

    def row(label, key, f, cmp=True, src=None):
        vals = [R.get(s, test, c, key) if src is None else src(R, s, test, c) for c in clients]
        rows.append("| %s | %s | %s | %s |" % (label, f(vals[0]), f(vals[1]), ratio(vals[0], vals[1]) if cmp else ""))

    if kind == "mpv":
        row("first frame (loadfile → playback-restart)", "first_frame_s", fmt_s)
        for pct in seeks:
            row("seek to %d %%: to playback-restart" % pct, "seek_restart_s.%d" % pct, fmt_s)
            row("seek to %d %%: to resume (with buffering right after)" % pct, "seek_resume_s.%d" % pct, fmt_s)
        row("stalls after the start (paused-for-cache, outside a seek and its resume)", "stalls", lambda x: "—" if x is None else "%d" % x, False)
        row("time stalled", "stall_s", fmt_s, False)
        row("buffering within 3 s of the first frame or a seek's restart", "freezes_after_restart",
            lambda x: "—" if x is None else "%d" % x, False)
        row("played (wall clock from the first frame)", "played_s", fmt_s, False)
    else:
        row("`ffprobe`", "ffprobe_s", fmt_s)
        row("`ffmpeg -ss MIDDLE -frames:v 1` after it, same mount", "seek_decode_s", fmt_s)
    row("downloaded (Hyperblow: its count; btfs: the seeders' payload uploaded)", "downloaded_bytes", fmt_mb)
    row("needed: distinct bytes the command read (strace)", "needed_bytes", fmt_mb, False)
    row("downloaded ÷ needed", None, lambda x: "—" if x is None else "%.2f" % x, True,
        src=lambda R, s, t, c: (None if not R.get(s, t, c, "needed_bytes") or R.get(s, t, c, "downloaded_bytes") is None
                                else R.get(s, t, c, "downloaded_bytes") / R.get(s, t, c, "needed_bytes")))
    row("wasted (Hyperblow's count of discarded bytes)", None, fmt_mb, False, src=wasted)
    row("downloaded but not read (downloaded − needed)", None, fmt_mb, True, src=unread)
    def link_bytes(R, s, t, c):
        if R.get(s, t, c, "relays_in_bytes") is None:
            return None
        return "%s / %s" % (fmt_mb(R.get(s, t, c, "relays_in_bytes")), fmt_mb(R.get(s, t, c, "relays_down_bytes")))

    row(LINKS[link]["bytes"], None, lambda x: x or "—", False, src=link_bytes)
    if link == "l3":
        def overhead(R, s, t, c):
            i, u = R.get(s, t, c, "relays_in_bytes"), R.get(s, t, c, "seeders_uploaded_bytes")
            return None if i is None or not u else i / u - 1
        row("link, down: IP bytes taken ÷ the seeders' payload uploaded − 1 (headers; a dropped packet "
            "counts once, when its retransmission passes)", None,
            lambda x: "—" if x is None else "%+.1f %%" % (100 * x), False, src=overhead)

        def drops(R, s, t, c):
            i, d, b = (R.get(s, t, c, k) for k in ("link_in_packets", "link_dropped_packets", "link_dropped_bytes"))
            if i is None or d is None or b is None:
                return None
            return "%d (%.1f %% of the packets offered), %s" % (d, 100 * d / (i + d) if i + d else 0, fmt_mb(b))
        row("link, down: packets dropped at the full queue (the seeders' TCP retransmits them)", None,
            lambda x: x or "—", False, src=drops)

        def late(R, s, t, c):
            n, i, m = (R.get(s, t, c, k) for k in ("link_late_packets", "link_in_packets", "link_late_max_ms"))
            if n is None or i is None:
                return None
            return "%d (%.2f %% of the packets), at most %.0f ms late" % (n, 100 * n / i if i else 0, m or 0)
        row("link, down: packets hblink delivered > 5 ms past their time (the emulator behind on a busy "
            "machine, not the link's shape)", None, lambda x: x or "—", False, src=late)
    return rows


def section(R, spec, a):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    media = spec["media"]
    t = spec["torrents"]
    mpv = spec["mpv"]
    begin, end = markers(a.link, a.mode)
    L = [begin, "", "## WAN scenarios (issue 11) over %s%s" % (LINKS[a.link]["heading"], ", quick" if a.mode == "quick" else ""), ""]
    L.append("Written by `bench/wan%s` (%s mode) on %s, in %d s. How it works: [bench/README.md](README.md#the-wan-lab). "
             "Media: a %s H.264 clip of %.0f s at %s bit/s (testsrc2, 25 fps, a keyframe every 2 s) as an MP4 with "
             "`moov` after `mdat` (%s) and an MKV of the same stream (%s), 1 MiB pieces. Links: %s. %s Every test runs "
             "on a fresh mount, Hyperblow then btfs, one run each (no medians: single measurements, on a shared machine)."
             % (" --l3" if a.link == "l3" else "", a.mode, now, a.elapsed, media["size"], media["seconds"], media["bitrate"],
                fmt_mb(t["mp4"]["length"]), fmt_mb(t["mkv"]["length"]), LINKS[a.link]["heading"], LINKS[a.link]["setup"]))
    L.append("")
    plan = mpv["mp4"]
    L.append("mpv (`--no-config --vo=null --ao=null --no-audio`, default cache settings, real time) is driven through its "
             "IPC socket, one session per seek, each on a fresh mount: the MP4 plays for %s s, then seeks "
             "(`absolute-percent+keyframes`) to %s %% (one session each), and plays %s s more%s. Seek-to-resume is the time from the seek command to `playback-restart`, extended to the end of any "
             "buffering that starts within 2 s after it. A stall is a `paused-for-cache` episode after the first frame "
             "and outside a seek and its resume (buffering within 2 s of a seek's restart counts once, in that seek's time to resume). `ffprobe` then `ffmpeg -ss` run on one fresh mount. *Needed* is what the command read: "
             "the distinct byte ranges of its `read`/`pread64` calls under strace (mpv: on the mount; ffprobe and ffmpeg: "
             "the same commands on the local file)."
             % (plan["play"], ", ".join(map(str, plan["seeks"])), plan["after"],
                ("; the MKV plays %s s, seeks to %s %%, plays %s s" % (mpv["mkv"]["play"], mpv["mkv"]["seeks"][0],
                                                                       mpv["mkv"]["after"]) if "mkv" in mpv else "")))
    L.append("")
    L += ["### Targets", "",
          "The issue's targets are for scenario (a); (b) and (c) are shown against the same limits. "
          "The video's bitrate is ≤ 60 % of each swarm's rate, so the no-stall target applies to all three.", "",
          "| scenario | target | result | measured |", "|---|---|---|---|"]
    for sc in R.scen:
        for what, ok, meas in targets(R, sc["scenario"], spec):
            L.append("| %s | %s | %s | %s |" % (sc["scenario"], what, verdict(ok), meas))
    L.append("")
    for sc in R.scen:
        s = sc["scenario"]
        L += ["### Scenario (%s): %s" % (s, sc["title"]), ""]
        if sc.get("links"):
            L.append("Links (%s): " % LINKS[a.link]["heading"] + "; ".join("%s%s → %s down %.1f MB/s, %s ± %s" % (
                "%s " % l["dev"] if l.get("dev") else "", l["listen"], l["target"], l["down"]["rate"] / 1e6,
                l["down"]["delay"], l["down"]["jitter"]) for l in sc["links"]) + ".")
            L.append("Announces answered (by source address): %s." % ", ".join(
                "%s ×%d" % kv for kv in sorted(sc.get("announces", {}).items())))
            L.append("")
        L += ["| figure | Hyperblow | btfs | Hyperblow/btfs |", "|---|---|---|---|"]
        blocks = [(t, "mpv", "mpv, %s: play %d s, seek to %s %%, play %d s" % (
            t.split("-")[1].upper(), mpv[t.split("-")[1]]["play"], t.rsplit("-", 1)[1], mpv[t.split("-")[1]]["after"]))
            for t in sessions(R, s, "mp4") + sessions(R, s, "mkv")]
        blocks.append(("probe-seek", "probe", "ffprobe, then ffmpeg -ss on the same mount, MP4"))
        for test, kind, title in blocks:
            if not any(r["scenario"] == s and r["test"] == test for r in R.tests):
                continue
            L.append("| **%s** | | | |" % title)
            L += figures(R, s, test, kind, [int(test.rsplit("-", 1)[1])] if kind == "mpv" else [], a.link)
        L.append("")
        notes = [(r["client"], r["test"], n) for r in R.tests if r["scenario"] == s for n in r.get("notes", [])]
        if notes:
            L += ["Buffering episodes:", ""]
            L += ["- %s, %s: %s" % n for n in notes]
            L.append("")
    lm = R.local["metrics"]
    L += ["### The commands on the local files", "",
          "| command | time | distinct bytes read (strace) |", "|---|---|---|",
          "| mpv, first frame | %s | |" % fmt_s(lm.get("floor_first_frame_s")),
          "| `ffprobe` | %s | %s |" % (fmt_s(lm.get("floor_ffprobe_s")), fmt_mb(lm.get("needed_bytes.ffprobe"))),
          "| `ffmpeg -ss` | %s | %s |" % (fmt_s(lm.get("floor_seek_decode_s")), fmt_mb(lm.get("needed_bytes.ffmpeg"))),
          "| both (union) | | %s |" % fmt_mb(lm.get("needed_bytes.probe_seek")), ""]
    L.append("Load average (1, 5, 15 min) at the start: %s; at the end: %s (2 cores)." % (a.load[0], a.load[-1]))
    L.append("")
    errs = R.errors()
    L += ["### WAN failures", ""]
    if errs:
        L += ["```"] + [e for e in errs] + ["```"]
    else:
        L.append("None: every measurement succeeded.")
    L += ["", end]
    return "\n".join(L) + "\n"


def main():
    ap = argparse.ArgumentParser(prog="wanreport.py")
    ap.add_argument("--results", required=True)
    ap.add_argument("--spec", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--mode", required=True)
    ap.add_argument("--link", choices=sorted(LINKS), default="relay", help="the kind of link: relay, or l3 (IP-level)")
    ap.add_argument("--load", action="append", default=[])
    ap.add_argument("--elapsed", type=int, default=0)
    a = ap.parse_args()
    with open(a.spec) as f:
        spec = json.load(f)
    R = Results(a.results)
    sec = section(R, spec, a)
    BEGIN, END = markers(a.link, a.mode)
    old = ""
    if os.path.exists(a.out):
        with open(a.out) as f:
            old = f.read()
    if BEGIN in old and END in old:
        new = old[:old.index(BEGIN)] + sec + old[old.index(END) + len(END):].lstrip("\n")
    elif old:
        new = old.rstrip("\n") + "\n\n" + sec
    else:
        new = "# Hyperblow benchmark results\n\n" + sec
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        f.write(new)
    os.replace(tmp, a.out)


if __name__ == "__main__":
    main()
