"""herd behind a real nginx, the way it is deployed: `uwsgi_pass` to a unix
and to a TCP uwsgi socket with nginx's stock uwsgi_params, `proxy_pass` over
HTTP/1.1 with keep-alive upstream connections to a TCP --http-socket, and
nginx's default `proxy_pass` (HTTP/1.0, a connection per request) to a unix
--http-socket.

Every test goes through the four ("via" = unix, tcp, http, http10) where it
makes sense: uploads (Content-Length and chunked from the client), large and
streamed responses, HEAD, duplicate and long headers, %-encoded paths and
queries, client aborts, the environ nginx's CGI vars turn into, and an app
wrapped in wsgiref.validate.validator. After each test, and after the whole
module, nginx's error log must name no upstream error: herd never breaks the
framing nginx expects (see nginxutil.UPSTREAM_ERRORS).
"""

import hashlib
import json
import os
import re
import shutil
import threading
import time

import pytest

from conftest import T, wait_until
from nginxutil import (Nginx, nginx, require_nginx,  # noqa: F401 (nginx: a fixture)
                       short_tmpdir, uwsgi_location)

VIAS = ("unix", "tcp", "http", "http10")
UWSGI_VIAS = ("unix", "tcp")
HTTP_VIAS = ("http", "http10")
UWSGI_LISTEN_RE = r"listening on (\S+) \(uwsgi\)"

HERD_BAD = ("Traceback", "AssertionError", "WSGIWarning", "garbage collected without being closed",
            " error: ", "AddressSanitizer", "runtime error:", "killed by signal", " exited with code")


def uwsgi_addrs(h):
    """The uwsgi sockets a herd logged, in order."""
    h.wait_for(UWSGI_LISTEN_RE)
    return [m.group(1) for m in h.find_all(UWSGI_LISTEN_RE)]


def sha(data):
    return hashlib.sha256(data).hexdigest()


def pattern(size):
    from conftest import load_app_module
    global _deploy_app
    try:
        mod = _deploy_app
    except NameError:
        mod = _deploy_app = load_app_module("deploy_app.py")
    return mod.pattern(size)


def uwsgi_server(target):
    """A server block body: / and a few locations that set params the
    stock file does not (HTTPS, UWSGI_SCHEME) or turn buffering off."""
    return "\n".join([
        "location / { %s }" % uwsgi_location(target),
        "location /https-on/ { %s }" % uwsgi_location(target, "uwsgi_param HTTPS on;"),
        "location /scheme/ { %s }" % uwsgi_location(target, "uwsgi_param UWSGI_SCHEME https;"),
        "location /unbuffered/ { %s }" % uwsgi_location(
            target, "uwsgi_buffering off; uwsgi_request_buffering off;"),
        # an app mounted under a prefix: nginx sets SCRIPT_NAME and the rest of
        # the path (uWSGI's modifier1 30 did the split; herd refuses it)
        "location ~ ^/mount(/.*)$ { %s }" % uwsgi_location(
            target, "uwsgi_param SCRIPT_NAME /mount; uwsgi_param PATH_INFO $1;"),
        "location /m30/ { %s }" % uwsgi_location(
            target, "uwsgi_param SCRIPT_NAME /m30; uwsgi_modifier1 30;"),
    ])


PROXY = ('proxy_http_version 1.1; proxy_set_header Connection ""; '
         'proxy_set_header Host $host; proxy_set_header X-Forwarded-For $remote_addr;')


def http_server(upstream):
    return "\n".join([
        "location / { proxy_pass http://%s; %s }" % (upstream, PROXY),
        "location /unbuffered/ { proxy_pass http://%s; %s proxy_buffering off; "
        "proxy_request_buffering off; }" % (upstream, PROXY),
    ])


