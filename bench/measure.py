#!/usr/bin/python3
"""measure.py: the measurements of bench/run (stdlib only; Debian's /usr/bin/python3).

  measure.py ceilings --spec SPEC.json --round N --out FILE.jsonl
      The machine's ceilings: one loopback TCP stream, SHA-1 on one core, the FUSE
      read ceiling (bench/fuseceiling: cp and dd bs=1M of a file served from RAM
      with Hyperblow's mount options) and the plain python3-libtorrent client
      downloading each big torrent from the swarm (no FUSE).
  measure.py run --spec SPEC.json --round N --client hyperblow|btfs --out FILE.jsonl
      One cold run of one filesystem: every test on its own fresh mount.

Each subcommand appends one JSON object to --out: {"kind", "round", "client",
"metrics": {id: number}, "errors": [text], "notes": [text]} and exits 1 if anything
failed. Every wait is bounded. Processes are recorded under SPEC.work/pids and mounts
live under SPEC.work, so bench/run's trap can clean up whatever this leaves behind.
"""

import argparse
import hashlib
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import threading
import time

KiB, MiB = 1024, 1024 * 1024
READ = 64 * KiB  # the random reads: dd bs=64k count=1


class Failed(Exception):
    """A measurement failed; the message says why (with log excerpts)."""


def log(msg):
    line = "%s measure: %s\n" % (time.strftime("%H:%M:%S"), msg)
    sys.stderr.write(line)
    sys.stderr.flush()
    if os.environ.get("HB_BENCH_LOG"):  # bench/run keeps a copy with the logs
        with open(os.environ["HB_BENCH_LOG"], "a") as f:
            f.write(line)


# ---------------------------------------------------------------- processes


def is_mounted(path):
    """Whether path is the mountpoint of a FUSE filesystem (/proc/self/mountinfo)."""
    path = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                pre, sep, post = line.partition(" - ")
                fields = pre.split()
                if sep and len(fields) >= 5 and fields[4].replace("\\040", " ") == path and post.startswith("fuse"):
                    return True
    except OSError:
        pass
    return False


def lazy_unmount(path):
    for argv in (["fusermount3", "-u", "-z", path], ["umount", "-l", path]):
        if not is_mounted(path):
            return
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=15)


