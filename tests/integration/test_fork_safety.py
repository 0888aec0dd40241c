"""Fork safety: herd forks workers from a master whose interpreter has live
Python threads, on every fork path, and the workers are correct Python
processes that serve (DESIGN.md section 2; shared/research/fork-safety.md).

Master threads are injected the way real deployments get them: by a
sitecustomize.py on PYTHONPATH (apps/fork/site/) and by the app module at
import. See apps/fork/site/forkshared.py for the threads, apps/fork/app.py for
what a worker reports, and forkutil.py for how a stuck worker is detected (a
request or readiness timeout, then a diagnosis: kernel state, faulthandler
and gdb backtraces).

The interpreter under test is the one embedded in $HERD_BIN (pytest itself
runs under Debian's python3): tests/forksafety/run-all.sh runs this file
against herd built for 3.11, 3.11-dbg, 3.12 and 3.13.
"""
import os
import re
import signal
import time

import pytest

import conftest
from conftest import SCALE, T, wait_pids_gone
from forkutil import EXIT_RE, Summary, herd_help, start, wait_file

HELP = herd_help()
HAS_MAX_REQUESTS = "--max-requests" in HELP

SCENARIOS = {
    # the thread: a pure-Python busy loop for 5 s (it holds the GIL
    # most of the time while the master forks), then it ends
    "busy": dict(threads="busy:5", env={}, names=["master-busy"]),
    # agents that never end and wake every few ms; one started by the app
    # module at import rather than by sitecustomize
    "agents": dict(threads="agent:2,agent:7", env={"FORKTEST_APP_THREAD": "1"},
                   names=["master-agent-1", "master-agent-2", "app-agent"]),
}
MODES = {
    "threads2": dict(wthreads=2),
    "threads1": dict(wthreads=1),
    "lazy": dict(wthreads=2, lazy=True),
}
RESPAWNS = 20


def expected_names(scenario, lazy):
    names = list(SCENARIOS[scenario]["names"])
    if lazy and "app-agent" in names:
        names.remove("app-agent")  # imported in each worker: a worker thread
    return names


def images(f):
    """Master images: 1, plus one per reload by re-exec (preloaded app)."""
    return len(f.p.find_all(r"starting: master pid %d" % f.p.pid))


def check_master_report(f, names):
    """The master threads are named in the log once per master image, before
    its first fork."""
    reports = f.master_thread_reports()
    assert len(reports) == images(f), \
        "want one report of the master's threads per master image (%d), got %r" % (images(f), reports)
    for n, got in reports:
        assert n == len(names) and sorted(got) == sorted(names), (reports, names)
    lines = f.p.lines_since(0)
    starts = [i for i, l in enumerate(lines) if "starting: master pid" in l] + [len(lines)]
    for a, b in zip(starts, starts[1:]):
        part = lines[a:b]
        report = [i for i, l in enumerate(part) if "running in the master at fork" in l]
        spawn = [i for i, l in enumerate(part) if "spawned (pid" in l]
        assert len(report) == 1 and spawn and report[0] < spawn[0], \
            "the report must come once, before the image's first fork:\n" + "\n".join(part)


def check_atfork_file(f, tmpdir):
    """os.register_at_fork hooks, master side: each fork ran `before` (reverse
    order) then `after_in_parent` (registration order), as around os.fork();
    each worker ran `after_in_child` once."""
    by_pid = {}
    with open(os.path.join(tmpdir, "atfork.log")) as fh:
        for line in fh:
            pid, ev = line.split()
            by_pid.setdefault(int(pid), []).append(ev)
    info = next(iter(f.infos.values()))
    ref = info["ref"]
    assert ref["child"] == ["before-B", "before-A", "child-A", "child-B"], ref
    assert ref["parent"] == ["before-B", "before-A", "parent-A", "parent-B"], ref
    forks = len(f.p.find_all(r"worker \d+ spawned \(pid \d+\)"))
    master = by_pid.pop(f.p.pid)
    assert master == ref["parent"] * (images(f) + forks), \
        "master: %d events for %d forks (+%d reference os.fork()): %r" % (
            len(master), forks, images(f), master[-12:])
    refs = [pid for pid, evs in by_pid.items() if pid not in f.p.all_worker_pids()]
    assert len(refs) == images(f), refs
    for pid in refs:
        assert by_pid.pop(pid) == ["child-A", "child-B"]
    workers = f.p.all_worker_pids()
    assert set(by_pid) <= workers, (set(by_pid), workers)
    for pid, evs in by_pid.items():
        assert evs == ["child-A", "child-B"], (pid, evs)
    # every worker that reported ready ran its hooks
    ready = {int(m.group(2)) for m in f.p.find_all(r"worker (\d+) ready \(pid (\d+)\)")}
    assert ready <= set(by_pid), sorted(ready - set(by_pid))


