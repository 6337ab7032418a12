"""The fake carrier itself (fake_carrier.py): each API, each mode, the HTTP control
paths and the script mode, driven with the standard library's HTTP clients, so the
tests that lean on it can trust it.

run.py gives every file an Env (redis-server and gatewayd); these tests take it
and leave it alone: each starts its own FakeCarrier."""
import base64
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

import fake_carrier as fc
from fake_carrier import AT, KANNEL, TWILIO, FakeCarrier, RemoteCarrier

HERE = os.path.dirname(os.path.abspath(__file__))
PHONE = "+8613800000001"
OTHER = "+8613800000002"
TWILIO_PATH = "/2010-04-01/Accounts/%s/Messages.json" % fc.DEFAULT_TWILIO_SID
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


# ---- clients, one request per connection unless a connection is given ----

def call(carrier, method, path, body=None, headers=None, conn=None, timeout=5):
    """Returns (status, headers with lower-case names, body bytes)."""
    own = conn is None
    if own:
        conn = http.client.HTTPConnection(carrier.host, carrier.port, timeout=timeout)
    try:
        if isinstance(body, dict):
            body = urllib.parse.urlencode(body)
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        if own:
            conn.close()


def at_send(carrier, to=PHONE, message="hello", api_key=fc.DEFAULT_AT_API_KEY,
            username=fc.DEFAULT_AT_USERNAME, conn=None, **extra):
    form = {"username": username, "to": to, "message": message, "from": "12333"}
    form.update(extra)
    headers = dict(FORM, apiKey=api_key, Accept="application/json")
    return call(carrier, "POST", "/version1/messaging", form, headers, conn)


def twilio_auth(sid=fc.DEFAULT_TWILIO_SID, token=fc.DEFAULT_TWILIO_TOKEN):
    return "Basic " + base64.b64encode(("%s:%s" % (sid, token)).encode()).decode()


def twilio_send(carrier, to=PHONE, body="hello", auth=None, path=TWILIO_PATH, conn=None,
                **extra):
    form = {"To": to, "From": "+15005550006", "Body": body}
    form.update(extra)
    headers = dict(FORM, Authorization=auth or twilio_auth())
    return call(carrier, "POST", path, {k: v for k, v in form.items() if v is not None},
                headers, conn)


def kannel_send(carrier, to=PHONE, text="hello", conn=None, raw_text=None, **params):
    q = {"username": fc.DEFAULT_KANNEL_USERNAME, "password": fc.DEFAULT_KANNEL_PASSWORD,
         "from": "12333", "to": to}
    q.update(params)
    query = urllib.parse.urlencode({k: v for k, v in q.items() if v is not None})
    # RAW_TEXT: bytes sent as they are (percent-encoded), for charset tests
    query += "&text=" + urllib.parse.quote_from_bytes(
        raw_text if raw_text is not None else text.encode("utf-8"))
    return call(carrier, "GET", "/cgi-bin/sendsms?" + query, conn=conn)


def send(carrier, api, to=PHONE, text="hello"):
    if api == AT:
        return at_send(carrier, to, text)
    if api == TWILIO:
        return twilio_send(carrier, to, text)
    return kannel_send(carrier, to, text, charset="UTF-8", coding=2)


def jbody(data):
    return json.loads(data.decode("utf-8"))


def with_carrier(fn):
    carrier = FakeCarrier().start()
    try:
        fn(carrier)
    finally:
        carrier.close()


# ---- the three APIs ----

