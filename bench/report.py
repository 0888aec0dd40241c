#!/usr/bin/env python3
"""Renders the markdown report (docs/performance.md) of one bench run, from its files only.

  report.py OUT                   print the report of the run in OUT (runs.jsonl, meta.json, cg.jsonl)
  report.py OUT --write FILE      also write it to FILE (e.g. docs/performance.md)

Every number in the report comes from OUT; nothing is typed in by hand except the fixed target
limits below (from the project's issue).
"""
import argparse
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import WORKLOADS, WORKLOAD_ORDER, fmt, fmt_ms  # noqa: E402

# bjoern is not in Debian: its figures are the issue's, measured on a machine of this kind with the same harness.
BJOERN_US = 8.8  # server CPU µs/request on hello keep-alive
BJOERN_NGINX_US = 7.1  # nginx `return 200` in that same measurement
BJOERN_IR = 13600  # user-space instructions per hello request (callgrind)


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def load(outdir):
    def jl(name):
        p = os.path.join(outdir, name)
        return [json.loads(l) for l in open(p) if l.strip()] if os.path.exists(p) else []
    meta = json.load(open(os.path.join(outdir, "meta.json"))) if os.path.exists(os.path.join(outdir, "meta.json")) else {}
    runs = jl("runs.jsonl")
    meta["discarded"] = [r for r in runs if r.get("discarded")]
    return meta, [r for r in runs if not r.get("discarded")], jl("cg.jsonl")


def stats(runs):
    """{(server, wl): {...medians...}} over the good runs of each pair"""
    groups = {}
    for r in runs:
        groups.setdefault((r["server"], r["workload"]), []).append(r)
    out = {}
    for key, g in groups.items():
        good = [r for r in g if not r.get("error")]
        s = {"n": len(good), "failed": [r.get("error") for r in g if r.get("error")]}
        if good:
            s.update(
                rps=med([r["rps"] for r in good]),
                rps_reps=[r["rps"] for r in sorted(good, key=lambda r: r["rep"])],
                p50=med([r["p50_ms"] for r in good]), p99=med([r["p99_ms"] for r in good]),
                cpu_us=med([r.get("server_cpu_us_per_req") for r in good]),
                cpu_pct=med([r.get("server_cpu_pct") for r in good]),
                wrk_pct=med([r.get("wrk_cpu_pct") for r in good]),
                rss=med([r.get("worker_rss_mib") for r in good]),
                pss=med([r.get("tree_pss_mib") for r in good]),
                sock_err=sum(r["sock_err"] for r in good), non2xx=sum(r["non2xx"] for r in good),
                requests=sum(r["requests"] or 0 for r in good),
                conns=min([r["conns_answered"] for r in good if r.get("conns_answered") is not None] or [None]),
                other=med([r.get("other_cpu_pct") for r in good]),
            )
        out[key] = s
    return out


def val(st, server, wl, field):
    s = st.get((server, wl))
    return s.get(field) if s else None


def ratio(a, b):
    return a / b if a is not None and b else None


RUN_FIELD = {"cpu_us": "server_cpu_us_per_req", "rps": "rps", "p99": "p99_ms", "rss": "worker_rss_mib"}


def paired(runs, a, b, wl, field):
    """Median over the repetitions of a's figure over b's in the same repetition (the two runs are seconds
    apart, so drift on the machine hits both alike), and how many repetitions had both; (None, 0) if none."""
    key = RUN_FIELD[field]
    by = {}
    for r in runs:
        if r["workload"] == wl and r["server"] in (a, b) and not r.get("error") and r.get(key):
            by.setdefault(r["rep"], {})[r["server"]] = r[key]
    rs = [v[a] / v[b] for v in by.values() if a in v and b in v]
    return (statistics.median(rs), len(rs)) if rs else (None, 0)