# --------------------------------------------------------------------------
# The matrix: first spawn, 20 SIGKILL respawns, reload, with the
# master thread running and after it ended.


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_every_fork_path_serves(herd, scenario, mode):
    """First spawn, 20 respawns after SIGKILL, a reload (SIGHUP): after each,
    every worker answers and is a correct Python process (check_info). With
    the busy thread: all of it while the thread runs, then again after it
    ended (a reload by re-exec starts a new master, whose own busy thread
    runs for 5 s again)."""
    sc, md = SCENARIOS[scenario], MODES[mode]
    summary = Summary("fork_paths[%s-%s]" % (scenario, mode))
    f = start(herd, sc["threads"], env=dict(sc["env"], FORKTEST_ATFORK="1"),
              args=["--disable-logging"], **md)
    phases = ["running", "ended"] if scenario == "busy" else ["forever"]
    for phase in phases:
        if phase == "ended":
            done = os.path.join(herd.tmpdir, "busy-done-%d" % images(f))
            assert wait_file(done, 15), "the busy thread never ended"
        before = set(f.infos)
        f.hit_all("/info")                   # first spawn (or what the last phase left)
        f.kill_cycle(RESPAWNS)               # 20 respawns, alternating workers
        if scenario == "busy":
            states = [d["busy_at_fork"] for pid, d in f.infos.items() if pid not in before]
            if phase == "running":
                assert "running" in states, states
            else:
                assert set(states) == {"done"}, states
            summary.add(**{"forks_" + phase: len(states), "forks_while_busy_" + phase: states.count("running")})
        f.reload()                           # every worker replaced
    assert f.kills == RESPAWNS * len(phases)
    check_master_report(f, expected_names(scenario, md.get("lazy")))
    check_atfork_file(f, herd.tmpdir)
    f.check_log()
    summary.add(kills=f.kills, reloads=f.reloads, workers_checked=len(f.infos),
                master_images=images(f))
    summary.emit()


@pytest.mark.skipif(not HAS_MAX_REQUESTS, reason="this herd has no --max-requests")
@pytest.mark.parametrize("mode", list(MODES))
def test_recycling_serves(herd, mode):
    """--max-requests recycles workers while master threads run (the busy
    one, then after it ended; the agents all along): every recycled worker
    is replaced and the replacements serve."""
    md = MODES[mode]
    f = start(herd, "busy:5,agent:3", env={"FORKTEST_APP_THREAD": "1", "FORKTEST_ATFORK": "1"},
              args=["--disable-logging", "--max-requests", "10"], **md)
    summary = Summary("recycling[%s]" % mode)
    for phase in ("running", "ended"):
        if phase == "ended":
            assert wait_file(os.path.join(herd.tmpdir, "busy-done-1"), 15), "busy thread never ended"
            f.wait_live()
            f.hit_all("/info", by_slot=True)
        before = set(f.infos)
        _, _, exits = f.scan()
        start_count = len(exits)
        deadline = time.monotonic() + 25
        while True:
            _, _, exits = f.scan()
            recycled = {}
            for wid, pid, code, sig, reason in exits[start_count:]:
                recycled[wid] = recycled.get(wid, 0) + 1
            if min(recycled.get(w, 0) for w in range(1, f.n + 1)) >= 3:
                break
            assert time.monotonic() < deadline, "not enough recycles: %r\n%s" % (recycled, f.p.tail())
            f.hit_all("/info", by_slot=True)
        for wid, pid, code, sig, reason in exits:
            assert sig is None and code == 0 and reason == "max-requests", \
                "worker %d (pid %d): code %r signal %r (%s)" % (wid, pid, code, sig, reason)
        states = [d["busy_at_fork"] for pid, d in f.infos.items() if pid not in before]
        if phase == "running":
            assert "running" in states, states
        else:
            assert set(states) == {"done"}, states
        summary.add(**{"recycles_" + phase: len(exits) - start_count,
                       "forks_while_busy_" + phase: states.count("running")})
    f.wait_live()
    f.hit_all("/info", by_slot=True)
    f.check_log()
    summary.add(workers_checked=len(f.infos), dropped_connections=f.dropped).emit()


