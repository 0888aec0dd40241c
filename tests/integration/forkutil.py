"""Helpers for test_fork_safety.py, on top of conftest's harness (used
read-only): start herd on apps/fork/app.py with master threads injected by
apps/fork/site/sitecustomize.py, follow the workers through the log, prove
that every live worker answers (a stuck worker shows up as a request
timeout, never as a sleep), kill/reload/recycle them, and explain a hang
(per-thread kernel state, a faulthandler dump of every Python thread, and a
gdb backtrace when gdb is installed).
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import conftest
from conftest import READY_RE, SPAWNED_RE, HerdProcess, T, pid_alive

FORK_APPS = os.path.join(conftest.APPS, "fork")
SITE = os.path.join(FORK_APPS, "site")
APP = os.path.join(FORK_APPS, "app.py")

# "worker N (pid P) exited with code C after X s[: reason]", "... killed by
# signal S after X s[: reason]"; a replaced worker's line has no "after X s".
EXIT_RE = re.compile(r"worker (\d+) \(pid (\d+)\) (?:exited with code (-?\d+)|killed by signal (\d+))"
                     r"(?: after ([\d.]+) s)?(?:: (.*))?$")
MASTER_THREADS_RE = re.compile(r"(\d+) Python threads? (?:is|are) running in the master at fork: "
                               r"(.*?); (?:it does|they do) not run in the workers")
# Any of these in the log fails a test (unless the test allows it).
BAD_PATTERNS = {
    "fatal": r"Fatal Python error",
    "tstate": r"Invalid thread state",
    "abort": r"\bAborted\b|killed by signal 6\b",
    "crash": r"killed by signal (?:4|7|8|11)\b|Segmentation fault|core dumped",
    "traceback": r"Traceback \(most recent call last\)",
    "sanitizer": r"AddressSanitizer|runtime error:",
    "watchdog": r"not ready",
    "backoff": r"times in a row right after start",
}

DUMP_SIGNAL = int(signal.SIGRTMIN) + 5  # forkshared.DUMP_SIGNAL
HAVE_GDB = shutil.which("gdb") is not None
# A connection closed unserved while workers recycle fails the test, unless
# FORKTEST_TOLERATE_DROPS=1 (counted then): herd before 7703463/edb90ef could
# drop one in a few thousand at a graceful stop; that was no fork problem.
STRICT = os.environ.get("FORKTEST_TOLERATE_DROPS") != "1"


def herd_help():
    try:
        out = subprocess.run([conftest.HERD_BIN, "--help"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, timeout=10).stdout
        return out.decode("utf-8", "replace")
    except (OSError, subprocess.TimeoutExpired):
        return ""


class FilteredHerd(HerdProcess):
    """conftest.HerdProcess that drops the lines of the 'master-logger'
    thread (they contain HAMMER) as they are read, so the kept log stays
    small. With `throttle` (bytes per millisecond), each pipe is read at most
    that fast: a slow log consumer, so that the pipe fills up and the
    master-logger thread blocks in write() holding its stream's lock."""

    DROP = b"HAMMER"

    def __init__(self, *a, throttle=None, **kw):
        self.dropped = 0
        self.throttle = throttle
        HerdProcess.__init__(self, *a, **kw)

    def _keep(self, raw, into):
        if self.DROP in raw:
            self.dropped += 1
            return
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        with self.cond:
            into.append(line)
            self.cond.notify_all()

    def _read(self, stream, into, is_err):
        try:
            if self.throttle:
                fd = stream.fileno()
                pending = b""
                while True:
                    chunk = os.read(fd, self.throttle)
                    if not chunk:
                        break
                    lines = (pending + chunk).split(b"\n")
                    pending = lines.pop()
                    for raw in lines:
                        self._keep(raw, into)
                    time.sleep(0.001)
                if pending:
                    self._keep(pending, into)
            else:
                for raw in iter(stream.readline, b""):
                    self._keep(raw, into)
        except (OSError, ValueError):
            pass
        finally:
            if is_err:
                with self.cond:
                    self.eof = True
                    self.cond.notify_all()


