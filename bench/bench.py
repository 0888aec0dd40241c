#!/usr/bin/env python3
"""herd against peer WSGI servers on loopback (wrk): server pinned to one core, wrk to another.

For each repetition, for each workload, for each server (the order rotated every repetition, so
A B C, B C A, C A B ...: drift hits every server alike): start the server on a fresh port, check one
response, warm up, measure with wrk, read the server's CPU time and its worker's RSS, stop the server
(SIGTERM to the PID started, then SIGKILL to the recorded PIDs left). Then, unless --no-ir, count
user-space instructions per request under callgrind (cg_ir.py), and render the report (report.py).

  bench.py [--servers a,b] [--workloads A,E] [--reps 3] [--duration 5] [--warmup 1] [--out DIR]
           [--herd ./herd] [--server 'NAME|WORKLOADS|COMMAND TEMPLATE' ...] [--doc docs/performance.md]
  bench.py --check ...          start each server/workload once, validate the response, no load
  bench.py --list               list servers and workloads
  report.py OUT                 re-render the report of an earlier run

Results: OUT/runs.jsonl (one JSON object per run), OUT/raw/*.txt (wrk output with both commands),
OUT/meta.json (machine, versions, command), OUT/cg.jsonl (instructions), OUT/report.md.
Only 127.0.0.1 is ever contacted. See servers.conf for the template syntax.
"""
import argparse
import http.client
import json
import os
import platform
import re
import resource
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
APPS = os.path.join(HERE, "apps")
PY = "/usr/bin/python3"
HZ = os.sysconf("SC_CLK_TCK")
FILE_SIZE = 65536

NICE = []  # e.g. ["nice", "-n", "-20"], set from --nice
HERD = [os.path.join(REPO, "herd")]  # set from --herd
FILE = [""]  # the 64 KiB file of workload F, made in OUT
HELLO = b"Hello, World!"
# id: (description, app module, path, connections, extra wrk args, expected-body check)
WORKLOADS = {
    "A": ("hello, keep-alive, 64 conns", "hello", "/", 64, [], lambda b: b == HELLO),
    "A1": ("hello, keep-alive, 1 conn (latency)", "hello", "/", 1, [], lambda b: b == HELLO),
    "B": ("hello, Connection: close, 16 conns", "hello", "/", 16, ["-H", "Connection: close"], lambda b: b == HELLO),
    "C": ("64 KiB body, keep-alive, 16 conns", "big64k", "/64k", 16, [], lambda b: len(b) == 65536),
    "D": ("POST 1 MiB, app reads all, 16 conns", "post_len", "/post", 16,
          ["-s", os.path.join(HERE, "wrk", "post1m.lua")], lambda b: b == b"1048576"),
    "E": ("Flask hello, keep-alive, 64 conns", "flask_hello", "/", 64, [], lambda b: b == HELLO),
    "F": ("64 KiB file via wsgi.file_wrapper, 16 conns", "file_wrapper", "/file", 16, [],
          lambda b: len(b) == FILE_SIZE),
}
WORKLOAD_ORDER = ["A", "A1", "B", "C", "D", "E", "F"]


def load_servers(path, extra):
    servers = []
    lines = open(path).read().splitlines() if path else []
    for line in lines + list(extra):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split("|", 2)]
        if len(parts) != 3:
            sys.exit("bad server line (want NAME | WORKLOADS | COMMAND): " + line)
        name, wl, cmd = parts
        wls = WORKLOAD_ORDER if wl == "*" else [w.strip() for w in wl.split(",") if w.strip()]
        servers = [s for s in servers if s["name"] != name]  # later definition wins
        servers.append({"name": name, "workloads": wls, "cmd": cmd})
    return servers


# ---------------------------------------------------------------- /proc helpers
def proc_stat(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rindex(")") + 2:].split()
    # fields after comm: state(3) ppid(4) ... utime(14) stime(15) ... starttime(22)
    return {"ppid": int(rest[1]), "cpu": int(rest[11]) + int(rest[12]), "start": int(rest[19])}


def tree(root):
    """root and all its descendants: {pid: starttime}"""
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(int(d))
            if st:
                kids.setdefault(st["ppid"], []).append((int(d), st["start"]))
    st = proc_stat(root)
    if not st:
        return {}
    out, todo = {root: st["start"]}, [root]
    while todo:
        for pid, start in kids.get(todo.pop(), []):
            if pid not in out:
                out[pid] = start
                todo.append(pid)
    return out


