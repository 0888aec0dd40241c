"""The process model: workers, threads, signals to the master (TERM/INT/QUIT/HUP),
respawn, no orphans, app import failures, --lazy-apps, --spawn-timeout, and
forking while the app's threads run."""

import concurrent.futures
import os
import re
import signal
import socket
import threading
import time

import pytest

from conftest import (Client, IncompleteResponse, T, pid_alive, request, wait_pids_gone,
                      wait_until)


def _ppid(pid):
    with open("/proc/%d/stat" % pid) as f:
        stat = f.read()
    return int(stat[stat.rfind(")") + 2:].split()[1])


def _start_sleep(h, seconds, tag):
    """Starts /sleep on a new connection; returns the client once the app runs it."""
    since = h.mark()
    c = Client(h.port, timeout=seconds + 15)
    c.send_request("GET", "/sleep?s=%s&tag=%s" % (seconds, tag))
    m = h.wait_for(r"sleep-start %s pid=(\d+)" % tag, since=since)
    return c, int(m.group(1))


def _refused(port):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=T(2))
    except (ConnectionRefusedError, ConnectionResetError):
        return True
    except socket.timeout:
        return False
    s.close()
    return False


# ---------------------------------------------------------------- workers


def test_workers_spawned_and_ready(herd):
    h = herd("--processes", "3", workers=3)
    ready = h.wait_ready(3)
    assert sorted(ready) == [1, 2, 3]
    pids = set(ready.values())
    assert len(pids) == 3
    assert h.pid not in pids
    spawned = {int(m.group(1)): int(m.group(2)) for m in h.find_all(r"worker (\d+) spawned \(pid (\d+)\)")}
    assert spawned == ready
    for pid in pids:
        assert _ppid(pid) == h.pid, "worker %d is not a child of the master" % pid
    served = {int(h.get("/pid").body) for _ in range(10)}
    assert served <= pids


def test_threads_serve_concurrently(herd):
    h = herd("--threads", "3", env={"BARRIER_PARTIES": "3", "BARRIER_TIMEOUT": "5"}, app="barrier.py")
    with concurrent.futures.ThreadPoolExecutor(3) as ex:
        futs = [ex.submit(request, h.port, "GET", "/barrier", timeout=10) for _ in range(3)]
        rs = [f.result() for f in futs]
    assert [r.status for r in rs] == [200, 200, 200]
    assert len({r.json()["pid"] for r in rs}) == 1
    assert len({r.json()["thread"] for r in rs}) == 3


def test_threads_are_a_limit(herd):
    # 2 threads cannot meet a 3-party barrier: proves requests are not run unbounded
    h = herd("--threads", "2", env={"BARRIER_PARTIES": "3", "BARRIER_TIMEOUT": "1"}, app="barrier.py")
    with concurrent.futures.ThreadPoolExecutor(3) as ex:
        futs = [ex.submit(request, h.port, "GET", "/barrier", timeout=15) for _ in range(3)]
        rs = [f.result() for f in futs]
    assert sorted(r.status for r in rs) != [200, 200, 200]


def test_request_arriving_while_the_app_blocks_gets_another_thread(herd):
    """The thread running the app keeps the GIL from one request to the next
    and no other thread polls meanwhile (server/sched.h): when the app then
    blocks, a request that arrives later must still go to another thread,
    not wait for the blocked one."""
    h = herd("--threads", "2", "--processes", "1")
    c, pid = _start_sleep(h, 8, "blocked")
    try:
        for _ in range(3):
            r = request(h.port, "GET", "/pid", timeout=T(4))
            assert (r.status, int(r.body)) == (200, pid)
        assert c.read_available(timeout=0.05) == b"", "the sleeping request ended early"
        assert c.read_response(timeout=15).body == b"slept blocked"
    finally:
        c.close()