def start(factory, threads="", *, processes=2, wthreads=2, lazy=False, args=(), env=None,
          spawn_timeout=20, wait=True, timeout=20, throttle=None):
    """Starts herd on apps/fork/app.py under the `herd` fixture `factory` (which
    stops it at teardown) with master threads `threads` (FORKTEST_THREADS).
    Returns a Fleet; with wait=True, once every worker is ready."""
    full_env = {
        "PYTHONPATH": SITE,
        "FORKTEST_THREADS": threads,
        "HERD_TEST_DIR": factory.tmpdir,
    }
    full_env.update(env or {})
    argv = ["--http-socket", "127.0.0.1:0", "--wsgi-file", APP, "--master",
            "--processes", processes, "--threads", wthreads,
            "--spawn-timeout", spawn_timeout]
    if lazy:
        argv.append("--lazy-apps")
    argv += list(args)
    p = FilteredHerd(argv, env=full_env, throttle=throttle)
    factory.procs.append(p)
    fleet = Fleet(p, processes, wthreads, lazy)
    if wait:
        p.wait_listening(timeout=timeout)
        fleet.wait_live(timeout=timeout)
    return fleet


class Fleet:
    """One herd and its workers, as its log tells."""

    def __init__(self, p, n, wthreads, lazy):
        self.p = p
        self.n = n
        self.wthreads = wthreads
        self.lazy = lazy
        self.first_seen = {}  # pid -> monotonic time we first saw it ready
        self.kills = 0
        self.reloads = 0
        self.infos = {}       # pid -> last /info
        self.dropped = 0      # see hit_all(by_slot=True)

    # ---------------------------------------------------------------- log

    def scan(self, with_ready=False):
        """(live {id: pid}, pending {id: pid}, exits [(id, pid, code, sig, reason)])
        live: reported ready and not exited; pending: spawned, not ready, not exited.
        with_ready: also {pid: id} of every worker ever ready."""
        spawned, ready, exited, exits = {}, {}, set(), []
        for line in self.p.lines_since(0):
            m = SPAWNED_RE.search(line)
            if m:
                spawned[int(m.group(2))] = int(m.group(1))
                continue
            m = READY_RE.search(line)
            if m:
                ready[int(m.group(2))] = int(m.group(1))
                continue
            m = EXIT_RE.search(line)
            if m:
                pid = int(m.group(2))
                exited.add(pid)
                exits.append((int(m.group(1)), pid,
                              None if m.group(3) is None else int(m.group(3)),
                              None if m.group(4) is None else int(m.group(4)), m.group(6)))
        live = {wid: pid for pid, wid in ready.items() if pid not in exited}
        pending = {wid: pid for pid, wid in spawned.items() if pid not in exited and pid not in ready}
        if with_ready:
            return live, pending, exits, ready
        return live, pending, exits

    def live(self):
        return self.scan()[0]

    def wait_live(self, timeout=10, exclude=()):
        """Waits until every slot 1..n has a ready worker (none of `exclude`) and
        none is pending. Fails with a diagnosis of the pending workers."""
        deadline = time.monotonic() + T(timeout)
        while True:
            live, pending, _ = self.scan()
            ok = (sorted(live) == list(range(1, self.n + 1)) and not pending
                  and not set(live.values()) & set(exclude))
            if ok:
                now = time.monotonic()
                for pid in live.values():
                    self.first_seen.setdefault(pid, now)
                return live
            if self.p.poll() is not None:
                self.fail("herd exited (code %r) while waiting for workers" % self.p.poll())
            if time.monotonic() >= deadline:
                self.fail("workers not ready within %.1f s: live %r, pending %r (stuck after fork?)"
                          % (T(timeout), live, pending), diagnose=list(pending.values()))
            time.sleep(0.02)

    def check_log(self, allow=()):
        text = self.p.log
        bad = []
        for key, rx in BAD_PATTERNS.items():
            if key in allow:
                continue
            for line in text.splitlines():
                if re.search(rx, line):
                    bad.append(line)
        if bad:
            self.fail("bad lines in herd's log:\n  " + "\n  ".join(bad[:20]))

    def master_thread_reports(self):
        return [(int(m.group(1)), [s.strip() for s in m.group(2).split(",")])
                for m in self.p.find_all(MASTER_THREADS_RE.pattern)]

    # ---------------------------------------------------------------- requests

    def _get(self, path, timeout):
        t0 = time.monotonic()
        try:
            r = conftest.request(self.p.port, "GET", path, host=self.p.host, timeout=timeout)
        except (socket.timeout, TimeoutError) as e:
            return None, "timed out after %.1f s (%s)" % (time.monotonic() - t0, e)
        except conftest.IncompleteResponse as e:
            if not e.partial and "response head" in str(e):
                return None, "DROPPED: connection closed without a response byte"
            return None, "%s: %s" % (type(e).__name__, e)
        except (ConnectionResetError, BrokenPipeError) as e:
            return None, "DROPPED: %s: %s" % (type(e).__name__, e)
        except OSError as e:
            return None, "%s: %s" % (type(e).__name__, e)
        if r.status != 200:
            return None, "status %s: %r" % (r.status, r.body[:300])
        try:
            return json.loads(r.body), None
        except ValueError as e:
            return None, "bad JSON %r: %s" % (r.body[:300], e)

    def hit_all(self, path="/info", timeout=15, per_request=3.0, by_slot=False):
        """Requests `path` (fresh connection each, `per_request` s timeout) in
        concurrent rounds until every live worker has answered. A request
        that times out is a stuck worker: fail with a diagnosis. Returns
        {pid: json}; /info answers are checked with check_info().
        by_slot=True (workers being recycled meanwhile): an answer from a
        worker that became ready since is accepted, and it is enough that
        every slot answered. A connection closed before any response byte
        fails, unless FORKTEST_TOLERATE_DROPS=1 (then it is counted in
        self.dropped and retried)."""
        live = self.wait_live()
        pid_to_wid = {pid: wid for wid, pid in live.items()}
        seen = {}

        def missing():
            if by_slot:
                return set(range(1, self.n + 1)) - {d["wid"] for d in seen.values()}
            return set(pid_to_wid) - set(seen)

        k = self.n * self.wthreads + 2
        deadline = time.monotonic() + T(timeout)
        holds = [0.02, 0.05, 0.1, 0.2, 0.3]
        rnd = 0
        sep = "&" if "?" in path else "?"
        with ThreadPoolExecutor(max_workers=k) as ex:
            while missing():
                if time.monotonic() >= deadline:
                    self.fail("workers %r never answered within %.1f s (answered: %r)"
                              % (sorted(missing()), T(timeout), sorted(seen)),
                              diagnose=sorted(set(pid_to_wid) - set(seen)))
                hold = holds[min(rnd, len(holds) - 1)]
                rnd += 1
                futs = [ex.submit(self._get, "%s%shold=%s" % (path, sep, hold), per_request)
                        for _ in range(k)]
                for f in futs:
                    data, err = f.result()
                    if err and err.startswith("DROPPED") and by_slot and not STRICT:
                        self.dropped += 1
                        continue
                    if err:
                        self.fail("GET %s: %s" % (path, err), diagnose=list(pid_to_wid))
                    pid = data["pid"]
                    if pid not in pid_to_wid and by_slot:
                        # a replacement may serve before its "ready" line is read
                        try:
                            m = self.p.wait_for(r"worker (\d+) ready \(pid %d\)" % pid, timeout=3)
                            pid_to_wid[pid] = int(m.group(1))
                        except AssertionError:
                            pass
                    if pid not in pid_to_wid:
                        self.fail("answer from pid %d, not a live worker %r: %r"
                                  % (pid, pid_to_wid, data))
                    if data["wid"] != pid_to_wid[pid]:
                        self.fail("pid %d says worker id %r, the log says %d"
                                  % (pid, data["wid"], pid_to_wid[pid]))
                    seen[pid] = data
        if path.startswith("/info"):
            for pid, d in seen.items():
                self.infos[pid] = d
                self.check_info(d)
        return seen

    def check_info(self, d):
        """What must hold in every worker (from GET /info)."""
        pid = d["pid"]
        where = "worker %d (pid %d)" % (d["wid"], pid)
        assert d["ppid"] == self.p.pid, (where, d["ppid"])
        assert 1 <= d["wid"] <= self.n and d["uwsgi_wid"] == d["wid"], (where, d)
        assert d["herd_numproc"] == self.n and d["uwsgi_numproc"] == self.n, (where, d)
        master_alive = [t for t in d["alive"] if t.startswith("master-")]
        assert not master_alive, "%s: master threads alive in the worker: %r" % (where, d["alive"])
        if self.lazy:
            assert d["import_pid"] == pid and d["import_wid"] == d["wid"], (where, d)
        else:
            assert d["import_pid"] == self.p.pid and d["import_wid"] == 0, (where, d)
            assert "app-agent" not in d["alive"], (where, d["alive"])
        assert d["main_name"] == "MainThread" and d["main_alive"], (where, d)
        assert d["stdout_replaced"] and d["stderr_replaced"], (where, d)
        apis = sorted(r["api"] for r in d["postfork"])
        assert apis == ["herd.postfork", "herd.postfork(fn)", "uwsgidecorators.postfork"], \
            "%s: post-fork hooks ran %r (each must run once)" % (where, apis)
        for r in d["postfork"]:
            assert r["pid"] == pid and r["wid"] == d["wid"] and r["uwsgi_wid"] == d["wid"], (where, r)
            # hooks run on the worker's main thread: the thread that forked,
            # whose OS thread id is the worker's pid
            assert r["current_is_main"] and r["current_ident"] == d["main_ident"], (where, r)
            assert r["current_native_id"] == pid, (where, r)
            assert not [t for t in r["alive"] if t.startswith("master-")], (where, r["alive"])
        if self.wthreads == 1:
            assert d["current_is_main"], "%s: with --threads 1 requests run on the main thread" % where
        if d.get("ref"):
            assert d["trace"] == d["ref"]["child"], \
                "%s: at-fork hooks %r, os.fork() gives %r" % (where, d["trace"], d["ref"]["child"])

    # ---------------------------------------------------------------- fork paths

    def _wait_respawn(self, wid, old_pid, since, timeout=8):
        """Waits for slot `wid` to have a new ready worker after `since`."""
        deadline = time.monotonic() + T(timeout)
        while True:
            for m in self.p.find_all(READY_RE.pattern, since=since):
                if int(m.group(1)) == wid and int(m.group(2)) != old_pid:
                    pid = int(m.group(2))
                    self.first_seen.setdefault(pid, time.monotonic())
                    return pid
            if self.p.poll() is not None:
                self.fail("herd exited (code %r)" % self.p.poll())
            if time.monotonic() >= deadline:
                _, pending, _ = self.scan()
                self.fail("worker %d not respawned and ready within %.1f s after pid %d died "
                          "(pending: %r)" % (wid, T(timeout), old_pid, pending),
                          diagnose=list(pending.values()))
            time.sleep(0.01)

    def kill_one(self, wid, min_age=0.0):
        """SIGKILLs slot `wid`'s worker (once it is min_age s old) and waits for
        its replacement to be ready."""
        live = self.wait_live()
        pid = live[wid]
        age = time.monotonic() - self.first_seen.get(pid, time.monotonic())
        if age < min_age:
            time.sleep(min_age - age)
        mark = self.p.mark()
        os.kill(pid, signal.SIGKILL)
        self.p.wait_for(r"worker %d \(pid %d\) killed by signal 9 " % (wid, pid), timeout=5, since=mark)
        new = self._wait_respawn(wid, pid, mark)
        self.kills += 1
        return new

    def kill_cycle(self, count, path="/info", between=None):
        """`count` SIGKILLs, alternating over the slots; after each, every live
        worker must answer `path`."""
        for i in range(count):
            self.kill_one(1 + i % self.n)
            self.wait_live()
            self.hit_all(path)
            if between:
                between(i)

    def reload(self, path="/info"):
        """SIGHUP: every worker is replaced; the new ones all answer."""
        old = set(self.live().values())
        self.p.signal(signal.SIGHUP)
        deadline = time.monotonic() + T(15)
        while True:
            _, _, exits = self.scan()
            gone = {pid for _, pid, _, _, _ in exits}
            if old <= gone:
                break
            if time.monotonic() >= deadline:
                self.fail("old workers %r did not exit after SIGHUP" % sorted(old - gone),
                          diagnose=sorted(old - gone))
            time.sleep(0.02)
        for wid, pid, code, sig, reason in exits:
            if pid in old:
                assert code == 0 and sig is None, \
                    "worker %d (pid %d) did not stop cleanly on reload: code %r signal %r" % (
                        wid, pid, code, sig)
        live = self.wait_live(exclude=old)
        assert not set(live.values()) & old
        self.reloads += 1
        self.hit_all(path)
        return live

    # ---------------------------------------------------------------- failure

    def fail(self, msg, diagnose=()):
        parts = [msg]
        for pid in diagnose:
            parts.append(diagnose_pid(pid))
        if diagnose:
            time.sleep(0.5)  # let the faulthandler dumps reach the log
        parts.append("---- herd log (last 80 lines) ----\n" + self.p.tail(80))
        pytest.fail("\n".join(parts), pytrace=False)


