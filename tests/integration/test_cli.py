"""The command line: --help/--version, option errors, sockets, and the options
that decide which app is loaded and how (--chdir, --pythonpath, --env,
--callable, --module, --home, aliases)."""

import os
import re
import shutil
import socket
import subprocess
import sys

import pytest

from conftest import APPS, HERD_BIN, REPO, T, app_path, request, unix_request


def run_herd(*args, timeout=10, cwd=None):
    """Runs herd to completion (for commands that must exit by themselves)."""
    if not os.path.exists(HERD_BIN):
        pytest.fail("herd binary not found at %s" % HERD_BIN)
    try:
        return subprocess.run([HERD_BIN] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=T(timeout), cwd=cwd)
    except subprocess.TimeoutExpired as e:
        pytest.fail("herd %s did not exit within %ss (stderr: %r)" % (" ".join(map(str, args)), T(timeout), e.stderr))


# ---------------------------------------------------------------- --help, --version


def test_version():
    r = run_herd("--version")
    assert r.returncode == 0, r
    out = r.stdout.decode()
    assert re.match(r"herd 0\.1\.0 \(Python 3\.\d+\.\d+", out), out


def test_help_lists_the_main_options():
    r = run_herd("--help")
    assert r.returncode == 0, r
    out = r.stdout.decode()
    for opt in ("--http-socket", "--wsgi-file", "--module", "--callable", "--processes", "--threads",
                "--lazy-apps", "--chdir", "--pythonpath", "--env", "--buffer-size", "--limit-post",
                "--socket-timeout", "--http-keepalive", "--worker-reload-mercy", "--version"):
        assert opt in out, "--help does not mention %s" % opt


# ---------------------------------------------------------------- option errors


@pytest.mark.parametrize("args, name", [
    (["--no-such-option"], "--no-such-option"),
    (["--processes", "abc"], "--processes"),
    (["--threads", "many"], "--threads"),
    (["--buffer-size", "big"], "--buffer-size"),
    (["--limit-post", "-x"], "--limit-post"),
    (["--http-keepalive", "soon"], "--http-keepalive"),
    (["--env", "NO_EQUALS_SIGN"], "--env"),
])
def test_bad_option_exits_2_naming_it(args, name):
    r = run_herd("--http-socket", "127.0.0.1:0", "--wsgi-file", app_path("basic.py"), *args)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert name.encode() in r.stderr, r.stderr


def test_value_missing_for_last_option_exits_2():
    r = run_herd("--wsgi-file", app_path("basic.py"), "--http-socket")
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert b"--http-socket" in r.stderr, r.stderr


def test_no_app_given_exits_2():
    r = run_herd("--http-socket", "127.0.0.1:0")
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr.strip(), "no message on stderr"


def test_no_socket_given_exits_2():
    r = run_herd("--wsgi-file", app_path("basic.py"))
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr.strip(), "no message on stderr"


# ---------------------------------------------------------------- sockets


def test_port_zero_logs_the_real_port_and_serves(herd):
    h = herd()
    assert re.search(r"listening on 127\.0\.0\.1:(\d+) \(http\)", h.log)
    assert h.port != 0
    r = h.get("/")
    assert (r.status, r.body) == (200, b"hello world")


def test_http_alias_and_colon_port_form(herd):
    # ":0" means all interfaces, port picked by the kernel
    h = herd("--http", ":0", socket_addr=None)
    r = request(h.port, "GET", "/", host="127.0.0.1")
    assert (r.status, r.body) == (200, b"hello world")


def _ipv6_loopback_works():
    if not socket.has_ipv6:
        return False
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback_works(), reason="no IPv6 loopback on this machine")
def test_ipv6_socket(herd):
    h = herd("--http-socket", "[::1]:0", socket_addr=None)
    assert re.search(r"listening on \[::1\]:\d+ \(http\)", h.log), h.log
    r = request(h.port, "GET", "/env", host="::1")
    assert r.status == 200
    env = r.json()
    assert env["REMOTE_ADDR"] == "::1"
    assert env["SERVER_PORT"] == str(h.port)


def test_unix_socket(herd, tmp_path):
    path = str(tmp_path / "herd.sock")
    h = herd("--http-socket", path, socket_addr=None)
    assert re.search(r"listening on %s \(http\)" % re.escape(path), h.log), h.log
    r = unix_request(path, "GET", "/")
    assert (r.status, r.body) == (200, b"hello world")
    r = unix_request(path, "POST", "/echo", body=b"over unix")
    assert (r.status, r.body) == (200, b"over unix")