# --------------------------------------------------------------------------
# The child is a correct Python process


def test_master_threads_not_reported_when_there_are_none(herd):
    f = start(herd, "")
    f.hit_all("/info")
    f.kill_cycle(2)
    f.reload()
    assert f.master_thread_reports() == []
    assert "running in the master" not in f.p.log
    f.check_log()


@pytest.mark.parametrize("lazy", [False, True], ids=["preload", "lazy"])
def test_postfork_apis_and_worker_ids(herd, lazy):
    """herd.postfork (decorator and call), uwsgidecorators.postfork, herd and
    uwsgi worker_id()/numproc/opt: ids are 1..N, distinct, kept by a
    respawned or reloaded worker; each hook runs once per worker, on its main
    thread, after the os.register_at_fork child hooks; 0 in the master."""
    f = start(herd, "agent:3", processes=3, lazy=lazy,
              env={"FORKTEST_ATFORK": "1", "FORKTEST_APP_THREAD": "1"},
              args=["--py-call-osafterfork", "--py-call-uwsgi-fork-hooks", "--enable-threads"])
    for step in ("spawn", "respawn", "reload"):
        if step == "respawn":
            f.kill_one(2)
        elif step == "reload":
            f.reload()
        infos = f.hit_all("/info")
        ids = sorted(d["wid"] for d in infos.values())
        assert ids == [1, 2, 3], (step, ids)
        for d in infos.values():
            assert d["uwsgi_opt_is_dict"]
            for r in d["postfork"]:
                # the child's at-fork hooks had run when the post-fork hooks ran
                assert r["trace"] == ["before-B", "before-A", "child-A", "child-B"], r
    f.check_log()


def test_gc_freeze(herd):
    """--gc-freeze: gc.freeze() in the master before the first fork; workers
    inherit the frozen objects and serve on every fork path."""
    f = start(herd, "busy:5,agent:3", env={"FORKTEST_APP_THREAD": "1"}, args=["--gc-freeze"])
    infos = f.hit_all("/info")
    counts = [d["gc_freeze_count"] for d in infos.values()]
    assert all(c > 1000 for c in counts), counts
    f.kill_cycle(2)
    f.reload()
    f.check_log()


@pytest.mark.parametrize("lazy", [False, True], ids=["preload", "lazy"])
def test_app_signal_handlers_do_not_break_the_master(herd, lazy):
    """The app installs Python handlers for SIGTERM/SIGHUP and SIG_IGN for
    SIGINT/SIGUSR1 at import (in the master, or in each worker with
    --lazy-apps): respawn, reload and a graceful SIGTERM stop still work."""
    f = start(herd, "agent:3", lazy=lazy, env={"FORKTEST_APP_SIGNALS": "1"})
    f.hit_all("/info")
    f.kill_one(1)
    f.hit_all("/info")
    f.reload()
    pids = set(f.live().values())
    mark = f.p.mark()
    f.p.signal(signal.SIGTERM)
    assert f.p.wait(15) == 0, f.p.tail()
    f.p.wait_for(r"SIGTERM: graceful stop", since=mark)
    _, _, exits = f.scan()
    for wid, pid, code, sig, reason in exits:
        if pid in pids:
            assert code == 0 and sig is None, (wid, pid, code, sig, reason)
    assert {pid for _, pid, _, _, _ in exits} >= pids
    f.check_log()
    ran = os.path.exists(os.path.join(herd.tmpdir, "pyhandler-ran"))
    Summary("signals[%s]" % ("lazy" if lazy else "preload")).add(python_handler_ran=ran).emit()


