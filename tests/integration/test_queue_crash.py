"""The queue's guarantees with real processes: a gatewayd killed with -9 in the
middle of a 10,000-message dispatch loses nothing (its in-flight work comes back
after its lease), and two gatewayd on one Redis never send a message twice."""
import os
import socket
import signal
import subprocess
import time

import fake_carrier
from fake_carrier import FakeCarrier
from harness import REPO, HarnessError, free_port, merge_config, render_ini, wait_until

CARRIER = FakeCarrier().start()
N = 10000

CONFIG = {
    # one message per request: the kill lands among many small requests
    "provider tw": {"type": "twilio", "base_url": CARRIER.url,
                    "account_sid": fake_carrier.DEFAULT_TWILIO_SID,
                    "auth_token": fake_carrier.DEFAULT_TWILIO_TOKEN, "sender": "+8610690000",
                    "max_tps": 0, "timeout_ms": 5000},
    # up to 100 numbers per request
    "provider at": {"type": "africastalking", "base_url": CARRIER.url,
                    "username": fake_carrier.DEFAULT_AT_USERNAME,
                    "api_key": fake_carrier.DEFAULT_AT_API_KEY, "max_tps": 0,
                    "timeout_ms": 5000},
    "sms": {"default_provider": "tw"},
}


def phones(n):
    return ["+86137%08d" % i for i in range(n)]


def enqueue_all(env, numbers):
    ids = []
    for i in range(0, len(numbers), 5000):
        status, answer = env.admin("POST", "/v1/messages",
                                   {"to": numbers[i:i + 5000], "text": "您好，这是一条测试短信。"},
                                   timeout=60)
        assert status == 202, (status, answer)
        ids.append(answer["id"])
    return ids


def received_counts():
    counts = {}
    for m in CARRIER.messages():
        counts[m["to"]] = counts.get(m["to"], 0) + 1
    return counts


def wait_all(env, numbers, timeout):
    want = set(numbers)

    def done():
        return want <= set(received_counts())
    if not wait_until(done, timeout, interval=0.5):
        missing = want - set(received_counts())
        keys = {}
        for k in env.redis("KEYS", "gw:{q}:*"):
            t = env.redis("TYPE", k)
            if t == "list":
                keys[k] = env.redis("LRANGE", k, 0, 3)
            elif t == "hash":
                keys[k] = env.redis("HGETALL", k)[:8]
            elif t == "zset":
                keys[k] = env.redis("ZRANGE", k, 0, 5, "WITHSCORES")
        keys = {k: v for k, v in keys.items() if ":b:" in k or ":fl:" in k or ":sched:" in k
                or k.endswith(":n") or k.endswith(":consumers") or k.endswith(":stats")}
        raise AssertionError("%d of %d messages never reached the carrier (e.g. %s); "
                             "carrier requests %s; queue %s; keys %s"
                             % (len(missing), len(want), sorted(missing)[:3],
                                CARRIER.state()["requests"], env.admin("GET", "/v1/queue"),
                                keys))


class Second:
    """Another gatewayd on the same Redis, with its own listeners."""

    def __init__(self, env):
        cfg = merge_config(merge_config(env.default_config(), env.overrides), {
            "http": {"listen": "127.0.0.1:%d" % free_port()},
            "admin": {"listen": "127.0.0.1:%d" % free_port()}})
        self.admin_port = int(cfg["admin"]["listen"].rsplit(":", 1)[1])
        self.path = os.path.join(env.dir, "second.ini")
        with open(self.path, "w", encoding="utf-8") as f:
            f.write(render_ini(cfg))
        self.log_path = os.path.join(env.dir, "second.log")
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([env.gatewayd_bin, "--config", self.path],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=REPO)
        log.close()
        self.env = env
        if not wait_until(lambda: env.request(self.admin_port, "GET", "/readyz")[0] == 200, 10):
            self.stop()
            raise HarnessError("the second gatewayd did not become ready")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(12)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                return None
        return self.proc.returncode

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


