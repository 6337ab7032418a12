"""Integration-test fixture: a private redis-server and a real gatewayd.

Env(build_dir, overrides) picks free ports, starts redis-server (AOF on, in a temp
dir), writes a gateway.ini, starts BUILD/bin/gatewayd --config with its output in a
log file and waits until /healthz and /readyz answer 200. Tests then talk to it as
the carriers (ussd_at, ussd_hubtel, carrier) and the coordinators (admin,
import_csv) do, and look into Redis through a small RESP client (redis).

A file whose overrides delete [redis] url (e.g. to go through Sentinel) brings its
own Redis: the Env then starts none (own_redis False; see Env.__init__).

Owns both processes and the temp dir; close() sends SIGTERM to gatewayd, expects exit
status 0 within 12 s and no sanitizer report in the log, stops redis and removes the
dir (kept when something failed). Standard library only; every network call has a
timeout. Not thread safe.
"""
import calendar
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOKEN = "test-admin-token-0123456789abcdef"
SERVICE_CODE = "*120*12345#"
HOTLINE = "12333"
HTTP_TIMEOUT = 10.0
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


class HarnessError(AssertionError):
    """The environment (not the code under test) could not do what was asked."""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_until(predicate, timeout, interval=0.05):
    """Calls PREDICATE until it returns a true value (returned) or TIMEOUT passes (None)."""
    end = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except (OSError, http.client.HTTPException):
            value = None
        if value:
            return value
        if time.monotonic() >= end:
            return None
        time.sleep(interval)


# ---- a minimal Redis client (RESP2) ----

class RedisError(Exception):
    pass


class Redis:
    def __init__(self, port, timeout=5.0):
        self.port = port
        self.timeout = timeout
        self.sock = None
        self.buf = b""

    def close(self):
        if self.sock is not None:
            self.sock.close()
        self.sock = None
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n).decode("utf-8", "replace")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise ConnectionError("bad RESP reply %r" % line[:40])

    def __call__(self, *args):
        """Sends one command; returns str / int / list / None, raises RedisError."""
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        for attempt in (0, 1):
            try:
                if self.sock is None:
                    self.sock = socket.create_connection(("127.0.0.1", self.port), self.timeout)
                self.sock.sendall(b"".join(out))
                reply = self._reply()
                break
            except OSError:
                self.close()
                if attempt:
                    raise
        if isinstance(reply, RedisError):
            raise reply
        return reply


# ---- the environment ----

def merge_config(base, overrides):
    """BASE and OVERRIDES map section -> {key: value}; a value (or section) of None deletes it."""
    out = {s: dict(kv) for s, kv in base.items()}
    for section, kv in (overrides or {}).items():
        if kv is None:
            out.pop(section, None)
            continue
        cur = out.setdefault(section, {})
        for k, v in kv.items():
            if v is None:
                cur.pop(k, None)
            else:
                cur[k] = v
    return out


def render_ini(config):
    lines = []
    for section, kv in config.items():
        lines.append("[%s]" % section)
        lines += ["%s = %s" % (k, v) for k, v in kv.items()]
        lines.append("")
    return "\n".join(lines)


