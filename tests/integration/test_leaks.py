"""No memory grows per request: for every way an app can answer (a list,
write(), a generator, an iterable with close(), wsgi.input, file_wrapper, an
exception, exc_info, objects kept past the request), thousands of requests
leave the worker's live Python allocations where they were. A leak of one
object per request shows as thousands of blocks; the bound is far below that."""

import pytest

from conftest import Client

ROUNDS = 2000
# Slack for caches that fill once (interned strings, freelists, method caches).
MAX_GROWTH = 150

CASES = [
    ("GET", "/list", None),
    ("GET", "/write", None),
    ("GET", "/gen", None),
    ("GET", "/closing", None),
    ("POST", "/input", b"x" * 3000),
    ("POST", "/lines", b"a\nbb\nccc\n" * 50),
    ("GET", "/filewrapper", None),
    ("GET", "/error", None),
    ("GET", "/excinfo", None),
    ("GET", "/keep", None),
]


@pytest.fixture(scope="module")
def srv(module_herd_factory):
    return module_herd_factory(app="leakcheck.py")


def _stats(c):
    r = c.request("GET", "/stats")
    assert r.status == 200
    return r.json()


def _run(srv, method, path, body, n):
    c = srv.client()
    try:
        for _ in range(n):
            r = c.request(method, path, body=body)
            assert r.status in (200, 500), (path, r.status)
            if (r.header("connection") or "").lower() == "close":  # after an app error
                c.close()
                c = srv.client()
    finally:
        c.close()


@pytest.mark.parametrize("method,path,body", CASES, ids=[c[1].strip("/") for c in CASES])
def test_no_growth_per_request(srv, method, path, body):
    with srv.client() as c:
        _run(srv, method, path, body, 300)  # warm-up: caches, freelists
        _stats(c)
        before = _stats(c)
        _run(srv, method, path, body, ROUNDS)
        after = _stats(c)
    grew = {k: after[k] - before[k] for k in before}
    assert grew["blocks"] < MAX_GROWTH and grew["objects"] < MAX_GROWTH, (
        "%s %s: live Python allocations grew by %s over %d requests" % (method, path, grew, ROUNDS))


def test_kept_start_response_and_write_refuse_after_the_request(srv):
    with srv.client() as c:
        for _ in range(6):
            assert c.request("GET", "/keep").body == b"kept"
        r = c.request("GET", "/late")
    assert r.status == 200 and r.body == b"late", r.body