def test_africastalking_accepts_and_records(env):
    def run(c):
        status, headers, data = at_send(c, message="【某县人社】您好 hello")
        assert status == 201, (status, data)
        assert headers["content-type"] == "application/json"
        assert int(headers["content-length"]) == len(data)
        answer = jbody(data)["SMSMessageData"]
        assert answer["Message"] == "Sent to 1/1 Total Cost: KES 0.8000", answer
        (rcpt,) = answer["Recipients"]
        assert rcpt["statusCode"] == 101 and rcpt["status"] == "Success", rcpt
        assert rcpt["number"] == PHONE and rcpt["cost"] == "KES 0.8000", rcpt
        assert re.fullmatch(r"ATXid_[0-9a-f]{32}", rcpt["messageId"]), rcpt
        (m,) = c.messages()
        assert m["api"] == AT and m["to"] == PHONE and m["from"] == "12333", m
        assert m["text"] == "【某县人社】您好 hello", m
        assert m["carrier_id"] == rcpt["messageId"], m
        assert m["headers"]["apikey"] == fc.DEFAULT_AT_API_KEY, m["headers"]
        assert m["headers"]["accept"] == "application/json"
        assert m["coding"] is None and m["segments"] == 1
        assert m["monotonic"] <= time.monotonic() and abs(m["wall"] - time.time()) < 5
        # two recipients, comma-separated: two records
        status, _, data = at_send(c, to=PHONE + "," + OTHER)
        assert status == 201 and len(jbody(data)["SMSMessageData"]["Recipients"]) == 2
        assert [m["to"] for m in c.messages()] == [PHONE, PHONE, OTHER]
        # refused requests are counted, never recorded
        status, _, data = at_send(c, api_key="wrong")
        assert status == 401 and b"authentication is invalid" in data, (status, data)
        status, _, _ = at_send(c, username="someone-else")
        assert status == 401, status
        status, _, data = at_send(c, to="")
        assert status == 400 and b"'to'" in data, (status, data)
        status, _, data = at_send(c, message="")
        assert status == 400 and b"'message'" in data, (status, data)
        status, _, _ = call(c, "GET", "/version1/messaging")
        assert status == 405, status
        assert c.requests(AT) == 7 and len(c.messages()) == 3, (c.requests(AT), c.messages())
        assert c.requests(TWILIO) == 0 and c.requests(KANNEL) == 0
    with_carrier(run)


def test_twilio_accepts_checks_auth_and_fields(env):
    def run(c):
        status, headers, data = twilio_send(c, body="x" * 161,
                                            StatusCallback="http://127.0.0.1:1/dlr/twilio")
        assert status == 201, (status, data)
        answer = jbody(data)
        assert re.fullmatch(r"SM[0-9a-f]{32}", answer["sid"]), answer
        assert answer["status"] == "queued" and answer["to"] == PHONE, answer
        assert answer["body"] == "x" * 161 and answer["num_segments"] == "2", answer
        assert answer["account_sid"] == fc.DEFAULT_TWILIO_SID
        (m,) = c.messages(TWILIO)
        assert m["carrier_id"] == answer["sid"] and m["from"] == "+15005550006", m
        assert m["status_callback"] == "http://127.0.0.1:1/dlr/twilio", m
        assert m["headers"]["authorization"] == twilio_auth()
        for auth, path in ((twilio_auth(token="wrong"), TWILIO_PATH),
                           (twilio_auth(sid="AC" + "f" * 32), TWILIO_PATH),
                           (twilio_auth(),
                            TWILIO_PATH.replace(fc.DEFAULT_TWILIO_SID, "AC" + "f" * 32)),
                           ("Bearer x", TWILIO_PATH), ("Basic !!!", TWILIO_PATH)):
            status, headers, data = twilio_send(c, auth=auth, path=path)
            assert status == 401, (auth, path, status)
            assert jbody(data)["code"] == 20003, data
            assert headers["www-authenticate"].startswith("Basic"), headers
        for field, code in (("To", 21604), ("From", 21603), ("Body", 21602)):
            status, _, data = twilio_missing(c, field)
            assert status == 400 and jbody(data)["code"] == code, (field, status, data)
        assert c.requests(TWILIO) == 9 and len(c.messages()) == 1
    with_carrier(run)


def twilio_missing(c, field):
    form = {"To": PHONE, "From": "+15005550006", "Body": "hello"}
    del form[field]
    return call(c, "POST", TWILIO_PATH, form, dict(FORM, Authorization=twilio_auth()))


