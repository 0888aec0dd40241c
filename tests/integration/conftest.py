"""
Integration-test harness for herd: start the real binary, read its log,
talk raw HTTP to it, and always reap what was started.

Pieces:
- HerdProcess: one running `herd` (its own process group), with a thread
  reading stderr into a list; wait_for(regex), wait_ready(n), port, stop().
- the `herd` fixture: a factory, herd(*args, app="basic.py", workers=1),
  that starts a server, waits for `listening on` and N `worker N ready`
  lines, and stops/reaps everything at teardown (SIGTERM, then SIGKILL to
  the whole process group after a bound).
- Client / request(): a raw-socket HTTP/1.x client that sends exact bytes
  and parses responses (Content-Length, chunked, close-delimited, 1xx),
  keeping a buffer so pipelined and keep-alive responses parse in order.

Environment:
  HERD_BIN                  the binary (default: <repo>/herd)
  HERD_TEST_TIMEOUT_SCALE   multiply every timeout (default 1, or 3 when
                            the binary is an AddressSanitizer build)
  HERD_TEST_LIMIT           seconds a single test may run (default 90*scale)
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
APPS = os.path.join(HERE, "apps")
REPO = os.path.dirname(os.path.dirname(HERE))
HERD_BIN = os.environ.get("HERD_BIN") or os.path.join(REPO, "herd")


def _detect_scale():
    env = os.environ.get("HERD_TEST_TIMEOUT_SCALE")
    if env:
        return float(env)
    try:
        with open(HERD_BIN, "rb") as f:
            data = f.read()
        if b"__asan_init" in data or b"AddressSanitizer" in data:
            return 3.0
    except OSError:
        pass
    return 1.0


SCALE = _detect_scale()


def T(seconds):
    """A timeout, scaled for slow builds (sanitizers)."""
    return seconds * SCALE


# --------------------------------------------------------------------------
# A per-test backstop: every wait below is bounded already; this turns a
# hang we did not foresee into a failure (fixtures still tear down).


class TestHung(Exception):
    pass


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "time_limit(seconds): this test's own backstop limit (scaled), instead of HERD_TEST_LIMIT")


@pytest.fixture(autouse=True)
def _test_time_limit(request):
    marker = request.node.get_closest_marker("time_limit")
    if marker is not None:
        limit = int(T(float(marker.args[0])))
    else:
        limit = int(float(os.environ.get("HERD_TEST_LIMIT", 90 * SCALE)))

    def on_alarm(signum, frame):
        raise TestHung("test exceeded %d s (HERD_TEST_LIMIT)" % limit)

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(limit)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# --------------------------------------------------------------------------
# Processes


def pid_alive(pid):
    """True if pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    except OSError:
        return True
    # state is the first field after the ")" that ends comm
    state = stat[stat.rfind(")") + 2:].split()[0]
    return state not in ("Z", "X")