def targets(st, cg, runs=()):
    """(what, herd value, reference, ratio, limit, met) rows. With pair=(a, b, wl, field), the ratio that
    decides is the median of the per-repetition ratios (scaled by `scale`); the ratio of the medians is
    shown beside it."""
    rows = []

    def row(what, a, b, fa, fb, limit, lower_is_better=True, pair=None, scale=1.0):
        r = ratio(a, b)
        shown = "-" if r is None else "%.2f×" % r
        if pair is not None:
            pr, n = paired(runs, *pair)
            if pr is not None and n >= 2:
                shown = "%.2f× (paired, %d reps; of medians %s)" % (pr * scale, n, shown)
                r = pr * scale
        if r is None:
            met = "n/a"
        elif limit is None:
            met = "(info)"
        else:
            met = "yes" if (r <= limit if lower_is_better else r >= limit) else "**no**"
        lim = "-" if limit is None else ("≤ %.2f×" % limit if lower_is_better else "≥ %.2f×" % limit)
        rows.append((what, fa(a), fb(b), shown, lim, met))

    us = lambda v: "-" if v is None else "%.1f µs" % v  # noqa: E731
    mib = lambda v: "-" if v is None else "%.1f MiB" % v  # noqa: E731
    rps = lambda v: "-" if v is None else "%s req/s" % fmt(v)  # noqa: E731
    herd_a = val(st, "herd", "A", "cpu_us")
    row("A hello keep-alive: server CPU/req, herd vs bjoern's 8.8 µs (the issue's figure, another day)", herd_a,
        BJOERN_US, us, lambda v: "%.1f µs (bjoern)" % v, 1.0)
    nginx_a = val(st, "nginx", "A", "cpu_us")
    row("A hello keep-alive: server CPU/req, herd vs bjoern scaled to this run "
        "(8.8 µs × this run's nginx / the issue's nginx 7.1 µs)", herd_a,
        None if nginx_a is None else BJOERN_US * nginx_a / BJOERN_NGINX_US, us, lambda v: "%.1f µs (bjoern, scaled)" % v,
        1.0, pair=("herd", "nginx", "A", "cpu_us"), scale=BJOERN_NGINX_US / BJOERN_US)
    row("A hello keep-alive: server CPU/req, herd vs nginx `return 200`", herd_a, val(st, "nginx", "A", "cpu_us"),
        us, us, 1.15, pair=("herd", "nginx", "A", "cpu_us"))
    row("A hello keep-alive: server CPU/req, herd vs uWSGI", herd_a, val(st, "uwsgi", "A", "cpu_us"), us, us, None,
        pair=("herd", "uwsgi", "A", "cpu_us"))
    row("E Flask hello: server CPU/req, herd vs uWSGI", val(st, "herd", "E", "cpu_us"),
        val(st, "uwsgi", "E", "cpu_us"), us, us, 0.5, pair=("herd", "uwsgi", "E", "cpu_us"))
    row("D POST 1 MiB: server CPU/req, herd vs uWSGI --threads 4", val(st, "herd", "D", "cpu_us"),
        val(st, "uwsgi-threads4", "D", "cpu_us"), us, us, 0.5, pair=("herd", "uwsgi-threads4", "D", "cpu_us"))
    row("D POST 1 MiB: server CPU/req, herd --threads 4 vs uWSGI --threads 4", val(st, "herd-threads4", "D", "cpu_us"),
        val(st, "uwsgi-threads4", "D", "cpu_us"), us, us, None, pair=("herd-threads4", "uwsgi-threads4", "D", "cpu_us"))
    # wrk's latency covers answered requests only: a server that serves c of the 64 connections at a time
    # (uWSGI's --http11-socket: one per thread) leaves the others unanswered and shows the latency of c clients.
    hc, uc = val(st, "herd", "A", "conns"), val(st, "uwsgi", "A", "conns")
    row("A hello 64 conns: herd answers every open connection (answered of 64 at once; uWSGI: %s)" % (
        "-" if uc is None else uc), hc, 64, lambda v: "-" if v is None else "%d" % v, lambda v: "%d" % v, 1.0,
        lower_is_better=False)
    p99h, p99u = val(st, "herd", "A", "p99"), val(st, "uwsgi", "A", "p99")
    r = ratio(p99h, p99u)
    if uc is not None and uc < 64:
        rows.append(("A hello 64 conns: p99 latency, herd vs uWSGI", fmt_ms(p99h), fmt_ms(p99u),
                     "-" if r is None else "%.2f×" % r, "≤ 1.00×",
                     "n/a: uWSGI answered %d of the 64 connections; its p99 is that of %d client%s "
                     "(see A1 for equal terms)" % (uc, uc, "" if uc == 1 else "s")))
    else:
        row("A hello 64 conns: p99 latency, herd vs uWSGI", p99h, p99u, fmt_ms, fmt_ms, 1.0)
    row("A1 hello 1 conn: p99 latency, herd vs uWSGI (both serve the one connection)",
        val(st, "herd", "A1", "p99"), val(st, "uwsgi", "A1", "p99"), fmt_ms, fmt_ms, 1.0,
        pair=("herd", "uwsgi", "A1", "p99"))
    row("A hello: worker RSS, herd vs uWSGI", val(st, "herd", "A", "rss"), val(st, "uwsgi", "A", "rss"), mib, mib, 1.0)
    row("E Flask hello: worker RSS, herd vs uWSGI", val(st, "herd", "E", "rss"), val(st, "uwsgi", "E", "rss"),
        mib, mib, 1.0)
    row("A hello: req/s, herd --threads 4 vs --threads 1", val(st, "herd-threads4", "A", "rps"),
        val(st, "herd", "A", "rps"), rps, rps, 0.9, lower_is_better=False, pair=("herd-threads4", "herd", "A", "rps"))
    row("E Flask hello: req/s, herd --threads 4 vs --threads 1", val(st, "herd-threads4", "E", "rps"),
        val(st, "herd", "E", "rps"), rps, rps, None, pair=("herd-threads4", "herd", "E", "rps"))
    row("A hello: req/s, herd 2 workers vs 1 (same core)", val(st, "herd-workers2", "A", "rps"),
        val(st, "herd", "A", "rps"), rps, rps, None, pair=("herd-workers2", "herd", "A", "rps"))
    row("E Flask hello: req/s, herd 2 workers vs 1 (same core)", val(st, "herd-workers2", "E", "rps"),
        val(st, "herd", "E", "rps"), rps, rps, None, pair=("herd-workers2", "herd", "E", "rps"))
    ir = {(r["server"], r["workload"]): r.get("ir_per_req") for r in cg if not r.get("error")}
    irf = lambda v: "-" if v is None else "{:,} Ir".format(v)  # noqa: E731
    if ir:
        row("A hello: instructions/req (callgrind), herd vs bjoern's 13.6k (the issue's figure)",
            ir.get(("herd", "A")), BJOERN_IR, irf, irf, 1.0)
        row("A hello: instructions/req (callgrind), herd vs nginx", ir.get(("herd", "A")), ir.get(("nginx", "A")),
            irf, irf, None)
        row("A hello: instructions/req (callgrind), herd vs uWSGI", ir.get(("herd", "A")), ir.get(("uwsgi", "A")),
            irf, irf, None)
        row("E Flask hello: instructions/req (callgrind), herd vs uWSGI", ir.get(("herd", "E")),
            ir.get(("uwsgi", "E")), irf, irf, None)
    return rows


