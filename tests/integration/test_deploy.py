"""Deploying herd where uWSGI ran: unix socket permissions and ownership,
stale and abstract sockets, several sockets at once, --uid/--gid, --pidfile,
--daemonize, --logto with SIGUSR1, systemd's notify protocol and socket
activation, --touch-reload, ini files, --print-config, UWSGI_* variables,
refused options; and the uwsgi.ini files of tests/integration/migration/,
run unchanged (but for static-map) behind a real nginx.

Tests that need root (chown, --uid) are skipped without it.
"""

import fcntl
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import threading
import time
import types
import uuid

import pytest

from conftest import (HERD_BIN, REPO, Client, HerdProcess, T, app_path, pid_alive, request,
                      wait_pids_gone, wait_until)
from nginxutil import nginx, short_tmpdir, uwsgi_location  # noqa: F401 (nginx: a fixture)

MIGRATION = os.path.join(os.path.dirname(os.path.abspath(__file__)), "migration")
IS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not IS_ROOT, reason="needs root (chown, setuid)")


# ---------------------------------------------------------------- helpers


def run_herd(*args, env=None, timeout=10, cwd=None):
    """Runs herd to completion (for commands that exit by themselves)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    try:
        return subprocess.run([HERD_BIN] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=T(timeout), cwd=cwd,
                              env=full_env)
    except subprocess.TimeoutExpired as e:
        pytest.fail("herd %s did not exit within %ss (stderr: %r)" % (args, T(timeout), e.stderr))


def start(herd, *args, workers=1, app="deploy_app.py", app_file=None, **kw):
    """A herd with exactly the sockets given (the fixture adds none); waits
    for its `listening on` lines and `workers` ready workers. app_file: the
    app's path, when not apps/<app>."""
    args = [str(a) for a in args]
    if app_file or app:
        args += ["--wsgi-file", app_file or app_path(app)]
    h = herd(*args, app=None, socket_addr=None, wait=False, **kw)
    h.wait_for(r"listening on ")
    if workers:
        h.wait_ready(workers)
    return h


def listening(h, proto=None):
    """The addresses a herd logged, in order: [(addr, proto)]."""
    rx = r"listening on (\S+) \((uwsgi|http)\)"
    return [(m.group(1), m.group(2)) for m in h.find_all(rx) if proto in (None, m.group(2))]


def uwsgi_packet(pairs):
    data = b""
    for k, v in pairs:
        k, v = k.encode("latin-1"), v.encode("latin-1")
        data += struct.pack("<H", len(k)) + k + struct.pack("<H", len(v)) + v
    return struct.pack("<BHB", 0, len(data), 0) + data


def connect(addr, timeout=10):
    """A Client to a unix path, an abstract @name or host:port."""
    if addr.startswith("@"):
        return Client(unix_path="\0" + addr[1:], timeout=timeout)
    if addr.startswith("/"):
        return Client(unix_path=addr, timeout=timeout)
    host, port = addr.rsplit(":", 1)
    return Client(int(port), host=host.strip("[]") or "127.0.0.1", timeout=timeout)


def uwsgi_request(addr, path="/", method="GET", body=b"", extra=(), timeout=10):
    """One request over the uwsgi protocol, as nginx's uwsgi_pass sends it."""
    p, _, q = path.partition("?")
    pairs = [("QUERY_STRING", q), ("REQUEST_METHOD", method), ("CONTENT_TYPE", ""),
             ("CONTENT_LENGTH", str(len(body)) if body else ""), ("REQUEST_URI", path),
             ("PATH_INFO", p), ("SERVER_PROTOCOL", "HTTP/1.1"), ("REMOTE_ADDR", "10.9.8.7"),
             ("REMOTE_PORT", "4321"), ("SERVER_PORT", "80"), ("SERVER_NAME", "example.test"),
             ("HTTP_HOST", "example.test")] + list(extra)
    with connect(addr, timeout=timeout) as c:
        c.send(uwsgi_packet(pairs) + body)
        return c.read_response(method=method)


def http_request(addr, path="/", method="GET", **kw):
    with connect(addr) as c:
        return c.request(method, path, **kw)


def ask(addr, proto, path="/whoami"):
    r = uwsgi_request(addr, path) if proto == "uwsgi" else http_request(addr, path)
    assert r.status == 200, (addr, proto, r)
    return r


class WrappedHerd(HerdProcess):
    """A herd started through a wrapper command (bash moving inherited fds
    into place for socket activation, setpriv). Same interface as conftest's
    HerdProcess."""

    def __init__(self, argv, env=None, pass_fds=()):
        self.args = [str(a) for a in argv]
        full_env = dict(os.environ)
        full_env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
        full_env.update(env or {})
        self.lines, self.out_lines = [], []
        self.cond = threading.Condition()
        self.eof = False
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=full_env, pass_fds=pass_fds,
                                     start_new_session=True)
        self.pid = self.pgid = self.proc.pid
        self._threads = [
            threading.Thread(target=self._read, args=(self.proc.stderr, self.lines, True), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stdout, self.out_lines, False), daemon=True),
        ]
        for t in self._threads:
            t.start()
        self._addr = None


def activated(herd, sockets, args, env=None):
    """Starts herd the way systemd does: `sockets` become fds 3, 4, ... and
    LISTEN_PID/LISTEN_FDS name them (bash moves the fds into place, then
    execs herd, so $$ is herd's pid)."""
    high = [fcntl.fcntl(s.fileno(), fcntl.F_DUPFD, 100) for s in sockets]
    try:
        moves = " ".join("%d<&%d %d<&-" % (3 + i, fd, fd) for i, fd in enumerate(high))
        script = 'exec %s; LISTEN_PID=$$ LISTEN_FDS=%d exec "$@"' % (moves, len(sockets))
        h = WrappedHerd(["bash", "-c", script, "herd", HERD_BIN] + [str(a) for a in args],
                        env=env, pass_fds=high)
    finally:
        for fd in high:
            os.close(fd)
    herd.procs.append(h)  # stopped and reaped by the fixture
    return h


