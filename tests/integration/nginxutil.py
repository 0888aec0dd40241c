"""
A real nginx for the integration tests: started in the foreground with its own
config and every path (pid, logs, temp dirs) under a temporary directory, on
free ports, and always stopped and reaped.

    with Nginx(tmpdir, servers) as ngx:       # or the `nginx` fixture below
        ngx.port("uwsgi-unix")                # the port of the server named so
        ngx.request("uwsgi-unix", "GET", "/env")
        ngx.upstream_errors()                 # error-log lines naming upstream trouble

`servers` maps a name to the inside of a `server { }` block (without the
`listen` line, which is added). `http_extra` goes into the `http { }` block
(upstreams). Runs as root (then `user` names root's group, so that the
workers can read the 0700 temp dirs) or unprivileged (nginx ignores `user`
and warns; nothing here needs privileges).

nginx is found as $HERD_NGINX, then `nginx` on PATH, then /usr/sbin/nginx;
missing, the tests that need it are skipped with the install command
(`scripts/deps.sh nginx`, which `make test` runs through DEPS_TEST).
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import T, Client, request as raw_request

UWSGI_PARAMS = "/etc/nginx/uwsgi_params"

# nginx's error-log phrases for a broken or misbehaving upstream. A client that
# goes away mid-response is logged differently ("client prematurely closed
# connection", "while sending to client"), which is not an upstream error.
UPSTREAM_ERRORS = (
    "upstream prematurely closed",
    "reset by peer",
    "upstream sent invalid",
    "upstream sent too big header",
    "upstream sent no valid",
    "upstream sent more data than specified",
    "upstream sent data after final chunk",
    "upstream timed out",
    "readv() failed",
    "recv() failed",
    "connect() failed",
    "no live upstreams",
    "broken header",
)

# nginx logs a failing client connection at [info] (its log_error level) and
# a failing upstream connection at [error]; "upstream sent more data than
# specified" and the like are [warn]. A client that goes away mid-response is
# therefore [info] even when the phrase reads like an upstream one ("client
# prematurely closed connection, so upstream connection is closed too (104:
# Connection reset by peer)", "writev() failed (104: Connection reset by
# peer) while reading upstream" in unbuffered mode, which is the write to
# the client).
_LEVEL_RE = re.compile(r"\[(debug|info|notice|warn|error|crit|alert|emerg)\]")
CLIENT_SIDE = (
    "client prematurely closed connection",
    "while sending to client",
    "while sending response to client",
)


def is_upstream_error(line):
    m = _LEVEL_RE.search(line)
    if m and m.group(1) in ("debug", "info", "notice"):
        return False
    return any(e in line for e in UPSTREAM_ERRORS) and not any(c in line for c in CLIENT_SIDE)


def nginx_binary():
    cand = os.environ.get("HERD_NGINX") or shutil.which("nginx") or "/usr/sbin/nginx"
    return cand if os.path.exists(cand) and os.access(cand, os.X_OK) else None


def require_nginx():
    b = nginx_binary()
    if b is None:
        pytest.skip("nginx is not installed (install it with: scripts/deps.sh nginx)")
    if not os.path.exists(UWSGI_PARAMS):
        pytest.skip("%s (nginx's stock uwsgi_params) is missing" % UWSGI_PARAMS)
    return b


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_answers(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class Nginx:
    def __init__(self, tmpdir, servers, http_extra="", master=True):
        self.bin = require_nginx()
        self.dir = os.path.join(str(tmpdir), "nginx")
        os.makedirs(self.dir, exist_ok=True)
        for d in ("body", "proxy", "uwsgi", "fastcgi", "scgi", "html"):
            os.makedirs(os.path.join(self.dir, d), exist_ok=True)
        self.conf = os.path.join(self.dir, "nginx.conf")
        self.error_log = os.path.join(self.dir, "error.log")
        self.access_log = os.path.join(self.dir, "access.log")
        self.servers = dict(servers)
        self.http_extra = http_extra
        self.master = master
        self.ports = {}
        self.proc = None
        self.stderr_path = os.path.join(self.dir, "stderr.log")

    # -- config ------------------------------------------------------------

    def render(self):
        d = self.dir
        lines = [
            "daemon off;",
            "master_process %s;" % ("on" if self.master else "off"),
            "worker_processes 1;",
            "pid %s/nginx.pid;" % d,
            "error_log %s info;" % self.error_log,
        ]
        if os.geteuid() == 0:
            # Workers of a root master would run as nobody and could not use
            # the 0700 temp dirs; a deployment has its own user here.
            lines.insert(0, "user root %s;" % _group_name(os.getegid()))
        lines += [
            "events { worker_connections 512; }",
            "http {",
            "  access_log %s;" % self.access_log,
            "  client_body_temp_path %s/body;" % d,
            "  proxy_temp_path %s/proxy;" % d,
            "  uwsgi_temp_path %s/uwsgi;" % d,
            "  fastcgi_temp_path %s/fastcgi;" % d,
            "  scgi_temp_path %s/scgi;" % d,
            "  root %s/html;" % d,
            "  client_max_body_size 64m;",
            "  large_client_header_buffers 4 32k;",
            self.http_extra,
        ]
        for name, body in self.servers.items():
            lines += [
                "  server {",
                "    listen 127.0.0.1:%d;" % self.ports[name],
                "    server_name %s.test;" % name,
                body,
                "  }",
            ]
        lines.append("}")
        return "\n".join(lines) + "\n"

    # -- lifecycle -----------------------------------------------------------

    def start(self, timeout=10):
        last = ""
        for _attempt in range(3):  # a free port may be taken before nginx binds it
            self.ports = {name: free_port() for name in self.servers}
            with open(self.conf, "w") as f:
                f.write(self.render())
            with open(self.stderr_path, "ab") as err:
                self.proc = subprocess.Popen(
                    [self.bin, "-p", self.dir + "/", "-c", self.conf, "-e", self.error_log],
                    stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                    start_new_session=True)
            deadline = time.monotonic() + T(timeout)
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                if all(port_answers(p) for p in self.ports.values()):
                    return self
                time.sleep(0.02)
            last = self.log_text()
            self.stop()
            if "Address already in use" not in last:
                break
        raise AssertionError("nginx did not start (exit %r); its config:\n%s\nits log:\n%s"
                             % (self.proc.returncode if self.proc else None, self.render(), last))

    def stop(self, timeout=5):
        """SIGQUIT (graceful), then SIGKILL to the whole group; always reaps."""
        p = self.proc
        if p is None:
            return None
        try:
            if p.poll() is None:
                try:
                    p.send_signal(signal.SIGQUIT)
                    p.wait(timeout=T(timeout))
                except subprocess.TimeoutExpired:
                    pass
        finally:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                p.wait(timeout=T(5))
            except subprocess.TimeoutExpired:
                pass
        return p.returncode

    def __enter__(self):
        return self.start()

    def __exit__(self, *a):
        self.stop()

    # -- talking to it -------------------------------------------------------

    def port(self, name):
        return self.ports[name]

    def request(self, name, method="GET", path="/", headers=None, body=None, timeout=20, **kw):
        headers = list(headers or [])
        if not any(k.lower() == "host" for k, v in headers):
            headers.append(("Host", "%s.test" % name))
        return raw_request(self.ports[name], method, path, headers=headers, body=body,
                           timeout=timeout, **kw)

    def client(self, name, timeout=20, **kw):
        return Client(self.ports[name], timeout=timeout, **kw)

    # -- logs ----------------------------------------------------------------

    def log_text(self):
        out = []
        for p in (self.stderr_path, self.error_log):
            try:
                with open(p, "rb") as f:
                    out.append(f.read().decode("utf-8", "replace"))
            except FileNotFoundError:
                pass
        return "\n".join(out)

    def log_mark(self):
        """Offset of the error log's end: pass as since= to look at later lines only."""
        try:
            return os.path.getsize(self.error_log)
        except FileNotFoundError:
            return 0

    def error_lines(self, since=0):
        try:
            with open(self.error_log, "rb") as f:
                f.seek(since)
                return f.read().decode("utf-8", "replace").splitlines()
        except FileNotFoundError:
            return []

    def upstream_errors(self, since=0):
        """Error-log lines (after offset since) that report an upstream failure."""
        return [l for l in self.error_lines(since) if is_upstream_error(l)]


def _group_name(gid):
    import grp
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def uwsgi_location(target, extra=""):
    """A location body passing to a uwsgi socket (unix:PATH or HOST:PORT) with
    nginx's stock params."""
    return "include %s;\n%s\nuwsgi_pass %s;" % (UWSGI_PARAMS, extra, target)


@pytest.fixture
def nginx(tmp_path):
    """Factory: nginx(servers, http_extra="", master=True) -> a started Nginx,
    stopped and reaped at teardown (its logs printed when the test failed)."""
    started = []

    def start(servers, http_extra="", master=True, dirname=None):
        d = tmp_path / (dirname or "ngx%d" % len(started))
        n = Nginx(d, servers, http_extra=http_extra, master=master)
        started.append(n)
        return n.start()

    try:
        yield start
    finally:
        for n in started:
            n.stop()
        for n in started:
            print("==== nginx %s (exit %r)\n%s" % (n.conf, n.proc and n.proc.returncode, n.log_text()))


def short_tmpdir(prefix="herd-"):
    """A short directory for unix sockets (sun_path holds 107 bytes; pytest's
    tmp paths can be longer). The caller removes it."""
    import tempfile
    d = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    os.chmod(d, 0o755)
    return d