class Env:
    def __init__(self, build_dir, overrides=None, name="env", own_redis=None):
        """OWN_REDIS: start a redis-server for gatewayd (and empty it before each test);
        None means yes unless OVERRIDES delete [redis] url. Without one, gatewayd is not
        waited for /readyz at start: the test starts its Redis and waits itself."""
        self.build = os.path.join(REPO, build_dir) if not os.path.isabs(build_dir) else build_dir
        self.gatewayd_bin = os.path.join(self.build, "bin", "gatewayd")
        self.gatewayctl_bin = os.path.join(self.build, "bin", "gatewayctl")
        self.dir = tempfile.mkdtemp(prefix="gw-it-%s-" % name)
        self.redis_dir = os.path.join(self.dir, "redis")
        os.makedirs(self.redis_dir)
        self.log_path = os.path.join(self.dir, "gatewayd.log")
        self.config_path = os.path.join(self.dir, "gateway.ini")
        self.redis_port = free_port()
        self.http_port = free_port()
        self.admin_port = free_port()
        self.token = TOKEN
        self.base_overrides = overrides or {}
        self.overrides = self.base_overrides
        self.redis_proc = None
        self.proc = None
        self.expect_alive = False
        self.failed = False
        self.redis = Redis(self.redis_port)
        if own_redis is None:
            own_redis = (self.base_overrides.get("redis") or {}).get("url", "") is not None
        self.own_redis = own_redis

    # -- configuration --

    def default_config(self):
        return {
            "http": {"listen": "127.0.0.1:%d" % self.http_port},
            "admin": {"listen": "127.0.0.1:%d" % self.admin_port, "token": self.token},
            "redis": {"url": "redis://127.0.0.1:%d/0" % self.redis_port},
            "ussd": {"service_code": SERVICE_CODE, "hotline": HOTLINE,
                     "session_ttl_s": 180, "hop_deadline_ms": 500},
            "templates": {"dir": os.path.join(REPO, "templates", "data")},
            # Bulk messages wait for the send window; tests run at any hour, so the
            # whole day unless a test sets its own (test_campaigns, test_incidents).
            "reminders": {"send_window": "00:00-24:00"},
        }

    def config_text(self, overrides=None):
        return render_ini(merge_config(self.default_config(), overrides))

    def write_config(self, overrides=None):
        with open(self.config_path, "w", encoding="utf-8") as f:
            f.write(self.config_text(overrides))

    # -- redis --

    def start_redis(self):
        """Starts (or restarts) redis-server on the same port and dir; AOF is kept."""
        if self.redis_proc is not None and self.redis_proc.poll() is None:
            return
        self.redis_proc = subprocess.Popen(
            ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
             "--dir", self.redis_dir, "--appendonly", "yes", "--save", "",
             "--daemonize", "no", "--logfile", os.path.join(self.redis_dir, "redis.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.redis.close()
        if not wait_until(lambda: self._redis_ping(), 10):
            raise HarnessError("redis-server on port %d did not answer PING in 10 s"
                               % self.redis_port)

    def _redis_ping(self):
        if self.redis_proc.poll() is not None:
            raise HarnessError("redis-server exited with %s" % self.redis_proc.returncode)
        try:
            return self.redis("PING") == "PONG"
        except (OSError, RedisError):
            return False

    def stop_redis(self):
        """Stops redis-server (SIGTERM: it writes its AOF) and waits for it."""
        self.redis.close()
        if self.redis_proc is None or self.redis_proc.poll() is not None:
            return
        self.redis_proc.terminate()
        try:
            self.redis_proc.wait(10)
        except subprocess.TimeoutExpired:
            self.redis_proc.kill()
            self.redis_proc.wait(5)

    def redis_alive(self):
        return self.redis_proc is not None and self.redis_proc.poll() is None

    # -- gatewayd --

    def start_gatewayd(self, overrides=None, wait_ready=True):
        """Starts gatewayd with the default config merged with the file's overrides and
        OVERRIDES; waits for /healthz (and /readyz when WAIT_READY) to answer 200."""
        if not os.access(self.gatewayd_bin, os.X_OK):
            raise HarnessError("no gatewayd binary at %s (build first)" % self.gatewayd_bin)
        self.overrides = merge_config(self.base_overrides, overrides)
        self.write_config(self.overrides)
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        log = open(self.log_path, "ab")
        log.write(b"---- harness: starting gatewayd --config %s\n" % self.config_path.encode())
        log.flush()
        self.proc = subprocess.Popen([self.gatewayd_bin, "--config", self.config_path],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                     cwd=REPO, env=env)
        log.close()
        self.expect_alive = True

        def healthy():
            if self.proc.poll() is not None:
                raise HarnessError("gatewayd exited with %s at start; log:\n%s"
                                   % (self.proc.returncode, self.log_tail()))
            return self.get_admin("/healthz")[0] == 200
        if not wait_until(healthy, 10):
            raise HarnessError("gatewayd did not answer /healthz in 10 s; log:\n%s"
                               % self.log_tail())
        if wait_ready and self.redis_alive():
            if not wait_until(lambda: self.get_admin("/readyz")[0] == 200, 10):
                raise HarnessError("gatewayd did not become ready (/readyz) in 10 s; log:\n%s"
                                   % self.log_tail())

    def restart_gatewayd(self, overrides=None):
        rc = self.stop_gatewayd()
        self.start_gatewayd(overrides)
        return rc

    @contextlib.contextmanager
    def local_time(self, y, m, d, hh=12, mm=0):
        """Runs the block with gatewayd restarted on its one clock moved to Y-M-D HH:MM
        in Asia/Shanghai (GW_CLOCK_OFFSET_S; Redis keeps the real time), and restarts
        it on the real time after: for what depends on today's date (a due date
        ahead or past)."""
        target = calendar.timegm((y, m, d, hh - 8, mm, 0, 0, 0, 0))
        os.environ["GW_CLOCK_OFFSET_S"] = str(round(target - time.time()))
        try:
            self.restart_gatewayd()
        finally:
            del os.environ["GW_CLOCK_OFFSET_S"]
        try:
            yield
        finally:
            self.restart_gatewayd()

    def signal_gatewayd(self, sig):
        self.proc.send_signal(sig)

    def stop_gatewayd(self, sig=signal.SIGTERM, timeout=12):
        """Sends SIG and waits TIMEOUT s; returns the exit status (None: killed after
        the timeout, a failure in any test that cares)."""
        self.expect_alive = False
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                return None
        return self.proc.returncode

    def kill_gatewayd(self):
        """SIGKILL, as a crash would."""
        return self.stop_gatewayd(signal.SIGKILL, 5)

    def gatewayd_alive(self):
        return self.proc is not None and self.proc.poll() is None

    def run_gatewayd(self, config_text, timeout=5, args=()):
        """Runs gatewayd on CONFIG_TEXT (written to a file) expecting it to exit by
        itself; returns (exit status or None when it had to be killed, output, path)."""
        path = os.path.join(self.dir, "other-%d.ini" % int(time.monotonic() * 1e6))
        with open(path, "w", encoding="utf-8") as f:
            f.write(config_text)
        p = subprocess.Popen([self.gatewayd_bin, "--config", path] + list(args),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, cwd=REPO)
        try:
            out, _ = p.communicate(timeout=timeout)
            return p.returncode, out.decode("utf-8", "replace"), path
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
            return None, out.decode("utf-8", "replace"), path

    # -- logs --

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_size(self):
        """The log's length in bytes: a mark for log_since."""
        try:
            return os.path.getsize(self.log_path)
        except FileNotFoundError:
            return 0

    def log_since(self, mark):
        """The log written after byte MARK (from log_size). Not log_text()[MARK:]:
        a Chinese SMS the console provider logs takes more bytes than characters."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(mark)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines=30):
        return "\n".join(self.log_text().splitlines()[-lines:])

    def sanitizer_report(self, since=0):
        """The first sanitizer report line in the log after byte SINCE, or None."""
        text = self.log_since(since)
        for line in text.splitlines():
            if any(m in line for m in SANITIZER_MARKS):
                return line.strip()
        return None

    # -- HTTP --

    def request(self, port, method, path, body=None, headers=None, timeout=HTTP_TIMEOUT):
        """One HTTP request; returns (status, headers dict with lower-case names, bytes)."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            conn.close()

    def carrier(self, method, path, body=None, headers=None, timeout=HTTP_TIMEOUT):
        """A raw request to the carrier-facing listener: (status, headers, bytes)."""
        return self.request(self.http_port, method, path, body, headers, timeout)

    def get_admin(self, path, timeout=HTTP_TIMEOUT):
        status, headers, data = self.request(self.admin_port, "GET", path, timeout=timeout)
        return status, data.decode("utf-8", "replace")

    def admin(self, method, path, body=None, token=True, content_type=None,
              timeout=HTTP_TIMEOUT):
        """A request to the admin listener. BODY: dict/list (sent as JSON), str or bytes.
        TOKEN: True (the right one), False (none) or a string. Returns (status, parsed
        JSON when the answer is JSON, else text)."""
        headers = {}
        if token is True:
            headers["Authorization"] = "Bearer " + self.token
        elif token:
            headers["Authorization"] = "Bearer " + token
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            content_type = content_type or "application/json"
        if body is not None:
            headers["Content-Type"] = content_type or "text/plain; charset=utf-8"
        status, rh, data = self.request(self.admin_port, method, path, body, headers, timeout)
        text = data.decode("utf-8", "replace")
        if "json" in rh.get("content-type", ""):
            try:
                return status, json.loads(text)
            except ValueError:
                raise AssertionError("%s %s: %d with a content type of JSON but a body "
                                     "that is not: %r" % (method, path, status, text[:200]))
        return status, text

    def import_csv(self, text, timeout=60):
        """POST /v1/participants/import; returns (status, parsed answer)."""
        return self.admin("POST", "/v1/participants/import", text,
                          content_type="text/csv; charset=utf-8", timeout=timeout)

    def participant(self, pid):
        return self.admin("GET", "/v1/participants/" + urllib.parse.quote(pid, safe=""))

    def ussd_at_raw(self, session, phone, text, service_code=SERVICE_CODE,
                    network_code="46000"):
        body = urllib.parse.urlencode({
            "sessionId": session, "serviceCode": service_code, "phoneNumber": phone,
            "networkCode": network_code, "text": text})
        return self.carrier("POST", "/ussd/africastalking", body,
                            {"Content-Type": "application/x-www-form-urlencoded"})

    def ussd_at(self, session, phone, text, **kw):
        """One Africa's Talking hop; returns ("CON"|"END", screen text)."""
        status, headers, data = self.ussd_at_raw(session, phone, text, **kw)
        body = data.decode("utf-8", "replace")
        if status != 200:
            raise AssertionError("AT hop %r answered %d: %s" % (text, status, body[:300]))
        if body[:4] not in ("CON ", "END "):
            raise AssertionError("AT hop %r: the answer starts neither 'CON ' nor 'END ': %r"
                                 % (text, body[:100]))
        return body[:3], body[4:]

    def ussd_hubtel_raw(self, session, phone, type_, message="", sequence=1,
                        client_state="", service_code=SERVICE_CODE, operator="chinamobile"):
        body = json.dumps({"Mobile": phone, "SessionId": session, "ServiceCode": service_code,
                           "Type": type_, "Message": message, "Operator": operator,
                           "Sequence": sequence, "ClientState": client_state})
        return self.carrier("POST", "/ussd/hubtel", body, {"Content-Type": "application/json"})

    def ussd_hubtel(self, session, phone, type_, message="", sequence=1, client_state=""):
        """One Hubtel hop (Type Initiation|Response|Release|Timeout); returns
        ("CON"|"END", Message)."""
        status, headers, data = self.ussd_hubtel_raw(session, phone, type_, message, sequence,
                                                     client_state)
        text = data.decode("utf-8", "replace")
        if status != 200:
            raise AssertionError("Hubtel hop %r answered %d: %s" % (message, status, text[:300]))
        try:
            answer = json.loads(text)
        except ValueError:
            raise AssertionError("Hubtel hop %r: the answer is not JSON: %r" % (message, text[:200]))
        kinds = {"Response": "CON", "Release": "END"}
        if answer.get("Type") not in kinds:
            raise AssertionError("Hubtel hop %r: Type is %r, not Response or Release"
                                 % (message, answer.get("Type")))
        return kinds[answer["Type"]], answer.get("Message", "")

    def gatewayctl(self, *args, input=None, timeout=60, token=True):
        """Runs BUILD/bin/gatewayctl ARGS against this gatewayd (admin --url, the
        token and the carrier URL in its environment); returns (exit status, stdout,
        stderr) as text. INPUT (str) is its standard input."""
        env = dict(os.environ, GATEWAY_CARRIER_URL="http://127.0.0.1:%d" % self.http_port)
        env.pop("GATEWAY_ADMIN_TOKEN", None)
        if token:
            env["GATEWAY_ADMIN_TOKEN"] = self.token if token is True else token
        p = subprocess.run([self.gatewayctl_bin, "--url", "http://127.0.0.1:%d" % self.admin_port]
                           + list(args), input=(input or "").encode(), capture_output=True,
                           timeout=timeout, env=env, cwd=REPO)
        return (p.returncode, p.stdout.decode("utf-8", "replace"),
                p.stderr.decode("utf-8", "replace"))

    def metrics(self):
        status, text = self.get_admin("/metrics")
        if status != 200:
            raise AssertionError("/metrics answered %d" % status)
        return text

    def metric(self, name, labels=None):
        """The value of NAME{LABELS...} in /metrics (labels given must match; others
        are ignored), summed over matching series; None when absent."""
        total, found = 0.0, False
        for line in self.metrics().splitlines():
            m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
            if not m or m.group(1) != name:
                continue
            have = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
            if all(have.get(k) == str(v) for k, v in (labels or {}).items()):
                total += float(m.group(3))
                found = True
        return total if found else None

    # -- life cycle --

    def start(self):
        if self.own_redis:
            self.start_redis()
        self.start_gatewayd()

    def reset(self):
        """Before each test: Redis running and empty, gatewayd running with the file's
        config (restarted when a test changed it or stopped it). Without its own Redis,
        only gatewayd is (re)started."""
        if self.own_redis:
            # The daemon of the test before must not write into the emptied
            # Redis (an outcome acknowledged late would take a new message's
            # id): it goes first, at once; the next starts on an empty Redis.
            if self.gatewayd_alive():
                self.kill_gatewayd()
            self.start_redis()
            self.redis("FLUSHALL")
        if not self.gatewayd_alive() or self.overrides != self.base_overrides:
            if self.proc is not None and self.gatewayd_alive():
                self.stop_gatewayd()
            self.start_gatewayd()
        self.expect_alive = True

    def close(self):
        """Stops everything. Returns a list of problems (empty when all was well)."""
        problems = []
        if self.proc is not None and self.proc.poll() is None:
            rc = self.stop_gatewayd()
            if rc is None:
                problems.append("gatewayd did not exit within 12 s of SIGTERM")
            elif rc != 0:
                problems.append("gatewayd exited %d after SIGTERM" % rc)
        report = self.sanitizer_report()
        if report:
            problems.append("sanitizer report in the gatewayd log: " + report)
        self.stop_redis()
        if problems:
            self.failed = True
        if self.failed:
            print("   (kept %s: gatewayd.log, redis/)" % self.dir, flush=True)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        return problems