# --------------------------------------------------------------------------
# Hazards: stdio, logging and import locks held by master threads at fork


@pytest.mark.parametrize("mode", ["threads2", "lazy"])
def test_stdio_and_logging_while_master_thread_logs(herd, mode):
    """A master thread hammers logging to stderr (a StreamHandler from
    logging.basicConfig) and print() to stdout, so the master often forks
    while it is inside sys.stderr.write() holding the BufferedWriter lock
    (CPython gh-84579). Each worker writes to stderr and stdout in its
    post-fork hook (its first write) and logs on every request: none hangs,
    over many respawns and a reload. PYTHONUNBUFFERED is unset so that
    stdout and stderr have a BufferedWriter (and its lock)."""
    md = MODES[mode]
    kills = 12 if mode == "threads2" else 6
    f = start(herd, "logger", env={"FORKTEST_LOG_REQUESTS": "1", "PYTHONUNBUFFERED": ""},
              args=["--disable-logging"], throttle=16384, **md)
    f.hit_all("/info")
    f.kill_cycle(kills)

    def held():
        return sum(1 for d in f.infos.values() if d["probes"]["stderr"] or d["probes"]["stdout"])
    # the hazard must have happened: respawn until some worker was forked
    # while the master thread held its stream's lock (bounded)
    extra = 0
    while held() == 0 and extra < 30:
        f.kill_cycle(1)
        extra += 1
    assert held() > 0, "no fork caught the master-logger inside write(): the test did not test"
    f.reload()
    # every worker wrote its first lines (post-fork) and logged its requests
    answered = set(f.infos)
    for pid in answered:
        f.p.wait_for(r"forktest POSTFORK pid=%d " % pid, timeout=5)
        f.p.wait_for(r"forktest REQ pid=%d " % pid, timeout=5)
        with f.p.cond:
            out = list(f.p.out_lines)
        assert any("POSTFORK-OUT pid=%d" % pid in l for l in out), pid
        assert any("REQOUT pid=%d " % pid in l for l in out), pid
    probes = [d["probes"] for d in f.infos.values()]
    held_err = sum(1 for p in probes if p["stderr"])
    held_out = sum(1 for p in probes if p["stdout"])
    assert f.p.dropped > 1000, "the logger thread barely ran (%d lines)" % f.p.dropped
    f.check_log()
    Summary("stdio[%s]" % mode).add(
        workers=len(probes), master_stderr_lock_held_at_fork=held_err,
        master_stdout_lock_held_at_fork=held_out, hammer_lines=f.p.dropped).emit()


def test_master_stderr_object_would_hang_the_worker(herd):
    """The control for the test above: the same master-logger, and a
    post-fork hook that writes through the master's sys.stderr object
    instead of the worker's own (what every worker would do if herd did not
    rebuild sys.stdout/sys.stderr after fork). Some worker hangs in that
    write (gh-84579); the spawn watchdog kills it and a respawn serves."""
    f = start(herd, "logger", env={"PYTHONUNBUFFERED": "", "FORKTEST_WRITE_MASTER_STDERR": "1"},
              args=["--disable-logging"], spawn_timeout=2, throttle=16384, wait=False)
    f.p.wait_listening()

    def hung():
        return f.p.find_all(r"worker \d+ \(pid (\d+)\) not ready 2 s after fork")

    def ready_or_hung():
        deadline = time.monotonic() + 20
        while not hung():
            live, pending, _ = f.scan()
            if len(live) == f.n and not pending:
                return live
            assert time.monotonic() < deadline, f.p.tail()
            time.sleep(0.02)
        return None

    respawns = 0
    live = ready_or_hung()
    while live and respawns < 100:
        wid = 1 + respawns % f.n
        mark = f.p.mark()
        os.kill(live[wid], signal.SIGKILL)
        f.p.wait_for(r"worker %d \(pid %d\) killed by signal 9 " % (wid, live[wid]), since=mark)
        respawns += 1
        live = ready_or_hung()
    stuck = hung()
    assert stuck, "no worker hung writing through the master's stderr in %d respawns" % respawns
    open(os.path.join(herd.tmpdir, "logger-stop"), "w").close()  # later forks are safe
    f.p.wait_for(r"\(pid %s\) killed by signal 9 after 2\.\d s: spawn timeout" % stuck[0].group(1))
    f.wait_live(timeout=20)
    f.hit_all("/info")
    f.check_log(allow=("watchdog", "backoff"))
    Summary("stdio-control").add(respawns_until_hang=respawns, hung=len(stuck)).emit()


