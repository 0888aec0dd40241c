#!/usr/bin/env python3
"""User-space instructions per request (callgrind Ir): a noise-free companion to bench.py's CPU time.

The server (servers.conf templates) runs under `valgrind --tool=callgrind --trace-children=yes
--instr-atstart=no`; after a warm-up, instrumentation is switched on in every valgrind process of the
server's tree, wrk runs for --ir-duration seconds, the counters are dumped, and the summed Ir of all
processes is divided by wrk's completed requests. User-space instructions only (syscalls and the TCP
stack are not counted); the count barely depends on what else the machine is doing.

  cg_ir.py [--servers herd,uwsgi] [--workloads A,E] [--ir-duration 5] [--out DIR]
Appends to OUT/cg.jsonl (bench.py runs this itself unless --no-ir).
"""
import argparse
import glob
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402


def callgrind_control(*args):
    """vgdb needs the target to wake up; a process asleep with no timeout (nginx) may never answer"""
    p = subprocess.Popen(["callgrind_control"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        return p.communicate(timeout=20)[0].decode(errors="replace")
    except subprocess.TimeoutExpired:
        for pid in sorted(bench.tree(p.pid), reverse=True):  # callgrind_control and its vgdb child, by PID
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        p.wait()
        return "timeout"


def ir_of(path):
    for line in open(path, errors="replace"):
        m = re.match(r"(?:summary|totals):\s+(\d+)", line)
        if m:
            return int(m.group(1))
    return 0


def run_one(srv, wl, args, outdir):
    port = bench.next_port(args.base_port + 300)
    tmp = os.path.join(outdir, "tmp", "cg_%s_%s" % (srv["name"], wl))
    os.makedirs(tmp, exist_ok=True)
    for f in glob.glob(os.path.join(tmp, "cg.*")):
        os.unlink(f)
    vg = "valgrind --tool=callgrind --trace-children=yes --instr-atstart=no --callgrind-out-file=%s/cg.%%p " % tmp
    p, cmd = bench.start_server(srv, wl, port, tmp, args.server_cpu, wrap=vg)
    rec = {"server": srv["name"], "workload": wl, "server_cmd": vg + cmd, "time": time.strftime("%H:%M:%S")}
    pids = {}
    try:
        ok, what = bench.wait_ready(p, port, wl, limit=180.0)
        if not ok:
            rec["error"] = what
            return rec
        bench.run_wrk(bench.wrk_argv(wl, port, 2, False, args.wrk_cpu))  # warm-up, not counted
        pids = bench.tree(p.pid)
        rec["control_timeouts"] = 0
        for pid in pids:
            if callgrind_control("-i", "on", str(pid)) == "timeout":
                rec["control_timeouts"] += 1
        argv = bench.wrk_argv(wl, port, args.ir_duration, True, args.wrk_cpu)
        out, _ = bench.run_wrk(argv)
        w = bench.parse_wrk(out)
        for pid in pids:
            callgrind_control("-d", str(pid))
        time.sleep(1)
        per_proc = {os.path.basename(f): ir_of(f) for f in glob.glob(os.path.join(tmp, "cg.*"))}
        total = sum(per_proc.values())
        rec.update(requests=w["requests"], rps=w["rps"], errors=w["sock_err"] + w["non2xx"], ir_total=total,
                   ir_per_proc=per_proc, wrk_cmd=" ".join(argv),
                   ir_per_req=round(total / w["requests"]) if w["requests"] else None)
        if not total:
            rec["error"] = "no instructions counted (callgrind_control failed?)"
        return rec
    finally:
        if not pids and p.poll() is None:
            pids = bench.tree(p.pid)
        bench.stop_server(p, pids)


def run_all(servers, wls, args, outdir):
    jl = open(os.path.join(outdir, "cg.jsonl"), "a")
    rows = []
    for wl in wls:
        for srv in servers:
            if wl not in srv["workloads"]:
                continue
            rec = run_one(srv, wl, args, outdir)
            rows.append(rec)
            jl.write(json.dumps(rec) + "\n")
            jl.flush()
            print("  callgrind %-18s %-3s %s" % (srv["name"], wl, rec.get("error") or "%s Ir/req over %s requests (errors %s)" % (
                "{:,}".format(rec["ir_per_req"] or 0), rec["requests"], rec["errors"])), file=sys.stderr)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--servers-file", default=os.path.join(bench.HERE, "servers.conf"))
    ap.add_argument("--server", action="append", default=[])
    ap.add_argument("--servers", default="herd,uwsgi,gunicorn-sync,gunicorn-gthread,waitress,nginx")
    ap.add_argument("--workloads", default="A,E")
    ap.add_argument("--ir-duration", type=int, default=5)
    ap.add_argument("--herd", default=os.path.join(bench.REPO, "herd"))
    ap.add_argument("--server-cpu", default="0")
    ap.add_argument("--wrk-cpu", default="1")
    ap.add_argument("--base-port", type=int, default=27100)
    ap.add_argument("--out", default="/tmp/herd-cg-" + time.strftime("%Y%m%d-%H%M%S"))
    args = ap.parse_args()
    bench.HERD[0] = os.path.abspath(args.herd)
    servers = [s for s in bench.load_servers(args.servers_file, args.server) if s["name"] in args.servers.split(",")]
    os.makedirs(args.out, exist_ok=True)
    bench.make_file(args.out)
    rows = run_all(servers, args.workloads.split(","), args, args.out)
    print("| server | workload | user-space Ir per request | requests counted |\n|---|---|---|---|")
    for r in rows:
        print("| %s | %s | %s | %s |" % (r["server"], r["workload"],
                                         "{:,}".format(r["ir_per_req"]) if r.get("ir_per_req") else r.get("error", "-"),
                                         r.get("requests", "-")))


if __name__ == "__main__":
    main()