class Proc:
    """A child process in its own process group, recorded in WORK/pids for the trap."""

    def __init__(self, spec, argv, logpath, stdout=None):
        self.argv = argv
        self.logpath = logpath
        self.logf = open(logpath, "ab")
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout or self.logf, stderr=self.logf,
                                  start_new_session=True)
        self.pidfile = os.path.join(spec["work"], "pids", str(self.p.pid))
        with open(self.pidfile, "w") as f:
            f.write(" ".join(argv))

    @property
    def pid(self):
        return self.p.pid

    # The child is reaped here with wait4, not by Popen, so that its resource usage is
    # known: cpu_s, the CPU seconds (user + system, all its threads) of its whole life.
    cpu_s = None

    def _reap(self, block):
        if self.p.returncode is not None:
            return True
        try:
            pid, status, ru = os.wait4(self.p.pid, 0 if block else os.WNOHANG)
        except ChildProcessError:  # reaped elsewhere (Popen); its usage is lost
            self.p.poll()
            if self.p.returncode is None:
                self.p.returncode = -1
            return True
        if pid == 0:
            return False
        self.p.returncode = os.waitstatus_to_exitcode(status)
        self.cpu_s = ru.ru_utime + ru.ru_stime
        return True

    def alive(self):
        return not self._reap(False)

    def wait(self, timeout):
        end = time.monotonic() + timeout
        while not self._reap(False):
            if time.monotonic() > end:
                return False
            time.sleep(0.005)
        return True

    def signal(self, sig):
        if self.alive():
            try:
                os.kill(self.p.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self):
        """SIGKILL to the whole process group, then reap."""
        if self.alive():
            try:
                os.killpg(self.p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.wait(10)

    def done(self):
        self.logf.close()
        if not self.alive():
            try:
                os.unlink(self.pidfile)
            except FileNotFoundError:
                pass

    def tail(self, n=15):
        try:
            with open(self.logpath, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return ""
        return "\n".join("    " + l for l in lines[-n:])


CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid):
    """CPU seconds (user + system, every thread) of process pid, from /proc/PID/stat;
    None when it cannot be read. Works on a zombie that was not reaped yet."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            rest = f.read().rpartition(")")[2].split()
        return (int(rest[11]) + int(rest[12])) / CLK_TCK  # fields 14 and 15: utime, stime
    except (OSError, IndexError, ValueError):
        return None


def timed(argv, timeout, stdout=subprocess.DEVNULL, info=None):
    """Runs argv, bounded; returns (seconds, returncode, stdout bytes or None, stderr, rchar).

    rchar (bytes the command read, from /proc/PID/io) is read while the child is a
    zombie, before it is reaped, and so is its CPU time (into info["cpu_s"] when info
    is a dict). On timeout the child is killed and returncode is None.
    """
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.PIPE,
                         start_new_session=True)
    out_chunks, err_chunks = [], []

    def pump(src, dst):
        for chunk in iter(lambda: src.read(65536), b""):
            dst.append(chunk)

    threads = []
    if stdout == subprocess.PIPE:
        threads.append(threading.Thread(target=pump, args=(p.stdout, out_chunks), daemon=True))
    threads.append(threading.Thread(target=pump, args=(p.stderr, err_chunks), daemon=True))
    for t in threads:
        t.start()
    exited = threading.Event()
    res = {}

    def reap():
        # waitid(WNOWAIT) returns the moment the child exits and leaves the zombie,
        # so /proc/PID/io can still be read before it is reaped.
        os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT)
        res["took"] = time.monotonic() - t0
        res["cpu_s"] = proc_cpu_s(p.pid)
        try:
            with open("/proc/%d/io" % p.pid) as f:
                res["rchar"] = int(re.search(r"rchar: (\d+)", f.read()).group(1))
        except (OSError, AttributeError):
            pass
        exited.set()

    waiter = threading.Thread(target=reap, daemon=True)
    waiter.start()
    if exited.wait(timeout):
        took, rc = res["took"], p.wait()
    else:
        took, rc = time.monotonic() - t0, None
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        exited.wait(30)
        p.wait(30)
    rchar = res.get("rchar")
    if info is not None:
        info["cpu_s"] = res.get("cpu_s")
    for t in threads:
        t.join(5)
    out = b"".join(out_chunks) if stdout == subprocess.PIPE else None
    return took, rc, out, b"".join(err_chunks).decode("utf-8", "replace")[-2000:], rchar


# ---------------------------------------------------------------- the swarm's counters


class Swarm:
    """Payload bytes the seeders uploaded, from their stats files (lt.py seed --stats)."""

    def __init__(self, spec):
        self.files = spec["seeder_stats"]

    def _read(self):
        out = []
        for path in self.files:
            with open(path) as f:
                out.append(json.load(f))
        return out

    def uploaded(self, infohash, after):
        """The seeders' total for infohash once their counters have settled after `after`
        (a time.time()): libtorrent folds a peer's bytes into the torrent once a second."""
        deadline = time.time() + 8
        last = None
        while True:
            snaps = self._read()
            total = sum(s["torrents"].get(infohash, {}).get("uploaded", 0) for s in snaps)
            fresh = all(s["t"] >= after + 1.2 for s in snaps)
            if fresh and total == last:
                return total
            if time.time() > deadline:
                raise Failed("seeder counters did not settle within 8 s")
            last = total if fresh else None
            time.sleep(0.25)


# ---------------------------------------------------------------- filesystems under test


class Mount:
    """One fresh mount of one torrent by Hyperblow or btfs, with its RSS sampled."""

    def __init__(self, spec, client, torrent, name):
        self.spec, self.client, self.torrent, self.name = spec, client, torrent, name
        work = spec["work"]
        self.mnt = os.path.join(work, "mnt", name)
        os.makedirs(self.mnt, exist_ok=True)
        if is_mounted(self.mnt):
            raise Failed("%s is already mounted" % self.mnt)
        logpath = os.path.join(work, "logs", name + ".log")
        if client == "hyperblow":
            argv = [spec["hyperblow"], "mount", "--no-dht", "--no-lsd", "--no-upnp", "--disk-cache", "0", "--listen", "127.0.0.1:0",
                    "--cache-size", spec["cache_size"], torrent["torrent"], self.mnt]
            if spec.get("cpuprofile"):
                argv[2:2] = ["--cpuprofile", os.path.join(work, "logs", name + ".cpu.pprof")]
        else:
            self.data = os.path.join(work, "btfs-data", name)
            os.makedirs(self.data)
            argv = ["btfs", "-f", "--data-directory=" + self.data, torrent["torrent"], self.mnt]
        self.started = time.monotonic()
        self.proc = Proc(spec, argv, logpath)
        self.peak_anon = self.peak_rss = self.hwm = 0
        self.ok = False  # set by the test when it succeeded: only then are its figures kept
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()
        # Ready: mounted, and the torrent's files visible. btfs's mount goes live a few
        # milliseconds before it has added the torrent and shows its files.
        deadline = time.monotonic() + 30
        while not (is_mounted(self.mnt) and self._visible()):
            if not self.proc.alive():
                self.close()
                raise Failed("%s exited with %s before %s was mounted:\n%s" % (client, self.proc.p.returncode, self.mnt, self.proc.tail()))
            if time.monotonic() > deadline:
                self.close()
                raise Failed("%s: %s not mounted with its files after 30 s:\n%s" % (client, self.mnt, self.proc.tail()))
            time.sleep(0.002)
        self.mounted_after = time.monotonic() - self.started
        self.t_mounted = time.time()

    def _visible(self):
        try:
            if self.torrent["file"]:
                return os.path.exists(os.path.join(self.mnt, self.torrent["file"]))
            return bool(os.listdir(self.mnt))
        except OSError:
            return False

    def _sample(self):
        path = "/proc/%d/status" % self.proc.pid
        while not self._stop.is_set():
            try:
                with open(path) as f:
                    st = f.read()
            except OSError:
                return
            for key, attr in (("RssAnon", "peak_anon"), ("VmRSS", "peak_rss"), ("VmHWM", "hwm")):
                m = re.search(key + r":\s+(\d+) kB", st)
                if m:
                    setattr(self, attr, max(getattr(self, attr), int(m.group(1)) * KiB))
            self._stop.wait(0.05)

    def close(self):
        """Ends the mount as a user would; returns (exit code, how), how being "clean",
        "signalled" (btfs needed SIGTERM after its unmount) or "forced" (a lazy unmount
        or SIGKILL was needed), and sets self.why to what happened when not clean.

        Hyperblow: SIGTERM (it unmounts itself and logs its counters). btfs:
        fusermount3 -u (it exits once unmounted). Whatever is left after a bounded
        wait is detached lazily and killed."""
        self._sample_once()
        how, self.why = "clean", ""
        if self.client == "hyperblow":
            self.proc.signal(signal.SIGTERM)
            if not self.proc.wait(20):
                how, self.why = "forced", "still running 20 s after SIGTERM"
        else:
            try:
                r = subprocess.run(["fusermount3", "-u", self.mnt], capture_output=True, text=True, timeout=15)
                if r.returncode != 0:
                    self.why = "fusermount3 -u: %s; " % r.stderr.strip()
            except subprocess.TimeoutExpired:
                self.why = "fusermount3 -u hung for 15 s; "
            if not self.proc.wait(15):
                how = "signalled"
                self.why += "still running 15 s after fusermount3 -u (%s), ended with SIGTERM" % (
                    "mountpoint gone" if not is_mounted(self.mnt) else "still mounted")
                self.proc.signal(signal.SIGTERM)
                if not self.proc.wait(10):
                    how, self.why = "forced", self.why.replace("ended with SIGTERM", "SIGTERM did not end it either")
        self.t_closed = time.time()
        self._stop.set()
        if is_mounted(self.mnt):
            how, self.why = "forced", self.why + "; left mounted, lazily unmounted"
            lazy_unmount(self.mnt)
        if self.proc.alive():
            how, self.why = "forced", self.why + "; killed"
            self.proc.kill()
        self.proc.done()
        if self.client == "btfs":
            subprocess.run(["rm", "-rf", self.data], timeout=120)
        return self.proc.p.returncode, how

    def _sample_once(self):
        try:
            with open("/proc/%d/status" % self.proc.pid) as f:
                m = re.search(r"VmHWM:\s+(\d+) kB", f.read())
            if m:
                self.hwm = max(self.hwm, int(m.group(1)) * KiB)
        except OSError:
            pass

    def downloaded(self):
        """Hyperblow's own count of bytes fetched, from its `msg=stopped` log line."""
        try:
            with open(self.proc.logpath, errors="replace") as f:
                m = re.findall(r"msg=stopped downloaded=(\d+)", f.read())
        except OSError:
            return None
        return int(m[-1]) if m else None


# ---------------------------------------------------------------- a run


class Run:
    def __init__(self, spec, rnd, client):
        self.spec, self.round, self.client = spec, rnd, client
        self.metrics, self.errors, self.notes = {}, [], []
        self.swarm = Swarm(spec)
        self.scratch = os.path.join(spec["scratch"], "%s-r%d" % (client, rnd))
        os.makedirs(self.scratch, exist_ok=True)
        self.seq = 0
        self._settled = {}  # info-hash -> the seeders' settled upload counter

    def put(self, key, value):
        self.metrics[key] = value
        log("r%d %s %s = %s" % (self.round, self.client, key, "%.4g" % value if isinstance(value, float) else value))

    def fail(self, what, err):
        msg = "round %d, %s, %s: %s" % (self.round, self.client, what, err)
        log("FAILED " + msg)
        self.errors.append(msg)

    def mount(self, torrent, test):
        self.seq += 1
        m = Mount(self.spec, self.client, torrent, "r%d-%s-%02d-%s" % (self.round, self.client, self.seq, test))
        self.put("mount_s." + test, m.mounted_after)
        return m

    def finish(self, m, torrent, test, read_bytes=None):
        """Unmounts; records the bytes fetched from the swarm for the test (per byte
        read when read_bytes is known) and the peak memory of the filesystem process,
        unless the test failed (m.ok unset)."""
        before = self._base
        code, how = m.close()
        if how == "forced" or (self.client == "hyperblow" and code != 0):
            self.fail(test, "%s did not end cleanly (exit %s): %s\n%s" % (self.client, code, m.why, m.proc.tail()))
        elif how == "signalled":
            self.notes.append("round %d, %s, %s: %s" % (self.round, self.client, test, m.why))
            log("note: %s %s: %s" % (self.client, test, m.why))
        if m.ok:
            self.put("rss_hwm_MiB." + test, m.hwm / MiB)
            self.put("rss_anon_MiB." + test, m.peak_anon / MiB)
        self._settled.pop(torrent["infohash"], None)
        try:
            now = self.swarm.uploaded(torrent["infohash"], m.t_closed)
        except Failed as e:
            self.fail(test, e)
            return
        self._settled[torrent["infohash"]] = now
        if not m.ok:
            return
        seeded = now - before
        fetched = seeded
        if self.client == "hyperblow":
            own = m.downloaded()
            if own is None:
                self.fail(test, "no `msg=stopped downloaded=N` line in Hyperblow's log:\n%s" % m.proc.tail())
            else:
                fetched = own
                self.put("fetched_seeder_MB." + test, seeded / 1e6)
        self.put("fetched_MB." + test, fetched / 1e6)
        if read_bytes:
            self.put("fetch_per_read." + test, fetched / read_bytes)

    def baseline(self, torrent):
        ih = torrent["infohash"]
        if ih not in self._settled:
            self._settled[ih] = self.swarm.uploaded(ih, time.time() - 1.2)
        self._base = self._settled[ih]

    def guarded(self, test, fn):
        try:
            fn()
        except Failed as e:
            self.fail(test, e)
        except Exception as e:  # a bug here must not leave mounts behind
            self.fail(test, "%s: %s" % (type(e).__name__, e))

    # -- the tests

    def dd(self, m, torrent, off):
        """One 64 KiB read at off with dd; checks the bytes against the source."""
        path = os.path.join(m.mnt, torrent["file"])
        took, rc, out, err, _ = timed(["dd", "if=" + path, "of=/dev/stdout", "bs=64k", "count=1",
                                       "skip=%d" % (off // READ), "status=none"],
                                      self.spec["timeouts"]["read"], stdout=subprocess.PIPE)
        if rc != 0:
            raise Failed("dd at offset %d: %s after %.1f s: %s\n%s" % (off, "timed out" if rc is None else "exit %d" % rc, took, err.strip(), m.proc.tail()))
        with open(torrent["source"], "rb") as f:
            f.seek(off)
            want = f.read(READ)
        if out != want:
            raise Failed("dd at offset %d returned %d bytes that differ from the source" % (off, len(out)))
        return took

    def offsets(self, torrent, variant, n):
        """The same random 64 KiB-aligned offsets for both filesystems in a round,
        away from the first and last 4 MiB (fetched on open by Hyperblow)."""
        rng = random.Random("%s-%d-%s" % (self.spec["seed"], self.round, variant))
        lo, hi = 4 * MiB // READ, (torrent["size"] - 4 * MiB) // READ
        return [rng.randrange(lo, hi) * READ for _ in range(n)]

    def test_reads(self, variant):
        t = self.spec["torrents"]["big-" + variant]
        offs = self.offsets(t, variant, self.spec["random_reads"] + 1)
        # Fresh mount A: the first read at offset 0, then random reads on the warm connection.
        test = "reads." + variant
        self.baseline(t)
        m = self.mount(t, test)
        try:
            self.put("ttfb_zero_s." + variant, self.dd(m, t, 0))
            warm = [self.dd(m, t, off) for off in offs[1:]]
            self.put("ttfb_warm_random_s." + variant, statistics.median(warm))
            m.ok = True
        finally:
            self.finish(m, t, test, read_bytes=READ * len(offs))
        # Fresh mount B: the first read at a random offset.
        test = "fresh." + variant
        self.baseline(t)
        m = self.mount(t, test)
        try:
            self.put("ttfb_fresh_random_s." + variant, self.dd(m, t, offs[0]))
            m.ok = True
        finally:
            self.finish(m, t, test, read_bytes=READ)

    def test_cp(self, variant):
        t = self.spec["torrents"]["big-" + variant]
        test = "cp." + variant
        dst = os.path.join(self.scratch, "copy-" + variant)
        got = 0
        cp = {}
        self.baseline(t)
        m = self.mount(t, test)
        try:
            limit = self.spec["timeouts"].get("cp." + variant, self.spec["timeouts"]["cp"])
            took, rc, _, err, _ = timed(["cp", os.path.join(m.mnt, t["file"]), dst], limit, info=cp)
            got = os.path.getsize(dst) if os.path.exists(dst) else 0
            if rc is None:
                self.notes.append("round %d, %s, cp %s: timed out after %.0f s with %d of %d bytes copied; "
                                  "the throughput is of the part copied" % (self.round, self.client, variant, took, got, t["size"]))
            elif rc != 0:
                raise Failed("cp exited %d after %.1f s: %s\n%s" % (rc, took, err.strip(), m.proc.tail()))
            if got == 0:
                raise Failed("cp copied nothing in %.1f s\n%s" % (took, m.proc.tail()))
            self.put("cp_MBps." + variant, got / took / 1e6)
            if rc is None:
                self.put("cp_partial." + variant, 1)
            m.ok = True
        finally:
            self.finish(m, t, test, read_bytes=got or None)
        # CPU seconds per GiB copied: the filesystem's process over its whole life (mount
        # to unmount, from wait4), and cp's own (from /proc/PID/stat before it was reaped).
        if m.ok and got:
            gib = got / (1 << 30)
            if m.proc.cpu_s is not None:
                self.put("cpu_s_per_GiB.cp." + variant, m.proc.cpu_s / gib)
            if cp.get("cpu_s") is not None:
                self.put("cp_cpu_s_per_GiB.cp." + variant, cp["cpu_s"] / gib)
        # The sha256 check, outside the timing: the whole file, or the prefix that was copied.
        try:
            digest = sha256(dst)
            want = t["sha256"] if got == t["size"] else sha256(t["source"], limit=got)
            if digest != want:
                raise Failed("sha256 of the copy (%d bytes) is %s, want %s" % (got, digest, want))
            self.put("cp_sha256_ok." + variant, 1)
        finally:
            try:
                os.unlink(dst)
            except FileNotFoundError:
                pass

    def test_video(self):
        t = self.spec["torrents"]["video"]
        path = lambda m: os.path.join(m.mnt, t["file"])
        test = "ffprobe"
        rchar = None
        self.baseline(t)
        m = self.mount(t, test)
        try:
            took, rc, out, err, rchar = timed(["ffprobe", "-v", "error", "-show_entries", "format=duration",
                                               "-of", "default=nw=1:nk=1", path(m)],
                                              self.spec["timeouts"]["video"], stdout=subprocess.PIPE)
            if rc != 0:
                raise Failed("ffprobe %s after %.1f s: %s\n%s" % ("timed out" if rc is None else "exit %d" % rc, took, err.strip(), m.proc.tail()))
            if out.decode().strip() != t["duration"]:
                raise Failed("ffprobe says the duration is %r, want %r" % (out.decode().strip(), t["duration"]))
            self.put("ffprobe_s", took)
            self.put("read_MB." + test, (rchar or 0) / 1e6)
            m.ok = True
        finally:
            self.finish(m, t, test, read_bytes=rchar)
        test = "seek"
        png = os.path.join(self.scratch, "mid.png")
        rchar = None
        self.baseline(t)
        m = self.mount(t, test)
        try:
            took, rc, _, err, rchar = timed(["ffmpeg", "-nostdin", "-v", "error", "-ss", t["mid"], "-i", path(m),
                                             "-frames:v", "1", "-y", png], self.spec["timeouts"]["video"])
            if rc != 0:
                raise Failed("ffmpeg -ss %s %s after %.1f s: %s\n%s" % (t["mid"], "timed out" if rc is None else "exit %d" % rc, took, err.strip(), m.proc.tail()))
            with open(png, "rb") as f, open(t["mid_png"], "rb") as g:
                if f.read() != g.read():
                    raise Failed("the frame decoded at %s s differs from the one decoded from the source" % t["mid"])
            self.put("seek_decode_s", took)
            self.put("read_MB." + test, (rchar or 0) / 1e6)
            m.ok = True
        finally:
            self.finish(m, t, test, read_bytes=rchar)

    def test_tree(self):
        t = self.spec["torrents"]["multi"]
        for test, argv in (("find", ["find", "{}"]), ("lsR", ["ls", "-lR", "{}"])):
            self.baseline(t)
            m = self.mount(t, test)
            try:
                took, rc, out, err, _ = timed([m.mnt if x == "{}" else x for x in argv], self.spec["timeouts"]["tree"],
                                              stdout=subprocess.PIPE)
                if rc != 0:
                    raise Failed("%s %s after %.1f s: %s" % (argv[0], "timed out" if rc is None else "exit %d" % rc, took, err.strip()))
                if test == "find":
                    n = len(out.splitlines()) - 1  # less the root itself
                    # btfs shows the torrent's folder at the root; Hyperblow its contents.
                    want = t["entries"] + (1 if self.client == "btfs" else 0)
                    if n != want:
                        raise Failed("find lists %d entries, want %d" % (n, want))
                else:
                    n = sum(1 for l in out.splitlines() if l.startswith(b"-r"))
                    if n != t["files"]:
                        raise Failed("ls -lR lists %d files, want %d" % (n, t["files"]))
                self.put(test + "_s", took)
                m.ok = True
            finally:
                self.finish(m, t, test)

    def all(self):
        for v in self.spec["variants"]:
            self.guarded("random reads " + v, lambda: self.test_reads(v))
            self.guarded("cp " + v, lambda: self.test_cp(v))
        # cp from more seeders (e.g. "1m-4s": 1 MiB pieces, 4 seeders): a torrent of its own.
        for v in self.spec.get("cp_many", []):
            self.guarded("cp " + v, lambda: self.test_cp(v))
        self.guarded("video", self.test_video)
        self.guarded("tree", self.test_tree)


def sha256(path, limit=None):
    h = hashlib.sha256()
    left = limit
    with open(path, "rb") as f:
        while left is None or left > 0:
            b = f.read(4 * MiB if left is None else min(4 * MiB, left))
            if not b:
                break
            h.update(b)
            if left is not None:
                left -= len(b)
    return h.hexdigest()


# ---------------------------------------------------------------- ceilings


class Ceilings(Run):
    def __init__(self, spec, rnd):
        super().__init__(spec, rnd, "ceiling")

    def helper(self, what):
        took, rc, out, err, _ = timed([self.spec["ceiling"], what, "-seconds", "2"], 30, stdout=subprocess.PIPE)
        if rc != 0:
            raise Failed("ceiling %s: exit %s: %s" % (what, rc, err))
        return json.loads(out)["Bps"]

    def fuse(self):
        size = self.spec["torrents"]["big-" + self.spec["variants"][0]]["size"]
        for test, argv in (("cp", ["cp", None, os.path.join(self.scratch, "fuse-copy")]),
                           ("dd", ["dd", None, "of=/dev/null", "bs=1M", "status=none"])):
            mnt = os.path.join(self.spec["work"], "mnt", "r%d-fuseceiling-%s" % (self.round, test))
            os.makedirs(mnt, exist_ok=True)
            out = os.path.join(self.spec["work"], "logs", "r%d-fuseceiling-%s.out" % (self.round, test))
            with open(out, "wb") as stdout:
                p = Proc(self.spec, [self.spec["fuseceiling"], "-size", str(size), mnt],
                         os.path.join(self.spec["work"], "logs", "r%d-fuseceiling-%s.log" % (self.round, test)), stdout=stdout)
            try:
                deadline = time.monotonic() + 60
                while not (is_mounted(mnt) and b"READY" in open(out, "rb").read()):
                    if not p.alive() or time.monotonic() > deadline:
                        raise Failed("fuseceiling did not mount %s:\n%s" % (mnt, p.tail()))
                    time.sleep(0.01)
                src = os.path.join(mnt, "ceiling.bin")
                argv[1] = src if test == "cp" else "if=" + src
                took, rc, _, err, _ = timed(argv, 120)
                if rc != 0:
                    raise Failed("%s from the FUSE ceiling mount: exit %s: %s" % (test, rc, err))
                self.put("fuse_%s_MBps" % test, size / took / 1e6)
            finally:
                p.signal(signal.SIGTERM)
                if not p.wait(15):
                    self.fail("fuse ceiling", "fuseceiling did not exit within 15 s of SIGTERM")
                lazy_unmount(mnt)
                p.kill()
                p.done()
                try:
                    os.unlink(os.path.join(self.scratch, "fuse-copy"))
                except FileNotFoundError:
                    pass

    def plain(self, variant):
        t = self.spec["torrents"]["big-" + variant]
        dst = os.path.join(self.scratch, "plain-" + variant)
        os.makedirs(dst, exist_ok=True)
        # /usr/bin/time reports the client's peak RSS (its last stderr line).
        # ... and its CPU seconds (user, system) over the whole download.
        took, rc, out, err, _ = timed(["/usr/bin/time", "-f", "HBMAXRSS %M HBCPU %U %S", self.spec["python"], self.spec["lt"], "get",
                                       "--timeout", str(self.spec["timeouts"]["cp"]), t["torrent"], dst],
                                      self.spec["timeouts"]["cp"] + 30, stdout=subprocess.PIPE)
        try:
            if rc != 0:
                raise Failed("plain libtorrent client: exit %s after %.1f s: %s" % (rc, took, err.strip()[-800:]))
            r = json.loads(out.decode().strip().splitlines()[-1])
            # From the first connection to a seeder: libtorrent idles ~0.5 s before announcing.
            self.put("plain_first_piece_s." + variant, r["first_piece_s"] - r["connected_s"])
            self.put("plain_first_piece_from_start_s." + variant, r["first_piece_s"])
            self.put("plain_MBps." + variant, r["rate_Bps"] / 1e6)
            m = re.search(r"HBMAXRSS (\d+)", err)
            if m:
                self.put("plain_rss_MiB." + variant, int(m.group(1)) * KiB / MiB)
            m = re.search(r"HBCPU ([0-9.]+) ([0-9.]+)", err)
            if m:
                self.put("plain_cpu_s_per_GiB." + variant, (float(m.group(1)) + float(m.group(2))) / (r["bytes"] / (1 << 30)))
            got = sha256(os.path.join(dst, t["file"]))
            if got != t["sha256"]:
                raise Failed("the plain client's copy has sha256 %s, want %s" % (got, t["sha256"]))
        finally:
            subprocess.run(["rm", "-rf", dst], timeout=60)

    def floors(self):
        """The same commands on the local source files (in the page cache): what the
        tools cost by themselves on this machine, without FUSE or a network. Every
        figure of a mount includes this much."""
        t = self.spec["torrents"]["big-" + self.spec["variants"][0]]
        xs = []
        for off in self.offsets(t, "floor", 5):
            took, rc, _, err, _ = timed(["dd", "if=" + t["source"], "of=/dev/stdout", "bs=64k", "count=1",
                                         "skip=%d" % (off // READ), "status=none"], 30, stdout=subprocess.PIPE)
            if rc != 0:
                raise Failed("dd of the local file: exit %s: %s" % (rc, err))
            xs.append(took)
        self.put("floor_dd_s", statistics.median(xs))
        video, tree = self.spec["torrents"]["video"]["source"], self.spec["torrents"]["multi"]["source"]
        png = os.path.join(self.scratch, "floor.png")
        for key, argv in (
                ("floor_ffprobe_s", ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "default=nw=1:nk=1", video]),
                ("floor_seek_decode_s", ["ffmpeg", "-nostdin", "-v", "error", "-ss", self.spec["torrents"]["video"]["mid"],
                                         "-i", video, "-frames:v", "1", "-y", png]),
                ("floor_find_s", ["find", tree]),
                ("floor_lsR_s", ["ls", "-lR", tree])):
            xs = []
            for _ in range(3):
                took, rc, _, err, _ = timed(argv, 60, stdout=subprocess.PIPE)
                if rc != 0:
                    raise Failed("%s on the local files: exit %s: %s" % (argv[0], rc, err))
                xs.append(took)
            self.put(key, statistics.median(xs))

    def all(self):
        self.guarded("local floors", self.floors)
        self.guarded("tcp ceiling", lambda: self.put("tcp_MBps", self.helper("tcp") / 1e6))
        self.guarded("sha1 ceiling", lambda: self.put("sha1_MBps", self.helper("sha1") / 1e6))
        self.guarded("fuse ceiling", self.fuse)
        for v in self.spec["variants"] + self.spec.get("cp_many", []):
            self.guarded("plain client " + v, lambda: self.plain(v))


def main():
    ap = argparse.ArgumentParser(prog="measure.py")
    ap.add_argument("kind", choices=["run", "ceilings"])
    ap.add_argument("--spec", required=True)
    ap.add_argument("--round", type=int, required=True)
    ap.add_argument("--client", choices=["hyperblow", "btfs"])
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    with open(a.spec) as f:
        spec = json.load(f)
    if a.kind == "run":
        if not a.client:
            ap.error("run needs --client")
        r = Run(spec, a.round, a.client)
    else:
        r = Ceilings(spec, a.round)
    # SIGTERM from bench/run's trap: unwind so the finally blocks unmount.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.time()
    load0 = open("/proc/loadavg").read().split()[0]
    try:
        r.all()
    finally:
        rec = {"kind": a.kind, "round": a.round, "client": r.client, "started": started,
               "seconds": time.time() - started, "load": [load0, open("/proc/loadavg").read().split()[0]], "metrics": r.metrics, "errors": r.errors, "notes": r.notes}
        with open(a.out, "a") as f:
            f.write(json.dumps(rec) + "\n")
        subprocess.run(["rm", "-rf", r.scratch], timeout=60)
    sys.exit(1 if r.errors else 0)


if __name__ == "__main__":
    main()
