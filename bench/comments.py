#!/usr/bin/env python3
"""Measures comments between three real Kith nodes over loopback: A owns an album shared with
B and C (A is friends with both; B and C are not friends), so every comment of B reaches C
through A, the album's owner.

1. relay latency: B posts a comment through its control socket; the time until C's control
   socket delivers the `comment` event for it (B -> A -> C), one comment after another
   (also split: until A has it, and from A to C);
2. throughput: B sends N comments on its control socket without waiting for the replies
   (pipelined); the time until C has all of them, as comments/s;
3. catch-up: C is stopped (`kith stop`), B posts N comments (A has them all), C is started
   again: the time from starting C until C lists them all (`comments` on its control socket,
   polled every 50 ms; `kith comments ALBUM --json` checked after), as comments/s;
4. outbox: A is stopped, C posts N comments (they wait in C's outbox), A is started again:
   the time until A, then B, has all of them;
5. listing cost, on each node, with the thread at its final size (3400 comments): one
   `comments` call on the control socket (the first page of 500) and `kith comments ALBUM
   --json` (which asks for every page); `albums` (which counts the unread comments by reading
   every thread) on the socket and with the CLI; `status` (which does the same for its total)
   on the socket; then again after A shares 20 more albums and posts 500 comments into each
   (B and C get them all), and once right after that, before the nodes are quiet;
6. the peak RSS (VmHWM) of each node at the end.
After each part it waits until the nodes are quiet (their CPU use, from /proc) and shows how
long that took, the CPU seconds each node used and the loopback traffic (all of the machine's).

Usage: python3 bench/comments.py [--quick] [--keep]
  --quick  a small run (50 / 200 / 300 / 50 comments, 3 more albums of 50; under 30 s)
  --keep   keep the temporary directory (homes and node logs) and print its path
Environment: KITH_BIN (a kith binary; not built then), BENCH_DIR (where the temporary directory
goes, default /tmp), BENCH_NODE_LOG (the nodes' KITH_LOG, default info; their stderr goes to
HOME/node.log).
Needs Python 3.8+ (standard library only), Linux (/proc), and kith: KITH_BIN if set, else
${CARGO_TARGET_DIR:-target}/release/kith (built here with `cargo build --release` if missing).
A full run takes about 5 minutes on 2 cores, most of it waiting for the nodes to be quiet.
"""