@pytest.fixture(autouse=True)
def no_sanitizer_reports(herd):
    """Under the ASan/UBSan build: no report in any herd's log (a crashing
    worker would otherwise just be respawned)."""
    yield
    for h in herd.procs:
        for bad in ("AddressSanitizer", "runtime error:", "LeakSanitizer"):
            assert bad not in h.log, h.log


@pytest.fixture(scope="module")
def outside():
    """The app and the herd binary copied to a world-readable directory, for
    tests that run herd (or load its app) as another user: they must not
    depend on where the checkout lives (a 0700 temporary directory, a home
    directory)."""
    d = short_tmpdir()
    app = os.path.join(d, "deploy_app.py")
    shutil.copy(app_path("deploy_app.py"), app)
    os.chmod(app, 0o644)
    binary = os.path.join(d, "herd")
    shutil.copy(HERD_BIN, binary)
    os.chmod(binary, 0o755)
    try:
        yield types.SimpleNamespace(app=app, herd=binary)
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def sockdir():
    """A short directory (unix socket paths hold 107 bytes), world-readable."""
    d = short_tmpdir()
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


# ---------------------------------------------------------------- unix sockets


@pytest.mark.parametrize("proto", ["uwsgi", "http"])
def test_chmod_socket(herd, sockdir, proto):
    path = os.path.join(sockdir, "app.sock")
    opt = "--socket" if proto == "uwsgi" else "--http-socket"
    start(herd, opt, path, "--chmod-socket=660")
    assert stat.S_ISSOCK(os.stat(path).st_mode)
    assert mode(path) == 0o660
    assert ask(path, proto).json()["_pid"] > 0


def test_chmod_socket_needs_a_value(tmp_path):
    # uWSGI's bare --chmod-socket means 666; herd wants the mode written out
    r = run_herd("--http-socket", "/tmp/x.sock", "--wsgi-file", app_path("deploy_app.py"),
                 "--chmod-socket")
    assert r.returncode == 2
    assert "--chmod-socket: missing value" in r.stderr
    ini = tmp_path / "app.ini"
    ini.write_text("[uwsgi]\nsocket = /tmp/x.sock\nwsgi-file = app.py\nchmod-socket\n")
    r = run_herd("--ini", ini)
    assert r.returncode == 2
    assert "app.ini:4: chmod-socket: missing value" in r.stderr


@needs_root
@pytest.mark.parametrize("spec", ["nobody:nogroup", "nobody", "65534:65534"])
def test_chown_socket(herd, sockdir, spec):
    path = os.path.join(sockdir, "app.sock")
    start(herd, "--socket", path, "--chown-socket", spec, "--chmod-socket", "660")
    st = os.stat(path)
    assert st.st_uid == pwd.getpwnam("nobody").pw_uid
    assert st.st_gid == pwd.getpwnam("nobody").pw_gid  # nobody's group: nogroup
    assert mode(path) == 0o660
    assert ask(path, "uwsgi").status == 200


def test_chown_socket_unknown_user_stops_herd(sockdir):
    path = os.path.join(sockdir, "app.sock")
    r = run_herd("--socket", path, "--wsgi-file", app_path("deploy_app.py"),
                 "--chown-socket", "no-such-user-herd:nogroup")
    assert r.returncode == 1
    assert "--chown-socket no-such-user-herd:nogroup: no such user or group" in r.stderr


def _stale_socket(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()  # the file stays; nobody listens: what a crashed server leaves
    assert stat.S_ISSOCK(os.stat(path).st_mode)


@pytest.mark.parametrize("proto", ["uwsgi", "http"])
def test_stale_socket_file_is_replaced(herd, sockdir, proto):
    path = os.path.join(sockdir, "app.sock")
    _stale_socket(path)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
        with pytest.raises(ConnectionRefusedError):
            c.connect(path)
    h = start(herd, "--socket" if proto == "uwsgi" else "--http-socket", path)
    assert listening(h) == [(path, proto)]
    assert ask(path, proto).status == 200


def test_live_socket_is_not_stolen(sockdir):
    path = os.path.join(sockdir, "app.sock")
    other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    other.bind(path)
    other.listen(4)
    try:
        ino = os.stat(path).st_ino
        r = run_herd("--socket", path, "--wsgi-file", app_path("deploy_app.py"))
        assert r.returncode != 0
        assert re.search(r"bind\(\) to %s failed: Address already in use" % re.escape(path), r.stderr), r.stderr
        # the live server's socket is untouched and still answers
        assert os.stat(path).st_ino == ino
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
            c.settimeout(T(5))
            c.connect(path)
    finally:
        other.close()


def test_regular_file_at_the_socket_path_is_kept(sockdir):
    path = os.path.join(sockdir, "app.sock")
    with open(path, "w") as f:
        f.write("not a socket\n")
    r = run_herd("--socket", path, "--wsgi-file", app_path("deploy_app.py"))
    assert r.returncode != 0
    assert "Address already in use" in r.stderr
    with open(path) as f:
        assert f.read() == "not a socket\n"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGQUIT])
def test_socket_and_pidfile_removed_at_exit(herd, sockdir, sig):
    usock = os.path.join(sockdir, "u.sock")
    hsock = os.path.join(sockdir, "h.sock")
    pidfile = os.path.join(sockdir, "herd.pid")
    h = start(herd, "--socket", usock, "--http-socket", hsock, "--pidfile", pidfile, "--vacuum")
    with open(pidfile) as f:
        assert f.read() == "%d\n" % h.pid
    assert os.path.exists(usock) and os.path.exists(hsock)
    h.signal(sig)
    assert h.wait(10) == 0
    for p in (usock, hsock, pidfile):
        assert not os.path.exists(p), p


