"""Supervision: respawn policy, recycling, request deadlines, reload, shutdown,
and a chaos test. Every wait is bounded; failures are counted, not slept
away."""
import concurrent.futures
import os
import random
import re
import signal
import threading
import time

import pytest

from conftest import T, Client, pid_alive, request, wait_pids_gone, wait_until


def _pid(h, timeout=5):
    r = request(h.port, "GET", "/pid", timeout=T(timeout))
    assert r.status == 200, r
    return r.json()["pid"]


class Hammer:
    """Client threads sending requests on fresh connections until stopped;
    counts successes and failures (any error or non-200)."""

    def __init__(self, port, threads=2, path="/pid"):
        self.port, self.path = port, path
        self.ok = 0
        self.failures = []
        self.pids = set()
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(threads)]

    def run(self):
        while not self.stop.is_set():
            try:
                r = request(self.port, "GET", self.path, timeout=T(10))
                good = r.status == 200
                pid = r.json()["pid"] if good else None
            except Exception as e:  # noqa: BLE001 - every failure counts
                good, pid, r = False, None, repr(e)
            with self.lock:
                if good:
                    self.ok += 1
                    self.pids.add(pid)
                else:
                    self.failures.append(r)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *a):
        self.stop.set()
        for t in self.threads:
            t.join(T(15))


# ---------------------------------------------------------------- recycling


def test_max_requests_recycles_without_failures(herd):
    h = herd("--processes", "1", "--max-requests", "5", app="supervise.py")
    pids = []
    for _ in range(23):
        pids.append(_pid(h))
    assert len(set(pids)) >= 4, "expected a new worker every 5 requests: %r" % pids
    # each worker served at most 5 requests
    for p in set(pids):
        assert pids.count(p) <= 5
    assert h.find_all(r"replacing it \(max-requests\)")


def test_max_requests_under_load_no_client_errors(herd):
    h = herd("--processes", "2", "--threads", "2", "--max-requests", "20", app="supervise.py",
             workers=2)
    with Hammer(h.port, threads=3) as hm:
        wait_until(lambda: hm.ok >= 300 or hm.failures, T(30))
    assert hm.failures == [], hm.failures[:5]
    assert hm.ok >= 300
    assert len(hm.pids) >= 10, "workers were not recycled every 20 requests"


def test_max_requests_delta_staggers_workers(herd):
    h = herd("--processes", "2", "--max-requests", "4", "--max-requests-delta", "3",
             app="supervise.py", workers=2)
    def first_counts():  # worker id -> requests served when it first recycled
        out = {}
        for m in h.find_all(r"worker (\d+): served (\d+) requests"):
            out.setdefault(int(m.group(1)), int(m.group(2)))
        return out

    wait_until(lambda: (_pid(h), len(first_counts()) >= 2)[1], T(20))
    assert first_counts() == {1: 4, 2: 7}, h.tail()


def test_max_worker_lifetime(herd):
    h = herd("--max-worker-lifetime", "1", app="supervise.py")
    first = _pid(h)
    h.wait_for(r"worker 1 \(pid %d\): replacing it \(max-worker-lifetime\)" % first, timeout=T(10))
    h.wait_for(r"worker 1 \(pid %d\) exited with code 0: max-worker-lifetime" % first,
               timeout=T(10))
    assert wait_until(lambda: _pid(h) != first, T(5))


def test_reload_on_rss(herd):
    h = herd("--reload-on-rss", "60", app="supervise.py")
    first = _pid(h)
    r = request(h.port, "GET", "/hog?mb=100", timeout=T(10))
    assert r.status == 200 and r.json()["pid"] == first
    h.wait_for(r"uses \d+ MiB \(--reload-on-rss 60\)", timeout=T(10))
    h.wait_for(r"replacing it \(reload-on-rss\)", timeout=T(10))
    assert wait_until(lambda: _pid(h) != first, T(10))
    assert wait_pids_gone([first], T(10)) == []


# ---------------------------------------------------------------- respawn policy


def test_crash_loop_backs_off_and_master_survives(herd, tmp_path):
    app = tmp_path / "crash.py"
    app.write_text("import os\nos._exit(3)\n")
    h = herd("--lazy-apps", "--wsgi-file", str(app), workers=0)
    h.wait_for(r"died 3 times in a row right after start: respawning in 0\.1 s", timeout=T(10))
    h.wait_for(r"died 5 times in a row right after start: respawning in 0\.4 s", timeout=T(10))
    assert h.poll() is None, "the master must not give up on a crashing worker"
    assert len(h.find_all(r"worker 1 spawned")) <= 8, "no back-off: " + h.tail()


def test_sigkill_respawns_at_once_with_reason(herd):
    h = herd("--processes", "2", app="supervise.py", workers=2)
    victim = h.worker_pids()[1]
    since = h.mark()
    os.kill(victim, signal.SIGKILL)
    h.wait_for(r"worker 1 \(pid %d\) killed by signal 9 after [\d.]+ s: crash" % victim,
               timeout=T(5), since=since)
    h.wait_ready(1, since=since, exclude_pids={victim}, timeout=T(5))


def test_ttin_ttou_change_worker_count(herd):
    h = herd("--processes", "1", app="supervise.py")
    since = h.mark()
    h.signal(signal.SIGTTIN)
    h.wait_for(r"worker 2 ready", timeout=T(10), since=since)
    since = h.mark()
    h.signal(signal.SIGTTOU)
    h.wait_for(r"worker 2 \(pid \d+\) exited with code 0", timeout=T(10), since=since)
    assert _pid(h)