def http10_server(path):
    # nginx's defaults: HTTP/1.0 to the upstream, a new connection per request
    common = "proxy_set_header Host $host; proxy_set_header X-Forwarded-For $remote_addr;"
    return "\n".join([
        "location / { proxy_pass http://unix:%s:; %s }" % (path, common),
        "location /unbuffered/ { proxy_pass http://unix:%s:; %s proxy_buffering off; "
        "proxy_request_buffering off; }" % (path, common),
    ])


def upstream_block(name, addr):
    # keepalive_timeout below herd's --http-keepalive (5 s): nginx must never
    # reuse a connection herd is about to close (docs/migrating-from-uwsgi.md)
    return "upstream %s { server %s; keepalive 16; keepalive_timeout 4s; }" % (name, addr)


class Stack:
    pass


@pytest.fixture(scope="module")
def stack(module_herd_factory, tmp_path_factory):
    require_nginx()
    st = Stack()
    st.sockdir = short_tmpdir()
    st.ngx = None
    try:
        app_sock = os.path.join(st.sockdir, "app.sock")
        http_sock = os.path.join(st.sockdir, "app-http.sock")
        val_sock = os.path.join(st.sockdir, "val.sock")
        st.app = module_herd_factory("--http-socket", "127.0.0.1:0", "--socket", app_sock,
                                     "--socket", "127.0.0.1:0", "--http-socket", http_sock,
                                     "--processes", "2", "--threads", "2",
                                     app="deploy_app.py", workers=2)
        st.app_dir = module_herd_factory.tmpdir
        st.val = module_herd_factory("--http-socket", "127.0.0.1:0", "--socket", val_sock,
                                     "--threads", "2", app="validated.py")
        app_uwsgi = uwsgi_addrs(st.app)
        assert app_uwsgi[0] == app_sock, app_uwsgi
        tcp = app_uwsgi[1]
        assert re.match(r"127\.0\.0\.1:\d+$", tcp) and not tcp.endswith(":0"), tcp
        servers = {
            "unix": uwsgi_server("unix:" + app_sock),
            "tcp": uwsgi_server(tcp),
            "http": http_server("herd_http"),
            "http10": http10_server(http_sock),
            "val-uwsgi": "location / { %s }" % uwsgi_location("unix:" + val_sock),
            "val-http": "location / { proxy_pass http://herd_val; %s }" % PROXY,
        }
        extra = upstream_block("herd_http", st.app.address) + "\n" + \
            upstream_block("herd_val", st.val.address)
        st.ngx = Nginx(tmp_path_factory.mktemp("nginx"), servers, http_extra=extra)
        st.ngx.start()
        yield st
    finally:
        if st.ngx is not None:
            st.ngx.stop()
            print("==== nginx error log\n" + st.ngx.log_text())
        shutil.rmtree(st.sockdir, ignore_errors=True)


@pytest.fixture(autouse=True)
def clean_logs(stack):
    """No upstream error in nginx's log, and no traceback or error in herd's,
    from what each test did."""
    since = stack.ngx.log_mark()
    marks = (stack.app.mark(), stack.val.mark())
    yield
    errs = stack.ngx.upstream_errors(since)
    assert not errs, "nginx logged upstream errors:\n" + "\n".join(errs)
    for h, m in zip((stack.app, stack.val), marks):
        lines = h.lines_since(m)
        bad = [l for l in lines if any(b in l for b in HERD_BAD)]
        assert not bad, "herd logged:\n" + "\n".join(lines)


def get(stack, via, path, **kw):
    return stack.ngx.request(via, "GET", path, **kw)


def get_json(stack, via, path, **kw):
    r = stack.ngx.request(via, kw.pop("method", "GET"), path, **kw)
    assert r.status == 200, (r, stack.ngx.log_text()[-2000:])
    return r.json()


# ---------------------------------------------------------------- environ