def test_abstract_socket(herd, tmp_path):
    name = "@herd-test-%d-%s" % (os.getpid(), uuid.uuid4().hex[:8])
    h = start(herd, "--socket", name, "--http-socket", name + "-http", cwd=tmp_path)
    assert listening(h) == [(name, "uwsgi"), (name + "-http", "http")]
    assert ask(name, "uwsgi").status == 200
    assert ask(name + "-http", "http").status == 200
    # in the abstract namespace: no file anywhere, listed with its @ in /proc
    assert os.listdir(tmp_path) == []
    with open("/proc/net/unix") as f:
        names = f.read().split()
    assert name in names and name + "-http" in names
    h.stop()
    with open("/proc/net/unix") as f:
        assert name not in f.read().split()


def _ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def test_several_sockets_at_once(herd, sockdir):
    usock = os.path.join(sockdir, "u.sock")
    hsock = os.path.join(sockdir, "h.sock")
    abstract = "@herd-test-%s" % uuid.uuid4().hex[:12]
    v6 = ["-s", "[::1]:0"] if _ipv6_loopback() else []
    h = start(herd, "--http-socket", "127.0.0.1:0", "--socket", "127.0.0.1:0", "--socket", usock,
              "--http-socket", hsock, "--uwsgi-socket", abstract, *v6,
              "--processes", "2", workers=2)
    socks = listening(h)
    assert [p for a, p in socks] == ["http", "uwsgi", "uwsgi", "http", "uwsgi"] + ["uwsgi"] * bool(v6), socks
    assert socks[2][0] == usock and socks[3][0] == hsock and socks[4][0] == abstract
    for addr, proto in socks:
        assert not addr.endswith(":0"), "port 0 must be logged as the real port: %s" % addr
        for _ in range(3):
            env = ask(addr, proto, "/env?via=" + proto).json()
            if proto == "uwsgi":  # the frontend's vars, not the socket's
                assert (env["REMOTE_ADDR"], env["SERVER_NAME"]) == ("10.9.8.7", "example.test")
            else:
                assert env["SERVER_PROTOCOL"] == "HTTP/1.1"


@pytest.mark.parametrize("where", ["unix", "tcp"])
def test_access_log_names_the_client_behind_nginx(herd, sockdir, where):
    addr = os.path.join(sockdir, "u.sock") if where == "unix" else "127.0.0.1:0"
    h = start(herd, "--socket", addr)
    addr = listening(h)[0][0]
    since = h.mark()
    assert uwsgi_request(addr, "/logged").status == 200
    line = h.wait_for(r"\] \S* \(\) \{.* GET /logged ", since=since).string
    assert "] 10.9.8.7 () {" in line, line


# ---------------------------------------------------------------- privileges


def _user_with_supplementary_groups():
    for g in grp.getgrall():
        for member in g.gr_mem:
            try:
                pw = pwd.getpwnam(member)
            except KeyError:
                continue
            if pw.pw_uid != 0 and pw.pw_gid != g.gr_gid:
                return pw
    return None


@needs_root
def test_uid_gid_drop(herd, sockdir, outside):
    nobody = pwd.getpwnam("nobody")
    os.chown(sockdir, nobody.pw_uid, nobody.pw_gid)  # as systemd's RuntimeDirectory= does
    path = os.path.join(sockdir, "app.sock")
    pidfile = os.path.join(sockdir, "herd.pid")
    h = start(herd, "--http-socket", path, "--uid", "nobody", "--gid", "nogroup",
              "--chown-socket", "nobody:nogroup", "--chmod-socket", "660", "--pidfile", pidfile,
              app_file=outside.app)
    h.wait_for(r"running as uid %d, gid %d" % (nobody.pw_uid, nobody.pw_gid))
    assert "running as root" not in h.log
    who = ask(path, "http").json()
    assert (who["_uid"], who["_euid"], who["_gid"]) == (nobody.pw_uid, nobody.pw_uid, nobody.pw_gid)
    assert who["_groups"] == [nobody.pw_gid]  # root's groups are gone
    for pid in [h.pid] + list(h.worker_pids().values()):
        with open("/proc/%d/status" % pid) as f:
            status = f.read()
        assert re.search(r"^Uid:\s+%d\s+%d\s+%d\s+%d$" % ((nobody.pw_uid,) * 4), status, re.M), status
        assert re.search(r"^Groups:\s*%d\s*$" % nobody.pw_gid, status, re.M), status
    # the socket, bound as root, is reachable by its group and refused to others
    client = ("import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); "
              "s.sendall(b'GET /whoami HTTP/1.0\\r\\n\\r\\n'); print(s.recv(100).split(b'\\r\\n')[0].decode())")
    r = subprocess.run([sys.executable, "-c", client, path], user="nobody", capture_output=True,
                       text=True, timeout=T(10))
    assert r.stdout.strip() == "HTTP/1.0 200 OK", r
    r = subprocess.run([sys.executable, "-c", client, path], user="daemon", group="daemon",
                       extra_groups=[], capture_output=True, text=True, timeout=T(10))
    assert "PermissionError" in r.stderr, r
    # nobody owns the directory: it can remove its socket and pid file at exit
    h.signal(signal.SIGTERM)
    assert h.wait(10) == 0
    assert not os.path.exists(path) and not os.path.exists(pidfile)