@pytest.mark.parametrize("lazy", [False, True], ids=["preload", "lazy"])
def test_app_redirected_stdout_is_kept(herd, lazy):
    """herd gives workers new sys.stdout/sys.stderr objects only in place of
    the interpreter's own: an app that redirected sys.stdout to a file at
    import keeps printing to that file in every worker."""
    from forkutil import FORK_APPS
    args = ["--http-socket", "127.0.0.1:0", "--wsgi-file", os.path.join(FORK_APPS, "redirect_app.py"),
            "--processes", "1"] + (["--lazy-apps"] if lazy else [])
    p = herd(*args, app=None)
    r = p.get("/")
    assert r.status == 200
    pid, what = r.body.decode().split(" ", 1)
    with open(os.path.join(herd.tmpdir, "app-stdout.txt")) as fh:
        printed = fh.read()
    with p.cond:
        leaked = [l for l in p.out_lines if "PRINTED-BY" in l]
    assert what == "redirected" and "PRINTED-BY pid=%s" % pid in printed and not leaked, \
        (what, printed, leaked)


def test_imports_while_master_thread_imports(herd):
    """A master thread imports modules in a loop (synthetic ones and
    colorsys from disk), so forks happen mid-import. Workers import other
    modules (in the post-fork hook and per request, fresh each time) without
    hanging. (Importing the very module the master thread was importing
    would hang: see test_spawn_watchdog[import].)"""
    f = start(herd, "importer", args=["--disable-logging"])
    f.hit_all("/info?import=1")
    f.kill_cycle(10, path="/info?import=1")
    extra = 0
    while not any(d["probes"]["module_locks_held"] for d in f.infos.values()) and extra < 30:
        f.kill_cycle(1, path="/info?import=1")
        extra += 1
    f.reload(path="/info?import=1")
    held = [d["probes"]["module_locks_held"] for d in f.infos.values()]
    assert any(held), "no fork caught the master-importer mid-import: the test did not test"
    f.check_log()
    Summary("imports").add(workers=len(held), forked_mid_import=sum(1 for h in held if h),
                           examples=sorted({n for h in held for n in h})[:3]).emit()


# --------------------------------------------------------------------------
# The spawn watchdog


def test_lock_held_across_fork_with_register_at_fork(herd):
    """The remedy docs/fork-safety.md gives for a lock that master threads
    take all the time: os.register_at_fork(before=lock.acquire,
    after_in_parent=lock.release, after_in_child=lock.release). A master
    thread holds the lock 5 ms out of every 6; each worker's post-fork hook
    takes it: none hangs, over 20 respawns."""
    f = start(herd, "lockcycler", env={"FORKTEST_POSTFORK_BLOCK": "lock2"},
              args=["--disable-logging"], spawn_timeout=5)
    f.hit_all("/info")
    f.kill_cycle(RESPAWNS)
    f.reload()
    f.check_log()