def wait_pids_gone(pids, timeout):
    deadline = time.monotonic() + timeout
    alive = [p for p in pids if pid_alive(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if pid_alive(p)]
    return alive


def wait_until(pred, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            return v
        time.sleep(interval)


LISTEN_RE = re.compile(r"listening on (\S+) \(http\)")
READY_RE = re.compile(r"worker (\d+) ready \(pid (\d+)\)")
SPAWNED_RE = re.compile(r"worker (\d+) spawned \(pid (\d+)\)")


class HerdProcess:
    def __init__(self, args, env=None, cwd=None):
        if not os.path.exists(HERD_BIN):
            pytest.fail("herd binary not found at %s (build it, or set HERD_BIN)" % HERD_BIN)
        self.args = [HERD_BIN] + [str(a) for a in args]
        full_env = dict(os.environ)
        full_env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
        full_env.setdefault("PYTHONUNBUFFERED", "1")
        if env:
            full_env.update(env)
        self.lines = []
        self.out_lines = []
        self.cond = threading.Condition()
        self.eof = False
        self.proc = subprocess.Popen(
            self.args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=full_env,
            cwd=cwd,
            start_new_session=True,  # own process group: teardown can kill it all
        )
        self.pid = self.proc.pid
        self.pgid = self.proc.pid
        self._threads = [
            threading.Thread(target=self._read, args=(self.proc.stderr, self.lines, True), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stdout, self.out_lines, False), daemon=True),
        ]
        for t in self._threads:
            t.start()
        self._addr = None

    # -- log ---------------------------------------------------------------

    def _read(self, stream, into, is_err):
        try:
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                with self.cond:
                    into.append(line)
                    self.cond.notify_all()
        except (OSError, ValueError):
            pass
        finally:
            if is_err:
                with self.cond:
                    self.eof = True
                    self.cond.notify_all()

    @property
    def log(self):
        with self.cond:
            return "\n".join(self.lines)

    def mark(self):
        """Index of the next log line: pass as since= to look only at later lines."""
        with self.cond:
            return len(self.lines)

    def tail(self, n=60):
        with self.cond:
            return "\n".join(self.lines[-n:])

    def lines_since(self, since=0):
        with self.cond:
            return list(self.lines[since:])

    def find_all(self, regex, since=0):
        rx = re.compile(regex)
        return [m for m in (rx.search(l) for l in self.lines_since(since)) if m]

    def wait_for(self, regex, timeout=5, since=0, count=1):
        """Waits until `count` log lines (from index `since`) match; returns the last match."""
        rx = re.compile(regex)
        deadline = time.monotonic() + T(timeout)
        with self.cond:
            while True:
                found = [m for m in (rx.search(l) for l in self.lines[since:]) if m]
                if len(found) >= count:
                    return found[count - 1]
                left = deadline - time.monotonic()
                if left <= 0 or (self.eof and self.proc.poll() is not None):
                    break
                self.cond.wait(min(left, 0.2))
        raise AssertionError(
            "timed out after %.1fs waiting for %r in herd's log (%d found, exit=%r); last lines:\n%s"
            % (T(timeout), regex, len(found), self.proc.poll(), self.tail())
        )

    def wait_ready(self, n=1, timeout=10, since=0, exclude_pids=()):
        """Waits for `n` distinct workers to log `worker N ready (pid P)` (after `since`,
        ignoring pids in exclude_pids). Returns {worker_id: pid}."""
        deadline = time.monotonic() + T(timeout)
        with self.cond:
            while True:
                ready = {}
                for l in self.lines[since:]:
                    m = READY_RE.search(l)
                    if m and int(m.group(2)) not in exclude_pids:
                        ready[int(m.group(1))] = int(m.group(2))
                if len(ready) >= n:
                    return ready
                left = deadline - time.monotonic()
                if left <= 0 or (self.eof and self.proc.poll() is not None):
                    break
                self.cond.wait(min(left, 0.2))
        raise AssertionError(
            "timed out after %.1fs waiting for %d workers ready (have %r, exit=%r); last lines:\n%s"
            % (T(timeout), n, ready, self.proc.poll(), self.tail())
        )

    def worker_pids(self):
        """{worker_id: pid} from the latest `ready` line of each worker."""
        ready = {}
        for m in self.find_all(READY_RE.pattern):
            ready[int(m.group(1))] = int(m.group(2))
        return ready

    def all_worker_pids(self):
        pids = set()
        for m in self.find_all(r"worker \d+ (?:spawned|ready) \(pid (\d+)\)"):
            pids.add(int(m.group(1)))
        return pids

    # -- address -----------------------------------------------------------

    def wait_listening(self, timeout=10):
        m = self.wait_for(LISTEN_RE.pattern, timeout=timeout)
        self._addr = m.group(1)
        return self._addr

    @property
    def address(self):
        if self._addr is None:
            self.wait_listening()
        return self._addr

    @property
    def port(self):
        addr = self.address
        assert not addr.startswith("/"), "unix socket has no port: %s" % addr
        return int(addr.rsplit(":", 1)[1])

    @property
    def host(self):
        addr = self.address
        host = addr.rsplit(":", 1)[0]
        if host.startswith("["):
            return host[1:-1]
        if host in ("", "0.0.0.0", "*"):
            return "127.0.0.1"
        if host == "::":
            return "::1"
        return host

    def client(self, timeout=10):
        return Client(self.port, host=self.host, timeout=timeout)

    def request(self, *a, **kw):
        return request(self.port, *a, host=self.host, **kw)

    def get(self, path, **kw):
        return request(self.port, "GET", path, host=self.host, **kw)

    def get_json(self, path, **kw):
        r = self.get(path, **kw)
        assert r.status == 200, "GET %s -> %s %r\n%s" % (path, r.status, r.body[:500], self.tail())
        return json.loads(r.body)

    # -- lifecycle ---------------------------------------------------------

    def poll(self):
        return self.proc.poll()

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        """Waits for the master to exit; returns its exit code (fails on timeout)."""
        try:
            return self.proc.wait(timeout=T(timeout))
        except subprocess.TimeoutExpired:
            raise AssertionError(
                "herd (pid %d) did not exit within %.1fs; last lines:\n%s"
                % (self.pid, T(timeout), self.tail())
            )

    def join_readers(self, timeout=2):
        for t in self._threads:
            t.join(T(timeout))

    def kill_group(self):
        try:
            os.killpg(self.pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        # workers that left the group (they should not) are killed by pid
        for pid in self.all_worker_pids():
            if pid_alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def stop(self, timeout=5):
        """SIGTERM, wait up to `timeout`, then SIGKILL the group. Always reaps."""
        try:
            if self.proc.poll() is None:
                try:
                    self.proc.send_signal(signal.SIGTERM)
                    self.proc.wait(timeout=T(timeout))
                except subprocess.TimeoutExpired:
                    pass
        finally:
            self.kill_group()
            try:
                self.proc.wait(timeout=T(5))
            except subprocess.TimeoutExpired:
                pass
            self.join_readers()
            for s in (self.proc.stdout, self.proc.stderr):
                try:
                    s.close()
                except OSError:
                    pass
        return self.proc.returncode


def app_path(name):
    return os.path.join(APPS, name)


def load_app_module(name):
    """Imports apps/<name> in the test process (for helpers such as basic.pattern)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("herd_test_app_" + name[:-3], app_path(name))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def pattern(size):
    """The bytes apps/basic.py serves for /big?size=N."""
    return _basic().pattern(size)


_basic_mod = None


def _basic():
    global _basic_mod
    if _basic_mod is None:
        _basic_mod = load_app_module("basic.py")
    return _basic_mod


def _has_opt(args, *names):
    for a in args:
        a = str(a)
        for n in names:
            if a == n or a.startswith(n + "="):
                return True
    return False


def start_herd(args=(), app="basic.py", workers=1, env=None, cwd=None,
               socket_addr="127.0.0.1:0", wait=True, timeout=15):
    """Starts herd. Adds --http-socket 127.0.0.1:0 unless a socket is given and
    --wsgi-file apps/<app> unless app is None or --module/-w/--wsgi-file is given.
    With wait=True, waits for the `listening on` line and `workers` ready workers."""
    args = [str(a) for a in args]
    if socket_addr and not _has_opt(args, "--http-socket", "--http"):
        args = ["--http-socket", socket_addr] + args
    if app and not _has_opt(args, "--wsgi-file", "--module", "-w", "--file", "--wsgi"):
        args = args + ["--wsgi-file", app_path(app)]
    p = HerdProcess(args, env=env, cwd=cwd)
    if wait:
        try:
            p.wait_listening(timeout=timeout)
            if workers:
                p.wait_ready(workers, timeout=timeout)
        except BaseException:
            p.stop(timeout=2)
            raise
    return p


class HerdFactory:
    def __init__(self, tmpdir):
        self.tmpdir = str(tmpdir)
        self.procs = []

    def __call__(self, *args, **kw):
        env = dict(kw.pop("env", None) or {})
        env.setdefault("HERD_TEST_DIR", self.tmpdir)
        kw["env"] = env
        wait = kw.get("wait", True)
        kw["wait"] = False
        p = start_herd(args, **kw)
        self.procs.append(p)
        if wait:
            p.wait_listening(timeout=kw.get("timeout", 15))
            if kw.get("workers", 1):
                p.wait_ready(kw.get("workers", 1), timeout=kw.get("timeout", 15))
        return p

    def teardown(self):
        for p in self.procs:
            try:
                p.stop(timeout=5)
            except Exception:
                p.kill_group()
        for p in self.procs:
            # shown by pytest only when the test failed
            print("==== herd %s (exit %r)" % (" ".join(p.args[1:]), p.proc.returncode))
            print(p.log)


@pytest.fixture
def herd(tmp_path):
    """Factory: herd(*args, app="basic.py", workers=1, env=None, cwd=None, wait=True).
    HERD_TEST_DIR (env) is the test's tmp dir."""
    f = HerdFactory(tmp_path)
    try:
        yield f
    finally:
        f.teardown()


@pytest.fixture(scope="module")
def module_herd_factory(tmp_path_factory):
    """Module-scoped factory for servers shared by the read-only tests of a file."""
    f = HerdFactory(tmp_path_factory.mktemp("herd"))
    try:
        yield f
    finally:
        f.teardown()


# --------------------------------------------------------------------------
# HTTP client


class IncompleteResponse(Exception):
    def __init__(self, msg, partial=b""):
        Exception.__init__(self, msg)
        self.partial = partial


class Response:
    def __init__(self):
        self.version = None
        self.status = None
        self.reason = None
        self.headers = []  # [(name, value)] as received (str, latin-1)
        self.body = b""
        self.chunked = False
        self.close_delimited = False
        self.trailers = []
        self.interim = []  # 1xx responses that preceded this one
        self.incomplete = False
        self.raw_head = b""

    def header(self, name, default=None):
        name = name.lower()
        vals = [v for k, v in self.headers if k.lower() == name]
        return vals[-1] if vals else default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def has_header(self, name):
        return any(k.lower() == name.lower() for k, v in self.headers)

    def json(self):
        return json.loads(self.body)

    @property
    def text(self):
        return self.body.decode("latin-1")

    def __repr__(self):
        return "<Response %s %s %r headers=%r body[%d]=%r>" % (
            self.version, self.status, self.reason, self.headers, len(self.body), self.body[:200])


def build_request(method="GET", path="/", headers=None, body=None, version="HTTP/1.1",
                  host="localhost", chunked=False, content_length=True):
    """Builds request bytes. headers: list of (name, value) or dict; body: bytes, or
    a list of byte chunks when chunked=True."""
    if isinstance(headers, dict):
        headers = list(headers.items())
    headers = list(headers or [])
    names = {k.lower() for k, v in headers}
    lines = ["%s %s %s" % (method, path, version)]
    if host is not None and "host" not in names:
        lines.append("Host: %s" % host)
    for k, v in headers:
        lines.append("%s: %s" % (k, v))
    payload = b""
    if chunked:
        if "transfer-encoding" not in names:
            lines.append("Transfer-Encoding: chunked")
        chunks = body if isinstance(body, (list, tuple)) else ([body] if body else [])
        for c in chunks:
            if c:
                payload += b"%x\r\n%s\r\n" % (len(c), c)
        payload += b"0\r\n\r\n"
    elif body is not None:
        if content_length and "content-length" not in names:
            lines.append("Content-Length: %d" % len(body))
        payload = body
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + payload


class Client:
    """One TCP (or unix) connection with a receive buffer."""

    def __init__(self, port=None, host="127.0.0.1", timeout=10, unix_path=None, rcvbuf=None):
        self.timeout = T(timeout)
        if unix_path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            addr = unix_path
        else:
            fam = socket.AF_INET6 if ":" in host else socket.AF_INET
            self.sock = socket.socket(fam, socket.SOCK_STREAM)
            addr = (host, port)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(self.timeout)
        self.sock.connect(addr)
        self.buf = b""
        self.eof = False

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    @property
    def local_port(self):
        return self.sock.getsockname()[1]

    def send(self, data):
        self.sock.sendall(data)

    def send_request(self, method="GET", path="/", headers=None, body=None, **kw):
        self.send(build_request(method, path, headers, body, **kw))

    def request(self, method="GET", path="/", headers=None, body=None, timeout=None, **kw):
        self.send_request(method, path, headers, body, **kw)
        return self.read_response(method=method, timeout=timeout)

    # -- receiving -----------------------------------------------------------

    def _recv(self, deadline):
        """Reads more bytes into buf. Returns False on EOF (or reset)."""
        if self.eof:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("timed out reading the response")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(1 << 18)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def _read_until(self, sep, deadline, what):
        while True:
            i = self.buf.find(sep)
            if i >= 0:
                out = self.buf[: i + len(sep)]
                self.buf = self.buf[i + len(sep):]
                return out
            if not self._recv(deadline):
                partial, self.buf = self.buf, b""
                raise IncompleteResponse("connection closed while reading %s" % what, partial)

    def _read_exact(self, n, deadline, what):
        while len(self.buf) < n:
            if not self._recv(deadline):
                partial, self.buf = self.buf, b""
                raise IncompleteResponse(
                    "connection closed while reading %s (%d of %d bytes)" % (what, len(partial), n), partial)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_head(self, deadline):
        raw = self._read_until(b"\r\n\r\n", deadline, "the response head")
        r = Response()
        r.raw_head = raw
        lines = raw[:-4].split(b"\r\n")
        m = re.match(rb"(HTTP/\d\.\d) (\d{3})(?: (.*))?$", lines[0])
        if not m:
            raise AssertionError("bad status line: %r" % lines[0])
        r.version = m.group(1).decode()
        r.status = int(m.group(2))
        r.reason = (m.group(3) or b"").decode("latin-1")
        for l in lines[1:]:
            if b":" not in l:
                raise AssertionError("bad header line in response: %r" % l)
            k, v = l.split(b":", 1)
            r.headers.append((k.decode("latin-1"), v.strip().decode("latin-1")))
        return r

    def read_response(self, method="GET", timeout=None, raise_incomplete=True):
        """Reads one final response (1xx responses are collected in .interim)."""
        deadline = time.monotonic() + (T(timeout) if timeout else self.timeout)
        interim = []
        while True:
            r = self.read_head(deadline)
            if 100 <= r.status < 200:
                interim.append(r)
                continue
            break
        r.interim = interim
        if method == "HEAD" or r.status in (204, 304):
            return r
        te = (r.header("transfer-encoding") or "").lower()
        cl = r.header_all("content-length")
        try:
            if te:
                assert te == "chunked", "unexpected Transfer-Encoding %r" % te
                assert not cl, "response has both Content-Length and Transfer-Encoding: %r" % r.headers
                r.chunked = True
                decoded = []
                try:
                    while True:
                        line = self._read_until(b"\r\n", deadline, "a chunk size")
                        size = int(line.split(b";")[0].strip(), 16)
                        if size == 0:
                            while True:
                                tl = self._read_until(b"\r\n", deadline, "trailers")
                                if tl == b"\r\n":
                                    break
                                r.trailers.append(tl)
                            break
                        decoded.append(self._read_exact(size, deadline, "a chunk"))
                        crlf = self._read_exact(2, deadline, "a chunk's CRLF")
                        assert crlf == b"\r\n", "chunk not followed by CRLF: %r" % crlf
                except IncompleteResponse as e:
                    # partial: the complete chunks, then the raw rest of the stream
                    e.partial = b"".join(decoded) + e.partial
                    raise
                r.body = b"".join(decoded)
            elif cl:
                assert len(set(cl)) == 1, "several Content-Length values: %r" % cl
                r.body = self._read_exact(int(cl[0]), deadline, "the body")
            else:
                r.close_delimited = True
                while self._recv(deadline):
                    pass
                r.body, self.buf = self.buf, b""
        except IncompleteResponse as e:
            if raise_incomplete:
                e.response = r
                raise
            r.body = e.partial
            r.incomplete = True
        return r

    def read_available(self, timeout=0.2):
        """Whatever arrives within `timeout` (for "nothing more was sent" checks)."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline and self._recv(deadline):
                pass
        except socket.timeout:
            pass
        out, self.buf = self.buf, b""
        return out

    def wait_closed(self, timeout):
        """True if the peer closes (EOF or reset) within `timeout` (scaled).
        Bytes received meanwhile are kept in self.buf."""
        deadline = time.monotonic() + T(timeout)
        try:
            while self._recv(deadline):
                pass
            return True
        except socket.timeout:
            return False
        except OSError:
            return True

    def is_open(self, wait=0.1):
        """True if the peer has not closed within `wait` seconds (unscaled)."""
        deadline = time.monotonic() + wait
        try:
            while self._recv(deadline):
                pass
            return False
        except socket.timeout:
            return True
        except OSError:
            return False


def request(port, method="GET", path="/", headers=None, body=None, host="127.0.0.1",
            timeout=10, **kw):
    """One request on a new connection; returns the Response."""
    with Client(port, host=host, timeout=timeout) as c:
        return c.request(method, path, headers, body, **kw)


def unix_request(path, method="GET", target="/", headers=None, body=None, timeout=10):
    with Client(unix_path=path, timeout=timeout) as c:
        return c.request(method, target, headers, body)