def test_kannel_sendsms_decodes_like_smsbox(env):
    def run(c):
        chinese = "【某县人社】您好，请缴费 100元"
        status, headers, data = kannel_send(c, text=chinese, charset="UTF-8", coding=2,
                                            **{"dlr-mask": 31, "dlr-url": "http://x/dlr?s=%d"})
        assert (status, data) == (202, b"0: Accepted for delivery"), (status, data)
        assert headers["content-type"] == "text/html"
        status, _, _ = kannel_send(c, to=OTHER, text="Hello 100% sure+ok & é€")
        assert status == 202
        # UTF-16BE bytes with coding=2 and no charset: taken as they are
        status, _, _ = kannel_send(c, raw_text="你好".encode("utf-16-be"), coding=2)
        assert status == 202
        # Chinese without coding=2: Kannel keeps only GSM characters
        status, _, _ = kannel_send(c, text="你好 ça", charset="UTF-8")
        assert status == 202
        # UTF-8 with coding=2 but no charset: garbled, as through a real smsbox
        status, _, _ = kannel_send(c, text="你好", coding=2)
        assert status == 202
        ms = c.messages(KANNEL)
        assert [m["text"] for m in ms[:4]] == [chinese, "Hello 100% sure+ok & é€", "你好",
                                               "?? Ça"], [m["text"] for m in ms]
        assert ms[4]["text"] != "你好" and len(ms[4]["text"]) == 3, ms[4]["text"]
        assert [m["coding"] for m in ms] == [2, 0, 2, 0, 2]
        assert ms[0]["charset"] == "UTF-8" and ms[1]["charset"] is None
        assert ms[0]["dlr_mask"] == 31 and ms[0]["dlr_url"] == "http://x/dlr?s=%d", ms[0]
        assert ms[0]["carrier_id"] is None and ms[0]["from"] == "12333"
        assert ms[1]["to"] == OTHER
        # smsbox's refusals, word for word
        for params, want in (
                ({"password": "wrong"}, (403, b"Authorization failed for sendsms")),
                ({"username": None}, (403, b"Authorization failed for sendsms")),
                ({"to": ""}, (400, b"Empty receiver number not allowed, rejected")),
                ({"to": None}, (400, b"Missing receiver number, rejected")),
                ({"to": "abc"}, (400, fc.KANNEL_DENIED.encode())),
                ({"from": None}, (400, b"Sender missing and no global set, rejected")),
                ({"coding": "9"}, (400, b"Coding field misformed, rejected")),
                ({"charset": "NO-SUCH-CHARSET"}, (400, b"Charset or body misformed, rejected"))):
            q = {"to": PHONE}
            q.update(params)
            status, _, data = kannel_send(c, **q)
            assert (status, data) == want, (params, status, data)
        status, _, _ = call(c, "POST", "/cgi-bin/sendsms", "")
        assert status == 405
        assert c.requests(KANNEL) == 14 and len(c.messages()) == 5
        # two receivers, space-separated: two records
        status, _, _ = kannel_send(c, to=PHONE + " " + OTHER)
        assert status == 202 and [m["to"] for m in c.messages()[-2:]] == [PHONE, OTHER]
    with_carrier(run)


def test_unknown_paths_404(env):
    def run(c):
        for method, path in (("GET", "/"), ("POST", "/version1/other"),
                             ("POST", "/2010-04-01/Accounts/x/Calls.json")):
            status, _, _ = call(c, method, path, "" if method == "POST" else None)
            assert status == 404, (method, path, status)
        assert c.requests() == 0
    with_carrier(run)


# ---- modes ----

def test_fail_n_times_then_ok(env):
    def run(c):
        c.set_mode("fail", api=TWILIO, count=2, status=503)
        c.set_mode("fail", api=KANNEL, count=1, status=503)
        c.set_mode("fail", api=AT, count=1, status=502)
        got = [twilio_send(c) for _ in range(3)]
        assert [g[0] for g in got] == [503, 503, 201], [g[:1] for g in got]
        assert jbody(got[0][2])["code"] == 20503, got[0][2]
        status, _, data = kannel_send(c)
        assert (status, data) == (503, b"Temporal failure, try again later."), (status, data)
        assert kannel_send(c)[0] == 202
        status, _, data = at_send(c)
        assert status == 502 and data == b"Bad Gateway", (status, data)
        assert at_send(c)[0] == 201
        assert c.requests(TWILIO) == 3 and c.requests(KANNEL) == 2 and c.requests(AT) == 2
        assert len(c.messages()) == 3
        # for every API, until changed
        c.set_mode("fail")
        for api in (AT, TWILIO, KANNEL):
            assert send(c, api)[0] == 500, api
        c.ok()
        for api in (AT, TWILIO, KANNEL):
            assert send(c, api)[0] in (201, 202), api
    with_carrier(run)


def test_throttle_answers(env):
    def run(c):
        c.set_mode("throttle", count=1, retry_after=7)
        status, headers, data = at_send(c)
        assert status == 429 and headers.get("retry-after") == "7", (status, headers)
        assert at_send(c)[0] == 201      # the one-shot rule is used up, for every API
        c.set_mode("throttle", api=TWILIO, count=1)
        status, headers, data = twilio_send(c)
        assert status == 429 and headers.get("retry-after") == "1", (status, headers)
        assert jbody(data)["code"] == 20429
        c.set_mode("throttle", api=KANNEL, count=1, retry_after=9)
        status, headers, data = kannel_send(c)
        assert (status, data) == (503, b"Temporal failure, try again later."), (status, data)
        assert "retry-after" not in headers, headers
        assert [twilio_send(c)[0], kannel_send(c)[0]] == [201, 202]
    with_carrier(run)


