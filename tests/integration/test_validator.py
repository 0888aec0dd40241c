"""An app wrapped in wsgiref.validate.validator gets many request shapes; any
PEP 3333 slip by herd shows up as a non-200 and an AssertionError/WSGIWarning
in the log (the validator also checks that close() is called)."""

import re

import pytest

from conftest import build_request


@pytest.fixture(scope="module")
def val(module_herd_factory):
    return module_herd_factory("--threads", "2", app="validated.py")


BAD = ("AssertionError", "WSGIWarning", "Traceback", "garbage collected without being closed")


@pytest.fixture(autouse=True)
def clean_log(val, request):
    """After each test: a sentinel request, then no validator complaint may be
    in the log lines written during the test."""
    since = val.mark()
    yield
    tag = request.node.name.replace("[", "_").replace("]", "_")
    assert val.get("/sentinel-" + tag).status == 200
    val.wait_for(r"validated request /sentinel-" + re.escape(tag), since=since)
    lines = "\n".join(val.lines_since(since))
    for bad in BAD:
        assert bad not in lines, "validator complained (%s):\n%s" % (bad, lines)


def test_get_with_query(val):
    r = val.get("/thing?x=1&y=two")
    assert r.status == 200, r
    assert r.json() == {"method": "GET", "path": "/thing", "query": "x=1&y=two"}


def test_get_without_query(val):
    r = val.get("/")
    assert r.status == 200, r


def test_post_read_fully(val):
    body = b"0123456789abcdefXYZ" * 100
    r = val.request("POST", "/read-all", headers=[("Content-Type", "application/octet-stream")], body=body)
    assert r.status == 200, r
    assert r.json() == {"len": len(body), "head": "0123456789abcdef"}


def test_post_read_partially(val):
    r = val.request("POST", "/read-partial", body=b"abcdefghij")
    assert (r.status, r.body) == (200, b"abc")


def test_chunked_upload(val):
    r = val.request("POST", "/read-all", body=[b"abc", b"defghijklmnopqr", b"s" * 70000], chunked=True)
    assert r.status == 200, r
    assert r.json()["len"] == 3 + 15 + 70000


def test_readline_readlines(val):
    r = val.request("POST", "/lines", body=b"first\nsecond\nthird\nfourth")
    assert r.status == 200, r
    assert r.json() == ["first\n", "se", ["cond\n", "third\n", "fourth"]]


def test_input_iteration(val):
    r = val.request("POST", "/iter", body=b"a\nb\nc")
    assert (r.status, r.body) == (200, b"a\n|b\n|c")


def test_head(val):
    with val.client() as c:
        r = c.request("HEAD", "/thing")
        assert r.status == 200, r
        assert c.request("GET", "/after").status == 200


def test_put_delete_options(val):
    for m in ("PUT", "DELETE", "OPTIONS", "PATCH"):
        r = val.request(m, "/m", body=b"" if m in ("PUT", "PATCH") else None)
        assert r.status == 200, (m, r)
        assert r.json()["method"] == m


def test_keepalive_sequence(val):
    with val.client() as c:
        for i in range(10):
            r = c.request("GET", "/seq?i=%d" % i)
            assert r.status == 200, r
            assert r.json()["query"] == "i=%d" % i
        r = c.request("POST", "/read-all", body=b"in the middle")
        assert r.json()["len"] == 13


def test_pipelined(val):
    with val.client() as c:
        c.send(build_request("POST", "/read-partial", body=b"123456")
               + build_request("GET", "/p2") + build_request("HEAD", "/p3") + build_request("GET", "/p4"))
        assert c.read_response().body == b"123"
        assert c.read_response().json()["path"] == "/p2"
        assert c.read_response(method="HEAD").status == 200
        assert c.read_response().json()["path"] == "/p4"


def test_large_streamed_response(val):
    r = val.get("/large?size=3000000", timeout=30)
    assert r.status == 200
    assert r.body == b"L" * 3000000


def test_write_callable(val):
    r = val.get("/write")
    assert (r.status, r.body) == (200, b"written;returned")


def test_no_content(val):
    with val.client() as c:
        r = c.request("GET", "/nocontent")
        assert (r.status, r.body) == (204, b"")
        assert c.request("GET", "/after").status == 200


def test_http10(val):
    with val.client() as c:
        c.send(b"GET /ten?q=1 HTTP/1.0\r\n\r\n")
        r = c.read_response()
    assert r.status == 200
    assert r.json()["query"] == "q=1"