def notes(st, cg):
    """what the targets table cannot say by itself; every number from this run (or named as the issue's)"""
    out = []
    ir = {(r["server"], r["workload"]): r.get("ir_per_req") for r in cg if not r.get("error")}
    ha, he, ue = ir.get(("herd", "A")), ir.get(("herd", "E")), ir.get(("uwsgi", "E"))
    if ha and he:
        out.append("Flask hello (E): of herd's %s user-space instructions per request, at most %s are herd's own "
                   "(its whole hello request, A, parsing and writing included: %.1f%%); the rest is Flask, Werkzeug "
                   "and CPython running the app, which every server pays alike%s. Halving uWSGI's CPU per Flask "
                   "request would take a faster interpreter, not a faster server." % (
                       "{:,}".format(he), "{:,}".format(ha), 100.0 * ha / he,
                       " (uWSGI: %s in all)" % "{:,}".format(ue) if ue else ""))
    out.append("bjoern is not packaged by Debian, so it is not in this run: its figures (8.8 µs and 13.6k "
               "instructions per hello request, nginx 7.1 µs in the same measurement) are the issue's. CPU time "
               "differs from one day and machine to another; the scaled row compares herd with bjoern's ratio "
               "to nginx, and instruction counts do not depend on the machine's speed.")
    served = {srv: s_["conns"] for (srv, wl), s_ in st.items() if wl == "A" and s_.get("conns") is not None}
    if served:
        full = sorted(k for k, v in served.items() if v >= 64)
        part = sorted("%s %d" % (k, v) for k, v in served.items() if v < 64)
        out.append("Connections answered at once, of 64 (bench.py's probe after each A run: 64 connections "
                   "opened together, one request each, answers counted within 2 s): all 64 by %s; fewer by %s. "
                   "A server answering fewer leaves the others waiting unaccepted for the whole run (uWSGI's "
                   "`--http11-socket` serves one connection per thread), and wrk's latency figures leave those "
                   "out; the servers answering all 64 have a p99 that includes waiting behind the other 63." % (
                       ", ".join(full) or "none", "; ".join(part) or "none"))
    if st.get(("herd-workers2", "A")):
        out.append("herd-workers2 runs its two workers on the one server core: it shows what a second worker "
                   "costs there (wake-ups, accept spreading), not scaling, which needs a core per worker and "
                   "more than this machine's two.")
    return out