def test_permanent_per_number(env):
    def run(c):
        c.set_mode("permanent", number=OTHER)
        status, _, data = at_send(c, to=OTHER)
        assert status == 201, status
        answer = jbody(data)["SMSMessageData"]
        assert answer["Recipients"] == [{"statusCode": 403, "number": OTHER,
                                         "status": "InvalidPhoneNumber", "cost": "0",
                                         "messageId": "None"}], answer
        assert answer["Message"].startswith("Sent to 0/1"), answer
        status, _, data = twilio_send(c, to=OTHER)
        assert status == 400, status
        assert jbody(data)["code"] == 21211
        assert jbody(data)["message"] == "The 'To' number is not a valid phone number."
        status, _, data = kannel_send(c, to=OTHER)
        assert (status, data) == (400, fc.KANNEL_DENIED.encode()), (status, data)
        # one bad number among two: only it is refused
        status, _, data = at_send(c, to=PHONE + "," + OTHER)
        codes = [r["statusCode"] for r in jbody(data)["SMSMessageData"]["Recipients"]]
        assert codes == [101, 403], codes
        for api in (AT, TWILIO, KANNEL):
            assert send(c, api, PHONE)[0] in (201, 202), api
        assert [m["to"] for m in c.messages()] == [PHONE] * 4
        # only through one API
        c.set_mode("ok", number=OTHER)
        c.set_mode("permanent", number=OTHER, api=TWILIO)
        assert twilio_send(c, to=OTHER)[0] == 400 and kannel_send(c, to=OTHER)[0] == 202
    with_carrier(run)


def test_slow_then_answers(env):
    def run(c):
        c.set_mode("slow", delay_ms=400, count=1)
        started = time.monotonic()
        assert kannel_send(c)[0] == 202
        took = time.monotonic() - started
        assert took >= 0.4, took
        started = time.monotonic()
        assert kannel_send(c)[0] == 202
        assert time.monotonic() - started < 0.3
        assert len(c.messages()) == 2
    with_carrier(run)


def test_hang_holds_until_reset(env):
    def run(c):
        c.set_mode("hang", api=AT)
        try:
            at_send(c, conn=http.client.HTTPConnection(c.host, c.port, timeout=0.5))
            raise AssertionError("a hung request was answered")
        except socket.timeout:
            pass
        assert c.hanging() == 1 and c.requests(AT) == 1 and not c.messages()
        # the others still answer
        assert twilio_send(c)[0] == 201
        # a second one waits for the release too; then its connection is closed unanswered
        outcome = []

        def waiting():
            try:
                outcome.append(at_send(c, conn=http.client.HTTPConnection(c.host, c.port,
                                                                          timeout=5)))
            except (http.client.HTTPException, OSError) as e:
                outcome.append(e)
        t = threading.Thread(target=waiting)
        t.start()
        c.wait_requests(2, api=AT)
        time.sleep(0.1)
        assert c.hanging() == 2, c.hanging()
        c.reset()
        t.join(5)
        assert len(outcome) == 1 and isinstance(outcome[0], (http.client.HTTPException,
                                                             OSError)), outcome
        assert wait_zero(c), "%d requests still held after reset()" % c.hanging()
        assert at_send(c)[0] == 201 and c.requests(AT) == 1
    with_carrier(run)


def wait_zero(c):
    end = time.monotonic() + 2
    while c.hanging() and time.monotonic() < end:
        time.sleep(0.02)
    return c.hanging() == 0


def test_count_and_rule_order(env):
    def run(c):
        # a number rule wins over the API rule, which wins over the all-API rule
        c.set_mode("fail", status=500)
        c.set_mode("throttle", api=TWILIO)
        c.set_mode("permanent", number=OTHER, count=1)
        got = [twilio_send(c, to=OTHER)[0], twilio_send(c, to=OTHER)[0], at_send(c, to=OTHER)[0]]
        assert got == [400, 429, 500], "number, then API, then all-API rule: %s" % got
        for bad in ({"mode": "explode"}, {"mode": "ok", "api": "smpp"},
                    {"mode": "fail", "count": 0}, {"mode": "fail", "status": 200}):
            try:
                c.set_mode(**bad)
                raise AssertionError("set_mode(%r) was accepted" % bad)
            except ValueError:
                pass
    with_carrier(run)


# ---- connections, waiting, control over HTTP, the script ----

