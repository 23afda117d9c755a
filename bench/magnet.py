#!/usr/bin/python3
"""magnet.py: the measuring half of bench/magnet (issue 12's first-byte targets).

  magnet.py --work DIR --new BIN --base BIN --base-ref REF [--hblink BIN]
            [--rounds N] [--size MiB] [--rate R] [--no-wan] [--out FILE] [--cmdline S]

bench/magnet builds the binaries and the link emulator, then runs this inside its
private network namespace; see bench/magnet for what is measured. Every mount is
started by this process (subprocess, PID kept), unmounted in a finally clause and,
if it does not stop, killed by its PID; bench/magnet's trap unmounts anything left
under DIR. Exit 0 when every measurement succeeded, 1 otherwise.
"""

import argparse
import datetime
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

BENCH = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3"


def say(msg):
    sys.stderr.write("%s bench/magnet: %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


class Failed(Exception):
    pass


def make_data(work, size_mib):
    """A folder of 64 files with 64 KiB pieces: the info dictionary holds 20 bytes of
    SHA-1 per piece and a name per file, several 16 KiB metadata pieces."""
    data = os.path.join(work, "data")
    top = os.path.join(data, "magbench")
    nfiles = 64
    per = (size_mib << 20) // nfiles
    files = []
    for i in range(nfiles):
        rel = os.path.join("set-%02d" % (i // 16), "clip-%03d.bin" % i)
        path = os.path.join(top, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        size = per + 4099 * i  # files that do not end on a piece boundary
        with open(path, "wb") as f:
            left = size
            while left:
                n = min(left, 1 << 20)
                f.write(os.urandom(n))
                left -= n
        files.append((rel, size))
    torrent = os.path.join(work, "magbench.torrent")
    out = subprocess.run([PY, os.path.join(BENCH, "lt.py"), "make", "--piece-length", "65536",
                          "--tracker", "http://127.0.0.1:9/announce", top, torrent],
                         check=True, capture_output=True, text=True)
    ih = out.stdout.strip().splitlines()[-1]
    import libtorrent as lt
    ti = lt.torrent_info(torrent)
    info_size = len(ti.info_section())
    return data, top, files, torrent, ih, info_size, ti.num_pieces()


class Procs:
    def __init__(self):
        self.procs = []

    def start(self, argv, log, stdout=None):
        p = subprocess.Popen(argv, stdout=stdout if stdout is not None else subprocess.DEVNULL,
                             stderr=open(log, "wb"), stdin=subprocess.DEVNULL)
        self.procs.append(p)
        return p

    def stop_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def wait_line(path, pred, seconds, proc):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                for line in f:
                    v = pred(line)
                    if v is not None:
                        return v
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise Failed("%s: no ready line after %d s" % (path, seconds))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def mounted(mnt):
    with open("/proc/self/mounts") as f:
        return any(line.split()[1] == mnt for line in f)


class Mount:
    """One hyperblow mount on a fresh mountpoint, stopped on exit by its PID."""
    n = 0
    disk_cache = {}

    def __init__(self, a, binary, source, peer, extra=(), label="mount"):
        Mount.n += 1
        self.a, self.binary = a, binary
        self.mnt = os.path.join(a.work, "mnt.%d" % Mount.n)
        os.makedirs(self.mnt)
        self.log = os.path.join(a.work, "logs", "%03d.%s.log" % (Mount.n, label))
        if binary not in Mount.disk_cache:
            h = subprocess.run([binary, "mount", "--help"], capture_output=True, text=True)
            Mount.disk_cache[binary] = "--disk-cache" in h.stdout + h.stderr
        if Mount.disk_cache[binary]:
            extra = ["--disk-cache", "0"] + list(extra)  # a fresh, empty cache: memory only
        self.argv = [binary, "mount", "--no-dht", "--no-lsd", "--no-upnp", "-v", "--view", "off",
                     "--listen", "127.0.0.1:0", "--read-timeout", "120s", "--peer", peer] + list(extra) + [source, self.mnt]
        self.proc = None

    def start(self):
        self.wall0 = time.time()
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=open(self.log, "wb"),
                                     stdin=subprocess.DEVNULL)
        return self

    def wait_file(self, rel, seconds):
        """Polls for the file every 2 ms (the mount shows .hyperblow-status until the
        metadata arrives); returns the seconds since start."""
        path = os.path.join(self.mnt, rel)
        deadline = self.t0 + seconds
        while time.monotonic() < deadline:
            try:
                os.stat(path)
                return time.monotonic() - self.t0
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise Failed("the mount exited (%d) before %s appeared: %s" % (self.proc.returncode, rel, self.tail()))
            time.sleep(0.002)
        raise Failed("%s did not appear within %d s: %s" % (rel, seconds, self.tail()))

    def read1(self, rel, off, want):
        fd = os.open(os.path.join(self.mnt, rel), os.O_RDONLY)
        try:
            got = os.pread(fd, 1, off)
        finally:
            os.close(fd)
        if got != want:
            raise Failed("read of %s at %d: got %r, want %r" % (rel, off, got, want))

    def phases(self):
        """From the -v log: seconds from start to the first peer handshake, to
        "metadata fetched", and to the first handshake after it (the old path
        reconnects), and the pieces verified when it stopped; None where absent."""
        hs = meta = hs2 = verified = None
        try:
            with open(self.log, errors="replace") as f:
                for line in f:
                    m = re.match(r"time=(\S+) level=\S+ msg=(\"[^\"]*\"|\S+)", line)
                    if not m:
                        continue
                    ts = datetime.datetime.strptime(m.group(1).rstrip("Z")[:26], "%Y-%m-%dT%H:%M:%S.%f")
                    t = ts.replace(tzinfo=datetime.timezone.utc).timestamp() - self.wall0
                    msg = m.group(2).strip('"')
                    if msg == "peer handshake done":
                        if hs is None:
                            hs = t
                        elif meta is not None and hs2 is None:
                            hs2 = t
                    elif msg == "metadata fetched" and meta is None:
                        meta = t
                    elif msg == "stopped":
                        v = re.search(r" pieces_verified=(\d+)", line)
                        verified = int(v.group(1)) if v else None
        except OSError:
            pass
        return hs, meta, hs2, verified

    def tail(self, n=8):
        try:
            with open(self.log, "rb") as f:
                return "\n    " + "\n    ".join(l.decode(errors="replace").rstrip() for l in f.readlines()[-n:])
        except OSError:
            return ""

    def stop(self):
        if self.proc is None:
            return
        if mounted(self.mnt):
            r = subprocess.run([self.binary, "unmount", self.mnt], capture_output=True, timeout=30)
            if r.returncode != 0 and mounted(self.mnt):
                subprocess.run(["fusermount3", "-u", self.mnt], capture_output=True, timeout=30)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if mounted(self.mnt):
            subprocess.run(["umount", "-l", self.mnt], capture_output=True)
        self.proc = None


def pick(files, local, rng):
    rel, size = rng.choice(files)
    off = rng.randrange(size)
    with open(os.path.join(local, rel), "rb") as f:
        f.seek(off)
        want = f.read(1)
    return rel, off, want


def status(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/status" % port, timeout=5) as r:
        return json.load(r)


def torrent_states(st):
    return [t.get("state") for t in st.get("torrents", [])]


def median_txt(xs):
    if not xs:
        return "—"
    return "%.3f (%.3f–%.3f)" % (statistics.median(xs), min(xs), max(xs))


def main():
    ap = argparse.ArgumentParser(prog="magnet.py")
    ap.add_argument("--work", required=True)
    ap.add_argument("--new", required=True)
    ap.add_argument("--base", required=True)
    ap.add_argument("--base-ref", required=True)
    ap.add_argument("--new-ref", default="this tree")
    ap.add_argument("--hblink")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--rate", default="2MB/s")
    ap.add_argument("--no-wan", action="store_true")
    ap.add_argument("--out", required=True)
    ap.add_argument("--cmdline", default="bench/magnet")
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # so that the finally clauses unmount
    os.makedirs(os.path.join(a.work, "logs"), exist_ok=True)
    rng = random.Random()
    procs = Procs()
    mounts = []
    fails = []
    try:
        run(a, rng, procs, mounts, fails)
    finally:
        for m in mounts:
            m.stop()
        procs.stop_all()
    return 1 if fails else 0


def run(a, rng, procs, mounts, fails):
    say("making %d MiB of data in 64 files" % a.size)
    data, top, files, torrent, ih, info_size, npieces = make_data(a.work, a.size)
    say("torrent %s: %d pieces of 64 KiB, info %d bytes (%d metadata pieces)" % (ih, npieces, info_size, (info_size + 16383) // 16384))
    magnet = "magnet:?xt=urn:btih:%s&dn=magbench" % ih
    seed = procs.start([PY, os.path.join(BENCH, "lt.py"), "seed", "--stats", os.path.join(a.work, "seed.stats"),
                        "%s=%s" % (torrent, data)], os.path.join(a.work, "logs", "seed.log"),
                       stdout=open(os.path.join(a.work, "seed.out"), "wb"))
    sport = wait_line(os.path.join(a.work, "seed.out"),
                      lambda l: int(l.split()[1]) if l.startswith("READY") else None, 300, seed)
    links = [("loopback", "127.0.0.1:%d" % sport, 60)]
    link_desc = {"loopback": "loopback (the seeder on 127.0.0.1)"}
    if not a.no_wan:
        shape = "delay=40ms,jitter=10ms,down.rate=%s" % a.rate
        out = os.path.join(a.work, "hblink.out")
        hb = procs.start([a.hblink, "--link", "127.0.0.1:0=127.0.0.1:%d,%s,proto=tcp" % (sport, shape)],
                         os.path.join(a.work, "logs", "hblink.log"), stdout=open(out, "wb"))
        relay = wait_line(out, lambda l: json.loads(l)["links"][0]["listen"] if '"ready"' in l else None, 30, hb)
        links.append(("wan", relay, 180))
        link_desc["wan"] = "the WAN lab's 80 ms link (netem/hblink, 40 ± 10 ms each way, the seeder's upload %s)" % a.rate
    say("seeder 127.0.0.1:%d%s" % (sport, "" if a.no_wan else ", relay " + links[1][1]))

    bins = [("new", a.new), ("base", a.base)]
    # The magnet, then the same with the .torrent (a control: what is not the magnet path).
    cases = [(l, p, lim, magnet) for l, p, lim in links] + [(l + " .torrent", p, lim, torrent) for l, p, lim in links]
    fb = {(c[0], b): [] for c in cases for b, _ in bins}
    meta = {(c[0], b): [] for c in cases for b, _ in bins}
    phases = {(c[0], b): [] for c in cases for b, _ in bins}
    for lname, peer, limit, source in cases:
        for r in range(1, a.rounds + 1):
            for bname, binary in bins:
                rel, off, want = pick(files, top, rng)
                m = Mount(a, binary, source, peer, label="%s.r%d.%s" % (lname.replace(" .", "-"), r, bname))
                mounts.append(m)
                try:
                    m.start()
                    tm = m.wait_file(rel, limit)
                    m.read1(rel, off, want)
                    t = time.monotonic() - m.t0
                    fb[(lname, bname)].append(t)
                    meta[(lname, bname)].append(tm)
                    m.stop()
                    phases[(lname, bname)].append(m.phases() + (t,))
                    say("%s round %d %s: file listed %.3f s, first byte %.3f s (%s @%d)" % (lname, r, bname, tm, t, rel, off))
                except (Failed, OSError) as e:
                    fails.append("%s round %d %s: %s" % (lname, r, bname, e))
                    say(fails[-1])
                finally:
                    m.stop()
                    mounts.remove(m)

    # Sleeping against awake (needs --idle).
    helptext = subprocess.run([a.new, "mount", "--help"], capture_output=True, text=True)
    has_idle = "--idle" in (helptext.stdout + helptext.stderr)
    idle = {}
    idle_note = []
    if has_idle:
        for lname, peer, limit in links:
            for r in range(1, a.rounds + 1):
                for kind, flag in (("awake", "0"), ("sleeping", "2s")):
                    port = free_port()
                    m = Mount(a, a.new, torrent, peer, ["--idle", flag, "--status", "127.0.0.1:%d" % port],
                              label="%s.r%d.%s" % (lname, r, kind))
                    mounts.append(m)
                    try:
                        m.start()
                        rel, off, want = pick(files, top, rng)
                        m.wait_file(rel, limit)
                        m.read1(rel, off, want)  # wakes and warms: the peers are known and connected once
                        if kind == "sleeping":
                            deadline = time.monotonic() + 60
                            while True:
                                try:
                                    states = torrent_states(status(port))
                                except OSError:
                                    states = []
                                if "sleeping" in states:
                                    break
                                if time.monotonic() > deadline:
                                    raise Failed("not asleep 60 s after a read with --idle 2s (states %s)" % states)
                                time.sleep(0.1)
                        else:
                            time.sleep(2.5)  # as long as the sleeping mount's idle time: the same age
                        # A fresh piece: another file than the warming read.
                        rel2 = rel
                        while rel2 == rel:
                            rel2, off2, want2 = pick(files, top, rng)
                        t0 = time.monotonic()
                        m.read1(rel2, off2, want2)
                        t = time.monotonic() - t0
                        idle.setdefault((lname, kind), []).append(t)
                        say("%s round %d %s: first byte %.3f s" % (lname, r, kind, t))
                    except (Failed, OSError) as e:
                        fails.append("%s round %d idle %s: %s" % (lname, r, kind, e))
                        say(fails[-1])
                    finally:
                        m.stop()
                        mounts.remove(m)
    else:
        idle_note.append("Sleeping against awake: **not measured**: the binary has no --idle (`hyperblow mount --help` does not list it).")

    write(a, links, cases, link_desc, fb, meta, phases, idle, idle_note, has_idle, fails, ih, info_size, npieces)


def write(a, links, cases, link_desc, fb, meta, phases, idle, idle_note, has_idle, fails, ih, info_size, npieces):
    L = []
    L.append("# Magnet to first byte, and first byte from a sleeping torrent (issue 12)")
    L.append("")
    L.append("bench/magnet, %s; `%s`; %d rounds; %d cores (shared machine), load %s." % (
        time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), a.cmdline, a.rounds, os.cpu_count(),
        " ".join(open("/proc/loadavg").read().split()[:3])))
    L.append("")
    L.append("One python3-libtorrent seeder (bench/lt.py seed) of %d MiB in 64 files, 64 KiB pieces (%d), so an info "
             "dictionary of %d bytes: %d metadata pieces of 16 KiB. Each mount is fresh (new process, new mountpoint, "
             "empty cache): `hyperblow mount --no-dht --no-lsd --no-upnp --listen 127.0.0.1:0 --peer SEEDER MAGNET MNT`. "
             "Timed from starting the mount to the first byte of a 1-byte pread at a random offset of a random file "
             "(the file polled for every 2 ms, the byte checked against the source). Baseline: `%s` (the old magnet "
             "path with its own resolver), built in the same run; the binaries alternate, new then baseline, every round. "
             "Median (min–max), seconds." % (a.size, npieces, info_size, (info_size + 16383) // 16384, a.base_ref))
    L.append("")
    L.append("| link | binary | file listed s | first byte s | first byte, mean s |")
    L.append("|---|---|---|---|---|")
    for lname, _, _, _ in cases:
        for bname, label in (("new", "new (%s)" % a.new_ref), ("base", "baseline (%s)" % a.base_ref)):
            xs = fb[(lname, bname)]
            L.append("| %s | %s | %s | %s | %s |" % (lname, label, median_txt(meta[(lname, bname)]), median_txt(xs),
                                                     "%.3f" % statistics.mean(xs) if xs else "—"))
    L.append("")
    for lname, _, _ in links:
        n, b = fb[(lname, "new")], fb[(lname, "base")]
        if n and b:
            ratio = statistics.median(n) / statistics.median(b)
            L.append("- %s: magnet to first byte, new / baseline = **%.2f** (target <= 1.00, no slower): **%s**. "
                     "(Means: %.2f.)" % (link_desc[lname], ratio, "met" if ratio <= 1.0 else "missed",
                                         statistics.mean(n) / statistics.mean(b)))
        else:
            L.append("- %s: magnet to first byte: **not measured** (failures below)." % link_desc[lname])
    L.append("")
    L.append("Where the time goes, from the mounts' -v logs (log times to the millisecond; medians over the rounds, "
             "seconds from starting the mount): the first peer handshake, \"metadata fetched\", the first handshake after "
             "it (the old path drops the connection that sent the metadata and dials again), the first byte; then the "
             "spans between; and the pieces the mount had verified when it stopped, right after the first byte (its "
             "\"stopped\" line): the read needs one.")
    L.append("")
    L.append("| link | binary | handshake | metadata | re-handshake | first byte | handshake→metadata | metadata→first byte | pieces verified at unmount |")
    L.append("|---|---|---|---|---|---|---|---|---|")

    def med(rows, i, fmt="%.3f"):
        xs = [r[i] for r in rows if r[i] is not None]
        return fmt % statistics.median(xs) if xs else "—"

    def medspan(rows, i, j):
        xs = [r[j] - r[i] for r in rows if r[i] is not None and r[j] is not None]
        return "%.3f" % statistics.median(xs) if xs else "—"
    for lname, _, _, _ in cases:
        for bname in ("new", "base"):
            rows = phases[(lname, bname)]
            L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                lname, bname, med(rows, 0), med(rows, 1), med(rows, 2), med(rows, 4), medspan(rows, 0, 1),
                medspan(rows, 1, 4), med(rows, 3, "%d")))
    L.append("")
    L.append("## Sleeping against awake")
    L.append("")
    if has_idle:
        L.append("This tree's binary, a .torrent (not a magnet), `--idle 2s` against `--idle 0`: one read to connect and "
                 "warm, then (sleeping) wait until /status shows the torrent \"sleeping\", or (awake) wait 2.5 s; then time "
                 "a 1-byte pread at a random offset of another file (a piece not fetched yet). Median (min–max), seconds.")
        L.append("")
        L.append("| link | awake s | sleeping s |")
        L.append("|---|---|---|")
        for lname, _, _ in links:
            L.append("| %s | %s | %s |" % (lname, median_txt(idle.get((lname, "awake"), [])), median_txt(idle.get((lname, "sleeping"), []))))
        L.append("")
        for lname, _, _ in links:
            w, s = idle.get((lname, "awake")), idle.get((lname, "sleeping"))
            if w and s:
                ratio = statistics.median(s) / statistics.median(w)
                L.append("- %s: first byte sleeping / awake = **%.2f** (target <= 2): **%s**." % (
                    link_desc[lname], ratio, "met" if ratio <= 2.0 else "missed"))
            else:
                L.append("- %s: sleeping against awake: **not measured** (failures below)." % link_desc[lname])
    else:
        L.extend(idle_note)
    L.append("")
    L.append("Raw first-byte times (s):")
    L.append("")
    for k in sorted(fb, key=lambda k: ([c[0] for c in cases].index(k[0]), k[1])):
        L.append("- %s %s: %s" % (k[0], k[1], " ".join("%.3f" % x for x in fb[k])))
    for k in sorted(idle):
        L.append("- %s %s: %s" % (k[0], k[1], " ".join("%.3f" % x for x in idle[k])))
    if fails:
        L.append("")
        L.append("## Failures")
        L.append("")
        for f in fails:
            L.append("- " + f.replace("\n", "\n  "))
    text = "\n".join(L) + "\n"
    sys.stdout.write(text)
    with open(a.out, "w") as f:
        f.write(text)


if __name__ == "__main__":
    sys.exit(main())