def observations(runs, cg):
    """facts worth a look, straight from the data: errors, crashes, respawns, RSS growth, slow stops"""
    out = []
    for r in runs:
        tag = "%s %s rep %s" % (r["server"], r["workload"], r["rep"])
        if r.get("error"):
            out.append("%s: error: %s" % (tag, r["error"]))
            continue
        if r.get("sock_err") or r.get("non2xx"):
            out.append("%s: wrk counted %s socket errors (%s) and %s non-2xx responses of %s requests" % (
                tag, fmt(r["sock_err"]), r["err_detail"], fmt(r["non2xx"]), fmt(r["requests"])))
        if r.get("respawned") or r.get("died"):
            out.append("%s: server processes appeared %s / disappeared %s during the measurement" % (
                tag, r.get("respawned"), r.get("died")))
        if (r.get("worker_rss_growth_mib") or 0) >= 2.0:
            out.append("%s: worker RSS grew by %.1f MiB during the %s-request measurement (to %.1f MiB)" % (
                tag, r["worker_rss_growth_mib"], fmt(r["requests"]), r["worker_rss_mib"]))
        if r.get("stop_killed"):
            out.append("%s: did not stop on SIGTERM within 10 s, killed" % tag)
        if r.get("exit_code") is not None:
            out.append("%s: exited with %s after SIGTERM" % (tag, r["exit_code"]))
    for r in cg:
        if r.get("error"):
            out.append("callgrind %s %s: %s" % (r["server"], r["workload"], r["error"]))
        elif r.get("errors"):
            out.append("callgrind %s %s: %s wrk errors" % (r["server"], r["workload"], r["errors"]))
    return out