@needs_root
@pytest.mark.skipif(not shutil.which("setpriv"), reason="needs setpriv (util-linux)")
def test_unprivileged_herd_chowns_its_socket_to_a_group_it_is_in(herd, sockdir, outside):
    # docs/systemd.md: User=mysite, SupplementaryGroups=www-data and
    # chown-socket = mysite:www-data, so that nginx (www-data) may connect
    try:
        grp.getgrnam("www-data")
    except KeyError:
        pytest.skip("no www-data group")
    nobody = pwd.getpwnam("nobody")
    os.chown(sockdir, nobody.pw_uid, nobody.pw_gid)  # RuntimeDirectory=
    path = os.path.join(sockdir, "app.sock")
    args = ["--socket", path, "--chmod-socket", "660", "--chown-socket", "nobody:www-data",
            "--wsgi-file", outside.app]
    setpriv = ["setpriv", "--reuid=nobody", "--regid=nogroup"]
    h = WrappedHerd(setpriv + ["--groups=www-data", outside.herd] + args)
    herd.procs.append(h)
    h.wait_ready(1)
    st = os.stat(path)
    assert (st.st_uid, st.st_gid, mode(path)) == (nobody.pw_uid, grp.getgrnam("www-data").gr_gid, 0o660)
    assert ask(path, "uwsgi").json()["_uid"] == nobody.pw_uid
    assert "running as root" not in h.log
    h.signal(signal.SIGTERM)
    assert h.wait(10) == 0
    assert not os.path.exists(path)
    # not in the group: chown fails, herd says why and stops
    h = WrappedHerd(setpriv + ["--clear-groups", outside.herd] + args)
    herd.procs.append(h)
    assert h.wait(10) == 1
    h.join_readers()
    assert re.search(r"chown\(%s\) failed for --chown-socket: Operation not permitted" % re.escape(path),
                     h.log), h.log


@needs_root
def test_uid_by_number_and_supplementary_groups(herd, sockdir, outside):
    pw = _user_with_supplementary_groups()
    if pw is None:
        pytest.skip("no user with supplementary groups in /etc/group")
    groups = {pw.pw_gid} | {g.gr_gid for g in grp.getgrall() if pw.pw_name in g.gr_mem}
    h = start(herd, "--http-socket", "127.0.0.1:0", "--uid", str(pw.pw_uid), app_file=outside.app)
    who = ask(listening(h)[0][0], "http").json()
    assert (who["_uid"], who["_gid"]) == (pw.pw_uid, pw.pw_gid)
    assert set(who["_groups"]) == groups  # initgroups: the user's own groups


@needs_root
def test_running_as_root_warns(herd):
    h = start(herd, "--http-socket", "127.0.0.1:0")
    assert re.search(r"warning: running as root: .*use --uid and --gid", h.log), h.log


@needs_root
def test_unknown_uid_stops_herd():
    r = run_herd("--http-socket", "127.0.0.1:0", "--wsgi-file", app_path("deploy_app.py"),
                 "--uid", "no-such-user-herd")
    assert r.returncode == 1
    assert "--uid no-such-user-herd: no such user" in r.stderr


@needs_root
def test_reload_with_uid_keeps_serving(herd, outside):
    h = start(herd, "--http-socket", "127.0.0.1:0", "--uid", "nobody", "--gid", "nogroup",
              app_file=outside.app)
    addr = listening(h)[0][0]
    old = h.worker_pids()[1]
    since = h.mark()
    h.signal(signal.SIGHUP)
    try:
        h.wait_ready(1, since=since, exclude_pids={old}, timeout=10)
    finally:
        print(h.tail())
    assert h.poll() is None
    assert ask(addr, "http").json()["_uid"] == pwd.getpwnam("nobody").pw_uid


# ---------------------------------------------------------------- --pidfile, --daemonize, --logto


def test_pidfile(herd, tmp_path):
    pidfile = tmp_path / "run" / "app.pid"
    pidfile.parent.mkdir()
    h = start(herd, "--http-socket", "127.0.0.1:0", "--pidfile", pidfile)
    assert pidfile.read_text() == "%d\n" % h.pid
    h.signal(signal.SIGTERM)
    assert h.wait(10) == 0
    assert not pidfile.exists()


def test_pidfile_of_another_instance_is_left_alone(herd, tmp_path):
    # herd removes the pid file at exit only if it still holds its own pid
    pidfile = tmp_path / "app.pid"
    h = start(herd, "--http-socket", "127.0.0.1:0", "--pidfile", pidfile)
    pidfile.write_text("999999\n")  # a new instance took it over
    h.signal(signal.SIGTERM)
    assert h.wait(10) == 0
    assert pidfile.read_text() == "999999\n"


def _read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def test_daemonize(tmp_path):
    log = tmp_path / "herd.log"
    pidfile = tmp_path / "herd.pid"
    pid = None
    try:
        t0 = time.monotonic()
        r = run_herd("--daemonize", log, "--pidfile", pidfile, "--http-socket", "127.0.0.1:0",
                     "--wsgi-file", app_path("deploy_app.py"), "--processes", "2")
        # the command returns at once, with nothing on the terminal
        assert r.returncode == 0, r
        assert (r.stdout, r.stderr) == ("", "")
        assert time.monotonic() - t0 < T(5)
        assert wait_until(lambda: re.search(r"master pid (\d+)", _read(log)), T(10)), _read(log)
        pid = int(re.search(r"master pid (\d+)", _read(log)).group(1))
        assert wait_until(lambda: _read(log).count(" ready (pid ") == 2, T(15)), _read(log)
        assert pidfile.read_text() == "%d\n" % pid
        # detached: its own session, no terminal, not our child
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ppid, sid, tty = int(fields[1]), int(fields[3]), int(fields[4])
        assert ppid != os.getpid() and sid != os.getsid(0) and tty == 0
        port = int(re.search(r"listening on 127\.0\.0\.1:(\d+) \(http\)", _read(log)).group(1))
        r = request(port, "GET", "/log-me-please")
        assert (r.status, r.body) == (200, b"ok /log-me-please")
        # the access log (written by a worker) goes to the file too
        assert wait_until(lambda: "GET /log-me-please" in _read(log), T(5)), _read(log)
        # stopped by the pid in its pid file
        os.kill(int(pidfile.read_text()), signal.SIGTERM)
        assert not wait_pids_gone([pid], T(10)), _read(log)
        pid = None
        assert wait_until(lambda: "bye (exit code 0)" in _read(log), T(5)), _read(log)
        assert not pidfile.exists()
    finally:
        if pid is not None and pid_alive(pid):
            os.kill(pid, signal.SIGKILL)  # its workers follow (PR_SET_PDEATHSIG)
            wait_pids_gone([pid], T(5))
        print("==== daemon log\n" + _read(log))