@pytest.mark.parametrize("via", VIAS)
def test_environ_of_a_get(stack, via):
    env = get_json(stack, via, "/env?a=1&b=%20x")
    assert env["REQUEST_METHOD"] == "GET"
    assert env["SCRIPT_NAME"] == ""
    assert env["PATH_INFO"] == "/env"
    assert env["QUERY_STRING"] == "a=1&b=%20x"
    assert env["REQUEST_URI"] == "/env?a=1&b=%20x"
    # the client's protocol behind uwsgi_pass; nginx's own to herd behind proxy_pass
    assert env["SERVER_PROTOCOL"] == ("HTTP/1.0" if via == "http10" else "HTTP/1.1")
    assert env["HTTP_HOST"] == "%s.test" % via
    assert env["wsgi.url_scheme"] == "http"
    # PEP 3333: no HTTP_CONTENT_*; nginx's empty CONTENT_LENGTH/CONTENT_TYPE dropped
    for k in ("HTTP_CONTENT_LENGTH", "HTTP_CONTENT_TYPE", "CONTENT_LENGTH", "CONTENT_TYPE"):
        assert k not in env, (k, env.get(k))
    if via in UWSGI_VIAS:
        # nginx's CGI vars as sent: the client's side of nginx, not herd's socket
        assert env["SERVER_NAME"] == "%s.test" % via
        assert env["SERVER_PORT"] == str(stack.ngx.port(via))
        assert env["REMOTE_ADDR"] == "127.0.0.1"  # the client's, from nginx
        assert env["REQUEST_SCHEME"] == "http"
        assert "HTTPS" not in env
        assert env["DOCUMENT_ROOT"].endswith("/html")
    elif via == "http":
        assert env["SERVER_PORT"] == str(stack.app.port)
        assert env["REMOTE_ADDR"] == "127.0.0.1"  # nginx's end of the connection
        assert env["HTTP_X_FORWARDED_FOR"] == "127.0.0.1"
    else:
        assert env["HTTP_X_FORWARDED_FOR"] == "127.0.0.1"


def test_environ_same_over_uwsgi_and_http(stack):
    """The same request through uwsgi_pass (unix, TCP) and proxy_pass gives the
    app the same PEP 3333 environ; only what differs by nature differs (the
    Host nginx names per server block, the CGI extras nginx adds over uwsgi,
    the proxy's own headers and its end of the socket)."""
    hdrs = [("X-Custom", "v1"), ("X-Custom", "v2"), ("Accept-Language", "fr"),
            ("Content-Type", "text/plain")]
    envs = {via: get_json(stack, via, "/env/a%20b/c?x=1&y=%2F", method="POST", headers=hdrs,
                          body=b"hello")
            for via in ("unix", "tcp", "http")}
    by_nature = {"HTTP_HOST", "HTTP_X_FORWARDED_FOR", "HTTP_CONNECTION", "SERVER_NAME",
                 "SERVER_PORT", "REMOTE_ADDR", "REMOTE_PORT", "DOCUMENT_ROOT", "REQUEST_SCHEME",
                 "SERVER_PROTOCOL", "_pid", "_types"}
    def core(env):
        return {k: v for k, v in env.items() if k not in by_nature}
    base = core(envs["http"])
    for via in ("unix", "tcp"):
        assert core(envs[via]) == base, (via, set(core(envs[via]).items()) ^ set(
            (k, str(v)) for k, v in base.items()))
    assert base["PATH_INFO"] == "/env/a b/c" and base["QUERY_STRING"] == "x=1&y=%2F"
    assert base["CONTENT_LENGTH"] == "5" and base["HTTP_X_CUSTOM"] == "v1, v2"


@pytest.mark.parametrize("via", VIAS)
def test_server_name_and_port_are_never_empty(stack, via):
    env = get_json(stack, via, "/env")
    assert env["SERVER_NAME"] != "" and env["SERVER_PORT"] != "", (env["SERVER_NAME"], env["SERVER_PORT"])


@pytest.mark.parametrize("via", VIAS)
def test_environ_of_a_post(stack, via):
    env = get_json(stack, via, "/env", method="POST", body=b"a=1&b=2",
                   headers=[("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")])
    assert env["REQUEST_METHOD"] == "POST"
    assert env["CONTENT_LENGTH"] == "7"
    assert env["CONTENT_TYPE"] == "application/x-www-form-urlencoded; charset=utf-8"
    assert "HTTP_CONTENT_LENGTH" not in env and "HTTP_CONTENT_TYPE" not in env


