"""HTTP/1.x as a client sees it: framing, keep-alive, pipelining, HTTP/1.0,
HEAD, 100-continue, limits (414/431/413), strict parsing (400 + close) and
timeouts (idle keep-alive, slow clients), with raw sockets."""

import socket
import time

import pytest

from conftest import Client, T, build_request, pattern, request


@pytest.fixture(scope="module")
def srv(module_herd_factory):
    """A default server (1 process, 1 thread) shared by the read-only tests."""
    return module_herd_factory()


# ---------------------------------------------------------------- basics


def test_get_with_content_length(srv):
    r = srv.get("/")
    assert r.version == "HTTP/1.1"
    assert r.status == 200
    assert r.header("Content-Length") == "11"
    assert r.header("Content-Type") == "text/plain"
    assert r.body == b"hello world"


def test_status_and_reason_are_passed_through(srv):
    r = srv.get("/status?code=418&reason=I%27m+a+teapot&body=tea")
    assert (r.status, r.reason, r.body) == (418, "I'm a teapot", b"tea")


def test_keepalive_sequence_on_one_connection(srv):
    with srv.client() as c:
        for i in range(5):
            r = c.request("GET", "/status?code=200&body=n%d" % i)
            assert (r.status, r.body) == (200, b"n%d" % i)
            assert (r.header("Connection") or "").lower() != "close"
        port = c.local_port
        env = c.request("GET", "/env").json()
        assert env["REMOTE_PORT"] == str(port), "not the same connection"


def test_pipelined_requests_answered_in_order(srv):
    with srv.client() as c:
        c.send(build_request("GET", "/status?code=200&body=one")
               + build_request("POST", "/echo", body=b"two-body")
               + build_request("GET", "/status?code=201&body=three"))
        r1 = c.read_response()
        r2 = c.read_response()
        r3 = c.read_response()
    assert (r1.status, r1.body) == (200, b"one")
    assert (r2.status, r2.body) == (200, b"two-body")
    assert (r3.status, r3.body) == (201, b"three")


def test_pipelined_request_after_unread_body_is_intact(srv):
    # the app does not read the body: herd must skip it, not parse it as a request
    with srv.client() as c:
        c.send(build_request("POST", "/noread", body=b"GET /evil HTTP/1.1\r\nHost: x\r\n\r\n")
               + build_request("GET", "/status?code=200&body=next"))
        r1 = c.read_response()
        r2 = c.read_response()
    assert (r1.status, r1.body) == (200, b"not read")
    assert (r2.status, r2.body) == (200, b"next")


def test_http10_without_keepalive_is_closed(srv):
    with srv.client() as c:
        c.send(b"GET / HTTP/1.0\r\n\r\n")
        r = c.read_response()
        assert (r.status, r.body) == (200, b"hello world")
        assert c.wait_closed(3), "HTTP/1.0 connection without keep-alive left open"


def test_http10_with_keepalive_stays_open(srv):
    with srv.client() as c:
        for i in range(3):
            c.send(b"GET /status?code=200&body=k%d HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" % i)
            r = c.read_response()
            assert (r.status, r.body) == (200, b"k%d" % i)
            assert (r.header("Connection") or "").lower() == "keep-alive", r.headers


def test_connection_close_is_honoured(srv):
    with srv.client() as c:
        r = c.request("GET", "/", headers=[("Connection", "close")])
        assert r.status == 200
        assert c.wait_closed(3), "Connection: close request left open"


# ---------------------------------------------------------------- request bodies


def test_post_content_length(srv):
    body = b"x=1&y=\x00\xff binary ok"
    # lower-case header name on purpose: names are case-insensitive
    r = srv.request("POST", "/echo", headers=[("content-length", str(len(body)))], body=body)
    assert (r.status, r.body) == (200, body)


def test_post_empty_body(srv):
    r = srv.request("POST", "/echo", body=b"")
    assert (r.status, r.body) == (200, b"")


def test_chunked_request_body(srv):
    chunks = [b"hello ", b"chunked ", b"x" * 5000, b"!"]
    r = srv.request("POST", "/echo", body=chunks, chunked=True)
    assert (r.status, r.body) == (200, b"".join(chunks))


def test_chunked_request_with_extension_and_trailer(srv):
    raw = (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"5;name=value\r\nhello\r\n"
           b"6\r\n world\r\n"
           b"0\r\nX-Trailer: yes\r\n\r\n")
    with srv.client() as c:
        c.send(raw + build_request("GET", "/status?code=200&body=after"))
        r = c.read_response()
        r2 = c.read_response()
    assert (r.status, r.body) == (200, b"hello world")
    assert (r2.status, r2.body) == (200, b"after")


def test_large_upload_content_length(srv):
    body = pattern(3 * 1024 * 1024 + 7)
    r = srv.request("POST", "/echo", body=body, timeout=30)
    assert r.status == 200
    assert r.body == body