def test_thread_waiting_on_a_slow_body_outside_the_app_hands_over(herd):
    """After the response, herd drains the body the app did not read, and
    so waits for a client that sends it slowly: the thread waits without
    the GIL and outside the app, and another thread must serve the next
    request meanwhile."""
    h = herd("--threads", "2", "--processes", "1", "--socket-timeout", "30")
    with h.client() as slow:
        slow.send(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\npartial")
        assert slow.read_response(timeout=5).status == 200  # the app did not read the body
        for _ in range(3):
            r = request(h.port, "GET", "/", timeout=T(4))
            assert (r.status, r.body) == (200, b"hello world")
        assert slow.is_open(), "the slow client was cut off: the test did not test"


def test_processes_serve_concurrently(herd):
    h = herd("--processes", "2", "--threads", "1", env={"BARRIER_TIMEOUT": "5"}, app="barrier.py", workers=2)
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        futs = [ex.submit(request, h.port, "GET", "/fsbarrier?name=p&n=2", timeout=10) for _ in range(2)]
        rs = [f.result() for f in futs]
    assert [r.status for r in rs] == [200, 200]
    assert len({r.json()["pid"] for r in rs}) == 2


# ---------------------------------------------------------------- stop


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_graceful_stop_finishes_inflight_request(herd, sig):
    h = herd("--threads", "2")
    port = h.port
    workers = set(h.worker_pids().values())
    c, _ = _start_sleep(h, 1.5, "g1")
    try:
        t0 = time.monotonic()
        h.signal(sig)
        r = c.read_response(timeout=10)
        assert (r.status, r.body) == (200, b"slept g1"), "in-flight request not finished on graceful stop"
    finally:
        c.close()
    assert h.wait(10) == 0
    assert time.monotonic() - t0 >= 1.0
    assert not wait_pids_gone(workers, T(3)), "workers outlived the master"
    assert _refused(port), "still accepting after the master exited"


def test_graceful_stop_is_bounded_by_mercy(herd):
    h = herd("--worker-reload-mercy", "1")
    workers = set(h.worker_pids().values())
    c, _ = _start_sleep(h, 30, "m1")
    try:
        t0 = time.monotonic()
        h.signal(signal.SIGTERM)
        code = h.wait(1 + 5)
        elapsed = time.monotonic() - t0
        assert code == 0
        assert elapsed < T(1 + 4), "graceful stop took %.1fs with --worker-reload-mercy 1" % elapsed
        assert c.wait_closed(3)
        assert not c.buf.startswith(b"HTTP/1.1 200"), "a 30 s request finished within the mercy?"
    finally:
        c.close()
    assert not wait_pids_gone(workers, T(3))


def test_sigquit_stops_immediately(herd):
    h = herd("--processes", "2", workers=2)
    workers = set(h.worker_pids().values())
    c, _ = _start_sleep(h, 30, "q1")
    try:
        t0 = time.monotonic()
        h.signal(signal.SIGQUIT)
        assert h.wait(5) == 0
        assert time.monotonic() - t0 < T(3)
    finally:
        c.close()
    assert not wait_pids_gone(workers, T(3))


def test_graceful_stop_not_held_by_idle_keepalive_connections(herd):
    h = herd("--http-keepalive", "60", "--threads", "2")
    clients = [h.client() for _ in range(3)]
    try:
        for c in clients[:2]:
            assert c.request("GET", "/").status == 200
        t0 = time.monotonic()
        h.signal(signal.SIGTERM)
        assert h.wait(5) == 0
        assert time.monotonic() - t0 < T(3), "idle connections delayed the graceful stop"
        for c in clients[:2]:
            assert c.wait_closed(2)
        # The third never sent a byte: with TCP_DEFER_ACCEPT it was never
        # accepted, and the kernel dropped it with the listening socket. A
        # request on it must fail at once, not hang.
        with pytest.raises((ConnectionError, IncompleteResponse, OSError)):
            r = clients[2].request("GET", "/", timeout=2)
            raise AssertionError("answered after the stop: %r" % r)
    finally:
        for c in clients:
            c.close()


def test_app_signal_handlers_do_not_disable_master(herd):
    h = herd("--processes", "2", app="sets_signals.py", workers=2)
    old = set(h.worker_pids().values())
    since = h.mark()
    h.signal(signal.SIGHUP)
    h.wait_ready(2, since=since, exclude_pids=old, timeout=15)
    assert h.get("/").status == 200
    h.signal(signal.SIGTERM)
    assert h.wait(10) == 0


# ---------------------------------------------------------------- reload, respawn


def test_sighup_replaces_every_worker_gracefully(herd):
    h = herd("--processes", "2", "--threads", "2", workers=2)
    old = set(h.worker_pids().values())
    c, busy = _start_sleep(h, 1, "h1")
    errors = []
    stop = threading.Event()

    def traffic():
        while not stop.is_set():
            try:
                r = request(h.port, "GET", "/", timeout=5)
                if r.status != 200:
                    errors.append(r.status)
            except Exception as e:  # a refused/reset connection during reload is a failure
                errors.append(repr(e))
            time.sleep(0.01)

    t = threading.Thread(target=traffic)
    since = h.mark()
    try:
        t.start()
        h.signal(signal.SIGHUP)
        r = c.read_response(timeout=10)
        assert (r.status, r.body) == (200, b"slept h1"), "in-flight request cut by the reload"
        new = h.wait_ready(2, since=since, exclude_pids=old, timeout=15)
        assert not (set(new.values()) & old)
        time.sleep(0.3)  # some traffic on the new workers
    finally:
        stop.set()
        t.join(T(10))
        c.close()
    assert not errors, "requests failed during reload: %r" % errors[:5]
    assert not wait_pids_gone(old, T(5)), "old workers still alive after reload"
    assert h.poll() is None, "the master exited on SIGHUP"
    served = {int(h.get("/pid").body) for _ in range(6)}
    assert served <= set(new.values())


def test_killed_worker_is_respawned(herd):
    h = herd("--processes", "2", workers=2)
    victim_id, victim = sorted(h.worker_pids().items())[0]
    since = h.mark()
    os.kill(victim, signal.SIGKILL)
    h.wait_for(r"worker %d \(pid %d\) killed by signal 9" % (victim_id, victim), since=since)
    new = h.wait_ready(1, since=since, timeout=10)
    assert new[victim_id] != victim
    assert not pid_alive(victim)
    pids = set(h.worker_pids().values())
    assert len(pids) == 2
    for _ in range(6):
        assert int(h.get("/pid").body) in pids


def test_worker_exit_code_is_logged_and_respawned(herd):
    h = herd()
    wid, wpid = next(iter(h.worker_pids().items()))
    since = h.mark()
    with h.client() as c:
        c.send_request("GET", "/exit?code=3")
        assert c.wait_closed(5)
    h.wait_for(r"worker %d \(pid %d\) exited with code 3" % (wid, wpid), since=since)
    new = h.wait_ready(1, since=since, timeout=10)
    assert new[wid] != wpid
    assert int(h.get("/pid").body) == new[wid]


def test_respawn_with_threads_in_the_master(herd):
    """Forks while an app thread in the master hammers a logging handler:
    children must come up and be able to log (CPython's fork hooks ran)."""
    h = herd("--processes", "2", app="thread_at_import.py", workers=2)
    for i in range(4):
        wid, wpid = sorted(h.worker_pids().items())[i % 2]
        since = h.mark()
        os.kill(wpid, signal.SIGKILL)
        new = h.wait_ready(1, since=since, timeout=10)
        assert new[wid] != wpid
    for _ in range(6):
        r = h.get("/", timeout=5)
        assert r.status == 200
        assert "spinner" not in r.json()["threads"], "a master thread shows as alive in a worker"


# ---------------------------------------------------------------- no orphans


def test_master_sigkill_leaves_no_orphans(herd):
    h = herd("--processes", "2", "--threads", "2", workers=2)
    workers = set(h.worker_pids().values())
    os.kill(h.pid, signal.SIGKILL)
    h.wait(5)
    alive = wait_pids_gone(workers, T(5))
    assert not alive, "workers %r survived their master" % alive


def test_master_sigkill_busy_worker_exits_too(herd):
    h = herd()
    c, busy = _start_sleep(h, 30, "o1")
    try:
        os.kill(h.pid, signal.SIGKILL)
        h.wait(5)
        alive = wait_pids_gone([busy], T(5))
        assert not alive, "busy worker %r survived its master" % alive
    finally:
        c.close()


# ---------------------------------------------------------------- app loading failures


def _exits(h, timeout):
    code = h.wait(timeout)
    h.join_readers()
    return code


def test_import_error_exits_1_with_traceback(herd):
    h = herd(app="import_error.py", wait=False)
    assert _exits(h, 10) == 1
    assert "Traceback (most recent call last)" in h.log
    assert "RuntimeError: import-boom-7f3a" in h.log
    assert not h.find_all(r"worker \d+ ready")


def test_syntax_error_exits_nonzero(herd):
    h = herd(app="syntax_error.py", wait=False)
    assert _exits(h, 10) != 0
    assert "SyntaxError" in h.log


def test_missing_wsgi_file_exits_nonzero(herd, tmp_path):
    missing = str(tmp_path / "nope.py")
    h = herd("--wsgi-file", missing, app=None, wait=False)
    assert _exits(h, 10) != 0
    assert "nope.py" in h.log


def test_missing_module_exits_nonzero(herd):
    h = herd("--module", "no_such_module_4242", app=None, wait=False)
    assert _exits(h, 10) != 0
    assert "no_such_module_4242" in h.log


def test_missing_callable_exits_nonzero(herd):
    h = herd(app="no_callable.py", wait=False)
    assert _exits(h, 10) != 0
    assert h.log.strip()
    assert not h.find_all(r"worker \d+ ready")


def test_lazy_import_error_exits_without_respawn_loop(herd):
    h = herd("--lazy-apps", "--processes", "2", app="import_error.py", wait=False)
    assert _exits(h, 15) != 0
    assert "RuntimeError: import-boom-7f3a" in h.log
    spawns = len(h.find_all(r"worker \d+ spawned"))
    assert spawns <= 6, "%d spawns: a respawn loop" % spawns
    assert not wait_pids_gone(h.all_worker_pids(), T(3))


# ---------------------------------------------------------------- preload vs lazy


def _imports(tmp_path):
    p = tmp_path / "imports"
    return [int(x) for x in p.read_text().split()] if p.exists() else []


def test_preload_imports_once_in_master(herd, tmp_path):
    h = herd("--processes", "2", app="importpid.py", workers=2)
    workers = set(h.worker_pids().values())
    assert _imports(tmp_path) == [h.pid]
    for _ in range(4):
        r = h.get_json("/")
        assert r["import_pid"] == h.pid
        assert r["pid"] in workers
        assert r["ppid"] == h.pid


def test_lazy_apps_import_in_each_worker(herd, tmp_path):
    h = herd("--lazy-apps", "--processes", "2", app="importpid.py", workers=2)
    workers = set(h.worker_pids().values())
    assert sorted(_imports(tmp_path)) == sorted(workers)
    for _ in range(4):
        r = h.get_json("/")
        assert r["import_pid"] == r["pid"]
        assert r["pid"] in workers
    # a respawned worker imports again
    wid, wpid = sorted(h.worker_pids().items())[0]
    since = h.mark()
    os.kill(wpid, signal.SIGKILL)
    new = h.wait_ready(1, since=since, timeout=10)
    assert new[wid] in _imports(tmp_path)
    assert h.pid not in _imports(tmp_path)


def test_spawn_timeout_kills_a_stuck_worker(herd, tmp_path):
    h = herd("--lazy-apps", "--spawn-timeout", "1", app="spawn_slow.py", wait=False)
    h.wait_listening()
    first = tmp_path / "spawn-first"
    assert wait_until(first.exists, T(10)), "the first worker never started importing"
    stuck = int(first.read_text())
    h.wait_for(r"worker \d+ \(pid %d\) killed by signal" % stuck, timeout=10)
    ready = h.wait_ready(1, timeout=20)
    assert stuck not in ready.values()
    assert h.get("/").status == 200


def test_lazy_apps_reload_reimports(herd, tmp_path):
    h = herd("--lazy-apps", "--processes", "2", app="importpid.py", workers=2)
    old = set(h.worker_pids().values())
    since = h.mark()
    h.signal(signal.SIGHUP)
    new = set(h.wait_ready(2, since=since, exclude_pids=old, timeout=15).values())
    # the reload is over when the old workers are gone (they finish what they accepted)
    assert not wait_pids_gone(old, T(5)), "old workers still alive after reload"
    imports = _imports(tmp_path)
    assert sorted(imports) == sorted(old | new), "each new worker imports the app again"
    r = h.get_json("/")
    assert r["pid"] in new and r["import_pid"] == r["pid"]