@pytest.mark.parametrize("via", UWSGI_VIAS)
@pytest.mark.parametrize("location", ["https-on", "scheme"])
def test_url_scheme_from_https_or_uwsgi_scheme(stack, via, location):
    env = get_json(stack, via, "/%s/env" % location)
    assert env["wsgi.url_scheme"] == "https"
    assert env["PATH_INFO"] == "/%s/env" % location


@pytest.mark.parametrize("via", VIAS)
def test_x_forwarded_proto_from_the_client_is_not_trusted(stack, via):
    env = get_json(stack, via, "/env", headers=[("X-Forwarded-Proto", "https"),
                                                ("X-Forwarded-Ssl", "on")])
    assert env["wsgi.url_scheme"] == "http"
    assert env["HTTP_X_FORWARDED_PROTO"] == "https"


# ---------------------------------------------------------------- paths and queries


PATHS = [
    # (request target, PATH_INFO, QUERY_STRING)
    ("/env/a%2520b", "/env/a%20b", ""),                       # decoded once, not twice
    ("/env/a%20b%2Fc", "/env/a b/c", ""),
    ("/env/caf%C3%A9", "/env/caf\u00c3\u00a9", ""),           # latin-1 str of the UTF-8 bytes
    ("/env/x%3Fy?q=%3F", "/env/x?y", "q=%3F"),
    ("/env/p?q=a%2520b&r=%26&s=caf%C3%A9&t=", "/env/p", "q=a%2520b&r=%26&s=caf%C3%A9&t="),
    ("/env/%7Euser/", "/env/~user/", ""),
]


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("target,path_info,query", PATHS, ids=[p[0] for p in PATHS])
def test_percent_encoding(stack, via, target, path_info, query):
    env = get_json(stack, via, target)
    assert env["PATH_INFO"] == path_info
    assert env["QUERY_STRING"] == query
    assert env["REQUEST_URI"] == target


@pytest.mark.parametrize("via", UWSGI_VIAS)
def test_mounted_under_a_prefix(stack, via):
    env = get_json(stack, via, "/mount/env/a%2520b?q=1")
    assert (env["SCRIPT_NAME"], env["PATH_INFO"]) == ("/mount", "/env/a%20b")
    assert (env["REQUEST_URI"], env["QUERY_STRING"]) == ("/mount/env/a%2520b?q=1", "q=1")


@pytest.mark.parametrize("via", UWSGI_VIAS)
def test_uwsgi_modifier1_30_is_refused(stack, via):
    # uWSGI's "strip SCRIPT_NAME from PATH_INFO" modifier: herd serves only
    # modifier1 0 and says so, rather than serve the wrong PATH_INFO
    since = stack.app.mark()
    r = get(stack, via, "/m30/env")
    assert r.status == 501, r
    stack.app.wait_for(r"bad uwsgi packet on .*: unsupported modifier1", since=since)


@pytest.mark.parametrize("via", UWSGI_VIAS)
def test_path_info_is_nginx_normalised_uri(stack, via):
    # uwsgi_params sends PATH_INFO = $document_uri: decoded and normalised by
    # nginx; herd takes it as it is, REQUEST_URI stays what the client sent
    env = get_json(stack, via, "/x/../env//a/./b")
    assert env["PATH_INFO"] == "/env/a/b"
    assert env["REQUEST_URI"] == "/x/../env//a/./b"


# ---------------------------------------------------------------- uploads