@pytest.mark.parametrize("kind", ["lock", "import"])
def test_spawn_watchdog(herd, kind):
    """A master thread holds a lock (a threading.Lock; or a module's import
    lock, being inside `import fork_slowmod`) while the workers are forked,
    and their post-fork hook needs it: they never become ready. herd's spawn
    watchdog (--spawn-timeout 2) kills each, logs why, and respawns with
    back-off; once the master thread lets go, the next worker serves."""
    hold = os.path.join(herd.tmpdir, "hold-" + kind)
    open(hold, "w").close()
    thread = {"lock": "lockholder", "import": "slowimport"}[kind]
    f = start(herd, thread + ",agent:5", env={"FORKTEST_POSTFORK_BLOCK": kind},
              spawn_timeout=2, wait=False)
    f.p.wait_listening()
    # each slot: 3 watchdog kills, the third followed by a back-off
    for wid in range(1, f.n + 1):
        f.p.wait_for(r"worker %d died 3 times in a row right after start: respawning in 0\.1 s" % wid,
                     timeout=20)
    assert f.live() == {}, "a worker became ready although the lock was held: %r" % f.live()
    stuck = f.p.find_all(r"worker (\d+) \(pid (\d+)\) not ready 2 s after fork")
    assert len(stuck) >= 2 * f.n, f.p.tail()
    for m in stuck[: 2 * f.n]:
        pid = int(m.group(2))
        f.p.wait_for(r"worker %s \(pid %d\) killed by signal 9 after 2\.\d s: spawn timeout"
                     % (m.group(1), pid), timeout=5)
    os.unlink(hold)
    t0 = time.monotonic()
    f.wait_live(timeout=15)
    recovered = time.monotonic() - t0
    f.hit_all("/info")
    # the stuck workers were reaped
    from conftest import pid_alive
    for m in stuck:
        assert not pid_alive(int(m.group(2)))
    f.check_log(allow=("watchdog", "backoff"))
    Summary("watchdog[%s]" % kind).add(watchdog_kills=len(f.p.find_all("not ready")),
                                       recovered_in_s="%.1f" % recovered).emit()


# --------------------------------------------------------------------------
# The master's loop never waits for the GIL
#
# A master thread that keeps the GIL in one long C call (apps/fork/gil_hog.py)
# delays forks: a fork needs the GIL. It must not delay anything else the
# master does: signals, reaping and logging deaths, stopping workers, exiting.

HOG_SECONDS = 4.5 * SCALE
PROMPT = T(1.0)  # "at once" for the master's loop, far below HOG_SECONDS


def start_hog(herd, processes=2):
    return herd("--processes", processes, "--threads", 1, "--disable-logging",
                app="fork/gil_hog.py", workers=processes,
                env={"HOG_SECONDS": "%.1f" % HOG_SECONDS})


def hold_gil(herd, p):
    """The master's hog thread takes the GIL for HOG_SECONDS; returns the log
    mark from which its "holding" line is."""
    mark = p.mark()
    open(os.path.join(herd.tmpdir, "hog-go"), "w").close()
    p.wait_for(r"gil-hog: holding the GIL", since=mark, timeout=5)
    return mark


def kill_worker(p, wid, since):
    """SIGKILLs worker `wid`; returns its pid and how long the master took to
    log its death."""
    pid = p.worker_pids()[wid]
    t0 = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    p.wait_for(r"worker %d \(pid %d\) killed by signal 9" % (wid, pid), since=since,
               timeout=HOG_SECONDS + 10)
    return pid, time.monotonic() - t0