def cpu_ticks(pids):
    """{pid: utime+stime ticks} for the pids still alive"""
    out = {}
    for p in pids:
        st = proc_stat(p)
        if st:
            out[p] = st["cpu"]
    return out


def rss_kib(pid):
    try:
        for line in open("/proc/%d/status" % pid):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kib(pid):
    try:
        for line in open("/proc/%d/smaps_rollup" % pid):
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_busy():
    """{cpuN: (busy, total, steal, process, irq)} ticks from /proc/stat; process = user+nice+system, irq = irq+softirq"""
    out = {}
    for line in open("/proc/stat"):
        if line.startswith("cpu"):
            f = line.split()
            v = [int(x) for x in f[1:9]]  # user nice system idle iowait irq softirq steal
            proc, irq = v[0] + v[1] + v[2], v[5] + v[6]
            out[f[0]] = (proc + irq + v[7], sum(v), v[7], proc, irq)
    return out


def cpu_list(spec):
    """'0' / '0,1' / '0-2' -> [0, 1, 2]"""
    out = []
    for part in str(spec).split(","):
        a, _, b = part.partition("-")
        out += list(range(int(a), int(b or a) + 1))
    return out


def core_pct(c0, c1, cpus, idx):
    """% of the listed cores' time spent in column idx (0 busy, 2 steal, 4 irq)"""
    num = sum(c1["cpu%d" % c][idx] - c0["cpu%d" % c][idx] for c in cpus)
    tot = max(1, sum(c1["cpu%d" % c][1] - c0["cpu%d" % c][1] for c in cpus))
    return round(100.0 * num / tot, 1)


def tcp_active_opens():
    """system-wide count of TCP connections opened (connect) so far, from /proc/net/snmp"""
    lines = [l.split() for l in open("/proc/net/snmp") if l.startswith("Tcp:")]
    return int(lines[1][lines[0].index("ActiveOpens")])


# ---------------------------------------------------------------- server control
def port_free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


_port = [0]


def next_port(base):
    for _ in range(400):
        p = base + _port[0] % 200
        _port[0] += 1
        if port_free(p):
            return p
    sys.exit("no free port")


def request(port, wl, timeout=5.0):
    desc, app, path, conns, extra, check = WORKLOADS[wl]
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Connection": "close"} if wl == "B" else {}
        body = None
        method = "GET"
        if wl == "D":
            method, body = "POST", b"x" * 1048576
            headers["Content-Type"] = "application/octet-stream"
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        data = r.read()
        return r.status == 200 and check(data), "%s %r" % (r.status, data[:40])
    finally:
        c.close()


def conns_answered(port, wl, n, wait=2.0):
    """Opens n connections at once, sends one request on each, and counts those answered (a whole status
    line) within `wait` seconds: how many connections the server serves at the same time. wrk's latency
    figures only cover the requests that were answered, so a server that leaves connections waiting
    unaccepted shows a low p99 for the few it serves."""
    import selectors
    path = WORKLOADS[wl][2]
    req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (path, port)).encode()
    sel = selectors.DefaultSelector()
    socks, got = [], {}
    try:
        for _ in range(n):
            sk = socket.socket()
            sk.setblocking(False)
            sk.connect_ex(("127.0.0.1", port))
            socks.append(sk)
            sel.register(sk, selectors.EVENT_WRITE)
        deadline = time.time() + wait
        sent = set()
        while len(got) < n and time.time() < deadline:
            for key, ev in sel.select(timeout=max(0.0, deadline - time.time())):
                sk = key.fileobj
                if ev & selectors.EVENT_WRITE and sk not in sent:
                    try:
                        sk.send(req)
                    except OSError:
                        continue
                    sent.add(sk)
                    sel.modify(sk, selectors.EVENT_READ)
                elif ev & selectors.EVENT_READ:
                    try:
                        data = sk.recv(65536)
                    except OSError:
                        data = b""
                    got[sk] = got.get(sk, b"") + data
                    if not data or b"\r\n" in got[sk]:
                        sel.unregister(sk)
        return sum(1 for v in got.values() if v.startswith(b"HTTP/1."))
    finally:
        for sk in socks:
            sk.close()
        sel.close()