@pytest.mark.parametrize("via", VIAS)
def test_upload_with_content_length(stack, via):
    body = os.urandom(5 * 1024 * 1024 + 17)
    r = stack.ngx.request(via, "POST", "/upload", body=body,
                          headers=[("Content-Type", "application/octet-stream")])
    assert r.status == 200, r
    assert r.json()["len"] == len(body)
    assert r.json()["sha256"] == sha(body)
    assert r.json()["content_length"] == str(len(body))


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("location", ["", "/unbuffered"])
def test_upload_chunked_from_the_client(stack, via, location):
    pieces = [os.urandom(n) for n in (1, 65536, 1000003, 17, 2 * 1024 * 1024, 5)]
    body = b"".join(pieces)
    r = stack.ngx.request(via, "POST", location + "/upload", body=pieces, chunked=True)
    assert r.status == 200, r
    got = r.json()
    assert (got["len"], got["sha256"]) == (len(body), sha(body))
    if location == "/unbuffered" and via == "http":
        # proxy_request_buffering off over HTTP/1.1: nginx forwards it chunked;
        # herd decodes it
        assert got["content_length"] is None
    else:
        # nginx buffers the body and sends its length (uwsgi and HTTP/1.0 must)
        assert got["content_length"] == str(len(body))


@pytest.mark.parametrize("via", VIAS)
def test_empty_post(stack, via):
    r = stack.ngx.request(via, "POST", "/upload", body=b"")
    assert r.status == 200, r
    assert r.json()["len"] == 0


# ---------------------------------------------------------------- responses


@pytest.mark.parametrize("via", VIAS)
def test_large_response(stack, via):
    size = 9 * 1024 * 1024 + 3
    r = get(stack, via, "/big?size=%d" % size)
    assert r.status == 200, r
    assert r.header("Content-Length") == str(size)
    assert len(r.body) == size
    assert sha(r.body) == r.header("X-Sha256")


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("location", ["", "/unbuffered"])
def test_streamed_response_without_content_length(stack, via, location):
    n, size = 400, 10007
    r = get(stack, via, "%s/stream?n=%d&size=%d" % (location, n, size))
    assert r.status == 200, r
    assert r.chunked, "nginx re-frames a response without length for its HTTP/1.1 client"
    assert len(r.body) == n * size
    assert sha(r.body) == r.header("X-Sha256") == sha(pattern(n * size))


@pytest.mark.parametrize("via", VIAS)
def test_keepalive_client_connection_through_nginx(stack, via):
    host = [("Host", "%s.test" % via)]
    with stack.ngx.client(via) as c:
        for path in ("/stream?n=3&size=10", "/big?size=1000", "/env", "/stream?n=1&size=0"):
            r = c.request("GET", path, headers=host)
            assert r.status == 200, (path, r)
        r = c.request("POST", "/upload", headers=host, body=b"x" * 1000)
        assert r.json()["len"] == 1000


@pytest.mark.parametrize("via", VIAS)
def test_head(stack, via):
    host = [("Host", "%s.test" % via)]
    with stack.ngx.client(via) as c:
        r = c.request("HEAD", "/big?size=100000", headers=host)
        assert r.status == 200, r
        assert r.header("Content-Length") == "100000"
        r = c.request("HEAD", "/stream?n=5&size=100", headers=host)
        assert r.status == 200, r
        # nothing of either body may follow: the next response parses cleanly
        r = c.request("GET", "/big?size=10", headers=host)
        assert (r.status, r.body) == (200, pattern(10))
    if via == "http":
        # the same upstream connection served a HEAD and then more: no stray
        # body was left on it (nginx would log "upstream sent ...")
        for _ in range(3):
            assert get(stack, via, "/big?size=10").body == pattern(10)


@pytest.mark.parametrize("via", VIAS)
def test_duplicate_and_long_request_headers(stack, via):
    cookie = "session=" + "s" * 6000 + "; csrftoken=" + "c" * 64
    headers = [("X-Multi", "a"), ("X-Multi", "b, c"), ("X-Multi", "d"), ("Cookie", cookie),
               ("Accept", "text/html"), ("Accept", "application/json")]
    headers += [("X-Extra-%d" % i, "v%d" % i) for i in range(40)]
    env = get_json(stack, via, "/env", headers=headers)
    assert env["HTTP_X_MULTI"] == "a, b, c, d"
    assert env["HTTP_ACCEPT"] == "text/html, application/json"
    assert env["HTTP_COOKIE"] == cookie
    for i in range(40):
        assert env["HTTP_X_EXTRA_%d" % i] == "v%d" % i