def diagnose_pid(pid):
    """What a (possibly stuck) worker is doing: per-thread kernel state and
    wait channel, a faulthandler dump of its Python threads (into herd's
    log), and gdb's backtrace of every thread when gdb is installed."""
    out = ["---- pid %d ----" % pid]
    if not pid_alive(pid):
        out.append("not running")
        return "\n".join(out)
    try:
        for tid in sorted(os.listdir("/proc/%d/task" % pid), key=int):
            base = "/proc/%d/task/%s/" % (pid, tid)
            try:
                comm = open(base + "comm").read().strip()
                stat = open(base + "stat").read()
                state = stat[stat.rfind(")") + 2:].split()[0]
                wchan = open(base + "wchan").read().strip()
            except OSError:
                continue
            out.append("  tid %s %-16s state %s wchan %s" % (tid, comm, state, wchan))
    except OSError as e:
        out.append("  /proc: %s" % e)
    try:
        os.kill(pid, DUMP_SIGNAL)
        out.append("  (faulthandler dump requested: see the log)")
    except OSError:
        pass
    if HAVE_GDB and os.environ.get("FORKTEST_NO_GDB") != "1":
        try:
            r = subprocess.run(["gdb", "-p", str(pid), "-batch", "-nx", "-ex", "thread apply all bt 30"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
            bt = r.stdout.decode("utf-8", "replace")
            out.append("\n".join(l for l in bt.splitlines()
                                 if l.startswith(("#", "Thread"))))
        except (OSError, subprocess.TimeoutExpired) as e:
            out.append("  gdb: %s" % e)
    return "\n".join(out)


def wait_file(path, timeout):
    deadline = time.monotonic() + T(timeout)
    while not os.path.exists(path):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


class Summary:
    """Per-test counters printed at the end (pytest -s, or -rA) and appended
    to $FORKTEST_SUMMARY if set (tests/forksafety/run-all.sh collects them)."""

    _lock = threading.Lock()

    def __init__(self, name):
        self.name = name
        self.data = {}

    def add(self, **kw):
        self.data.update(kw)
        return self

    def emit(self):
        line = "%s: %s" % (self.name, ", ".join("%s=%s" % kv for kv in self.data.items()))
        print(line)
        path = os.environ.get("FORKTEST_SUMMARY")
        if path:
            with self._lock, open(path, "a") as f:
                f.write(line + "\n")