import argparse
import json
import math
import os
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KITH = Path(os.environ.get("KITH_BIN") or Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target") / "release" / "kith")
NODE_LOG = os.environ.get("BENCH_NODE_LOG", "info")
SOON = 30.0  # seconds for setup steps (friends online, album listed)
FILLER = "a comment of ordinary length, about as long as people write them under a photo"


class BenchError(Exception):
    pass


def now():
    return time.monotonic()


def ms(s):
    return s * 1000.0


def pct(values, p):
    """Nearest-rank percentile."""
    v = sorted(values)
    return v[max(0, math.ceil(p / 100.0 * len(v)) - 1)]


def kith(home, *args, timeout=120, check=True):
    env = dict(os.environ, KITH_LOG="warn")
    r = subprocess.run([str(KITH), "--home", str(home), *map(str, args)], env=env,
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise BenchError(f"kith {' '.join(map(str, args))} (home {home}) failed: {r.stderr.strip()}")
    return r


def last_line(out):
    lines = [x.strip() for x in out.splitlines() if x.strip()]
    return lines[-1] if lines else ""


def kith_json(home, *args, timeout=120):
    return json.loads(kith(home, *args, "--json", timeout=timeout).stdout)


def wait_for(what, f, limit=SOON, every=0.1):
    end = now() + limit
    while True:
        try:
            if f():
                return
        except (BenchError, OSError, ValueError, subprocess.TimeoutExpired):
            pass
        if now() > end:
            raise BenchError(f"timed out after {limit:.0f} s waiting for {what}")
        time.sleep(every)


def rss_kib(pid, field="VmHWM"):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


class Control:
    """One connection to a node's control socket: 4-byte native-endian length + JSON, both ways.
    A thread reads every frame as it arrives and stamps it, so event times do not depend on
    when the main thread looks."""

    def __init__(self, path, name):
        self.name = name
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(path))
        self.next_id = 1
        self.cv = threading.Condition()
        self.replies = {}  # id -> (time, reply)
        self.seen = {}  # tag -> {index: time of the first comment event with a seq}
        self.lagged = 0
        self.closed = False
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(min(n - len(buf), 1 << 20))
            if not chunk:
                return None
            buf += chunk
        return bytes(buf)

    def _read(self):
        try:
            while True:
                head = self._recv_exact(4)
                if head is None:
                    break
                body = self._recv_exact(struct.unpack("=I", head)[0])
                if body is None:
                    break
                t = now()
                v = json.loads(body)
                with self.cv:
                    ev = v.get("event")
                    if ev is None:
                        self.replies[v.get("id")] = (t, v)
                    elif ev == "lagged":
                        self.lagged += v.get("missed", 1)
                    elif ev == "comment":
                        c = v.get("comment") or {}
                        text = c.get("text") or ""
                        if c.get("seq") is not None and "#" in text:
                            tag, rest = text.split("#", 1)
                            idx = rest.split(" ", 1)[0]
                            if idx.isdigit():
                                self.seen.setdefault(tag, {}).setdefault(int(idx), t)
                    else:
                        continue
                    self.cv.notify_all()
        except OSError:
            pass
        with self.cv:
            self.closed = True
            self.cv.notify_all()

    def send_many(self, cmds):
        """Sends requests back to back (pipelined); returns their ids and the time before sending."""
        ids, out = [], bytearray()
        for cmd in cmds:
            cmd = dict(cmd, id=self.next_id)
            ids.append(self.next_id)
            self.next_id += 1
            body = json.dumps(cmd).encode()
            out += struct.pack("=I", len(body)) + body
        t = now()
        self.sock.sendall(out)
        return ids, t

    def reply(self, rid, limit=120.0):
        end = now() + limit
        with self.cv:
            while rid not in self.replies:
                left = end - now()
                if left <= 0 or self.closed:
                    raise BenchError(f"{self.name}: no reply to request {rid} within {limit:.0f} s")
                self.cv.wait(left)
            return self.replies.pop(rid)

    def call(self, cmd, limit=120.0):
        """Sends one request; returns (seconds until the reply, result)."""
        (rid,), t = self.send_many([cmd])
        t_reply, r = self.reply(rid, limit)
        if not r.get("ok"):
            raise BenchError(f"{self.name}: {cmd.get('cmd')} failed: {r.get('error')}")
        return t_reply - t, r.get("result")

    def count(self, tag):
        with self.cv:
            return len(self.seen.get(tag, ()))

    def time_of(self, tag, idx):
        with self.cv:
            return self.seen.get(tag, {}).get(idx)

    def wait_all(self, tag, n, limit, fallback=None):
        """Waits until comment events for indexes 0..n-1 of `tag` (with a seq) arrived; returns
        the time of the last one. If the node reported lost events (`lagged`), `fallback()`
        (True once the node lists them all) is polled instead, and the time it first answers
        True is returned."""
        end = now() + limit
        while True:
            with self.cv:
                got = self.seen.get(tag, {})
                if len(got) >= n:
                    return max(got[i] for i in range(n))
                lagged = self.lagged
                left = end - now()
                if left <= 0:
                    raise BenchError(f"{self.name}: only {len(got)} of {n} '{tag}' comments "
                                     f"arrived within {limit:.0f} s (lost events: {lagged})")
                if not lagged or fallback is None:
                    self.cv.wait(min(left, 0.5))
                    continue
            if fallback():
                return now()
            time.sleep(0.05)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class Node:
    def __init__(self, tmp, name):
        self.name = name
        self.home = tmp / name.lower()
        self.proc = None
        self.addr = "127.0.0.1:0"
        self.ctl = None
        self.starts = 0

    def socket_path(self):
        p = self.home / "kith.sock"
        if len(str(p)) >= 100:
            raise BenchError(f"{p} is too long for a Unix socket; set BENCH_DIR to a shorter path")
        return p

    def init(self):
        self.home.mkdir(parents=True)
        kith(self.home, "init", "--name", self.name)

    def start(self, wait=True):
        """Starts `kith serve` (on the address it had before, so friends find it again)."""
        log = open(self.home / "node.log", "a")
        log.write(f"--- bench: start {self.starts + 1}\n")
        log.flush()
        # Refuse anything off-machine; lift the per-author post rate (60 a minute by default),
        # since this measures how fast comments move, not how many one friend may send.
        env = dict(os.environ, KITH_LOG=NODE_LOG, KITH_LOCAL_ONLY="1", KITH_POST_RATE="1000000")
        self.proc = subprocess.Popen([str(KITH), "--home", str(self.home), "serve", "--listen", self.addr],
                                     env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=log)
        log.close()
        self.starts += 1
        if wait:
            self.wait_up()

    def wait_up(self):
        def up():
            if self.proc.poll() is not None:
                raise SystemExit(f"kith serve for {self.name} exited with {self.proc.returncode}; "
                                 f"see {self.home / 'node.log'}")
            return kith(self.home, "status", check=False, timeout=10).returncode == 0
        wait_for(f"{self.name}'s node to start", up, every=0.05)
        if self.addr.endswith(":0"):
            self.addr = kith_json(self.home, "status")["listen_addr"]
        self.connect()

    def connect(self):
        if self.ctl:
            self.ctl.close()
        self.ctl = Control(self.socket_path(), self.name)

    def stop(self):
        if self.ctl:
            self.ctl.close()
            self.ctl = None
        if self.proc and self.proc.poll() is None:
            try:
                kith(self.home, "stop", check=False, timeout=15)
            except subprocess.TimeoutExpired:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        self.proc = None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def id(self):
        return last_line(kith(self.home, "id").stdout)

    def online_with(self, peer):
        return any(f.get("id") == peer and f.get("online") for f in kith_json(self.home, "friends"))

    def has_album(self, album):
        return any(a.get("id") == album for a in kith_json(self.home, "albums"))

    def total(self, album):
        """How many comments this node lists on the album (over a fresh socket connection)."""
        c = Control(self.socket_path(), self.name)
        try:
            return c.call({"cmd": "comments", "target": album, "limit": 1}, limit=60)[1]["total"]
        finally:
            c.close()


def text(tag, i):
    return f"{tag}#{i} {FILLER}"


def post_cmds(album, tag, n, start=0):
    return [{"cmd": "comment", "target": album, "text": text(tag, i)} for i in range(start, start + n)]


def post_all(node, album, tag, n, limit=600):
    """Pipelines n comments on node's socket; returns (time before sending, time of the last reply)."""
    ids, t0 = node.ctl.send_many(post_cmds(album, tag, n))
    last = t0
    for rid in ids:
        t, r = node.ctl.reply(rid, limit)
        if not r.get("ok"):
            raise BenchError(f"{node.name}: comment failed: {r.get('error')}")
        last = max(last, t)
    return t0, last


def share(owner, members, title, tmp, i):
    f = tmp / "src" / f"photo-{i}.bin"
    f.parent.mkdir(exist_ok=True)
    f.write_bytes(os.urandom(5000))
    args = ["share", f, "--title", title]
    for m in members:
        args += ["--to", m.peer]
    return last_line(kith(owner.home, *args).stdout)


def timed(f, repeat):
    out = []
    for _ in range(repeat):
        t = now()
        f()
        out.append(now() - t)
    return out


def listing(nodes, album, repeat):
    """Times `comments` (first page) and `albums`, over the socket and with the CLI, on each node."""
    rows = {}
    for n in nodes:
        res = {}
        sock = [n.ctl.call({"cmd": "comments", "target": album})[0] for _ in range(repeat)]
        page = n.ctl.call({"cmd": "comments", "target": album})[1]
        res["comments socket"] = sock
        res["comments cli"] = timed(lambda: kith(n.home, "comments", album, "--json"), repeat)
        res["albums socket"] = [n.ctl.call({"cmd": "albums"})[0] for _ in range(repeat)]
        res["albums cli"] = timed(lambda: kith(n.home, "albums", "--json"), repeat)
        res["status socket"] = [n.ctl.call({"cmd": "status"})[0] for _ in range(repeat)]
        res["_total"] = page["total"]
        res["_page"] = len(page["comments"])
        rows[n.name] = res
    return rows


def print_listing(rows, what):
    names = list(rows)
    first = rows[names[0]]
    print(f"  {what}: thread of {first['_total']} comments; socket: one call, first page "
          f"({first['_page']}); cli: `kith ... --json`, every page; ms, median of {len(first['comments socket'])} (max)")
    print(f"    {'call':<22}" + "".join(f"{n:>18}" for n in names))
    for key in ("comments socket", "comments cli", "albums socket", "albums cli", "status socket"):
        cells = "".join(f"{ms(statistics.median(rows[n][key])):>9.1f} ({ms(max(rows[n][key])):>6.1f})"
                        for n in names)
        print(f"    {key:<22}{cells}")


def cpu_secs(pid):
    """User + system CPU seconds of a process (0 when it is gone)."""
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def loopback_bytes():
    for line in open("/proc/net/dev"):
        if line.strip().startswith("lo:"):
            return int(line.split(":", 1)[1].split()[0])
    return 0


class Meter:
    """CPU of the three nodes and loopback traffic from a start, and how long until the nodes
    are quiet: two 0.5 s intervals in a row in which all three together used < 0.03 CPU s."""

    def __init__(self, nodes):
        self.nodes = nodes
        self.t0 = now()
        self.cpu0 = {n.proc.pid: cpu_secs(n.proc.pid) for n in nodes if n.proc}
        self.lo0 = loopback_bytes()

    def cpu(self):
        """CPU seconds per node since the start (a node started since counts from its start)."""
        return {n.name: cpu_secs(n.proc.pid) - self.cpu0.get(n.proc.pid, 0.0) for n in self.nodes if n.proc}

    def loopback_mb(self):
        return (loopback_bytes() - self.lo0) / 1e6

    def settle(self, limit=600.0):
        """Waits until the nodes are quiet; returns (seconds from the start until quiet, CPU
        seconds per node, loopback MB), the last two up to then."""
        quiet_since, quiet_n = None, 0
        end = now() + limit
        while now() < end:
            t = now()
            running = [n.proc.pid for n in self.nodes if n.proc]
            before = sum(cpu_secs(pid) for pid in running)
            time.sleep(0.5)
            used = sum(cpu_secs(pid) for pid in running) - before
            if used < 0.03:
                if quiet_n == 0:
                    quiet_since, cpu, lo = t, self.cpu(), self.loopback_mb()
                quiet_n += 1
                if quiet_n >= 2:
                    return quiet_since - self.t0, cpu, lo
            else:
                quiet_n = 0
        raise BenchError(f"the nodes were still busy {limit:.0f} s after the start: CPU s {self.cpu()}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a small run (under 30 s)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    if args.quick:
        n_lat, n_burst, n_catch, n_out, n_albums, per_album, repeat = 50, 200, 300, 50, 3, 50, 3
    else:
        n_lat, n_burst, n_catch, n_out, n_albums, per_album, repeat = 200, 1000, 2000, 200, 20, 500, 5

    if not KITH.exists():
        if os.environ.get("KITH_BIN"):
            sys.exit(f"KITH_BIN={KITH} does not exist")
        print("building kith (cargo build --release) ...", flush=True)
        subprocess.run(["cargo", "build", "--release"], cwd=ROOT, check=True)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip() or "?"
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), "?")
    started = now()
    print(f"Kith comments benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, kith {commit}, {KITH}")
    print(f"CPU: {cpu}, {os.cpu_count()} cores; load average at the start "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; node log level {NODE_LOG}"
          f"{'; --quick' if args.quick else ''}", flush=True)

    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)

    tmp = Path(tempfile.mkdtemp(prefix="kith-bench-comments-", dir=os.environ.get("BENCH_DIR")))
    a, b, c = Node(tmp, "A"), Node(tmp, "B"), Node(tmp, "C")
    nodes = [a, b, c]
    res = {"lagged": {}, "settle": {}}
    ok = False
    seen_lag = {}

    def lag_mark(phase):
        """Notes the events each connected node reported lost (`lagged`) since the last mark."""
        for n in nodes:
            if n.ctl is None:
                continue
            key = (n.name, id(n.ctl))
            d = n.ctl.lagged - seen_lag.get(key, 0)
            seen_lag[key] = n.ctl.lagged
            if d:
                res["lagged"].setdefault(phase, {})[n.name] = d

    def settle(phase, meter):
        t, cpu, lo = meter.settle()
        res["settle"][phase] = (t, cpu, lo)
        print(f"   quiet {t:.1f} s after the start of '{phase}'; CPU s "
              + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items()) + f"; loopback {lo:.1f} MB", flush=True)

    try:
        # --- setup: three nodes, A befriends B and C, A shares a small file with both.
        for n in nodes:
            n.init()
            n.start()
            n.peer = n.id()
        for m in (b, c):
            link = last_line(kith(a.home, "invite").stdout)
            got = last_line(kith(m.home, "accept", link).stdout)
            if got != a.peer:
                raise BenchError(f"accept printed {got!r}, not A's ID {a.peer}")
        wait_for("A online with B and C", lambda: a.online_with(b.peer) and a.online_with(c.peer))
        album = share(a, [b, c], "Comments bench", tmp, 0)
        wait_for("B and C to list the album", lambda: b.has_album(album) and c.has_album(album))
        expected = 0  # comments in the thread so far
        print(f"setup: 3 nodes, album {album[:12]}..., {now() - started:.1f} s", flush=True)
        Meter(nodes).settle()

        # --- 1. relay latency, one comment after another.
        meter = Meter(nodes)
        lat, to_a, a_to_c = [], [], []
        for i in range(n_lat):
            (rid,), t0 = b.ctl.send_many(post_cmds(album, "lat", 1, i))
            end = t0 + 30
            with c.ctl.cv:
                while i not in c.ctl.seen.get("lat", {}):
                    if now() > end:
                        raise BenchError(f"comment lat#{i} by B did not reach C within 30 s")
                    c.ctl.cv.wait(0.5)
                tc = c.ctl.seen["lat"][i]
            lat.append(tc - t0)
            ta = a.ctl.time_of("lat", i)
            if ta is not None:
                to_a.append(ta - t0)
                a_to_c.append(tc - ta)
            b.ctl.reply(rid)
        expected += n_lat
        res["lat"] = (lat, to_a, a_to_c)
        lag_mark("1 latency")
        print(f"1. relay latency: {n_lat} comments, median {ms(statistics.median(lat)):.1f} ms", flush=True)
        settle("1 latency", meter)

        # --- 2. throughput: B pipelines N comments.
        meter = Meter(nodes)
        t0, t_b = post_all(b, album, "burst", n_burst)
        expected += n_burst
        t_a = a.ctl.wait_all("burst", n_burst, 600, lambda: a.total(album) >= expected)
        t_c = c.ctl.wait_all("burst", n_burst, 600, lambda: c.total(album) >= expected)
        res["burst"] = (t_b - t0, t_a - t0, t_c - t0)
        lag_mark("2 throughput")
        print(f"2. throughput: {n_burst} comments at C after {t_c - t0:.2f} s", flush=True)
        settle("2 throughput", meter)

        # --- 3. catch-up: C stopped, B posts N, C started.
        c.stop()
        meter = Meter(nodes)
        t0, _ = post_all(b, album, "catch", n_catch)
        expected += n_catch
        t_a = a.ctl.wait_all("catch", n_catch, 600, lambda: a.total(album) >= expected)
        res["catch_post"] = t_a - t0
        print(f"3. catch-up: B posted {n_catch} comments with C offline, all on A after {t_a - t0:.2f} s", flush=True)
        settle("3 B posts, C offline", meter)
        meter = Meter(nodes)
        t_start = now()
        c.start(wait=False)
        first_answer = None
        end = t_start + 600
        while True:
            # The socket, not the CLI: `kith comments` fetches every page (7 calls at 3400
            # comments), which would make each poll slower than the 50 ms between polls.
            try:
                total = c.total(album)
                t = now()
                if first_answer is None:
                    first_answer = t - t_start
                if total >= expected:
                    break
            except (OSError, BenchError):
                t = now()
            if t > end:
                raise BenchError("C did not catch up within 600 s")
            if c.proc.poll() is not None:
                raise BenchError(f"C's node exited with {c.proc.returncode}")
            time.sleep(0.05)
        res["catch"] = (t - t_start, first_answer)
        c.wait_up()
        listed = json.loads(kith(c.home, "comments", album, "--json").stdout)
        if len(listed["comments"]) != expected or listed["total"] != expected:
            raise BenchError(f"kith comments on C lists {len(listed['comments'])} of {listed['total']}, "
                             f"not {expected}")
        lag_mark("3 catch-up")
        print(f"   C lists all {t - t_start:.2f} s after its start", flush=True)
        settle("3 C catches up", meter)

        # --- 4. outbox: A stopped, C posts N (one after another), A started.
        a.stop()
        post_ms = []
        t0 = now()
        for i in range(n_out):
            post_ms.append(c.ctl.call({"cmd": "comment", "target": album, "text": text("out", i)})[0])
        t_c = now() - t0
        expected += n_out
        pending = c.ctl.call({"cmd": "comments", "target": album, "offset": expected - n_out})[1]
        n_pending = sum(1 for x in pending["comments"] if x.get("pending"))
        meter = Meter(nodes)
        t_start = now()
        a.start(wait=False)
        # Connect to A's control socket as soon as it is there (before A has reached B and C),
        # so A's `comment` events time the arrivals; if some came before, poll instead.
        end = t_start + 60
        while True:
            try:
                a.connect()
                break
            except OSError:
                if now() > end or a.proc.poll() is not None:
                    raise BenchError("A's node did not start")
                time.sleep(0.01)
        a_up = now() - t_start
        before = a.ctl.call({"cmd": "comments", "target": album, "limit": 1})[1]["total"]
        by_events = before == expected - n_out
        t_a = a.ctl.wait_all("out", n_out, 600, lambda: a.total(album) >= expected) if by_events else None
        while t_a is None:
            t = now()
            if a.total(album) >= expected:
                t_a = now()
            elif t > t_start + 600:
                raise BenchError("A did not get C's outbox within 600 s")
            else:
                time.sleep(0.05)
        t_b = b.ctl.wait_all("out", n_out, 600, lambda: b.total(album) >= expected)
        res["out"] = (t_a - t_start, t_b - t_start, a_up, n_pending, t_c, post_ms, by_events)
        a.wait_up()
        lag_mark("4 outbox")
        print(f"4. outbox: {n_out} comments at A {t_a - t_start:.2f} s, at B {t_b - t_start:.2f} s "
              f"after A's start", flush=True)
        settle("4 outbox", meter)

        # Every node should now list the whole thread.
        wait_for("every node to list the whole thread",
                 lambda: all(n.total(album) >= expected for n in nodes), limit=60)
        res["totals"] = (expected, {n.name: n.total(album) for n in nodes})

        # --- 5. listing cost.
        res["list1"] = listing(nodes, album, repeat)
        lag_mark("5 listing")
        print("5. listing cost measured", flush=True)

        # More albums: A shares n_albums albums and pipelines per_album comments into each.
        if n_albums:
            t_share = now()
            more = [share(a, [b, c], f"More {i}", tmp, i + 1) for i in range(n_albums)]
            wait_for("B and C to list the new albums",
                     lambda: all(m.has_album(x) for m in (b, c) for x in more), limit=120)
            t_share = now() - t_share
            Meter(nodes).settle()
            meter = Meter(nodes)
            cmds = []
            for j, x in enumerate(more):
                cmds += [{"cmd": "comment", "target": x, "text": text(f"m{j}", i)} for i in range(per_album)]
            ids, t0 = a.ctl.send_many(cmds)
            for rid in ids:
                _, r = a.ctl.reply(rid, 600)
                if not r.get("ok"):
                    raise BenchError(f"A: comment failed: {r.get('error')}")
            t_posted = now() - t0
            t_members = {}
            for m in (b, c):
                last = t0
                for j, x in enumerate(more):
                    last = max(last, m.ctl.wait_all(f"m{j}", per_album, 600,
                                                   lambda x=x, m=m: m.total(x) >= per_album))
                t_members[m.name] = last - t0
            # One call of each right away, while the nodes may still be busy.
            busy = {n.name: (n.ctl.call({"cmd": "comments", "target": album})[0],
                             n.ctl.call({"cmd": "albums"})[0]) for n in nodes}
            res["more"] = (t_share, t_posted, t_members, busy)
            lag_mark("5 more albums")
            print(f"   {n_albums} more albums of {per_album} comments: posted on A in {t_posted:.1f} s", flush=True)
            settle("5 more albums", meter)
            res["list2"] = listing(nodes, album, repeat)
            lag_mark("5 listing, more albums")

        # --- 6. peak RSS.
        res["rss"] = {n.name: (rss_kib(n.proc.pid), rss_kib(n.proc.pid, "VmRSS"), n.starts) for n in nodes}
        ok = True
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    except BenchError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        for n in nodes:
            log = n.home / "node.log"
            if log.exists():
                tail = log.read_text(errors="replace").splitlines()[-15:]
                print(f"--- end of {log}:", *tail, sep="\n  ", file=sys.stderr)
    finally:
        for n in nodes:
            try:
                n.stop()
            except BaseException:
                n.kill()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    if ok:
        report(res, n_lat, n_burst, n_catch, n_out, n_albums, per_album, now() - started)
    sys.exit(0 if ok else 1)


