#!/usr/bin/python3
"""wan.py: the WAN scenarios of bench/run (issue 11), measured as a player would.

  wan.py seed --ip IP --stats FILE TORRENT=SAVE_PATH...
      A python3-libtorrent seeder (bench/lt.py's settings: TCP only, no DHT/LSD/UPnP)
      in seed mode (pieces are hashed when first sent, not checked at start). Prints
      "READY <port>", then rewrites FILE with its upload counters every 0.2 s.
  wan.py local --spec SPEC.json --out FILE.jsonl
      The measuring commands on the local files: their own times (the floor of every
      figure) and, under strace, the distinct bytes ffprobe and `ffmpeg -ss` read.
  wan.py scenario --spec SPEC.json --scenario a|b|c --out FILE.jsonl
      One scenario: seeders on 127.0.0.11.., one hblink relay per seeder on
      127.0.0.41.. shaping what flows down, and a tracker (a thread of this process,
      on 127.0.0.1) that answers every announce with the relays' addresses only.
      With "link": "l3" in the spec (bench/wan --l3): seeder i runs in a network
      namespace of its own (held by `unshare --net sleep infinity`), on 10.201.i.2,
      the far end of hblink's IP-level link i (--tun), and the tracker answers with
      those far addresses: every packet between a client and a seeder crosses it. Then
      each test on a fresh mount, Hyperblow then btfs: mpv sessions on the MP4 (first
      frame, playback, one seek each to 10, 50 and 80 %, stalls), one on the MKV, and
      ffprobe followed by `ffmpeg -ss` on one mount. Appends one JSON line per test and client.

Every wait is bounded; every process is recorded in SPEC.work/pids for bench/wan's trap.
Exit status 1 when a measurement failed (a missed target is not a failure).
"""

import argparse
import collections
import http.server
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import measure as M  # noqa: E402  (Proc, timed, is_mounted, lazy_unmount, Swarm, Failed, log)

MiB = 1024 * 1024
Failed = M.Failed
log = M.log

# The scenarios of issue 11. Each link: one seeder behind one relay; rate is what the
# seeder can send down (the client's download), delay ± jitter each way.
SCENARIOS = {
    "a": {"title": "3 seeders × 2 MB/s, ~80 ms RTT (40 ± 10 ms each way)",
          "links": [("2MB/s", "40ms", "10ms")] * 3},
    "b": {"title": "1 seeder at 10 MB/s, 200 ms RTT (100 ± 10 ms each way)",
          "links": [("10MB/s", "100ms", "10ms")]},
    "c": {"title": "8 seeders at 0.2–5 MB/s, 20–100 ms each way; the 5 MB/s one stalls during the MP4's playback",
          "links": [("200kB/s", "100ms", "10ms"), ("500kB/s", "80ms", "10ms"), ("800kB/s", "30ms", "5ms"),
                    ("1MB/s", "60ms", "10ms"), ("1.5MB/s", "40ms", "10ms"), ("2MB/s", "50ms", "10ms"),
                    ("3MB/s", "20ms", "5ms"), ("5MB/s", "40ms", "10ms")],
          "stall": {"link": 7}},  # after spec["stall_after_s"] of playback
}


def free_port(ip="127.0.0.1"):
    s = socket.socket()
    s.bind((ip, 0))
    p = s.getsockname()[1]
    s.close()
    return p


def http_json(url, method="GET", timeout=3):
    req = urllib.request.Request(url, method=method)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


# ---------------------------------------------------------------- the seeder


def cmd_seed(a):
    import importlib
    import libtorrent as lt
    ltb = importlib.import_module("lt")  # bench/lt.py: the session settings and the stats file
    ppid = os.getppid()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    ses = ltb.session(a.ip)
    handles = []
    for spec in a.torrents:
        torrent, _, save = spec.partition("=")
        p = lt.add_torrent_params()
        p.ti = lt.torrent_info(torrent)
        p.save_path = os.path.abspath(save)
        p.flags |= lt.torrent_flags.seed_mode
        handles.append(ses.add_torrent(p))
    deadline = time.time() + 120
    while True:
        ltb.drain(ses)
        sts = [h.status() for h in handles]
        for st in sts:
            if st.errc.value() != 0:
                sys.exit("wan.py seed: %s: %s" % (st.name, st.errc.message()))
        if all(st.state == lt.torrent_status.seeding for st in sts) and ses.listen_port() != 0:
            break
        if time.time() > deadline or stop:
            sys.exit("wan.py seed: not seeding after 120 s")
        time.sleep(0.05)
    started = time.time()
    ltb.write_stats(a.stats, handles, started)
    print("READY %d" % ses.listen_port(), flush=True)
    while not stop and os.getppid() == ppid:
        ltb.drain(ses)
        ltb.write_stats(a.stats, handles, started)
        time.sleep(0.2)


# ---------------------------------------------------------------- the tracker


class Tracker:
    """A loopback HTTP tracker that answers every announce with the relays' addresses
    (compact), and the seeders' own announces with no peer: nobody learns a seeder's
    real address, so every byte crosses a relay."""

    def __init__(self, relays, seeder_ips):
        peers = b"".join(socket.inet_aton(h) + p.to_bytes(2, "big") for h, p in relays)
        self.announces = collections.Counter()
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                ip = self.client_address[0]
                outer.announces[ip] += 1
                give = b"" if ip in seeder_ips else peers
                body = (b"d8:completei%de10:incompletei0e8:intervali1800e12:min intervali60e5:peers%d:"
                        % (len(relays), len(give)) + give + b"e")
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