def group_members(pgid):
    """Live (not zombie) processes of process group pgid."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            out.append(int(d))
    return out


def check_hog_log(p):
    text = p.log
    for rx in ("Fatal Python error", "Invalid thread state", "Traceback", "not ready",
               "AddressSanitizer", "runtime error:"):
        assert not re.search(rx, text), "%r in herd's log:\n%s" % (rx, p.tail(40))


def test_sigterm_while_master_thread_holds_gil(herd):
    """A worker dies while a master thread holds the GIL, so the master's
    respawn has to wait for the GIL; then SIGTERM: the workers are stopped
    and the master exits at once, not when the GIL comes back, and no worker
    is left behind (the fork nobody needs any more is dropped)."""
    p = start_hog(herd)
    mark = hold_gil(herd, p)
    _, death_log = kill_worker(p, 1, mark)
    t0 = time.monotonic()
    p.signal(signal.SIGTERM)
    code = p.wait(HOG_SECONDS + 10)
    took = time.monotonic() - t0
    assert code == 0, p.tail()
    assert took < PROMPT, "SIGTERM to exit took %.2f s with the GIL held (bound %.1f s):\n%s" % (
        took, PROMPT, p.tail())
    # the premise: the master thread still held the GIL when the master
    # exited; and the respawn asked for was never forked
    assert not p.find_all(r"gil-hog: released", since=mark), p.tail()
    assert not p.find_all(conftest.SPAWNED_RE.pattern, since=mark), p.tail()
    assert p.find_all(r"bye \(exit code 0\)", since=mark)
    left = wait_pids_gone(p.all_worker_pids(), T(2))
    assert not left, "workers left behind: %r\n%s" % (left, p.tail())
    deadline = time.monotonic() + T(2)
    while group_members(p.pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not group_members(p.pgid), "processes left in herd's group: %r" % group_members(p.pgid)
    check_hog_log(p)
    Summary("gil_stall_sigterm").add(sigterm_to_exit_s="%.3f" % took,
                                     death_to_log_s="%.3f" % death_log).emit()


def test_worker_death_logged_while_master_thread_holds_gil(herd):
    """Two workers die while a master thread holds the GIL: the master logs
    each death at once (the first respawn is waiting for the GIL meanwhile),
    and both are respawned once the GIL is free."""
    p = start_hog(herd)
    old = p.worker_pids()
    mark = hold_gil(herd, p)
    _, first = kill_worker(p, 1, mark)
    _, second = kill_worker(p, 2, mark)  # a respawn is waiting for the GIL now
    assert first < PROMPT and second < PROMPT, \
        "deaths logged %.2f s and %.2f s after SIGKILL with the GIL held (bound %.1f s)\n%s" % (
            first, second, PROMPT, p.tail())
    # the premise: the respawn asked for at the first death still waits
    assert not p.find_all(conftest.SPAWNED_RE.pattern, since=mark), \
        "a worker was forked before the second death was logged: the GIL was free\n" + p.tail()
    new = p.wait_ready(2, since=mark, timeout=HOG_SECONDS + 10, exclude_pids=set(old.values()))
    assert sorted(new) == [1, 2], new
    for _ in range(4):
        assert p.get("/", timeout=5).status == 200
    check_hog_log(p)
    Summary("gil_stall_deaths").add(first_death_to_log_s="%.3f" % first,
                                    second_death_to_log_s="%.3f" % second).emit()


def test_reload_while_fork_waits_for_gil(herd):
    """SIGHUP while a respawn waits for the GIL: the master says it waits for
    that fork, re-executes once it is done (the new image adopts the new
    worker too), and every worker of the old image leaves cleanly."""
    p = start_hog(herd)
    old = p.worker_pids()
    mark = hold_gil(herd, p)
    killed, _ = kill_worker(p, 1, mark)
    # the premise: the respawn has been asked for and waits for the GIL
    p.wait_for(r"worker 1: the fork has waited \d+\.\d s for the GIL", since=mark, timeout=T(3))
    t0 = time.monotonic()
    p.signal(signal.SIGHUP)
    p.wait_for(r"reload: waiting for the fork under way", since=mark, timeout=PROMPT)
    assert time.monotonic() - t0 < PROMPT
    m = p.wait_for(r"starting: master pid %d" % p.pid, since=mark, timeout=HOG_SECONDS + 10)
    start_at = max(i for i, l in enumerate(p.lines_since(0)) if m.group(0) in l)
    new = p.wait_ready(2, since=start_at, timeout=15)
    interim = {int(x.group(1)) for x in p.find_all(r"worker 1 spawned \(pid (\d+)\)", since=mark)}
    interim -= set(new.values())
    assert len(interim) == 1, (interim, p.tail())
    gone = (set(old.values()) | interim) - {killed}
    deadline = time.monotonic() + T(15)
    while True:
        exits = {int(x.group(2)): x for x in (EXIT_RE.search(l) for l in p.lines_since(mark)) if x}
        if gone <= set(exits) or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    assert gone <= set(exits), "old workers %r never exited\n%s" % (sorted(gone - set(exits)), p.tail())
    for pid in gone:
        assert exits[pid].group(3) == "0", "pid %d: %s" % (pid, exits[pid].group(0))
    assert not wait_pids_gone(gone, T(2))
    for _ in range(4):
        assert p.get("/", timeout=5).status == 200
    check_hog_log(p)