@pytest.mark.parametrize("via", VIAS)
def test_response_with_many_header_values(stack, via):
    r = get(stack, via, "/cookies?n=20")
    assert (r.status, r.body) == (200, b"ok"), r
    cookies = r.header_all("Set-Cookie")
    assert cookies == ["c%d=%s; Path=/" % (i, "v" * 100) for i in range(20)]
    assert r.header_all("X-Multi") == ["one", "two", "three"]


# ---------------------------------------------------------------- client aborts


@pytest.mark.parametrize("via", VIAS)
@pytest.mark.parametrize("location", ["", "/unbuffered"])
def test_client_abort_mid_response_runs_close(stack, via, location):
    tag = "%s%s-%d" % (via, location.replace("/", "-"), time.monotonic_ns())
    mark = os.path.join(stack.app_dir, "closed-" + tag)
    with stack.ngx.client(via) as c:
        c.send_request("GET", "%s/abort?tag=%s&limit=%d" % (location, tag, T(30)),
                       headers=[("Host", "%s.test" % via)])
        got = 0
        while got < 300 * 1024:
            data = c.sock.recv(65536)
            assert data, "nginx closed before the response was under way"
            got += len(data)
        assert c.buf == b"" and got > 0
    # the client is gone: nginx drops the upstream request, herd's next write
    # fails and the app's close() runs well before the response would end
    assert wait_until(lambda: os.path.exists(mark), T(15)), \
        "close() did not run after the client left:\n" + stack.app.tail()
    with open(mark) as f:
        info = json.load(f)
    assert info["finished"] is False, info
    # and herd serves on
    assert get(stack, via, "/big?size=10").body == pattern(10)


# ---------------------------------------------------------------- load


@pytest.mark.parametrize("via", VIAS)
def test_concurrent_requests(stack, via):
    results, errors = [], []

    def one(i):
        try:
            if i % 3 == 0:
                body = os.urandom(100000 + i)
                r = stack.ngx.request(via, "POST", "/upload", body=body)
                ok = r.status == 200 and r.json()["sha256"] == sha(body)
            elif i % 3 == 1:
                r = get(stack, via, "/big?size=%d" % (300000 + i))
                ok = r.status == 200 and sha(r.body) == r.header("X-Sha256")
            else:
                r = get(stack, via, "/stream?n=50&size=%d" % (1000 + i))
                ok = r.status == 200 and sha(r.body) == r.header("X-Sha256")
            results.append(ok or r)
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(T(30))
    assert not errors, errors
    assert results == [True] * 24, results


@pytest.mark.parametrize("via", ["http"])
def test_upstream_keepalive_connections_are_reused(stack, via):
    # With one nginx worker and `keepalive 16`, requests in a row go over one
    # upstream connection: herd sees the same REMOTE_PORT (nginx's end).
    ports = {get_json(stack, via, "/env")["REMOTE_PORT"] for _ in range(6)}
    assert len(ports) == 1, ports


# ---------------------------------------------------------------- PEP 3333 behind nginx


