#!/usr/bin/env python3
"""The measuring half of ops/bench/dispatch (see there): schedules N messages
through POST /v1/messages with the provider paused, reads Redis' used_memory
before and after, lifts the pause and waits for the daemon to count N accepted.
Standard library only."""
import argparse
import http.client
import json
import socket
import sys
import threading
import time
import urllib.parse

BATCH = 100000


def redis_cmd(port, *args):
    s = socket.create_connection(("127.0.0.1", port), 10)
    out = b"*%d\r\n" % len(args) + b"".join(
        b"$%d\r\n%s\r\n" % (len(a.encode()), a.encode()) for a in args)
    s.sendall(out)
    data = b""
    while not data.endswith(b"\r\n") or (data[:1] == b"$" and data.count(b"\r\n") < 2):
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        data += chunk
    s.close()
    return data.decode()


def used_memory(port):
    info = redis_cmd(port, "INFO", "memory")
    for line in info.splitlines():
        if line.startswith("used_memory:"):
            return int(line.split(":")[1])
    raise SystemExit("no used_memory in INFO")


def accepted(admin, provider):
    u = urllib.parse.urlsplit(admin)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    c.close()
    total = 0
    for line in text.splitlines():
        if line.startswith("gateway_sms_submitted_total{provider=\"%s\",result=\"accepted\"}"
                           % provider):
            total += int(float(line.split()[-1]))
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--admin", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--redis-port", type=int, required=True)
    ap.add_argument("--messages", type=int, default=1000000)
    ap.add_argument("--provider", default="bench")
    ap.add_argument("--connections", type=int, default=2)
    a = ap.parse_args()
    u = urllib.parse.urlsplit(a.admin)

    # Nothing goes out while scheduling: the provider's throttle pause.
    redis_cmd(a.redis_port, "SET", "gw:{q}:pause:" + a.provider, "1", "PX", "3600000")
    time.sleep(0.3)
    before = used_memory(a.redis_port)

    bodies = []
    for start in range(0, a.messages, BATCH):
        n = min(BATCH, a.messages - start)
        to = ["+86137%08d" % (start + i) for i in range(n)]
        bodies.append(json.dumps({"to": to, "text": "您今年的城乡居民养老保险费还没有缴纳，"
                                  "请在12月31日前到村协理员处或通过银行缴费。"}).encode())
    errors = []
    lock = threading.Lock()
    next_body = [0]

    def worker():
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
        while True:
            with lock:
                if next_body[0] >= len(bodies) or errors:
                    break
                body = bodies[next_body[0]]
                next_body[0] += 1
            c.request("POST", "/v1/messages", body,
                      {"Authorization": "Bearer " + a.token, "Content-Type": "application/json"})
            r = c.getresponse()
            data = r.read()
            if r.status != 202:
                with lock:
                    errors.append("%d %s" % (r.status, data[:200]))
        c.close()

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(a.connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sched_s = time.monotonic() - t0
    if errors:
        raise SystemExit("scheduling failed: " + errors[0])
    after = used_memory(a.redis_port)
    per_msg = (after - before) / a.messages
    print("scheduled: %d messages in %.2f s = %.0f messages/s" % (a.messages, sched_s,
                                                                  a.messages / sched_s))
    print("redis:     %.1f MB for the queue = %.1f bytes per queued message"
          % ((after - before) / 1e6, per_msg))

    base = accepted(a.admin, a.provider)
    t0 = time.monotonic()
    redis_cmd(a.redis_port, "DEL", "gw:{q}:pause:" + a.provider)
    last_print = t0
    while True:
        done = accepted(a.admin, a.provider) - base
        now = time.monotonic()
        if done >= a.messages:
            break
        if now - last_print >= 5:
            print("  ... %d sent after %.0f s" % (done, now - t0), flush=True)
            last_print = now
        if now - t0 > 1800:
            raise SystemExit("dispatch did not finish in 30 min (%d sent)" % done)
        time.sleep(0.05)
    disp_s = time.monotonic() - t0
    print("dispatched: %d messages in %.2f s = %.0f messages/s" % (a.messages, disp_s,
                                                                   a.messages / disp_s))
    print("dispatch: schedule %.0f/s, dispatch %.0f/s, %.0f bytes/message in Redis"
          % (a.messages / sched_s, a.messages / disp_s, per_msg))
    return 0


if __name__ == "__main__":
    sys.exit(main())