def test_logto_and_sigusr1_reopen(herd, tmp_path):
    log = tmp_path / "app.log"
    h = herd("--http-socket", "127.0.0.1:0", "--logto", log, "--processes", "2",
             app="deploy_app.py", wait=False)
    assert wait_until(lambda: _read(log).count(" ready (pid ") == 2, T(15)), _read(log) + h.log
    port = int(re.search(r"listening on 127\.0\.0\.1:(\d+) \(http\)", _read(log)).group(1))
    assert h.log == ""  # everything went to the file
    assert request(port, "GET", "/before-rotation").status == 200
    assert wait_until(lambda: "GET /before-rotation" in _read(log), T(5))
    # logrotate: rename, then SIGUSR1 to the master; it and every worker reopen
    rotated = tmp_path / "app.log.1"
    os.rename(log, rotated)
    h.signal(signal.SIGUSR1)
    # the master and both workers say so in the new file
    assert wait_until(lambda: _read(log).count("log file %s reopened" % log) == 3, T(5)), \
        _read(rotated) + _read(log)
    # every worker's access lines go to the new file
    for i in range(20):
        assert request(port, "GET", "/after-rotation-%d" % i).status == 200
    assert wait_until(lambda: _read(log).count("GET /after-rotation-") == 20, T(5)), _read(log)
    assert "after-rotation" not in _read(rotated)
    assert "GET /before-rotation" in _read(rotated)
    h.signal(signal.SIGTERM)
    assert h.wait(10) == 0
    assert "bye (exit code 0)" in _read(log)


# ---------------------------------------------------------------- systemd


def _recv_until(s, key, timeout):
    """Datagrams until one has a line `key`; returns them all (decoded)."""
    got = []
    deadline = time.monotonic() + T(timeout)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError("no %r from herd within %ss; got %r" % (key, T(timeout), got))
        s.settimeout(left)
        try:
            msg = s.recv(4096).decode()
        except socket.timeout:
            continue
        got.append(msg)
        if key in msg.split("\n"):
            return got


def _fields(msg):
    return dict(l.split("=", 1) for l in msg.split("\n") if "=" in l)


@pytest.mark.parametrize("kind", ["path", "abstract"])
def test_sd_notify(herd, sockdir, kind):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if kind == "path":
        addr = os.path.join(sockdir, "notify")
        s.bind(addr)
    else:
        addr = "@herd-notify-%s" % uuid.uuid4().hex[:12]
        s.bind("\0" + addr[1:])
    with s:
        h = start(herd, "--http-socket", "127.0.0.1:0", "--processes", "2", workers=0,
                  env={"NOTIFY_SOCKET": addr})
        ready = _recv_until(s, "READY=1", 15)
        f = _fields(ready[-1])
        assert f["MAINPID"] == str(h.pid)
        assert f["STATUS"] == "2 workers serving"
        assert len(h.wait_ready(2)) == 2  # READY=1 once every worker is
        # a reload: RELOADING=1, then READY=1 again once the new workers serve
        old = set(h.worker_pids().values())
        since = h.mark()
        h.signal(signal.SIGHUP)
        msgs = _recv_until(s, "READY=1", 15)
        assert "RELOADING=1" in msgs[0].split("\n"), msgs
        h.wait_ready(2, since=since, exclude_pids=old)
        # a stop: STOPPING=1
        h.signal(signal.SIGTERM)
        assert "STOPPING=1" in _recv_until(s, "STOPPING=1", 10)[-1].split("\n")
        assert h.wait(10) == 0


def _tcp_listener():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    return s