def test_kill_9_mid_dispatch_loses_nothing(env):
    CARRIER.reset()
    CARRIER.set_mode("slow", delay_ms=5)
    numbers = phones(N)
    enqueue_all(env, numbers)
    assert wait_until(lambda: len(CARRIER.messages()) >= N // 4, 60, interval=0.1), \
        "dispatch did not start: %d sent" % len(CARRIER.messages())
    env.kill_gatewayd()
    at_kill = len(CARRIER.messages())
    assert at_kill < N, "everything was sent before the kill; make the carrier slower"
    CARRIER.ok()
    env.start_gatewayd()
    wait_all(env, numbers, 45)
    counts = received_counts()
    dups = sum(c - 1 for c in counts.values())
    recovered = int(env.redis("HGET", "gw:{q}:stats", "recovered") or 0)
    # duplicates only among the messages the killed daemon held (at most its
    # in-flight limit), and every one of those was counted as recovered
    assert dups <= recovered <= 1100, (dups, recovered)
    assert wait_until(lambda: env.redis("HGET", "gw:{q}:n", "bulk") == "0", 10)
    # Stopped before the next test empties Redis: outcomes this daemon still
    # writes would otherwise land among the next test's message ids.
    assert env.stop_gatewayd() == 0


def test_two_daemons_send_nothing_twice(env):
    CARRIER.reset()
    CARRIER.set_mode("slow", delay_ms=2)
    env.restart_gatewayd({"sms": {"default_provider": "at"}})
    second = Second(env)
    try:
        before = env.metric("gateway_sms_submitted_total", {"result": "accepted"}) or 0
        numbers = phones(N)
        enqueue_all(env, numbers)
        wait_all(env, numbers, 45)
        time.sleep(0.5)
        counts = received_counts()
        twice = [p for p, c in counts.items() if c > 1]
        assert not twice, "%d numbers got the message twice, e.g. %s" % (len(twice), twice[:3])
        assert len(counts) == N
        # both daemons did part of the work
        first = env.metric("gateway_sms_submitted_total", {"result": "accepted"}) - before
        status, _, text = env.request(second.admin_port, "GET", "/metrics")
        other = sum(float(line.split()[-1]) for line in text.decode().splitlines()
                    if line.startswith("gateway_sms_submitted_total")
                    and 'result="accepted"' in line)
        assert first + other == N and first > 0 and other > 0, (first, other)
        assert env.redis("HGET", "gw:{q}:stats", "recovered") in (None, "0")
    finally:
        rc = second.stop()
        assert rc == 0, "the second gatewayd exited %s:\n%s" % (rc, second.log()[-2000:])
        assert "runtime error" not in second.log() and "Sanitizer" not in second.log()


class BlackholeProxy:
    """A TCP proxy in front of Redis that can swallow what Redis answers, as a
    network fault would: commands still reach Redis and run there."""

    def __init__(self, redis_port):
        import threading
        self.redis_port = redis_port
        self.black = False
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _pipe(self, src, dst, answers):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if answers and self.black:
                    continue
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.close()
            except OSError:
                pass

    def _accept(self):
        import threading
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            r = socket.create_connection(("127.0.0.1", self.redis_port))
            self.conns += [c, r]
            threading.Thread(target=self._pipe, args=(c, r, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(r, c, True), daemon=True).start()

    def close(self):
        self.sock.close()
        for s in self.conns:
            try:
                s.close()
            except OSError:
                pass


def test_lost_answers_from_redis_strand_nothing(env):
    """Redis runs claims and acks whose answers are lost (the daemon drops the
    connection after 3 s without answers and reconnects): the messages those
    claims took come back when the abandoned lease runs out; all are sent."""
    CARRIER.reset()
    CARRIER.set_mode("slow", delay_ms=2)
    proxy = BlackholeProxy(env.redis_port)
    try:
        env.restart_gatewayd({"redis": {"url": "redis://127.0.0.1:%d/0" % proxy.port}})
        numbers = phones(3000)
        enqueue_all(env, numbers)
        assert wait_until(lambda: len(CARRIER.messages()) >= 200, 30, interval=0.05)
        proxy.black = True
        time.sleep(4)
        proxy.black = False
        wait_all(env, numbers, 40)
        assert wait_until(lambda: env.redis("KEYS", "gw:{q}:fl:*") == [] or
                          all(env.redis("HLEN", k) == 0 for k in env.redis("KEYS", "gw:{q}:fl:*")),
                          10), env.redis("KEYS", "gw:{q}:fl:*")
    finally:
        env.stop_gatewayd()
        proxy.close()