def settle_line(res, phase):
    t, cpu, lo = res["settle"][phase]
    return (f"nodes quiet {t:.1f} s after the start; CPU s " + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items())
            + f"; loopback {lo:.1f} MB")


def report(res, n_lat, n_burst, n_catch, n_out, n_albums, per_album, wall):
    print()
    print(f"Results (load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"run time {wall:.0f} s)")
    lat, to_a, a_to_c = res["lat"]
    print(f"1. relay latency B -> A -> C, {n_lat} comments one after another (ms):")
    print(f"   {'':<28}{'median':>9}{'p95':>9}{'max':>9}")
    for label, v in (("B posts -> C's event", lat), ("  of which B -> A's event", to_a),
                     ("  of which A -> C's event", a_to_c)):
        if v:
            print(f"   {label:<28}{ms(statistics.median(v)):>9.1f}{ms(pct(v, 95)):>9.1f}{ms(max(v)):>9.1f}")
    print(f"   {settle_line(res, '1 latency')}")
    t_b, t_a, t_c = res["burst"]
    print(f"2. throughput, B pipelines {n_burst} comments on its control socket:")
    print(f"   {'all replied on B':<28}{t_b:>9.2f} s {n_burst / t_b:>9.0f} comments/s")
    print(f"   {'all on A':<28}{t_a:>9.2f} s {n_burst / t_a:>9.0f} comments/s")
    print(f"   {'all on C':<28}{t_c:>9.2f} s {n_burst / t_c:>9.0f} comments/s")
    print(f"   {settle_line(res, '2 throughput')}")
    t, first = res["catch"]
    print(f"3. catch-up: C offline while B pipelined {n_catch}:")
    print(f"   {'all on A':<28}{res['catch_post']:>9.2f} s {n_catch / res['catch_post']:>9.0f} comments/s")
    print(f"   {settle_line(res, '3 B posts, C offline')}")
    print(f"   {'C started -> lists all':<28}{t:>9.2f} s {n_catch / t:>9.0f} comments/s "
          f"(C first answered after {first:.2f} s)")
    print(f"   {settle_line(res, '3 C catches up')}")
    t_a, t_b, up, n_pending, t_c, post_ms, by_events = res["out"]
    k = max(1, len(post_ms) // 10)
    print(f"4. outbox: A offline while C posted {n_out} one after another ({t_c:.2f} s; {n_pending} pending; "
          f"reply median {ms(statistics.median(post_ms[:k])):.1f} ms for the first {k}, "
          f"{ms(statistics.median(post_ms[-k:])):.1f} ms for the last {k}):")
    how = "its events" if by_events else "polled: some came before the socket was up"
    print(f"   {'A started -> A has all':<28}{t_a:>9.2f} s (A's socket up after {up:.2f} s; {how})")
    print(f"   {'A started -> B has all':<28}{t_b:>9.2f} s")
    print(f"   {settle_line(res, '4 outbox')}")
    expected, totals = res["totals"]
    print(f"   thread size: {expected} expected; listed: " + ", ".join(f"{k} {v}" for k, v in totals.items()))
    print("5. listing cost")
    print_listing(res["list1"], "one album")
    if "more" in res:
        t_share, t_posted, t_members, busy = res["more"]
        print(f"  {n_albums} more albums shared by A in {t_share:.1f} s; A pipelined {per_album} comments into each "
              f"({n_albums * per_album} in all): all replied in {t_posted:.1f} s ({n_albums * per_album / t_posted:.0f}/s); "
              + ", ".join(f"all on {k} after {v:.1f} s" for k, v in t_members.items()))
        print(f"  {settle_line(res, '5 more albums')}")
        print("  one call right after B and C had them all (ms): "
              + ", ".join(f"{k} comments {ms(v[0]):.0f} albums {ms(v[1]):.0f}" for k, v in busy.items()))
        print_listing(res["list2"], f"with {n_albums} more albums of {per_album}, nodes quiet")
    print("6. memory at the end (MiB): peak (VmHWM) / now (VmRSS)")
    for name, (hwm, rss, starts) in res["rss"].items():
        since = "since its restart" if starts > 1 else "since its start"
        print(f"   {name}: {hwm / 1024:.1f} / {rss / 1024:.1f}  ({since})")
    if res["lagged"]:
        print("Events the nodes dropped on the benchmark's control connections (`lagged` frames; "
              "a wait on such a node polled `comments` instead):")
        for phase, d in res["lagged"].items():
            print(f"   {phase}: " + ", ".join(f"{k} {v} events" for k, v in d.items()))


if __name__ == "__main__":
    main()