def test_accepted_compat_flags_and_aliases(herd):
    # uWSGI command lines carry these; they must be accepted and work together
    h = herd("--master", "--enable-threads", "--die-on-term", "--listen", "64",
             "--workers", "2", "--threads", "2", workers=2)
    env = h.get_json("/env")
    assert env["wsgi.multiprocess"] is True
    assert env["wsgi.multithread"] is True


def test_short_p_and_equals_form(herd):
    h = herd("-p", "2", "--threads=1", workers=2)
    assert len(h.worker_pids()) == 2
    env = h.get_json("/env")
    assert env["wsgi.multiprocess"] is True
    assert env["wsgi.multithread"] is False


# ---------------------------------------------------------------- which app


def test_callable_option(herd):
    h = herd("--callable", "my_entry", app="custom_callable.py")
    assert h.get("/").body == b"from my_entry"


def test_default_callable_is_application(herd):
    h = herd(app="custom_callable.py")
    assert h.get("/").body == b"from application"


def test_app_fallback(herd):
    h = herd(app="app_fallback.py")
    r = h.get("/")
    assert (r.status, r.body) == (200, b"from app var")


def test_module_with_callable(herd):
    h = herd("--pythonpath", APPS, "--module", "pkg.sub.wsgi:entry", app=None)
    assert h.get("/").body == b"pkg entry helper-ok"


def test_module_without_callable_and_w_alias(herd):
    h = herd("--pythonpath", APPS, "-w", "pkg.sub.wsgi", app=None)
    assert h.get("/").body == b"pkg application"


def test_chdir_is_applied_before_loading(herd, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(app_path("basic.py"), site / "myapp.py")
    # relative --wsgi-file resolves against --chdir; the app runs there too
    h = herd("--chdir", site, "--wsgi-file", "myapp.py", app=None, cwd=REPO)
    r = h.get("/cwd")
    assert r.status == 200
    assert os.path.realpath(r.text) == os.path.realpath(str(site))


def test_pythonpath_repeatable(herd, tmp_path):
    a = tmp_path / "a"
    b = tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "entry_mod.py").write_text(
        "from helper_mod import TEXT\n"
        "def application(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [TEXT.encode()]\n")
    (b / "helper_mod.py").write_text("TEXT = 'two paths ok'\n")
    h = herd("--pythonpath", a, "--pythonpath", b, "--module", "entry_mod", app=None)
    assert h.get("/").body == b"two paths ok"


def test_env_option(herd):
    h = herd("--env", "HERD_T_ONE=1", "--env", "HERD_T_TWO=a=b c", app="basic.py")
    r = h.get_json("/getenv?k=HERD_T_ONE,HERD_T_TWO")
    assert r == {"HERD_T_ONE": "1", "HERD_T_TWO": "a=b c"}


def test_env_option_visible_at_import(herd, tmp_path):
    (tmp_path / "envimport.py").write_text(
        "import os\n"
        "AT_IMPORT = os.environ.get('HERD_T_IMPORT', 'missing')\n"
        "def application(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [AT_IMPORT.encode()]\n")
    h = herd("--env", "HERD_T_IMPORT=seen", "--wsgi-file", tmp_path / "envimport.py", app=None)
    assert h.get("/").body == b"seen"


def _make_venv(path):
    r = subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)],
                       capture_output=True, timeout=60)
    if r.returncode != 0:
        pytest.skip("cannot create a venv here: %r" % r.stderr[-300:])
    sp = subprocess.run([str(path / "bin" / "python"), "-c",
                         "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                        capture_output=True, timeout=30, text=True)
    return sp.stdout.strip()


def test_home_virtualenv(herd, tmp_path):
    venv = tmp_path / "venv"
    purelib = _make_venv(venv)
    with open(os.path.join(purelib, "only_in_venv.py"), "w") as f:
        f.write("WHERE = 'venv package'\n")
    (tmp_path / "uses_venv.py").write_text(
        "import sys, json, only_in_venv\n"
        "def application(environ, start_response):\n"
        "    body = json.dumps({'where': only_in_venv.WHERE, 'prefix': sys.prefix}).encode()\n"
        "    start_response('200 OK', [('Content-Type', 'application/json')])\n"
        "    return [body]\n")
    h = herd("--home", venv, "--wsgi-file", tmp_path / "uses_venv.py", app=None)
    r = h.get_json("/")
    assert r["where"] == "venv package"
    assert os.path.realpath(r["prefix"]) == os.path.realpath(str(venv))


def test_examples_hello(herd):
    h = herd("--wsgi-file", os.path.join(REPO, "examples", "hello.py"), app=None)
    r = h.get("/")
    assert (r.status, r.body) == (200, b"Hello, World!\n")