# ---------------------------------------------------------------- harakiri


def test_harakiri_logs_traceback_504_and_replaces_worker(herd):
    h = herd("--processes", "2", "--harakiri", "1", app="supervise.py", workers=2)
    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        stuck = ex.submit(request, h.port, "GET", "/sleep?s=30", timeout=T(15))
        # the other worker keeps answering meanwhile
        time.sleep(0.2)
        for _ in range(5):
            assert _pid(h)
        r = stuck.result()
    assert r.status == 504
    assert time.monotonic() - t0 < T(6)
    h.wait_for(r'harakiri: "GET /sleep\?s=30" on thread 0 has run for', timeout=T(5))
    h.wait_for(r'File ".*supervise\.py", line \d+ in application', timeout=T(5))
    h.wait_for(r"exited with code 23 after [\d.]+ s: harakiri", timeout=T(5))
    h.wait_for(r"worker \d ready \(pid", count=3, timeout=T(10))  # replaced


# ---------------------------------------------------------------- reload


def test_reload_reimports_changed_code_same_master(herd, tmp_path):
    vf = tmp_path / "version"
    vf.write_text("one")
    h = herd("--processes", "2", app="supervise.py", workers=2,
             env={"APP_VERSION_FILE": str(vf)})
    master = h.proc.pid
    assert request(h.port, "GET", "/pid").json()["version"] == "one"
    old = set(h.worker_pids().values())
    vf.write_text("two")
    since = h.mark()
    h.signal(signal.SIGHUP)
    h.wait_ready(2, since=since, exclude_pids=old, timeout=T(15))
    assert wait_pids_gone(old, T(10)) == []
    for _ in range(4):
        assert request(h.port, "GET", "/pid").json()["version"] == "two"
    assert h.proc.pid == master and h.poll() is None


@pytest.mark.parametrize("mode", ["preload", "lazy", "chain"])
def test_reload_under_load_zero_failures(herd, mode):
    extra = {"preload": [], "lazy": ["--lazy-apps"], "chain": ["--lazy-apps", "--chain-reload"]}
    h = herd("--processes", "3", "--threads", "2", *extra[mode], app="supervise.py", workers=3)
    old = set(h.worker_pids().values())
    with Hammer(h.port, threads=3) as hm:
        wait_until(lambda: hm.ok >= 50, T(10))
        since = h.mark()
        h.signal(signal.SIGHUP)
        h.wait_ready(3, since=since, exclude_pids=old, timeout=T(20))
        assert wait_pids_gone(old, T(15)) == []
        n = hm.ok
        wait_until(lambda: hm.ok >= n + 50, T(10))
    assert hm.failures == [], hm.failures[:5]
    assert hm.pids - old, "no request reached a new worker"
    if mode == "chain":
        # one at a time: worker 2's replacement starts after worker 1's is ready
        lines = h.lines_since(since)
        def at(rx):
            return next(i for i, l in enumerate(lines) if re.search(rx, l))
        assert at(r"worker 1 ready") < at(r"worker 2 \(pid \d+\): replacing it")
        assert at(r"worker 2 ready") < at(r"worker 3 \(pid \d+\): replacing it")
        h.wait_for(r"chain reload done", timeout=T(5), since=since)


# ---------------------------------------------------------------- shutdown


def test_shutdown_under_load_finishes_inflight(herd):
    h = herd("--processes", "2", "--threads", "2", app="supervise.py", workers=2)
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        futs = [ex.submit(request, h.port, "GET", "/sleep?s=1", timeout=T(10)) for _ in range(4)]
        h.wait_for(r"sleep-start", count=4, timeout=T(5))  # all four in flight
        h.signal(signal.SIGTERM)
        rs = [f.result() for f in futs]
    assert [r.status for r in rs] == [200] * 4
    assert h.wait(T(10)) == 0


def test_shutdown_kills_stragglers_after_mercy(herd):
    h = herd("--worker-reload-mercy", "1", app="supervise.py")
    c = Client(h.port, timeout=T(10))
    c.send_request("GET", "/sleep?s=30")
    h.wait_for(r"sleep-start", timeout=T(5))  # in flight before the stop
    t0 = time.monotonic()
    h.signal(signal.SIGTERM)
    assert h.wait(T(10)) == 0
    assert time.monotonic() - t0 < T(5)
    assert h.find_all(r"still busy at the stop deadline: killing them")
    c.close()


# ---------------------------------------------------------------- chaos


def test_chaos_sigkill_random_worker(herd):
    """SIGKILL a random worker every ~100 ms for 20 s under a request loop:
    only requests in flight on a killed worker may fail."""
    h = herd("--processes", "3", app="supervise.py", workers=3)
    kills = 0
    rnd = random.Random(1)
    with Hammer(h.port, threads=2) as hm:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            pids = [p for p in h.worker_pids().values() if pid_alive(p)]
            if pids:
                try:
                    os.kill(rnd.choice(pids), signal.SIGKILL)
                    kills += 1
                except ProcessLookupError:
                    pass
            time.sleep(0.1)
    # each kill can break at most the one request its single thread was serving
    assert len(hm.failures) <= kills, (kills, hm.failures[:5])
    assert hm.ok > 10 * len(hm.failures), (hm.ok, len(hm.failures))
    assert wait_until(lambda: request(h.port, "GET", "/pid", timeout=T(5)).status == 200, T(10))
    assert h.poll() is None