# ---------------------------------------------------------------- strace: what a command read


def pieces_touched(ranges, piece_len, length):
    """Bytes of the whole pieces that a list of [start, end) ranges touches: the
    least a client that verifies whole pieces must fetch to serve them."""
    pieces = set()
    for s, e in ranges:
        if e > s:
            pieces.update(range(s // piece_len, (e - 1) // piece_len + 1))
    return sum(min(piece_len, length - i * piece_len) for i in pieces)


def distinct(ranges):
    """Bytes covered by a list of [start, end) ranges."""
    total, cur_s, cur_e = 0, None, None
    for s, e in sorted(ranges):
        if cur_e is None or s > cur_e:
            if cur_e is not None:
                total += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    if cur_e is not None:
        total += cur_e - cur_s
    return total


SYSCALL = re.compile(r"^(\d+) +(\w+)\((.*)\) += (-?\d+)(?:<([^>]*)>)?")
FDARG = re.compile(r"^(\d+)<([^>]*)>")


def strace_ranges(path, target):
    """The byte ranges of `target` read in strace -f -y output at `path` (read, pread64,
    readv, preadv, with lseek and openat for the offsets)."""
    target = os.path.realpath(target)
    pending, pos, ranges = {}, {}, []
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            m = re.match(r"^(\d+) +(.*) <unfinished \.\.\.>$", line)
            if m:
                pending[m.group(1)] = m.group(2)
                continue
            m = re.match(r"^(\d+) +<\.\.\. \w+ resumed>(.*)$", line)
            if m:
                line = "%s %s%s" % (m.group(1), pending.pop(m.group(1), ""), m.group(2))
            m = SYSCALL.match(line)
            if not m:
                continue
            name, args, ret, retpath = m.group(2), m.group(3), int(m.group(4)), m.group(5)
            if name in ("openat", "open"):
                if ret >= 0 and retpath == target:
                    pos[ret] = 0
                continue
            fa = FDARG.match(args)
            if not fa or fa.group(2) != target or ret < 0:
                continue
            fd = int(fa.group(1))
            parts = [x.strip() for x in args.split(",")]
            if name == "lseek":
                pos[fd] = ret
            elif name in ("read", "readv"):
                p = pos.get(fd, 0)
                if ret > 0:
                    ranges.append((p, p + ret))
                pos[fd] = p + ret
            elif name in ("pread64", "preadv"):
                off = int(parts[-1])
                if ret > 0:
                    ranges.append((off, off + ret))
    return ranges


STRACE = ["strace", "-f", "-qq", "-y", "-s", "0", "--seccomp-bpf",
          "-e", "trace=openat,read,readv,pread64,preadv,lseek"]


# ---------------------------------------------------------------- mpv through its IPC socket


class Mpv:
    """mpv in real time (no video output, no audio), under strace (what it reads),
    driven through --input-ipc-server. Every event is kept with its time."""

    def __init__(self, ctx, name, path, trace=True):
        self.ctx, self.path = ctx, path
        work = ctx.spec["work"]
        self.sock = os.path.join(work, "s", name + ".sock")
        self.trace = os.path.join(work, "logs", name + ".strace") if trace else None
        argv = ["mpv", "--no-config", "--idle=yes", "--vo=null", "--ao=null", "--no-audio", "--really-quiet",
                "--input-ipc-server=" + self.sock, "--log-file=" + os.path.join(work, "logs", name + ".mpv.log")]
        if self.trace:
            argv = STRACE + ["-o", self.trace] + argv
        self.proc = M.Proc(ctx.spec, argv, os.path.join(work, "logs", name + ".mpv.out"))
        deadline = time.monotonic() + 30
        self.s = None
        while self.s is None:
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(self.sock)
                self.s = s
            except OSError:
                s.close()
                if not self.proc.alive() or time.monotonic() > deadline:
                    self.close()
                    raise Failed("mpv did not open its IPC socket within 30 s:\n%s" % self.proc.tail())
                time.sleep(0.02)
        self.q = collections.deque()
        self.cv = threading.Condition()
        self.eof = False
        self.events = []  # (t, obj)
        self.rid = 0
        threading.Thread(target=self._reader, daemon=True).start()
        self.command("observe_property", 1, "paused-for-cache")
        self.command("observe_property", 2, "demuxer-cache-duration")

    def _reader(self):
        f = self.s.makefile("rb")
        try:
            for line in f:
                t = time.monotonic()
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                with self.cv:
                    self.q.append((t, obj))
                    self.cv.notify_all()
        except OSError:
            pass
        with self.cv:
            self.eof = True
            self.cv.notify_all()

    def command(self, *args):
        self.rid += 1
        self.s.sendall(json.dumps({"command": list(args), "request_id": self.rid}).encode() + b"\n")
        return time.monotonic()

    def pump(self, until, want=None, hooks=None):
        """Takes events until monotonic time `until`, or until one matches `want`
        (returns its time). Runs due hooks [(time, fn)] meanwhile."""
        while True:
            if hooks:
                now = time.monotonic()
                for h in [h for h in hooks if h[0] <= now]:
                    hooks.remove(h)
                    h[1]()
            with self.cv:
                if not self.q:
                    if self.eof:
                        raise Failed("mpv's IPC socket closed (mpv exited?):\n%s" % self.proc.tail())
                    wait = until - time.monotonic()
                    if hooks:
                        wait = min(wait, min(h[0] for h in hooks) - time.monotonic())
                    if wait > 0:
                        self.cv.wait(min(wait, 0.5))
                    if not self.q:
                        if time.monotonic() >= until:
                            return None
                        continue
                t, obj = self.q.popleft()
            self.events.append((t, obj))
            if obj.get("error") not in (None, "success"):
                raise Failed("mpv: a command failed: %s" % obj)
            if obj.get("event") == "end-file" and obj.get("reason") in ("error", "eof") and want:
                raise Failed("mpv: the file ended (%s) while waiting: %s\n%s" % (obj.get("reason"), obj, self.proc.tail()))
            if want and want(obj):
                return t

    def restart(self, t0, timeout, what, hooks=None):
        t = self.pump(t0 + timeout, lambda o: o.get("event") == "playback-restart", hooks)
        if t is None:
            raise Failed("mpv: no playback-restart %.0f s after %s" % (timeout, what))
        return t

    def cache_intervals(self, t_end):
        """[start, end) of each paused-for-cache episode."""
        out, start = [], None
        for t, o in self.events:
            if o.get("event") == "property-change" and o.get("name") == "paused-for-cache":
                if o.get("data") and start is None:
                    start = t
                elif not o.get("data") and start is not None:
                    out.append((start, t))
                    start = None
        if start is not None:
            out.append((start, t_end))
        return out

    def close(self):
        if self.s is not None:
            try:
                self.command("quit")
            except OSError:
                pass
        if not self.proc.wait(15):
            self.proc.signal(signal.SIGTERM)
            if not self.proc.wait(5):
                self.proc.kill()
        self.proc.done()
        if self.s is not None:
            self.s.close()
        try:
            os.unlink(self.sock)
        except FileNotFoundError:
            pass


# ---------------------------------------------------------------- filesystems under test


class Mount:
    """One fresh mount by Hyperblow (with its status server, sampled 4 times a second)
    or btfs."""

    def __init__(self, ctx, client, torrent, name):
        self.ctx, self.client, self.torrent, self.name = ctx, client, torrent, name
        work = ctx.spec["work"]
        self.mnt = os.path.join(work, "mnt", name)
        os.makedirs(self.mnt, exist_ok=True)
        logpath = os.path.join(work, "logs", name + ".log")
        self.snaps = collections.deque(maxlen=4000)
        if client == "hyperblow":
            self.status_url = "http://127.0.0.1:%d/status" % free_port()
            argv = [ctx.spec["hyperblow"], "mount", "--no-dht", "--no-lsd", "--no-upnp", "--disk-cache", "0", "--listen", "127.0.0.1:0",
                    "--status", self.status_url[7:-7], "--view", "off", torrent["torrent"], self.mnt]
        else:
            self.data = os.path.join(work, "btfs-data", name)
            os.makedirs(self.data)
            argv = ["btfs", "-f", "--data-directory=" + self.data, torrent["torrent"], self.mnt]
        self.file = os.path.join(self.mnt, torrent["file"])
        self.started = time.monotonic()
        self.proc = M.Proc(ctx.spec, argv, logpath)
        self._stop = threading.Event()
        deadline = time.monotonic() + 60
        while not (M.is_mounted(self.mnt) and os.path.exists(self.file)):
            if not self.proc.alive() or time.monotonic() > deadline:
                why = "exited with %s" % self.proc.p.returncode if not self.proc.alive() else "not mounted after 60 s"
                self.close()
                raise Failed("%s %s:\n%s" % (client, why, self.proc.tail()))
            time.sleep(0.005)
        self.mounted_after = time.monotonic() - self.started
        if client == "hyperblow":
            self.snaplog = open(os.path.join(work, "logs", name + ".status.jsonl"), "w")
            threading.Thread(target=self._sample, daemon=True).start()

    def status(self):
        return http_json(self.status_url, timeout=3)["torrents"][0]

    def _sample(self):
        while not self._stop.is_set():
            t = time.monotonic()
            try:
                st = self.status()
            except (OSError, ValueError, KeyError, IndexError):
                self._stop.wait(0.25)
                continue
            snap = {"t": t, "downloaded": st.get("downloaded_bytes"), "wasted": st.get("wasted_bytes"),
                    "served": st.get("served_to_readers_bytes"), "rate": st.get("download_rate"),
                    "waiting": [(w["piece"], w["waiters"]) for w in st.get("waiting") or []],
                    "readers": [(r["piece"], r["window_bytes"], round(r["rate"])) for r in st.get("readers") or []],
                    "peers": [(p["address"], p["requests"], round(p["download_rate"]), p["snubbed"], p["peer_choking"],
                               p.get("depth"), p.get("rtt_ms"))
                              for p in st.get("peers") or []]}
            self.snaps.append(snap)
            if not self.snaplog.closed:
                self.snaplog.write(json.dumps(snap) + "\n")
            self._stop.wait(0.25)

    def close(self):
        """Hyperblow: SIGTERM (it unmounts and logs downloaded=); btfs: fusermount3 -u.
        Returns a text saying what went wrong, or ""."""
        why = ""
        self._stop.set()
        if self.client == "hyperblow":
            self.proc.signal(signal.SIGTERM)
            if not self.proc.wait(20):
                why = "still running 20 s after SIGTERM"
        else:
            subprocess.run(["fusermount3", "-u", self.mnt], capture_output=True, timeout=15)
            if not self.proc.wait(15):
                self.proc.signal(signal.SIGTERM)
                self.proc.wait(10)
        if M.is_mounted(self.mnt):
            why += "; left mounted"
            M.lazy_unmount(self.mnt)
        if self.proc.alive():
            why += "; killed"
            self.proc.kill()
        self.proc.done()
        if hasattr(self, "snaplog"):
            time.sleep(0.3)  # the sampler's last write
            self.snaplog.close()
        if self.client == "btfs":
            subprocess.run(["rm", "-rf", self.data], timeout=120)
        if self.client == "hyperblow" and self.proc.p.returncode not in (0, None) and not why:
            why = "exit status %s" % self.proc.p.returncode
        return why.strip("; ")

    def logged_downloaded(self):
        try:
            with open(self.proc.logpath, errors="replace") as f:
                m = re.findall(r"msg=stopped downloaded=(\d+)", f.read())
        except OSError:
            return None
        return int(m[-1]) if m else None

    def snap_near(self, t):
        best = None
        for s in self.snaps:
            if best is None or abs(s["t"] - t) < abs(best["t"] - t):
                best = s
        return best


# ---------------------------------------------------------------- a scenario


class Scenario:
    def __init__(self, spec, key, out):
        self.spec, self.key, self.out = spec, key, out
        self.sc = SCENARIOS[key]
        self.l3 = spec.get("link") == "l3"
        self.farns = []
        self.procs = []
        self.tracker = None
        self.failures = 0
        self.seq = 0

    # --- the swarm
    def up(self):
        work = self.spec["work"]
        n = len(self.sc["links"])
        self.stats = [os.path.join(work, "%s-seeder%d.json" % (self.key, i)) for i in range(n)]
        self.control = "127.0.0.1:%d" % free_port()
        if self.l3:
            # IP-level links first: a seeder binds its far address, which exists once hblink is ready.
            self.farns = [self.far_netns(i) for i in range(n)]
            argv = [self.spec["hblink"], "--control", self.control]
            for i, (rate, delay, jitter) in enumerate(self.sc["links"]):
                argv += ["--tun", "wan%d,netns=%d,subnet=%d,delay=%s,jitter=%s,down.rate=%s" % (
                    i, self.farns[i].pid, i, delay, jitter, rate)]
            ready = self.start_hblink(argv)
            self.seeder_ips = [l["target"] for l in ready]
            for i in range(n):
                self.only_link(i, ready[i]["far_dev"])
            ports = self.start_seeders([["nsenter", "--net=/proc/%d/ns/net" % ns.pid] for ns in self.farns])
            peers = list(zip(self.seeder_ips, ports))
            where = "behind IP-level links to %s" % ",".join("%s:%d" % p for p in peers)
        else:
            self.seeder_ips = ["127.0.0.%d" % (11 + i) for i in range(n)]
            self.relay_ips = ["127.0.0.%d" % (41 + i) for i in range(n)]
            ports = self.start_seeders([[]] * n)
            argv = [self.spec["hblink"], "--control", self.control]
            for i, (rate, delay, jitter) in enumerate(self.sc["links"]):
                # The rate limits what the seeder sends (down); requests go up unlimited.
                argv += ["--link", "%s:6881=%s:%d,delay=%s,jitter=%s,down.rate=%s" % (
                    self.relay_ips[i], self.seeder_ips[i], ports[i], delay, jitter, rate)]
            self.start_hblink(argv)
            peers = [(ip, 6881) for ip in self.relay_ips]
            where = "behind relays %s" % ",".join(self.relay_ips)
        self.tracker = Tracker(peers, set(self.seeder_ips))
        # The torrents' announce URL names the tracker's port: rewrite them for this port.
        self.torrents = {}
        for k, t in self.spec["torrents"].items():
            t = dict(t)
            path = os.path.join(work, "t", "%s-%s.torrent" % (self.key, k))
            with open(t["torrent"], "rb") as f:
                data = f.read()
            old = t["announce"].encode()
            new = ("http://127.0.0.1:%d/announce" % self.tracker.port).encode()
            data = data.replace(b"%d:%s" % (len(old), old), b"%d:%s" % (len(new), new), 1)
            with open(path, "wb") as f:
                f.write(data)
            t["torrent"] = path
            self.torrents[k] = t
        self.swarm = M.Swarm({"seeder_stats": self.stats})
        self.slack_bytes = self.slack()
        log("scenario %s up: %d seeder(s) %s, tracker on 127.0.0.1:%d" % (self.key, n, where, self.tracker.port))

    def far_netns(self, i):
        """A network namespace of its own for seeder i, held by a process (its PID names
        it), with lo up."""
        work = self.spec["work"]
        p = M.Proc(self.spec, ["unshare", "--net", "sleep", "infinity"],
                   os.path.join(work, "logs", "%s-netns%d.log" % (self.key, i)))
        self.procs.append(p)
        mine = os.readlink("/proc/self/ns/net")
        deadline = time.monotonic() + 10
        while True:  # unshare has made the namespace once it has become sleep
            try:
                if os.readlink("/proc/%d/ns/net" % p.pid) != mine:
                    break
            except OSError:
                pass
            if not p.alive() or time.monotonic() > deadline:
                raise Failed("unshare --net did not make a network namespace:\n%s" % p.tail())
            time.sleep(0.02)
        r = subprocess.run(["nsenter", "--net=/proc/%d/ns/net" % p.pid, "ip", "link", "set", "lo", "up"],
                           capture_output=True, timeout=10)
        if r.returncode != 0:
            raise Failed("ip link set lo up in the far namespace of seeder %d: %s" % (i, r.stderr.decode(errors="replace")))
        return p

    def only_link(self, i, dev):
        """Seeder i's namespace has lo and its link's far device and nothing else: no path
        around the link."""
        r = subprocess.run(["nsenter", "--net=/proc/%d/ns/net" % self.farns[i].pid, "ip", "-o", "link", "show"],
                           capture_output=True, timeout=10)
        names = sorted(l.split(":")[1].strip().split("@")[0] for l in r.stdout.decode().splitlines() if ":" in l)
        if r.returncode != 0 or names != sorted(["lo", dev]):
            raise Failed("the far namespace of seeder %d has devices %s, want lo and %s only" % (i, names, dev))

    def start_seeders(self, prefixes):
        """Starts one seeder per link (argv prefixed, e.g. by nsenter) and returns their ports."""
        work = self.spec["work"]
        seeders, ports = [], []
        for i, ip in enumerate(self.seeder_ips):
            out = os.path.join(work, "logs", "%s-seeder%d.out" % (self.key, i))
            with open(out, "wb") as stdout:
                p = M.Proc(self.spec, prefixes[i] + [self.spec["python"], os.path.abspath(__file__), "seed", "--ip", ip,
                                                     "--stats", self.stats[i]] +
                           ["%s=%s" % (t["torrent"], os.path.dirname(t["source"])) for t in self.spec["torrents"].values()],
                           os.path.join(work, "logs", "%s-seeder%d.log" % (self.key, i)), stdout=stdout)
            self.procs.append(p)
            seeders.append((p, out))
        deadline = time.monotonic() + 120
        for p, out in seeders:
            while True:
                m = re.search(rb"READY (\d+)", open(out, "rb").read())
                if m:
                    ports.append(int(m.group(1)))
                    break
                if not p.alive() or time.monotonic() > deadline:
                    raise Failed("a seeder did not start:\n%s" % p.tail())
                time.sleep(0.05)
        return ports

    def start_hblink(self, argv):
        """Starts hblink; returns the links of its ready line."""
        work = self.spec["work"]
        out = os.path.join(work, "logs", "%s-hblink.out" % self.key)
        with open(out, "wb") as stdout:
            self.hblink = M.Proc(self.spec, argv, os.path.join(work, "logs", "%s-hblink.log" % self.key), stdout=stdout)
        self.procs.append(self.hblink)
        deadline = time.monotonic() + 30
        while True:
            for line in open(out, "rb").read().splitlines():
                try:
                    j = json.loads(line)
                except ValueError:
                    continue
                if j.get("event") == "ready":
                    return j["links"]
            if not self.hblink.alive() or time.monotonic() > deadline:
                raise Failed("hblink did not start:\n%s" % self.hblink.tail())
            time.sleep(0.05)

    def down(self):
        if self.tracker:
            self.tracker.close()
        for p in reversed(self.procs):
            p.signal(signal.SIGTERM)
        for p in reversed(self.procs):
            if not p.wait(15):
                p.kill()
            p.done()

    def links(self):
        return http_json("http://%s/links" % self.control)["links"]

    def relay_bytes(self):
        """Counters over every link: "in", bytes taken from the seeders' side (a relay: TCP
        payload read from the seeders; an IP-level link: the IP packets its queue took,
        headers included; a packet dropped at the full queue is not in it, its
        retransmission is); "down", bytes delivered to the clients' side; and for an
        IP-level link the packets taken and dropped, the bytes dropped, the bytes up."""
        ls = self.links()
        c = {"down": sum(l["down_bytes"] for l in ls)}
        if self.l3:
            c["in"] = sum(l["tun"]["down"]["in"] for l in ls)
            c["dropped"] = sum(l["tun"]["down"].get("dropped_bytes", 0) for l in ls)
            c["in_packets"] = sum(l["tun"]["down"].get("in_packets", 0) for l in ls)
            c["dropped_packets"] = sum(l["tun"]["down"].get("dropped", 0) for l in ls)
            # Delivered > 5 ms past their time because hblink itself fell behind.
            c["late_packets"] = sum(l["tun"]["down"].get("late", 0) for l in ls)
            c["late_max_ms"] = max([l["tun"]["down"].get("late_max_ms", 0) for l in ls] or [0])
            c["up"] = sum(l["up_bytes"] for l in ls)
        else:
            c["in"] = sum(l["tcp"]["down"]["in"] for l in ls if l.get("tcp"))
        return c

    def slack(self):
        """What the seeders may count as uploaded that never reached a link: what a
        seeder had written into its socket when the connection closed. A relay reads
        its socket at once: up to 1 MiB per link. Over an IP-level link the unsent bytes
        wait in the seeder's own socket, whose send buffer the kernel grows up to
        tcp_wmem's maximum (net.ipv4.tcp_wmem, 4 MiB by default): that much per link."""
        if not self.l3:
            return MiB * len(self.sc["links"])
        total = 0
        for ns in self.farns:
            r = subprocess.run(["nsenter", "--net=/proc/%d/ns/net" % ns.pid, "cat", "/proc/sys/net/ipv4/tcp_wmem"],
                               capture_output=True, timeout=10)
            try:
                total += max(MiB, int(r.stdout.split()[2]))
            except (IndexError, ValueError):
                total += 4 * MiB
        return total

    def set_link(self, n, query):
        http_json("http://%s/link/%d?%s" % (self.control, n, query), method="POST")

    # --- one test on one fresh mount, with the bytes accounted
    def test(self, name, client, torrent, body):
        self.seq += 1
        rec = {"kind": "wan", "scenario": self.key, "test": name, "client": client, "metrics": {}, "errors": [],
               "notes": [], "started": time.time()}
        met = rec["metrics"]
        ih = torrent["infohash"]
        mount = None
        try:
            # Settled counters before: the previous test's bytes are folded in.
            up0 = self.swarm.uploaded(ih, time.time() - 1.2)
            link0 = self.relay_bytes()
            mount = Mount(self, client, torrent, "%s-%02d-%s-%s" % (self.key, self.seq, client, name))
            met["mount_s"] = mount.mounted_after
            try:
                body(mount, rec)
            finally:
                if client == "hyperblow":
                    try:
                        st = mount.status()
                        met["hb_downloaded_bytes"] = st["downloaded_bytes"]
                        met["hb_wasted_bytes"] = st["wasted_bytes"]
                        met["hb_served_bytes"] = st["served_to_readers_bytes"]
                    except (OSError, ValueError, KeyError, IndexError) as e:
                        rec["errors"].append("%s %s %s: reading its status: %s" % (self.key, client, name, e))
                why = mount.close()
                closed = time.time()
                if why:
                    rec["errors"].append("%s %s %s: the mount did not end cleanly: %s\n%s" % (
                        self.key, client, name, why, mount.proc.tail()))
            up1 = self.swarm.uploaded(ih, closed)
            link1 = self.relay_bytes()
            met["seeders_uploaded_bytes"] = up1 - up0
            met["relays_in_bytes"] = link1["in"] - link0["in"]
            met["relays_down_bytes"] = link1["down"] - link0["down"]
            if self.l3:
                met["link_dropped_bytes"] = link1["dropped"] - link0["dropped"]
                met["link_in_packets"] = link1["in_packets"] - link0["in_packets"]
                met["link_dropped_packets"] = link1["dropped_packets"] - link0["dropped_packets"]
                met["link_late_packets"] = link1["late_packets"] - link0["late_packets"]
                met["link_late_max_ms"] = link1["late_max_ms"]  # the most since the links started
                met["link_up_bytes"] = link1["up"] - link0["up"]
            if client == "hyperblow":
                logged = mount.logged_downloaded()
                if logged is not None:
                    met["hb_downloaded_bytes"] = logged  # the count at unmount, after the last status read
            # Nothing around the links: what the seeders sent (payload) all went through them
            # (a relay counts the protocol's messages too; an IP-level link the packets'
            # headers too, about 3.6 % of a full one, so its count is the larger). Slack:
            # see slack().
            # Over IP-level links a path around is ruled out already (only_link); this
            # checks the counters.
            if met["seeders_uploaded_bytes"] > met["relays_in_bytes"] + self.slack_bytes:
                raise Failed("the seeders uploaded %d bytes but only %d went through the links: a path around them"
                             % (met["seeders_uploaded_bytes"], met["relays_in_bytes"]))
            met["downloaded_bytes"] = met.get("hb_downloaded_bytes", met["seeders_uploaded_bytes"])
        except Failed as e:
            rec["errors"].append("%s %s %s: %s" % (self.key, client, name, e))
        except Exception as e:  # a bug of the bench is a failed measurement too
            rec["errors"].append("%s %s %s: %s: %s" % (self.key, client, name, type(e).__name__, e))
        finally:
            if mount is not None and mount.proc.alive():
                mount.close()
        for e in rec["errors"]:
            log("FAILED " + e)
        for k, v in sorted(met.items()):
            log("%s %s %s %s = %s" % (self.key, client, name, k, "%.4g" % v if isinstance(v, float) else v))
        rec["seconds"] = time.time() - rec["started"]
        with open(self.out, "a") as f:
            f.write(json.dumps(rec) + "\n")
        if rec["errors"]:
            self.failures += 1

    # --- mpv
    def mpv_body(self, kind, client, pct):
        """One player session on a fresh mount: first frame, play, one seek to pct %, play."""
        cfg = self.spec["mpv"][kind]
        plan = {"seeks": [pct], "play": [cfg["play"], cfg["after"]]}
        to = self.spec["timeouts"]["player"]
        stall = self.sc.get("stall") if kind == "mp4" else None

        def body(m, rec):
            met, notes = rec["metrics"], rec["notes"]
            p = Mpv(self, m.name, m.file)
            stalled = []
            try:
                t0 = p.command("loadfile", m.file)
                t_first = p.restart(t0, to, "loadfile")
                met["first_frame_s"] = t_first - t0
                hooks = []
                if stall:
                    def on():
                        self.set_link(stall["link"], "down.stall=1")
                        stalled.append(time.monotonic())
                        log("%s %s: link %d stalled" % (self.key, client, stall["link"]))
                    hooks.append((t_first + self.spec["stall_after_s"], on))
                seeks = []
                for pct, secs in zip(plan["seeks"], plan["play"]):
                    p.pump(time.monotonic() + secs, None, hooks)
                    ts = p.command("seek", pct, "absolute-percent+keyframes")
                    tr = p.restart(ts, to, "a seek to %d %%" % pct, hooks)
                    seeks.append((pct, ts, tr))
                p.pump(time.monotonic() + plan["play"][-1], None, hooks)
                t_end = time.monotonic()
            finally:
                if stalled:
                    self.set_link(stall["link"], "down.stall=0")
                p.close()
            met["played_s"] = t_end - t_first
            # Buffering after the first frame, outside a seek (command to restart).
            ivs = [iv for iv in p.cache_intervals(t_end) if iv[0] >= t_first - 0.01
                   and not any(ts <= iv[0] <= tr + 0.01 for _, ts, tr in seeks)]
            restarts = [("first frame", t_first)] + [("seek to %d %%" % pct, tr) for pct, _, tr in seeks]
            resumes = []  # buffering that belongs to a seek's resume
            for pct, ts, tr in seeks:
                met["seek_restart_s.%d" % pct] = tr - ts
                # Playback has resumed when it is not buffering again within 2 s of the restart.
                after = [iv for iv in ivs if tr <= iv[0] <= tr + 2]
                resumes += after
                met["seek_resume_s.%d" % pct] = (after[-1][1] if after else tr) - ts
            # Stalls: the rest. Buffering within 2 s of a seek's restart is counted
            # once, in that seek's time to resume (above), not a second time here.
            stalls = [iv for iv in ivs if iv not in resumes]
            met["stalls"] = len(stalls)
            met["stall_s"] = sum(e - s for s, e in stalls)
            met["seek_buffering"] = len(resumes)
            freezes = 0
            for s, e in ivs:
                what = [w for w, t in restarts if t <= s <= t + 3]
                desc = "buffering %.2f s at +%.2f s after the first frame" % (e - s, s - t_first)
                if what:
                    freezes += 1
                    desc += " (%.2f s after the %s)" % (s - dict(restarts)[what[-1]], what[-1])
                if stalled and s >= stalled[0]:
                    desc += " (%.1f s after link %d stalled)" % (s - stalled[0], stall["link"])
                if client == "hyperblow":
                    snap = m.snap_near(s + 0.25)
                    if snap:
                        desc += "; Hyperblow's status then: %s" % describe(snap)
                notes.append(desc)
            met["freezes_after_restart"] = freezes
            if p.trace:
                rs = strace_ranges(p.trace, m.file)
                met["needed_bytes"] = distinct(rs)
                met["read_calls"] = len(rs)
                if not 0 < met["needed_bytes"] <= m.torrent["length"]:
                    raise Failed("strace of mpv: %d distinct bytes read of a %d-byte file: the trace or its parsing is wrong"
                                 % (met["needed_bytes"], m.torrent["length"]))
        return body

    # --- ffprobe then ffmpeg -ss on one mount
    def probe_body(self, client):
        to = self.spec["timeouts"]["command"]

        def body(m, rec):
            t, met = m.torrent, rec["metrics"]
            took, rc, out, err, _ = M.timed(ffprobe_argv(m.file), to, stdout=subprocess.PIPE)
            if rc != 0:
                raise Failed("ffprobe %s after %.1f s: %s\n%s" % ("timed out" if rc is None else "exit %d" % rc, took, err.strip(), m.proc.tail()))
            if out.decode().strip() != t["duration"]:
                raise Failed("ffprobe says %r, want %r" % (out.decode().strip(), t["duration"]))
            met["ffprobe_s"] = took
            if client == "hyperblow":
                met["hb_downloaded_after_ffprobe"] = m.status()["downloaded_bytes"]
            took, rc, out, err, _ = M.timed(seek_argv(m.file, t["mid"]), to, stdout=subprocess.PIPE)
            if rc != 0:
                raise Failed("ffmpeg -ss %s %s after %.1f s: %s\n%s" % (t["mid"], "timed out" if rc is None else "exit %d" % rc, took, err.strip(), m.proc.tail()))
            if frame_md5(out) != t["mid_md5"]:
                raise Failed("the frame decoded at %s s differs from the source's (md5 %s, want %s)" % (t["mid"], frame_md5(out), t["mid_md5"]))
            met["seek_decode_s"] = took
            met["needed_bytes"] = t["needed_probe_seek"]
            if t.get("needed_pieces_probe_seek"):
                met["needed_pieces_bytes"] = t["needed_pieces_probe_seek"]
        return body

    def run(self):
        clients = self.spec["clients"]
        try:
            self.up()
            tests = []
            for kind in ("mp4", "mkv"):
                for pct in self.spec["mpv"].get(kind, {}).get("seeks", []):
                    tests.append(("mpv-%s-%d" % (kind, pct), kind, lambda c, k=kind, x=pct: self.mpv_body(k, c, x)))
            tests.append(("probe-seek", "mp4", self.probe_body))
            # HB_WAN_ONLY=NAME[,NAME...] (e.g. mpv-mkv-50): only these tests, for a quick A/B.
            only = [n for n in os.environ.get("HB_WAN_ONLY", "").split(",") if n]
            if only:
                tests = [t for t in tests if t[0] in only]
            for name, kind, mk in tests:
                for c in clients:
                    log("scenario %s: %s with %s" % (self.key, name, c))
                    self.test(name, c, self.torrents[kind], mk(c))
                    for p in self.procs:
                        if not p.alive():
                            raise Failed("the swarm lost %s:\n%s" % (p.argv[:3], p.tail()))
            rec = {"kind": "wan-scenario", "scenario": self.key, "title": self.sc["title"],
                   "links": self.links(), "announces": dict(self.tracker.announces)}
        except Failed as e:
            log("FAILED scenario %s: %s" % (self.key, e))
            rec = {"kind": "wan-scenario", "scenario": self.key, "title": self.sc["title"], "errors": [str(e)]}
            self.failures += 1
        finally:
            self.down()
        with open(self.out, "a") as f:
            f.write(json.dumps(rec) + "\n")
        return self.failures


def describe(snap):
    peers = ", ".join("%s req=%d/%s rtt=%s ms %.2f MB/s%s%s" % (a, r, dp, rt, rate / 1e6, " snubbed" if sn else "",
                                                                " choking" if ch else "")
                      for a, r, rate, sn, ch, dp, rt in snap["peers"])
    return "peers [%s]; waiting pieces %s; readers (piece, window, rate) %s; downloaded %.1f MB, wasted %.1f MB" % (
        peers, snap["waiting"][:8], snap["readers"][:4], (snap["downloaded"] or 0) / 1e6, (snap["wasted"] or 0) / 1e6)


def ffprobe_argv(path):
    return ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "default=nw=1:nk=1", path]


def seek_argv(path, at):
    return ["ffmpeg", "-nostdin", "-v", "error", "-ss", str(at), "-i", path, "-frames:v", "1", "-f", "framemd5", "-"]


def frame_md5(out):
    lines = [l for l in out.decode(errors="replace").splitlines() if l and not l.startswith("#")]
    return lines[-1].split(",")[-1].strip() if lines else None


# ---------------------------------------------------------------- the local files


def cmd_local(a, spec):
    """Floors (the commands alone) and what ffprobe + ffmpeg -ss read (strace)."""
    rec = {"kind": "wan-local", "client": "local", "metrics": {}, "errors": []}
    met = rec["metrics"]
    t = spec["torrents"]["mp4"]
    src = t["source"]
    try:
        xs, ys = [], []
        for _ in range(3):
            took, rc, out, err, _ = M.timed(ffprobe_argv(src), 60, stdout=subprocess.PIPE)
            if rc != 0:
                raise Failed("ffprobe of the local file: %s" % err)
            xs.append(took)
            took, rc, out, err, _ = M.timed(seek_argv(src, t["mid"]), 60, stdout=subprocess.PIPE)
            if rc != 0:
                raise Failed("ffmpeg -ss of the local file: %s" % err)
            ys.append(took)
        met["floor_ffprobe_s"], met["floor_seek_decode_s"] = statistics.median(xs), statistics.median(ys)
        met["mid_md5"] = frame_md5(out)
        trace = os.path.join(spec["work"], "logs", "local-probe-seek.strace")
        ranges = []
        for argv in (ffprobe_argv(src), seek_argv(src, t["mid"])):
            took, rc, out, err, _ = M.timed(STRACE + ["-o", trace] + argv, 120, stdout=subprocess.PIPE)
            if rc != 0:
                raise Failed("strace %s: %s" % (argv[0], err))
            r = strace_ranges(trace, src)
            met["needed_bytes.%s" % argv[0]] = distinct(r)
            ranges += r
        if not met["needed_bytes.ffprobe"]:
            raise Failed("strace saw no read of %s: the parser or strace is wrong" % src)
        met["needed_bytes.probe_seek"] = distinct(ranges)
        met["needed_pieces_bytes.probe_seek"] = pieces_touched(ranges, t["piece_length"], t["length"])
        # mpv's first frame from the local file (no strace).
        p = Mpv(Ctx(spec), "local-mpv", src, trace=False)
        try:
            t0 = p.command("loadfile", src)
            met["floor_first_frame_s"] = p.restart(t0, 60, "loadfile") - t0
        finally:
            p.close()
    except Failed as e:
        rec["errors"].append("local files: %s" % e)
    for k, v in met.items():
        log("local %s = %s" % (k, v))
    with open(a.out, "a") as f:
        f.write(json.dumps(rec) + "\n")
    return 1 if rec["errors"] else 0


class Ctx:
    def __init__(self, spec):
        self.spec = spec


def main():
    ap = argparse.ArgumentParser(prog="wan.py")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("seed")
    s.add_argument("--ip", required=True)
    s.add_argument("--stats", required=True)
    s.add_argument("torrents", nargs="+")
    lo = sub.add_parser("local")
    lo.add_argument("--spec", required=True)
    lo.add_argument("--out", required=True)
    sc = sub.add_parser("scenario")
    sc.add_argument("--spec", required=True)
    sc.add_argument("--scenario", choices=sorted(SCENARIOS), required=True)
    sc.add_argument("--out", required=True)
    a = ap.parse_args()
    if a.cmd == "seed":
        return cmd_seed(a)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with open(a.spec) as f:
        spec = json.load(f)
    if a.cmd == "local":
        sys.exit(cmd_local(a, spec))
    # The local figures (needed bytes, the reference frame) come from `wan.py local`.
    loc = {}
    with open(a.out) as f:
        for line in f:
            r = json.loads(line)
            if r.get("kind") == "wan-local":
                loc = r["metrics"]
    t = spec["torrents"]["mp4"]
    if "mid_md5" not in loc:
        sys.exit("wan.py: no local measurement in %s (run wan.py local first)" % a.out)
    t["mid_md5"], t["needed_probe_seek"] = loc["mid_md5"], loc["needed_bytes.probe_seek"]
    t["needed_pieces_probe_seek"] = loc.get("needed_pieces_bytes.probe_seek")
    sys.exit(1 if Scenario(spec, a.scenario, a.out).run() else 0)


if __name__ == "__main__":
    main()