VALIDATED = [
    ("GET", "/thing?x=1&y=two", None, {}),
    ("GET", "/", None, {}),
    ("GET", "/p%C3%A5th%2520x?q=%26&r", None, {}),
    ("POST", "/read-all", b"0123456789abcdefXYZ" * 5000, {"headers": [("Content-Type", "application/octet-stream")]}),
    ("POST", "/read-all", b"", {}),
    ("POST", "/read-partial", b"abcdefghij" * 1000, {}),
    ("POST", "/read-all", [b"abc", b"defghijklmnopqr", b"s" * 70000], {"chunked": True}),
    ("POST", "/lines", b"first\nsecond\nthird\nfourth", {}),
    ("POST", "/iter", b"a\nb\nc", {}),
    ("PUT", "/read-all", b"put body", {}),
    ("DELETE", "/thing", None, {}),
    ("OPTIONS", "/thing", None, {}),
    ("PATCH", "/read-all", b"{}", {"headers": [("Content-Type", "application/json")]}),
    ("HEAD", "/thing", None, {}),
    ("GET", "/nocontent", None, {}),
    ("GET", "/large?size=3000000", None, {}),
    ("GET", "/write", None, {}),
    ("GET", "/thing", None, {"headers": [("Cookie", "a=1; b=2"), ("X-Dup", "1"), ("X-Dup", "2"),
                                         ("User-Agent", "validator/1")]}),
]


@pytest.mark.parametrize("via", ["val-uwsgi", "val-http"])
def test_wsgiref_validator_behind_nginx(stack, via):
    since = stack.val.mark()
    for method, path, body, kw in VALIDATED:
        r = stack.ngx.request(via, method, path, body=body, **kw)
        assert r.status in (200, 204), (method, path, r)
        if path.startswith("/large"):
            assert r.body == b"L" * 3000000
        if path == "/write":
            assert r.body == b"written;returned"
        if path.startswith("/read-all") and method in ("POST", "PUT", "PATCH"):
            data = b"".join(body) if isinstance(body, list) else body
            assert r.json()["len"] == len(data), (method, path, r)
    # the validator reports in herd's log: a request line per request, no complaint
    stack.val.wait_for(r"validated request ", since=since, count=len(VALIDATED))
    lines = "\n".join(stack.val.lines_since(since))
    for bad in HERD_BAD:
        assert bad not in lines, "validator complained (%s):\n%s" % (bad, lines)
    assert lines.count("validated request ") == len(VALIDATED), lines


# ---------------------------------------------------------------- the whole run


def test_zz_whole_nginx_error_log_names_no_upstream_error(stack):
    # after all the traffic above (client aborts included): nginx may log the
    # client side closing, never a broken upstream
    errs = stack.ngx.upstream_errors(0)
    assert not errs, "\n".join(errs)
    text = "\n".join(stack.ngx.error_lines(0))
    assert "[crit]" not in text and "[alert]" not in text and "[emerg]" not in text, text


# ---------------------------------------------------------------- --buffer-size


def test_uwsgi_packet_larger_than_buffer_size_is_refused(herd, nginx, tmp_path):
    sockdir = short_tmpdir()
    try:
        small = os.path.join(sockdir, "small.sock")
        large = os.path.join(sockdir, "large.sock")
        h1 = herd("--socket", small, app="deploy_app.py")
        h2 = herd("--socket", large, "--buffer-size", "32k", app="deploy_app.py")
        ngx = nginx({"small": "location / { %s }" % uwsgi_location("unix:" + small),
                     "large": "location / { %s }" % uwsgi_location("unix:" + large)})
        cookie = [("Cookie", "big=" + "x" * 9000)]
        # under the default 8192 the packet passes
        assert ngx.request("small", "GET", "/env", headers=[("Cookie", "c=" + "x" * 6000)]).status == 200
        since = h1.mark()
        r = ngx.request("small", "GET", "/env", headers=cookie)
        assert r.status == 413, r  # a clean response nginx passes on, not a dropped connection
        h1.wait_for(r"uwsgi packet of \d+ bytes .* is larger than --buffer-size 8192", since=since)
        # the same request with --buffer-size 32k
        r = ngx.request("large", "GET", "/env", headers=cookie)
        assert r.status == 200, r
        assert r.json()["HTTP_COOKIE"] == cookie[0][1]
        # both herds still serve, and nginx saw no broken upstream
        assert ngx.request("small", "GET", "/env").status == 200
        assert not h2.find_all("larger than --buffer-size")
        assert not ngx.upstream_errors()
    finally:
        shutil.rmtree(sockdir, ignore_errors=True)
