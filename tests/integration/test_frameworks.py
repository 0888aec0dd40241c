"""Real frameworks on herd: a minimal Flask app and a single-module Django app."""

import json
import urllib.parse

import pytest

from conftest import build_request


# ---------------------------------------------------------------- Flask


@pytest.fixture(scope="module")
def flask_srv(module_herd_factory):
    return module_herd_factory("--processes", "2", app="flask_app.py", workers=2)


def test_flask_route_with_query(flask_srv):
    r = flask_srv.get("/?name=herd")
    assert r.status == 200
    assert r.body == b"flask index, name=herd"
    assert r.header("Content-Type").startswith("text/html")


def test_flask_json(flask_srv):
    r = flask_srv.get("/json", headers=[("User-Agent", "herd-tests/1")])
    assert r.status == 200
    assert r.header("Content-Type") == "application/json"
    assert r.json() == {"ok": True, "items": [1, 2, 3], "ua": "herd-tests/1"}


def test_flask_form_post(flask_srv):
    body = urllib.parse.urlencode({"a": "1", "b": "caf\u00e9 & more"}).encode()
    r = flask_srv.request("POST", "/form", headers=[("Content-Type", "application/x-www-form-urlencoded")],
                          body=body)
    assert r.status == 200
    assert r.json() == {"fields": {"a": "1", "b": "caf\u00e9 & more"}, "n": 2}


def test_flask_form_post_chunked(flask_srv):
    body = b"x=chunked&y=2"
    r = flask_srv.request("POST", "/form", headers=[("Content-Type", "application/x-www-form-urlencoded")],
                          body=[body[:4], body[4:]], chunked=True)
    assert r.status == 200
    assert r.json()["fields"] == {"x": "chunked", "y": "2"}


def test_flask_multipart_upload(flask_srv):
    data = bytes(range(256)) * 400 + b"THE-END!"
    boundary = "herdboundary1234"
    body = (("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"blob.bin\"\r\n"
             "Content-Type: application/octet-stream\r\n\r\n" % boundary).encode()
            + data + ("\r\n--%s--\r\n" % boundary).encode())
    r = flask_srv.request("POST", "/upload", headers=[("Content-Type", "multipart/form-data; boundary=" + boundary)],
                          body=body, timeout=20)
    assert r.status == 200
    assert r.json() == {"filename": "blob.bin", "size": len(data), "tail": "THE-END!"}


def test_flask_404_and_405(flask_srv):
    r = flask_srv.get("/nope")
    assert r.status == 404
    r = flask_srv.get("/form")
    assert r.status == 405


def test_flask_keepalive(flask_srv):
    with flask_srv.client() as c:
        for i in range(5):
            r = c.request("GET", "/?name=%d" % i)
            assert r.body == b"flask index, name=%d" % i


# ---------------------------------------------------------------- Django


@pytest.fixture(scope="module")
def django_srv(module_herd_factory):
    return module_herd_factory("--threads", "2", app="django_app.py")


def test_django_view_with_query(django_srv):
    r = django_srv.get("/hello?name=herd")
    assert r.status == 200
    assert r.body == b"django hello, name=herd"
    assert r.header("Content-Type").startswith("text/plain")


def test_django_post_csrf_exempt(django_srv):
    body = urllib.parse.urlencode({"title": "hello", "n": "3"}).encode()
    r = django_srv.request("POST", "/post", headers=[("Content-Type", "application/x-www-form-urlencoded")],
                           body=body)
    assert r.status == 200, r
    assert r.json() == {"method": "POST", "fields": {"title": "hello", "n": "3"}, "body_len": len(body)}


def test_django_post_without_csrf_token_forbidden(django_srv):
    r = django_srv.request("POST", "/guarded", headers=[("Content-Type", "application/x-www-form-urlencoded")],
                           body=b"a=1")
    assert r.status == 403


def test_django_404(django_srv):
    r = django_srv.get("/missing")
    assert r.status == 404


def test_django_request_meta(django_srv):
    r = django_srv.get("/meta", headers=[("Host", "example.org:8080")])
    assert r.status == 200
    assert r.json() == {"host": "example.org:8080", "path": "/meta", "script_name": "",
                        "scheme": "http", "remote": "127.0.0.1"}


def test_django_pipelined(django_srv):
    with django_srv.client() as c:
        c.send(build_request("GET", "/hello?name=a") + build_request("POST", "/post", body=b"z=9",
               headers=[("Content-Type", "application/x-www-form-urlencoded")]) + build_request("GET", "/hello?name=b"))
        assert c.read_response().body == b"django hello, name=a"
        assert c.read_response().json()["fields"] == {"z": "9"}
        assert c.read_response().body == b"django hello, name=b"