def make_file(outdir):
    FILE[0] = os.path.join(outdir, "file64k")
    if not os.path.isfile(FILE[0]) or os.path.getsize(FILE[0]) != FILE_SIZE:
        with open(FILE[0], "wb") as f:
            f.write(b"f" * FILE_SIZE)
    os.environ["BENCH_FILE"] = FILE[0]


def server_cmd(srv, wl, port, tmp):
    app = WORKLOADS[wl][1]
    vals = {"port": str(port), "app": app, "appfile": os.path.join(APPS, app + ".py"), "apps": APPS,
            "bench": HERE, "py": PY, "tmp": tmp, "herd": shlex.quote(HERD[0]), "file": shlex.quote(FILE[0])}
    # only {known} placeholders are replaced, so shell ${VAR:-default} stays intact
    return re.sub(r"\{(\w+)\}", lambda m: vals.get(m.group(1), m.group(0)), srv["cmd"])


def start_server(srv, wl, port, tmp, cpu, wrap=""):
    cmd = server_cmd(srv, wl, port, tmp)
    os.makedirs(tmp, exist_ok=True)
    log = open(os.path.join(tmp, "server.log"), "wb")
    argv = NICE + ["taskset", "-c", str(cpu), "sh", "-c", "exec " + wrap + cmd]
    p = subprocess.Popen(argv, cwd=APPS, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return p, cmd


def wait_ready(p, port, wl, limit=20.0):
    t0 = time.time()
    last = "no answer"
    while time.time() - t0 < limit:
        if p.poll() is not None:
            return False, "server exited with %s" % p.returncode
        try:
            ok, what = request(port, wl)
            return ok, what
        except (ConnectionError, OSError, http.client.HTTPException) as e:
            last = repr(e)
            time.sleep(0.1)
    return False, "not ready after %.0fs: %s" % (limit, last)


def stop_server(p, pids):
    """SIGTERM the PID we started; SIGKILL it and any of its recorded descendants (same PID+starttime) left."""
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    deadline = time.time() + 3
    left = []
    while time.time() < deadline:
        left = [pid for pid, start in pids.items() if (proc_stat(pid) or {}).get("start") == start]
        if not left:
            return []
        time.sleep(0.1)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return left


# ---------------------------------------------------------------- wrk
UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def ms(v):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", v)
    return float(m.group(1)) * UNIT[m.group(2)] if m else None


def parse_wrk(out):
    r = {"rps": None, "requests": None, "p50_ms": None, "p75_ms": None, "p90_ms": None, "p99_ms": None,
         "lat_avg_ms": None, "lat_max_ms": None, "sock_err": 0, "non2xx": 0, "err_detail": ""}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        r["rps"] = float(m.group(1))
    m = re.search(r"(\d+) requests in", out)
    if m:
        r["requests"] = int(m.group(1))
    for pct in ("50", "75", "90", "99"):
        m = re.search(r"^\s+%s%%\s+(\S+)" % pct, out, re.M)
        if m:
            r["p%s_ms" % pct] = ms(m.group(1))
    m = re.search(r"Latency\s+(\S+)\s+(\S+)\s+(\S+)", out)
    if m:
        r["lat_avg_ms"], r["lat_max_ms"] = ms(m.group(1)), ms(m.group(3))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        r["sock_err"] = sum(int(x) for x in m.groups())
        r["err_detail"] = "connect %s read %s write %s timeout %s" % m.groups()
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        r["non2xx"] = int(m.group(1))
    return r


def wrk_argv(wl, port, duration, latency, cpu):
    desc, app, path, conns, extra, check = WORKLOADS[wl]
    a = NICE + ["taskset", "-c", str(cpu), "wrk", "-t1", "-c%d" % conns, "-d%ds" % duration]
    if latency:
        a.append("--latency")
    return a + extra + ["http://127.0.0.1:%d%s" % (port, path)]


def run_wrk(argv):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return out.decode(errors="replace"), cpu_s


# ---------------------------------------------------------------- politeness and noise gate
def machine_busy(sample=0.5):
    """CPU busy on the whole machine over `sample` seconds, in % of one core."""
    a = cpu_busy()["cpu"]
    time.sleep(sample)
    b = cpu_busy()["cpu"]
    return 100.0 * (b[0] - a[0]) / HZ / sample


def others_matching(regex):
    """PIDs (not ours) whose command line matches regex: e.g. other people's test suites"""
    if not regex:
        return []
    mine = set(tree(os.getpid()))
    out = []
    rx = re.compile(regex)
    for d in os.listdir("/proc"):
        if d.isdigit() and int(d) not in mine:
            try:
                cmd = open("/proc/%s/cmdline" % d, "rb").read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if cmd and rx.search(cmd):
                out.append(int(d))
    return out


def wait_turn(args):
    """Before a run: wait while --yield-to matches a process (poll 30 s, at most --yield-wait s), then until the
    machine's load is below --quiet-pct (at most --quiet-wait s). Returns (pre-run load %, seconds waited)."""
    t0 = time.time()
    said = False
    while others_matching(args.yield_to) and time.time() - t0 < args.yield_wait:
        if not said:
            print("    waiting: processes matching %r are running" % args.yield_to, file=sys.stderr)
            said = True
        time.sleep(30)
    busy = machine_busy()
    t1 = time.time()
    while busy > args.quiet_pct and time.time() - t1 < args.quiet_wait:
        print("    waiting for quiet: machine busy %.0f%% of a core" % busy, file=sys.stderr)
        time.sleep(4)
        busy = machine_busy()
    return round(busy, 1), round(time.time() - t0, 1)


# ---------------------------------------------------------------- one run
def one_run(srv, wl, rep, args, outdir):
    port = next_port(args.base_port)
    tag = "%s_%s_r%d" % (srv["name"], wl, rep)
    tmp = os.path.join(args.tmp, tag)
    rec = {"server": srv["name"], "workload": wl, "rep": rep, "port": port}
    if not args.check:
        rec["pre_busy_pct"], rec["wait_s"] = wait_turn(args)
    rec["time"] = time.strftime("%H:%M:%S")
    p, cmd = start_server(srv, wl, port, tmp, args.server_cpu)
    rec["server_cmd"] = "%staskset -c %s %s   (cwd bench/apps)" % (" ".join(NICE + [""]), args.server_cpu, cmd)
    pids = {}
    try:
        ok, what = wait_ready(p, port, wl)
        rec["check"] = what
        if not ok:
            rec["error"] = "startup/check failed: " + what
            try:
                rec["server_log_tail"] = open(os.path.join(tmp, "server.log"), errors="replace").read()[-600:]
            except OSError:
                pass
            return rec
        pids = tree(p.pid)
        rec["rss_start_mib"] = round(max(rss_kib(x) for x in pids) / 1024, 1)
        if args.check:
            return rec
        if args.warmup > 0:
            run_wrk(wrk_argv(wl, port, args.warmup, False, args.wrk_cpu))
        pids = tree(p.pid)
        rss0 = {pid: rss_kib(pid) for pid in pids}
        argv = wrk_argv(wl, port, args.duration, True, args.wrk_cpu)
        rec["wrk_cmd"] = " ".join(shlex.quote(x) for x in argv)
        c0, s0, t0, o0 = cpu_busy(), cpu_ticks(pids), time.time(), tcp_active_opens()
        out, wrk_cpu = run_wrk(argv)
        c1, wall, o1 = cpu_busy(), time.time() - t0, tcp_active_opens()
        rec["tcp_opens"] = o1 - o0  # system-wide: ~connections wrk opened (keep-alive check); others' add noise
        alive = tree(p.pid)
        s1 = cpu_ticks(pids)
        rec["respawned"] = sorted(set(alive) - set(pids))  # processes that appeared during the run (crash/recycle)
        rec["died"] = sorted(set(pids) - set(alive))
        rec.update(parse_wrk(out))
        used = {pid: s1.get(pid, s0.get(pid, 0)) - s0.get(pid, 0) for pid in pids}
        srv_ticks = sum(used.values()) + sum((proc_stat(x) or {"cpu": 0})["cpu"] for x in rec["respawned"])
        # the worker: the process of the tree that used the most CPU during the measurement
        worker = max(pids, key=lambda x: (used[x], rss0.get(x, 0)))
        rss = {pid: rss_kib(pid) for pid in alive}
        rec["worker_rss_mib"] = round(rss.get(worker, 0) / 1024, 1)
        rec["worker_rss_growth_mib"] = round((rss.get(worker, 0) - rss0.get(worker, 0)) / 1024, 1)
        rec["rss_mib"] = round(max(rss.values() or [0]) / 1024, 1)
        rec["tree_rss_mib"] = round(sum(rss.values()) / 1024, 1)
        rec["tree_pss_mib"] = round(sum(pss_kib(x) for x in alive) / 1024, 1)
        rec["nproc"] = len(alive)
        rec["server_cpu_pct"] = round(100.0 * srv_ticks / HZ / wall, 1)
        if rec["requests"]:
            rec["server_cpu_us_per_req"] = round(1e6 * srv_ticks / HZ / rec["requests"], 2)
        rec["wrk_cpu_pct"] = round(100.0 * wrk_cpu / wall, 1)
        scpus, wcpus = cpu_list(args.server_cpu), cpu_list(args.wrk_cpu)
        rec["server_core_idle_pct"] = round(100.0 - core_pct(c0, c1, scpus, 0), 1)
        rec["server_core_softirq_pct"] = core_pct(c0, c1, scpus, 4)
        rec["wrk_core_idle_pct"] = round(100.0 - core_pct(c0, c1, wcpus, 0), 1)
        rec["steal_pct"] = core_pct(c0, c1, sorted(set(scpus + wcpus)), 2)
        # busy CPU (whole machine, incl. irq/softirq, excl. steal) not charged to this server or wrk:
        # other tenants, daemons, softirq work done on their behalf (a task's stime includes softirq ticks)
        busy_s = ((c1["cpu"][0] - c0["cpu"][0]) - (c1["cpu"][2] - c0["cpu"][2])) / HZ
        rec["other_cpu_pct"] = round(100.0 * (busy_s - srv_ticks / HZ - wrk_cpu) / wall, 1)
        if wl == "A":  # the 64-connection latency comparison needs to know who serves all 64
            rec["conns_answered"] = conns_answered(port, wl, WORKLOADS[wl][3])
        with open(os.path.join(outdir, "raw", tag + ".txt"), "w") as f:
            f.write("# " + rec["server_cmd"] + "\n# " + rec["wrk_cmd"] + "\n" + out)
        if rec["rps"] is None:
            rec["error"] = "wrk output not parsed"
        if p.poll() is not None:
            rec["error"] = "server exited during the run with %s" % p.returncode
        return rec
    finally:
        if not pids:
            pids = tree(p.pid) if p.poll() is None else {}
        pids.update(tree(p.pid) if p.poll() is None else {})
        t = time.time()
        killed = stop_server(p, pids)
        rec["stop_s"] = round(time.time() - t, 2)
        if killed:
            rec["stop_killed"] = killed
        if p.returncode not in (0, None, -signal.SIGTERM) and not rec.get("error"):
            rec["exit_code"] = p.returncode


# ---------------------------------------------------------------- meta data
def sh(cmd):
    try:
        r = subprocess.run(cmd, shell=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=20)
        return r.stdout.decode(errors="replace").strip()
    except (subprocess.SubprocessError, OSError) as e:
        return "?" + repr(e)


PACKAGES = ["uwsgi-core", "uwsgi-plugin-python3", "python3-gunicorn", "python3-waitress", "python3-flask",
            "nginx", "wrk", "valgrind", "python3"]


def collect_meta(args):
    model = ""
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    pk = {}
    for p in PACKAGES:
        v = sh("dpkg-query -W -f='${Version}' %s 2>/dev/null" % p)
        pk[p] = v if v and "no packages" not in v else "not installed"
    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "command": ("BENCH_HERD=%s " % shlex.quote(os.environ["BENCH_HERD"]) if os.environ.get("BENCH_HERD") else "")
        + "bench/run " + " ".join(shlex.quote(a) for a in args.argv),
        "cpu_model": model,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "os": sh(". /etc/os-release && echo \"$PRETTY_NAME\""),
        "python": platform.python_version(),
        "herd_binary": HERD[0],
        "herd_version": sh(shlex.quote(HERD[0]) + " --version"),
        "git": sh("cd %s && git rev-parse --short HEAD" % shlex.quote(REPO)),
        "git_dirty_src": bool(sh("cd %s && git status --porcelain -- src" % shlex.quote(REPO))),
        "packages": pk,
        "reps": args.reps, "duration_s": args.duration, "warmup_s": args.warmup,
        "server_cpu": args.server_cpu, "wrk_cpu": args.wrk_cpu, "nice": args.nice,
        "redo_above": args.redo_above, "redo": args.redo, "yield_to": args.yield_to,
        "servers": args.server_names, "workloads": args.workload_ids,
        "workload_desc": {w: WORKLOADS[w][0] for w in WORKLOAD_ORDER},
    }