def render(outdir):
    meta, runs, cg = load(outdir)
    st = stats(runs)
    servers = []
    for s in meta.get("servers", []) + [r["server"] for r in runs]:
        if s not in servers:
            servers.append(s)
    wls = [w for w in WORKLOAD_ORDER if any(r["workload"] == w for r in runs)]
    pk = meta.get("packages", {})
    L = []
    L += ["# Performance", "",
          "<!-- Generated by bench/report.py from the files of one run of bench/run; do not edit by hand. -->", "",
          "herd against the WSGI servers Debian ships, and nginx as the floor, on loopback: every server with one "
          "worker process pinned to one core (`taskset -c %s`), wrk with one thread pinned to the other (`taskset -c %s`), "
          "both at nice %s. Servers are interleaved: every repetition runs each workload on every server in turn, "
          "the order rotated from one repetition to the next, so drift on this shared machine hits all alike. "
          "Figures are medians over the repetitions." % (meta.get("server_cpu", "?"), meta.get("wrk_cpu", "?"),
                                                        meta.get("nice", "?")), "",
          "- Date: %s" % meta.get("date", "?"),
          "- Command: `%s` (%s repetitions × (%s s warm-up + %s s measured) per server and workload, %s min; "
          "%s)" % (meta.get("command", "?"), meta.get("reps"), meta.get("warmup_s"),
                        meta.get("duration_s"), meta.get("bench_minutes", "?"),
                        "callgrind step %s min" % meta["ir_minutes"] if "ir_minutes" in meta else "no callgrind step"),
          "- Noise control: before each run the driver waits while processes matching `%s` run; a run during "
          "which other processes used more than %s%% of a core is discarded and re-run (at most %s times): %d "
          "run(s) discarded. The \"other load\" column of the last table shows what remained." % (
              meta.get("yield_to") or "(nothing)", meta.get("redo_above", "-"), meta.get("redo", 0),
              len(meta.get("discarded", []))),
          "- Machine: %s cores, %s; Linux %s; %s" % (meta.get("cores"), meta.get("cpu_model"), meta.get("kernel"),
                                                     meta.get("os")),
          "- herd: %s, git %s%s" % (meta.get("herd_version"), meta.get("git"),
                                   " (src/ had uncommitted changes)" if meta.get("git_dirty_src") else ""),
          "- Peers (Debian packages): uWSGI %s (python3 plugin %s), Gunicorn %s, Waitress %s, Flask %s, nginx %s; "
          "wrk %s; valgrind %s; Python %s" % (
              pk.get("uwsgi-core"), pk.get("uwsgi-plugin-python3"), pk.get("python3-gunicorn"),
              pk.get("python3-waitress"), pk.get("python3-flask"), pk.get("nginx"), pk.get("wrk"),
              pk.get("valgrind"), meta.get("python")),
          ""]
    L += ["## Targets", "",
          "Server CPU per request = user + system time of the server's whole process tree during the measured "
          "seconds, over the requests wrk completed (the cost per request, whatever the throughput). Ratios are "
          "herd over the reference. Where both are measured here, the ratio that decides is the median of the "
          "per-repetition ratios (\"paired\": the two runs of a repetition are seconds apart, so the drift of "
          "this shared machine, which moves every server's figures by up to a third from one minute to the next, "
          "hits both alike); the ratio of the medians is shown beside it.", "",
          "| target | herd | reference | ratio | limit | met |", "|---|---|---|---|---|---|"]
    for row in targets(st, cg, runs):
        L.append("| %s |" % " | ".join(row))
    L += ["", "## Results", "",
          "Medians over %s repetitions. Errors: wrk's socket errors + non-2xx responses, summed over the "
          "repetitions. Worker RSS: the server process that used the most CPU, after the run. Server CPU %% and "
          "wrk CPU %%: share of one core (100 = that core saturated)." % meta.get("reps", "?"), "",
          "| workload | server | req/s | req/s per rep | p50 | p99 | server CPU µs/req | errors | worker RSS MiB "
          "| server CPU % | wrk CPU % |",
          "|---|---|---:|---|---:|---:|---:|---|---:|---:|---:|"]
    for wl in wls:
        for name in servers:
            s = st.get((name, wl))
            if not s:
                continue
            label = "%s: %s" % (wl, WORKLOADS[wl][0])
            if not s["n"]:
                L.append("| %s | %s | failed: %s | | | | | | | | |" % (label, name, (s["failed"][0] or "")[:80]))
                continue
            errs = s["sock_err"] + s["non2xx"]
            e = "0" if not errs else "%s (%s socket, %s non-2xx, of %s)" % (
                fmt(errs), fmt(s["sock_err"]), fmt(s["non2xx"]), fmt(s["requests"]))
            if s["failed"]:
                e += "; %d run(s) failed" % len(s["failed"])
            L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                label, "**%s**" % name if name.startswith("herd") else name, fmt(s["rps"]),
                " / ".join(fmt(x) for x in s["rps_reps"]), fmt_ms(s["p50"]), fmt_ms(s["p99"]), fmt(s["cpu_us"], 1),
                e, fmt(s["rss"], 1), fmt(s["cpu_pct"]), fmt(s["wrk_pct"])))
    if cg:
        L += ["", "## Instructions per request (callgrind)", "",
              "User-space instructions (callgrind Ir) of the server's whole process tree over %s s of wrk load, "
              "divided by the requests completed; kernel work (syscalls, TCP) is not counted. One run each: the "
              "count hardly depends on machine noise. `bench/cg_ir.py` (run by bench/run unless `--no-ir`)." %
              meta.get("ir_duration_s", "?"), "",
              "| server | " + " | ".join("%s: %s" % (w, WORKLOADS[w][0]) for w in
                                       sorted({r["workload"] for r in cg}, key=WORKLOAD_ORDER.index)) + " |",
              "|---|" + "---:|" * len({r["workload"] for r in cg})]
        cwls = sorted({r["workload"] for r in cg}, key=WORKLOAD_ORDER.index)
        by = {(r["server"], r["workload"]): r for r in cg}
        for name in [s for s in servers if any(r["server"] == s for r in cg)]:
            cells = []
            for w in cwls:
                r = by.get((name, w))
                if not r:
                    cells.append("n/a")
                elif r.get("error") or not r.get("ir_per_req"):
                    cells.append("failed")
                else:
                    cells.append("{:,}".format(r["ir_per_req"]))
            L.append("| %s | %s |" % (name, " | ".join(cells)))
    L += ["", "## Notes", ""] + ["- " + n for n in notes(st, cg)]
    obs = observations(runs, cg)
    L += ["", "## Anomalies recorded by the driver", ""]
    L += ["- " + o for o in obs] if obs else ["None: no errors, non-2xx, crashes, respawns or worker RSS growth of 2 MiB or more."]
    L += ["", "## Every run", "",
          "In run order. Other load: busy CPU on the machine not charged to the server or wrk (% of one core; "
          "other tenants, daemons). RSS growth: the worker's RSS after the measurement minus before it.", "",
          "<details><summary>%d runs</summary>" % len(runs), "",
          "| time | server | wl | rep | req/s | p99 | CPU µs/req | errors | worker RSS MiB | RSS growth | "
          "server CPU % | other load % |",
          "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in runs:
        if r.get("error"):
            L.append("| %s | %s | %s | %s | error: %s | | | | | | | |" % (
                r.get("time"), r["server"], r["workload"], r["rep"], r["error"][:80]))
            continue
        L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %+.1f | %s | %s |" % (
            r["time"], r["server"], r["workload"], r["rep"], fmt(r["rps"]), fmt_ms(r["p99_ms"]),
            fmt(r.get("server_cpu_us_per_req"), 1), fmt(r["sock_err"] + r["non2xx"]), fmt(r["worker_rss_mib"], 1),
            r["worker_rss_growth_mib"], fmt(r["server_cpu_pct"]), fmt(r["other_cpu_pct"])))
    L += ["", "</details>", "",
          "Reproduce: `make bench` (or `bench/run`), see [bench/README.md](../bench/README.md). Numbers from "
          "different runs or machines do not compare; only servers measured side by side in one run do.", ""]
    return "\n".join(L)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir")
    ap.add_argument("--write", help="also write the report to this file")
    args = ap.parse_args()
    text = render(args.outdir)
    if args.write:
        open(args.write, "w").write(text)
    print(text)


if __name__ == "__main__":
    main()