def test_keep_alive_reuses_the_connection(env):
    def run(c):
        conn = http.client.HTTPConnection(c.host, c.port, timeout=5)
        try:
            for api_send in (at_send, twilio_send, kannel_send, at_send):
                status, headers, _ = api_send(c, conn=conn)
                assert status in (201, 202) and "content-length" in headers, headers
                assert headers.get("connection") != "close", headers
            c.set_mode("fail", count=1, status=503)
            assert at_send(c, conn=conn)[0] == 503          # errors keep it open too
            assert kannel_send(c, conn=conn)[0] == 202
        finally:
            conn.close()
        peers = {m["peer"] for m in c.messages()}
        assert len(peers) == 1 and c.connections() == 1, (peers, c.connections())
        # drop_connections closes idle ones; the client must reconnect
        conn = http.client.HTTPConnection(c.host, c.port, timeout=5)
        assert at_send(c, conn=conn)[0] == 201
        assert c.drop_connections() == 1
        time.sleep(0.1)
        try:
            at_send(c, conn=conn)
        except (http.client.HTTPException, OSError):
            pass
        conn.close()
    with_carrier(run)


def test_wait_messages(env):
    def run(c):
        def later():
            time.sleep(0.3)
            at_send(c)
            kannel_send(c)
        t = threading.Thread(target=later)
        t.start()
        started = time.monotonic()
        got = c.wait_messages(2, timeout=5)
        assert len(got) == 2 and time.monotonic() - started < 3
        t.join()
        assert len(c.wait_messages(1, api=KANNEL, timeout=0.1)) == 1
        started = time.monotonic()
        try:
            c.wait_messages(3, timeout=0.3)
            raise AssertionError("wait_messages(3) returned with 2 messages")
        except AssertionError as e:
            assert "2 of 3" in str(e), e
        assert 0.3 <= time.monotonic() - started < 2
    with_carrier(run)


def test_http_control_paths(env):
    def run(c):
        status, _, data = call(c, "POST", "/_control",
                               json.dumps([{"mode": "fail", "api": "kannel", "count": 1,
                                            "status": 502},
                                           {"mode": "permanent", "number": OTHER}]))
        assert status == 200 and jbody(data) == {"ok": True}, (status, data)
        assert kannel_send(c)[0] == 502 and kannel_send(c)[0] == 202
        assert twilio_send(c, to=OTHER)[0] == 400
        status, _, data = call(c, "GET", "/_messages")
        state = jbody(data)
        assert status == 200 and len(state["messages"]) == 1 and state["complete"], state
        assert state["requests"] == {"africastalking": 0, "twilio": 1, "kannel": 2}, state
        assert state["messages"][0]["text"] == "hello"
        status, _, data = call(c, "GET", "/_messages?api=twilio&wait=1&timeout=0.2")
        assert status == 200 and jbody(data)["complete"] is False, data
        for body in ('{"mode": "explode"}', "[1]", "{"):
            status, _, data = call(c, "POST", "/_control", body)
            assert status == 400 and "error" in jbody(data), (body, status, data)
        status, _, _ = call(c, "POST", "/_reset", "")
        assert status == 200 and c.messages() == [] and c.requests() == 0
        assert twilio_send(c, to=OTHER)[0] == 201      # the rules went too
        remote = RemoteCarrier(c.url)
        remote.set_mode("throttle", api=AT, count=1, retry_after=3)
        assert at_send(c)[0] == 429 and at_send(c)[0] == 201
        assert len(remote.wait_messages(2, timeout=2)) == 2
        assert remote.requests(AT) == 2 and remote.messages(AT)[0]["api"] == AT
        remote.reset()
        assert c.requests() == 0
    with_carrier(run)


def test_script_mode(env):
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "fake_carrier.py"), "--port", "0",
                             "--kannel-password", "pw-from-argv"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = proc.stdout.readline().decode().strip()
        assert line.isdigit(), "the script printed %r, not a port" % line
        remote = RemoteCarrier("http://127.0.0.1:%s" % line)
        q = urllib.parse.urlencode({"username": fc.DEFAULT_KANNEL_USERNAME,
                                    "password": "pw-from-argv", "from": "1", "to": PHONE,
                                    "text": "你好", "charset": "UTF-8", "coding": "2"})
        conn = http.client.HTTPConnection("127.0.0.1", int(line), timeout=5)
        conn.request("GET", "/cgi-bin/sendsms?" + q)
        assert conn.getresponse().status == 202
        conn.close()
        (m,) = remote.wait_messages(1, timeout=5)
        assert m["text"] == "你好" and m["coding"] == 2, m
        # a client that hangs up mid-request must not make it talk
        s = socket.create_connection(("127.0.0.1", int(line)), timeout=5)
        s.sendall(b"POST /version1/messaging HTTP/1.1\r\nContent-Length: 100\r\n\r\nab")
        s.close()
        time.sleep(0.2)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    err = proc.stderr.read()
    assert proc.returncode == 0, "the script exited %s" % proc.returncode
    assert err == b"", "the script wrote on stderr: %r" % err[:300]