def fmt(v, nd=0):
    return "-" if v is None else ("{:,.%df}" % nd).format(v)


def fmt_ms(v):
    if v is None:
        return "-"
    return "%.0fµs" % (v * 1000) if v < 1 else ("%.2fms" % v if v < 10 else "%.1fms" % v)


# ---------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--servers-file", default=os.path.join(HERE, "servers.conf"))
    ap.add_argument("--server", action="append", default=[], help="extra 'NAME|WORKLOADS|COMMAND' (repeatable)")
    ap.add_argument("--servers", help="comma list of server names to run (default: all in servers.conf)")
    ap.add_argument("--workloads", default=",".join(WORKLOAD_ORDER))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--duration", type=int, default=5, help="seconds measured per run (default 5)")
    ap.add_argument("--warmup", type=int, default=1, help="seconds of load before measuring (default 1)")
    ap.add_argument("--herd", default=os.environ.get("BENCH_HERD") or os.path.join(REPO, "herd"),
                    help="the herd binary (default $BENCH_HERD, else ./herd)")
    ap.add_argument("--server-cpu", default="0", help="core(s) for the server (taskset -c; default 0)")
    ap.add_argument("--wrk-cpu", default="1", help="core(s) for wrk (default 1)")
    ap.add_argument("--base-port", type=int, default=27100)
    ap.add_argument("--quiet-pct", type=float, default=30.0,
                    help="with --quiet-wait: before each run wait until the machine is below this busy %% of one core")
    ap.add_argument("--quiet-wait", type=float, default=0.0,
                    help="max seconds to wait for quiet before each run (default 0: only record the pre-run load)")
    ap.add_argument("--yield-to", default="",
                    help="regex: before each run, wait while a process whose command line matches runs "
                         "(e.g. 'pytest|run-all.sh' on a shared machine); polls every 30 s")
    ap.add_argument("--yield-wait", type=float, default=2400.0, help="max seconds to wait per run for --yield-to")
    ap.add_argument("--redo-above", type=float, default=25.0,
                    help="a run during which other processes used more than this %% of one core is discarded "
                         "and run again (default 25)")
    ap.add_argument("--redo", type=int, default=2, help="at most this many re-runs per run (default 2)")
    ap.add_argument("--nice", type=int, default=-20,
                    help="nice value for server and wrk (default -20; 0 to disable; negative needs root)")
    ap.add_argument("--no-ir", action="store_true", help="skip the callgrind instructions-per-request step")
    ap.add_argument("--ir-servers", default="herd,uwsgi,gunicorn-sync,gunicorn-gthread,waitress,nginx")
    ap.add_argument("--ir-workloads", default="A,E")
    ap.add_argument("--ir-duration", type=int, default=5)
    ap.add_argument("--out", default=None, help="results dir (default /tmp/herd-bench-<time>)")
    ap.add_argument("--tmp", default=None, help="per-run scratch dir (default OUT/tmp)")
    ap.add_argument("--doc", default=None, help="also write the report to this file (e.g. docs/performance.md)")
    ap.add_argument("--check", action="store_true", help="only start each server per workload and validate one response")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    args.argv = sys.argv[1:]

    HERD[0] = os.path.abspath(args.herd)
    if args.nice:
        NICE[:] = ["nice", "-n", str(args.nice)]
    servers = load_servers(args.servers_file, args.server)
    if args.list:
        for s in servers:
            print("%-18s %-14s %s" % (s["name"], ",".join(s["workloads"]), s["cmd"]))
        for w in WORKLOAD_ORDER:
            print("%-3s %s" % (w, WORKLOADS[w][0]))
        return
    if args.servers:
        want = args.servers.split(",")
        unknown = [w for w in want if w not in [s["name"] for s in servers]]
        if unknown:
            sys.exit("unknown servers: %s" % unknown)
        servers = [s for s in servers if s["name"] in want]
    wls = [w for w in args.workloads.split(",") if w]
    for w in wls:
        if w not in WORKLOADS:
            sys.exit("unknown workload " + w)
    if any(s["name"].startswith("herd") for s in servers) and not os.access(HERD[0], os.X_OK):
        sys.exit("no herd binary at %s: run `make` first, or pass --herd PATH" % HERD[0])
    args.server_names = [s["name"] for s in servers]
    args.workload_ids = wls
    outdir = os.path.abspath(args.out or "/tmp/herd-bench-" + time.strftime("%Y%m%d-%H%M%S"))
    args.tmp = args.tmp or os.path.join(outdir, "tmp")
    os.makedirs(os.path.join(outdir, "raw"), exist_ok=True)
    make_file(outdir)
    meta = collect_meta(args)
    t_start = time.time()
    print("results in", outdir, file=sys.stderr)
    jl = open(os.path.join(outdir, "runs.jsonl"), "a")
    runs, dead = [], set()
    reps = 1 if args.check else args.reps
    for rep in range(1, reps + 1):
        for wl in wls:
            order = [s for s in servers if wl in s["workloads"]]
            k = (rep - 1) % max(1, len(order))
            order = order[k:] + order[:k]  # rotate so no server always runs first/last
            for srv in order:
                if (srv["name"], wl) in dead:
                    continue
                for attempt in range(args.redo + 1):
                    rec = one_run(srv, wl, rep, args, outdir)
                    noisy = (not args.check and not rec.get("error") and attempt < args.redo
                             and (rec.get("other_cpu_pct") or 0) > args.redo_above)
                    if noisy:
                        rec["discarded"] = "other load %s%% > %s%%: run again" % (rec["other_cpu_pct"], args.redo_above)
                        print("  %-18s %-3s rep%d  discarded: %s" % (srv["name"], wl, rep, rec["discarded"]),
                              file=sys.stderr)
                    jl.write(json.dumps(rec) + "\n")
                    jl.flush()
                    if not noisy:
                        break
                runs.append(rec)
                if rec.get("error") and (args.check or "startup" in rec["error"]):
                    dead.add((srv["name"], wl))
                if rec.get("error"):
                    print("  %-18s %-3s rep%d  ERROR %s" % (srv["name"], wl, rep, rec["error"]), file=sys.stderr)
                elif args.check:
                    print("  %-18s %-3s ok  %s  rss %.1f MiB" % (srv["name"], wl, rec["check"], rec["rss_start_mib"]),
                          file=sys.stderr)
                else:
                    print("  %s %-17s %-3s rep%d %9s req/s  p50 %-7s p99 %-7s err %d  worker %.1f MiB (%+.1f)  "
                          "srv %s%% %sus/req  wrk %s%%  other %s%%  srv-core idle %s%%" % (
                              rec["time"], srv["name"], wl, rep, fmt(rec["rps"]), fmt_ms(rec["p50_ms"]),
                              fmt_ms(rec["p99_ms"]), rec["sock_err"] + rec["non2xx"], rec["worker_rss_mib"],
                              rec["worker_rss_growth_mib"], rec["server_cpu_pct"], rec.get("server_cpu_us_per_req"),
                              rec["wrk_cpu_pct"], rec["other_cpu_pct"], rec["server_core_idle_pct"]), file=sys.stderr)
    if args.check:
        return 1 if dead else 0
    meta["bench_minutes"] = round((time.time() - t_start) / 60, 1)
    json.dump(meta, open(os.path.join(outdir, "meta.json"), "w"), indent=1)
    if not args.no_ir:
        import cg_ir
        t = time.time()
        ir_servers = [s for s in load_servers(args.servers_file, args.server)
                      if s["name"] in args.ir_servers.split(",")]
        cg_ir.run_all(ir_servers, args.ir_workloads.split(","), args, outdir)
        meta["ir_minutes"] = round((time.time() - t) / 60, 1)
        meta["ir_duration_s"] = args.ir_duration
        json.dump(meta, open(os.path.join(outdir, "meta.json"), "w"), indent=1)
    import report
    text = report.render(outdir)
    open(os.path.join(outdir, "report.md"), "w").write(text)
    if args.doc:
        open(args.doc, "w").write(text)
        print("wrote", args.doc, file=sys.stderr)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