def _unix_listener(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(64)
    return s


def test_socket_activation_tcp(herd):
    with _tcp_listener() as s:
        port = s.getsockname()[1]
        h = activated(herd, [s], ["--http-socket", "127.0.0.1:%d" % port,
                                  "--wsgi-file", app_path("deploy_app.py")])
        h.wait_ready(1)
        assert "using the socket systemd passed as fd 3 for 127.0.0.1:%d" % port in h.log
        assert listening(h) == [("127.0.0.1:%d" % port, "http")]
        assert ask("127.0.0.1:%d" % port, "http").status == 200


def test_socket_activation_matches_by_path_and_port(herd, sockdir):
    path = os.path.join(sockdir, "app.sock")
    spare_path = os.path.join(sockdir, "spare.sock")
    with _unix_listener(path) as u, _tcp_listener() as t, _unix_listener(spare_path) as spare:
        port = t.getsockname()[1]
        before = mode(path)
        assert before != 0o600
        # fds: 3 = the unix socket, 4 = TCP, 5 = one no option names;
        # the options name them in another order and with other protocols
        h = activated(herd, [u, t, spare], ["--socket", "127.0.0.1:%d" % port, "--http-socket", path,
                                            "--chmod-socket", "600",
                                            "--wsgi-file", app_path("deploy_app.py")])
        h.wait_ready(1)
        assert "using the socket systemd passed as fd 4 for 127.0.0.1:%d" % port in h.log
        assert "using the socket systemd passed as fd 3 for %s" % path in h.log
        assert re.search(r"systemd passed fd 5 \(%s\) but no socket option names it: closed"
                         % re.escape(spare_path), h.log), h.log
        assert listening(h) == [("127.0.0.1:%d" % port, "uwsgi"), (path, "http")]
        assert ask("127.0.0.1:%d" % port, "uwsgi").status == 200
        assert ask(path, "http").status == 200
        # systemd's socket is systemd's (SocketMode=): not chmod'ed, not removed
        assert mode(path) == before
        h.signal(signal.SIGTERM)
        assert h.wait(10) == 0
        assert os.path.exists(path), "herd removed the socket file systemd owns"
        assert mode(path) == before


def test_socket_activation_in_order_when_no_option_matches(herd, sockdir):
    with _tcp_listener() as t:
        port = t.getsockname()[1]
        # the option names another port: the passed socket is taken in order
        h = activated(herd, [t], ["--socket", "127.0.0.1:1", "--wsgi-file", app_path("deploy_app.py")])
        h.wait_ready(1)
        assert "using the socket systemd passed as fd 3 for 127.0.0.1:1" in h.log
        assert ask("127.0.0.1:%d" % port, "uwsgi").status == 200


def test_listen_fds_for_another_pid_are_ignored(herd, sockdir):
    path = os.path.join(sockdir, "own.sock")
    h = start(herd, "--http-socket", path, env={"LISTEN_PID": "1", "LISTEN_FDS": "1"})
    assert "systemd passed" not in h.log
    assert ask(path, "http").status == 200


def test_socket_activation_socket_file_survives_a_reload(herd, sockdir):
    path = os.path.join(sockdir, "app.sock")
    with _unix_listener(path) as u:
        h = activated(herd, [u], ["--http-socket", path, "--wsgi-file", app_path("deploy_app.py")])
        old = h.wait_ready(1)[1]
        since = h.mark()
        h.signal(signal.SIGHUP)
        h.wait_ready(1, since=since, exclude_pids={old})
        assert ask(path, "http").status == 200
        h.signal(signal.SIGTERM)
        assert h.wait(10) == 0
        assert os.path.exists(path), "herd removed the socket file systemd owns"


# ---------------------------------------------------------------- --touch-reload


def test_touch_reload(herd, tmp_path):
    touch = tmp_path / "reload.touch"
    touch.write_text("")
    h = start(herd, "--http-socket", "127.0.0.1:0", "--touch-reload", touch, "--processes", "2",
              workers=2)
    addr = listening(h)[0][0]
    old = set(h.worker_pids().values())
    since = h.mark()
    st = os.stat(touch)
    os.utime(touch, ns=(st.st_atime_ns, st.st_mtime_ns + 5 * 10**9))
    h.wait_for(r"%s was touched \(--touch-reload\)" % re.escape(str(touch)), since=since)
    h.wait_for(r"app loaded from .* in the master", since=since)  # imported anew
    new = h.wait_ready(2, since=since, exclude_pids=old)
    assert not set(new.values()) & old
    assert not wait_pids_gone(old, T(10))
    assert ask(addr, "http").json()["_pid"] in new.values()
    assert len(h.find_all(r"was touched", since=since)) == 1


# ---------------------------------------------------------------- configuration


def test_print_config_round_trip(tmp_path):
    ini = tmp_path / "app.ini"
    ini.write_text(
        "[uwsgi]\n"
        "base = %d\n"
        "chdir = %(base)\n"
        "http-socket = 127.0.0.1:0\n"
        "socket = %(base)app.sock\n"
        "wsgi-file = " + app_path("deploy_app.py") + "\n"
        "processes = 2\n"
        "env = GREETING=100%% sure\n"
        "env = A=1 B=2\n"
        "master = true\n"
        "max-requests = 1000\n"
        "buffer-size = 32k\n"
        "chmod-socket = 660\n"
        "plugins = python3\n"
        "[herd]\n"
        "spawn-timeout = 30\n")
    env = {"UWSGI_THREADS": "2"}
    r1 = run_herd("--ini", ini, "--pythonpath", "/srv/lib", "--harakiri", "20", "--print-config", env=env)
    assert r1.returncode == 0, r1.stderr
    out = tmp_path / "printed.ini"
    out.write_text(r1.stdout)
    body = [l for l in r1.stdout.splitlines() if l and not l.startswith((";", "#"))]
    for line in ("[uwsgi]", "chdir = %s/" % tmp_path, "socket = %s/app.sock" % tmp_path,
                 "env = GREETING=100%% sure", "env = A=1 B=2", "threads = 2", "processes = 2",
                 "pythonpath = /srv/lib", "harakiri = 20", "buffer-size = 32768",
                 "spawn-timeout = 30", "chmod-socket = 660"):
        assert line in body, (line, r1.stdout)
    assert "; environment UWSGI_THREADS" in r1.stdout and "; command line" in r1.stdout
    assert "; %s:3\nchdir = " % ini in r1.stdout  # where each value came from
    # read back alone (no variables, no other options): the same configuration
    r2 = run_herd("--ini", out, "--print-config")
    assert r2.returncode == 0, r2.stderr
    body2 = [l for l in r2.stdout.splitlines() if l and not l.startswith((";", "#"))]
    assert body2 == body


def test_print_config_output_serves(herd, tmp_path, sockdir):
    path = os.path.join(sockdir, "app.sock")
    r = run_herd("--socket", path, "--wsgi-file", app_path("deploy_app.py"), "--processes", "2",
                 "--env", "GREETING=hi", "--print-config")
    assert r.returncode == 0, r.stderr
    ini = tmp_path / "printed.ini"
    ini.write_text(r.stdout)
    start(herd, "--ini", ini, app=None, workers=2)
    assert ask(path, "uwsgi").status == 200


def test_uwsgi_environment_variables(herd):
    env = {
        "UWSGI_HTTP_SOCKET": "127.0.0.1:0",
        "UWSGI_WSGI_FILE": app_path("basic.py"),
        "UWSGI_PROCESSES": "2",
        "UWSGI_THREADS": "1",
        "HERD_THREADS": "2",            # HERD_ wins over UWSGI_
        "UWSGI_ENV": "A=1 B=2",         # one variable, one value: never split
        "UWSGI_MASTER": "",             # an empty value turns a flag on
        "UWSGI_VERSION": "2.0.21",      # a Docker image's: names no option, ignored
        "UWSGI_RELOADS": "3",
    }
    h = herd(env=env, app=None, socket_addr=None, workers=2)
    assert "2 workers x 2 threads" in h.log
    assert h.get_json("/getenv?k=A,B") == {"A": "1 B=2", "B": None}


def test_uwsgi_ini_variable_and_bare_ini_argument(herd, tmp_path):
    ini = tmp_path / "app.ini"
    ini.write_text("[uwsgi]\nhttp-socket = 127.0.0.1:0\nwsgi-file = %s\nprocesses = 2\n"
                   % app_path("deploy_app.py"))
    h1 = herd(env={"UWSGI_INI": str(ini), "UWSGI_PROCESSES": "1"}, app=None, socket_addr=None)
    assert "1 worker x 1 thread" in h1.log  # the variables override the file they come with
    h2 = herd(ini, app=None, socket_addr=None, workers=2)  # `herd app.ini`
    assert "2 workers x 1 thread" in h2.log
    assert h2.get("/").status == 200


def _refused():
    with open(os.path.join(REPO, "docs", "options.md")) as f:
        text = f.read().split("## Refused", 1)[1]
    return re.findall(r"^\| `--([a-z0-9-]+)` \| (.+) \|$", text, re.M)


REFUSED = _refused()


def test_the_refused_list_is_the_documented_one():
    names = {n for n, _ in REFUSED}
    assert {"static-map", "emperor", "spooler", "mule", "cheaper", "http-to", "https", "stats"} <= names
    r = run_herd("--help")
    listed = re.search(r"Refused with a reason.*?:\n(.*?)\n\n", r.stdout + "\n\n", re.S).group(1)
    assert {n.strip().lstrip("-") for n in listed.replace("\n", " ").split(",")} == names


@pytest.mark.parametrize("name,reason", REFUSED, ids=[n for n, _ in REFUSED])
def test_refused_option_names_the_file_and_line(tmp_path, name, reason):
    ini = tmp_path / "uwsgi.ini"
    ini.write_text("[uwsgi]\n; a comment\nhttp-socket = :0\nwsgi-file = app.py\n%s = x\nprocesses = 2\n" % name)
    r = run_herd("--ini", ini)
    assert r.returncode == 2
    assert r.stderr.strip() == "herd: %s:5: %s: not supported by herd: %s" % (ini, name, reason)
    r = run_herd("--http-socket", ":0", "--wsgi-file", "app.py", "--" + name, "x")
    assert r.returncode == 2
    assert r.stderr.strip() == "herd: --%s: not supported by herd: %s" % (name, reason)
    var = "UWSGI_" + name.upper().replace("-", "_")
    r = run_herd("--http-socket", ":0", "--wsgi-file", "app.py", env={var: "x"})
    assert r.returncode == 2
    assert r.stderr.strip() == "herd: environment %s: %s: not supported by herd: %s" % (var, name, reason)


def test_unknown_ini_key_is_an_error(tmp_path):
    ini = tmp_path / "uwsgi.ini"
    ini.write_text("[uwsgi]\nhttp-socket = :0\nwsgi-file = app.py\nharakiri-verbose = true\n")
    r = run_herd("--ini", ini)
    assert r.returncode == 2
    assert "uwsgi.ini:4: unknown option 'harakiri-verbose'" in r.stderr


@pytest.mark.parametrize("value,ok", [("python3", True), ("python", True), ("python311", True),
                                      ("php", False), ("python3,http", False)])
def test_plugins(tmp_path, value, ok):
    ini = tmp_path / "uwsgi.ini"
    ini.write_text("[uwsgi]\nplugins = %s\nhttp-socket = :0\nwsgi-file = app.py\n" % value)
    r = run_herd("--ini", ini, "--print-config")
    if ok:
        assert r.returncode == 0, r.stderr
    else:
        assert r.returncode == 2
        assert "uwsgi.ini:2: plugins: '%s' is not a python plugin" % value in r.stderr


def test_post_buffering_takes_a_size_as_in_uwsgi(tmp_path):
    ini = tmp_path / "uwsgi.ini"
    ini.write_text("[uwsgi]\nhttp-socket = :0\nwsgi-file = app.py\npost-buffering = 8192\n")
    r = run_herd("--ini", ini, "--print-config")
    assert r.returncode == 0, r.stderr


# ---------------------------------------------------------------- migration: uwsgi.ini files behind nginx


def _copy_project(name, dest_root):
    dest = os.path.join(dest_root, name)
    shutil.copytree(os.path.join(MIGRATION, name), dest,
                    ignore=shutil.ignore_patterns("__pycache__", "*.sock", "*.pid", "venv"))
    return dest


def _make_venv(path):
    """`python3 -m venv --system-site-packages` (no pip: nothing is installed
    from the network) with a module only the venv has."""
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    r = subprocess.run([python, "-m", "venv", "--system-site-packages", "--without-pip", path],
                       capture_output=True, text=True, timeout=T(60))
    assert r.returncode == 0, "cannot create a venv: %s" % r.stderr
    purelib = subprocess.run([os.path.join(path, "bin", "python"), "-c",
                              "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, timeout=T(30)).stdout.strip()
    assert purelib.startswith(path), purelib
    with open(os.path.join(purelib, "herd_migration_marker.py"), "w") as f:
        f.write("WHERE = 'the venv'\n")


def test_migration_django_static_map_is_refused(sockdir):
    proj = _copy_project("django-mysite", sockdir)
    ini = os.path.join(proj, "uwsgi.ini")
    with open(ini) as f:
        lineno = [i for i, l in enumerate(f.read().splitlines(), 1) if l.startswith("static-map")][0]
    r = run_herd("--ini", ini)
    assert r.returncode == 2
    assert r.stderr.strip() == (
        "herd: %s:%d: static-map: not supported by herd: herd does not serve static files; "
        "use your proxy or the app (e.g. WhiteNoise)" % (ini, lineno))


def test_migration_django_behind_nginx(herd, nginx, sockdir):
    pytest.importorskip("django")
    proj = _copy_project("django-mysite", sockdir)
    venv = os.path.join(proj, "venv")
    _make_venv(venv)
    ini = os.path.join(proj, "uwsgi-without-static-map.ini")
    sock, pidfile = os.path.join(proj, "mysite.sock"), os.path.join(proj, "mysite.pid")
    h = start(herd, "--ini", ini, app=None, workers=2)
    assert listening(h) == [(sock, "uwsgi")]
    assert mode(sock) == 0o660
    with open(pidfile) as f:
        assert int(f.read()) == h.pid
    ngx = nginx({"mysite": "location /static/ { alias %s/static/; }\n"
                           "location / { %s }" % (proj, uwsgi_location("unix:" + sock))})
    r = ngx.request("mysite", "GET", "/")
    assert r.status == 200, (r, h.tail())
    got = r.json()
    assert got["app"] == "django"
    assert os.path.realpath(got["prefix"]) == os.path.realpath(venv)  # home = the venv
    assert got["venv_marker"] == "the venv"
    assert got["settings"] == "mysite.settings"                     # env =
    assert os.path.realpath(got["cwd"]) == os.path.realpath(proj)   # chdir = %d
    assert (got["host"], got["path"], got["script_name"], got["secure"], got["remote"]) == \
        ("mysite.test", "/", "", False, "127.0.0.1")
    # buffer-size = 32768: a 20 KB cookie passes (the default 8192 would refuse it)
    r = ngx.request("mysite", "GET", "/", headers=[("Cookie", "big=" + "b" * 20000)])
    assert r.status == 200 and r.json()["cookie_len"] == 20000, r
    # forms and uploads go through Django's parsers
    boundary = "herdboundary"
    body = ("--%s\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nhello\r\n"
            "--%s\r\nContent-Disposition: form-data; name=\"doc\"; filename=\"d.bin\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n" % (boundary, boundary)).encode() + \
        b"\x00" * 300000 + ("\r\n--%s--\r\n" % boundary).encode()
    r = ngx.request("mysite", "POST", "/form/", body=body,
                    headers=[("Content-Type", "multipart/form-data; boundary=" + boundary)])
    assert r.status == 200, r
    assert r.json() == {"method": "POST", "fields": {"title": "hello"}, "files": {"doc": 300000}}
    assert ngx.request("mysite", "POST", "/guarded/", body=b"x=1").status == 403  # CSRF still on
    # static files: nginx's job now
    r = ngx.request("mysite", "GET", "/static/site.css")
    assert r.status == 200 and b"served by nginx" in r.body
    assert not h.find_all(r"GET /static/")
    assert not ngx.upstream_errors()
    # vacuum: socket and pid file gone at exit
    h.signal(signal.SIGTERM)
    assert h.wait(10) == 0
    assert not os.path.exists(sock) and not os.path.exists(pidfile)


@pytest.mark.parametrize("ini_name", ["uwsgi.ini", "uwsgi-http.ini"])
def test_migration_flask_behind_nginx(herd, nginx, sockdir, ini_name):
    pytest.importorskip("flask")
    proj = _copy_project("flask-app", sockdir)
    h = start(herd, "--ini", os.path.join(proj, ini_name), app=None, workers=2, env={"PORT": "0"})
    (addr, proto), = listening(h)
    port = int(addr.rsplit(":", 1)[1])
    if proto == "uwsgi":
        assert addr.startswith("127.0.0.1:")
        loc = uwsgi_location("127.0.0.1:%d" % port)
        greeting = "hello from uwsgi.ini"
        assert "lazy app" in h.log
    else:
        assert addr.startswith("0.0.0.0:")  # `:PORT` is every IPv4 address, as in uWSGI
        loc = "proxy_pass http://127.0.0.1:%d; proxy_set_header Host $host;" % port
        greeting = "hello over http"
    ngx = nginx({"flask": "location / { %s }" % loc})
    got = ngx.request("flask", "GET", "/").json()
    assert (got["app"], got["path"], got["scheme"], got["greeting"]) == ("flask", "/", "http", greeting)
    if proto == "uwsgi":
        assert os.path.realpath(got["cwd"]) == os.path.realpath(proj)  # chdir = %d
    body = os.urandom(2 * 1024 * 1024)
    r = ngx.request("flask", "POST", "/upload", body=body)
    assert r.json()["len"] == len(body)
    r = ngx.request("flask", "POST", "/form", body=b"a=1&b=caf%C3%A9",
                    headers=[("Content-Type", "application/x-www-form-urlencoded")])
    assert r.json() == {"fields": {"a": "1", "b": "caf\u00e9"}}
    assert not ngx.upstream_errors()