# ---------------------------------------------------------------- response framing


def test_chunked_response_on_http11(srv):
    r = srv.get("/chunks?n=3&size=5")
    assert r.status == 200
    assert r.chunked, "no Transfer-Encoding: chunked for a response without Content-Length: %r" % r.headers
    assert not r.has_header("Content-Length")
    assert r.body == b"000001111122222"


def test_chunked_response_keeps_connection_usable(srv):
    with srv.client() as c:
        r1 = c.request("GET", "/chunks?n=4&size=3")
        r2 = c.request("GET", "/")
    assert r1.body == b"000111222333"
    assert r2.body == b"hello world"


def test_close_delimited_response_on_http10(srv):
    with srv.client() as c:
        c.send(b"GET /chunks?n=3&size=5 HTTP/1.0\r\n\r\n")
        r = c.read_response()
    assert r.status == 200
    assert not r.chunked, "chunked encoding sent to an HTTP/1.0 client"
    assert r.body == b"000001111122222"


def test_http10_keepalive_without_length_closes(srv):
    with srv.client() as c:
        c.send(b"GET /chunks?n=2&size=4 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        r = c.read_response()
        assert not r.chunked
        assert r.body == b"00001111"
        assert c.wait_closed(3)


@pytest.mark.parametrize("path, size", [("/big", 8 * 1024 * 1024 + 3), ("/bigstream", 5 * 1024 * 1024 + 1)])
def test_large_response_intact(srv, path, size):
    r = srv.get("%s?size=%d" % (path, size), timeout=30)
    assert r.status == 200
    assert len(r.body) == size
    assert r.body == pattern(size)


def test_head_has_headers_and_no_body(srv):
    with srv.client() as c:
        r = c.request("HEAD", "/")
        assert r.status == 200
        assert r.header("Content-Length") == "11"
        # no body bytes may follow: the next response must parse cleanly
        r2 = c.request("GET", "/status?code=200&body=after-head")
        assert (r2.status, r2.body) == (200, b"after-head")


def test_head_of_streamed_response_sends_no_body(srv):
    with srv.client() as c:
        r = c.request("HEAD", "/chunks?n=3&size=5")
        assert r.status == 200
        r2 = c.request("GET", "/status?code=200&body=after-head")
        assert (r2.status, r2.body) == (200, b"after-head")


# ---------------------------------------------------------------- Expect: 100-continue


def test_expect_100_continue(srv):
    body = b"continued body"
    with srv.client() as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n" % len(body))
        interim = c.read_head(time.monotonic() + T(5))
        assert interim.status == 100, "expected 100 Continue before sending the body, got %r" % interim
        assert interim.version == "HTTP/1.1"
        c.send(body)
        r = c.read_response()
        assert (r.status, r.body) == (200, body)
        r2 = c.request("GET", "/")
        assert r2.body == b"hello world"


def test_expect_100_continue_chunked(srv):
    with srv.client() as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n")
        interim = c.read_head(time.monotonic() + T(5))
        assert interim.status == 100
        c.send(b"3\r\nabc\r\n0\r\n\r\n")
        r = c.read_response()
        assert (r.status, r.body) == (200, b"abc")


def test_expect_100_continue_app_does_not_read(srv):
    # the app answers without reading: the final response comes without the body being sent
    with srv.client() as c:
        c.send(b"POST /noread HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n")
        r = c.read_response(timeout=5)
        assert (r.status, r.body) == (200, b"not read")
        # 100 Continue is sent only when the app reads the body
        assert r.interim == [], "100 Continue sent although the app never read the body"


# ---------------------------------------------------------------- limits


def test_request_line_too_long_414(srv):
    with srv.client() as c:
        c.send(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        r = c.read_response()
    assert r.status == 414


def test_headers_too_big_431(srv):
    headers = [("X-Big-%d" % i, "v" * 1000) for i in range(10)]
    with srv.client() as c:
        c.send(build_request("GET", "/", headers=headers))
        r = c.read_response()
    assert r.status == 431


def test_one_hundred_headers_ok_more_431(srv):
    ok = [("X-H%d" % i, "v") for i in range(99)]  # + Host = 100 fields
    r = srv.request("GET", "/", headers=ok)
    assert r.status == 200, "100 header fields must be accepted"
    too_many = [("X-H%d" % i, "v") for i in range(100)]  # + Host = 101
    with srv.client() as c:
        c.send(build_request("GET", "/", headers=too_many))
        r = c.read_response()
    assert r.status == 431


def test_server_still_fine_after_limit_errors(srv):
    assert srv.get("/").body == b"hello world"


def test_buffer_size_option(herd):
    h = herd("--buffer-size", "32768")
    path = "/status?code=200&body=long&pad=" + "p" * 20000
    r = h.get(path)
    assert (r.status, r.body) == (200, b"long")
    with h.client() as c:
        c.send(b"GET /" + b"a" * 40000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert c.read_response().status == 414


def test_limit_post_413(herd):
    h = herd("--limit-post", "100")
    r = h.request("POST", "/echo", body=b"a" * 100)
    assert (r.status, r.body) == (200, b"a" * 100)
    with h.client() as c:
        c.send(build_request("POST", "/echo", body=b"b" * 101))
        r = c.read_response()
    assert r.status == 413
    # a huge announced body is refused from the head alone, without sending it
    with h.client() as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000\r\n\r\n")
        r = c.read_response(timeout=5)
    assert r.status == 413


# ---------------------------------------------------------------- strict framing


BAD_REQUESTS = {
    "cl-and-te": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te-and-cl": b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
    "duplicate-cl": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    "cl-list": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\nhello!",
    "cl-not-a-number": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5x\r\n\r\nhello",
    "cl-negative": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\nhello",
    "bad-chunk-size": b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    "chunk-size-overflow": (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                            b"10000000000000001\r\nhello\r\n0\r\n\r\n"),
    "bare-lf": b"GET / HTTP/1.1\nHost: x\n\n",
    "bare-lf-in-header": b"GET / HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n",
    "obs-fold": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n",
    "space-before-colon": b"GET / HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n",
    "garbage-request-line": b"HELLO\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(BAD_REQUESTS))
def test_strict_framing_400_and_close(srv, name):
    with srv.client() as c:
        c.send(BAD_REQUESTS[name])
        r = c.read_response(timeout=5)
        assert r.status == 400, "%s: got %r" % (name, r)
        assert c.wait_closed(3), "%s: connection not closed after 400" % name


def test_server_still_fine_after_bad_requests(srv):
    assert srv.get("/").body == b"hello world"


# ---------------------------------------------------------------- timeouts


def test_idle_keepalive_connection_closed_after_http_keepalive(herd):
    h = herd("--http-keepalive", "1")
    with h.client() as c:
        assert c.request("GET", "/").status == 200
        t0 = time.monotonic()
        assert c.is_open(0.4), "idle connection closed far too early"
        assert c.wait_closed(4), "idle keep-alive connection still open after --http-keepalive 1"
        elapsed = time.monotonic() - t0
        assert elapsed >= 0.4


def test_slow_head_is_cut_off(herd):
    h = herd("--socket-timeout", "2", "--http-keepalive", "30")
    with h.client() as c:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n")  # never finished
        t0 = time.monotonic()
        assert c.wait_closed(6), "half-sent head not cut off after --socket-timeout 2"
        assert time.monotonic() - t0 >= 1.0
        got = c.buf
        assert got == b"" or got.startswith(b"HTTP/1.1 408"), got[:200]
    assert h.get("/").status == 200


def test_slow_body_is_cut_off(herd):
    h = herd("--socket-timeout", "2", "--http-keepalive", "30")
    with h.client() as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhalf-")
        assert c.wait_closed(6), "half-sent body not cut off after --socket-timeout 2"
        assert not c.buf.startswith(b"HTTP/1.1 200"), c.buf[:200]
    assert h.get("/").status == 200


def test_client_not_reading_response_is_cut_off(herd):
    h = herd("--socket-timeout", "2", "--threads", "1", "--processes", "1")
    size = 32 * 1024 * 1024
    stalled = Client(h.port, rcvbuf=4096)
    try:
        stalled.send(build_request("GET", "/big?size=%d" % size))
        # the stalled reader must not keep the (only) thread busy for long
        r = request(h.port, "GET", "/", timeout=8)
        assert r.status == 200
        time.sleep(T(3))  # > --socket-timeout without reading anything
        assert stalled.wait_closed(15)
        got = len(stalled.buf)
        assert got < size, "the whole %d bytes arrived: the stalled client was never cut off" % size
    finally:
        stalled.close()


def test_idle_connections_do_not_occupy_threads(herd):
    h = herd("--threads", "1", "--processes", "1", "--http-keepalive", "30", "--socket-timeout", "30")
    clients = []
    try:
        for i in range(2):  # idle after one request
            c = h.client()
            clients.append(c)
            assert c.request("GET", "/").status == 200
        c = h.client()  # connected, never sent anything
        clients.append(c)
        slow = h.client()  # slowloris: half a head
        clients.append(slow)
        slow.send(b"GET /status?code=200&body=slow HTTP/1.1\r\nHost: x\r\n")
        t0 = time.monotonic()
        r = request(h.port, "GET", "/", timeout=3)
        assert (r.status, r.body) == (200, b"hello world")
        assert time.monotonic() - t0 < T(2)
        # and the idle ones still work afterwards
        assert clients[0].request("GET", "/").status == 200
        slow.send(b"\r\n")
        assert slow.read_response(timeout=3).body == b"slow"
    finally:
        for c in clients:
            c.close()
