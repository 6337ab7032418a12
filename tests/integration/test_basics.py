"""What SPEC.md alone defines: health, readiness, metrics, admin auth, errors, bad
input that must not hurt the daemon, the roster import, config errors and signals.

Each test gets a running gatewayd on an empty Redis (see run.py)."""
import json
import re
import signal
import socket
import threading
import time
import urllib.parse

from harness import HOTLINE, TOKEN, wait_until

HEADER = ("participant_id,phone,name,id_last4,township,village,language,contribution_year,"
          "contribution_tier_yuan,contribution_paid_yuan,contribution_due,"
          "account_balance_yuan,pension_monthly_yuan,pension_last_paid,mutual_aid_member")

# (participant_id, the row, E.164 phone or None, balance in fen)
GOOD = [
    ("T-0001", "T-0001,13800000101,测试甲,1234,青山镇,上岭村,zh,2026,100,100,2026-12-31,5321.47,,,no",
     "+8613800000101", 532147),
    ("T-0002", "T-0002,138 0000 0102,测试乙,567X,青山镇,上岭村,,2026,200,,2026-12-31,0.5,,,yes",
     "+8613800000102", 50),
    ("T-0003", "T-0003,+86 138-0000-0103,Test Three,9012,白水乡,白水村,en,,,,,1000,186.50,2026-11-10,no",
     "+8613800000103", 100000),
    ("T-0004", "T-0004,,无电话,3456,白水乡,石桥村,zh,2026,100,0,2027-01-15,12.3,,,no",
     None, 1230),
]
# (the row, the column its reason must name, or None when any reason will do)
BAD = [
    ("T-0100,12345,坏号码,1234,青山镇,上岭村,zh,2026,100,100,2026-12-31,1.00,,,no", "phone"),
    ("T-0101,13800000111,坏金额,1234,青山镇,上岭村,zh,2026,100,100,2026-12-31,12.345,,,no",
     "account_balance_yuan"),
    ("T-0102,13800000112,坏日期,1234,青山镇,上岭村,zh,2026,100,,2026-02-30,1.00,,,no",
     "contribution_due"),
    ("T-0103,13800000113,坏语言,1234,青山镇,上岭村,fr,2026,100,100,2026-12-31,1.00,,,no",
     "language"),
    ("T-0104,13800000114,坏互助,1234,青山镇,上岭村,zh,2026,100,100,2026-12-31,1.00,,,maybe",
     "mutual_aid_member"),
    (",13800000115,无编号,1234,青山镇,上岭村,zh,2026,100,100,2026-12-31,1.00,,,no",
     "participant_id"),
    ("T-0106,13800000116,短行", None),
]


def roster(lines, eol="\n"):
    return eol.join([HEADER] + lines) + eol


def mixed_roster():
    """Good and bad rows interleaved; returns (text, {line number: column or None})."""
    lines, bad_lines = [], {}
    for i in range(max(len(GOOD), len(BAD))):
        if i < len(GOOD):
            lines.append(GOOD[i][1])
        if i < len(BAD):
            lines.append(BAD[i][0])
            bad_lines[len(lines) + 1] = BAD[i][1]   # the header is line 1
    return roster(lines), bad_lines


def fen_of(answer, field="account_balance"):
    """An amount from a participant answer: FIELD_fen (integer) or FIELD_yuan ("5321.47")."""
    if isinstance(answer.get(field + "_fen"), int):
        return answer[field + "_fen"]
    yuan = answer.get(field + "_yuan")
    if isinstance(yuan, str) and re.fullmatch(r"\d+(\.\d{1,2})?", yuan):
        whole, _, frac = yuan.partition(".")
        return int(whole) * 100 + int((frac + "00")[:2])
    if isinstance(yuan, int):
        return yuan * 100
    raise AssertionError("no exact %s in %r (want %s_fen as an integer or %s_yuan as a "
                         "decimal string)" % (field, answer, field, field))


def assert_error_json(status, body, want_status, what):
    assert status == want_status, "%s: want %d, got %d: %r" % (what, want_status, status, body)
    assert isinstance(body, dict), "%s: the error is not JSON: %r" % (what, body)
    assert isinstance(body.get("error"), str) and body["error"], \
        "%s: no 'error' code in %r" % (what, body)
    assert isinstance(body.get("message"), str) and body["message"], \
        "%s: no 'message' in %r" % (what, body)


def assert_healthy(env, after):
    assert env.gatewayd_alive(), "gatewayd died after " + after
    status, _ = env.get_admin("/healthz", timeout=5)
    assert status == 200, "/healthz answered %d after %s" % (status, after)


def http_status(data):
    m = re.match(rb"HTTP/1\.[01] (\d{3})", data)
    return int(m.group(1)) if m else None


def raw_exchange(port, data, timeout=5.0):
    """Sends DATA on a fresh connection (the server may answer and close before all
    of it is sent) and returns what came back before the server closed, an answer
    head arrived, or TIMEOUT passed (b"" if nothing)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    got = []

    def reader():
        buf = b""
        end = time.monotonic() + timeout
        try:
            while b"\r\n\r\n" not in buf and time.monotonic() < end:
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        except OSError:
            pass
        got.append(buf)
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)      # no more is coming: the server need not wait
    except OSError:
        pass                            # it answered and closed already
    t.join(timeout + 1)
    s.close()
    return got[0] if got else b""


def post_huge(port, path, size, content_type):
    """Streams a SIZE-byte body while a reader thread watches for the answer (the
    server may answer and close before the body is sent). Returns the status or None."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    got = []

    def reader():
        buf = b""
        try:
            while b"\r\n" not in buf:
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
        except OSError:
            pass
        got.append(buf)
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        s.sendall(("POST %s HTTP/1.1\r\nHost: test\r\nContent-Type: %s\r\n"
                   "Content-Length: %d\r\n\r\n" % (path, content_type, size)).encode())
        chunk = b"a" * 65536
        sent = 0
        while sent < size and t.is_alive():
            s.sendall(chunk[:min(len(chunk), size - sent)])
            sent += min(len(chunk), size - sent)
    except OSError:
        pass
    t.join(15)
    s.close()
    return http_status(got[0]) if got else None


# ---- health, readiness, metrics ----

def test_healthz(env):
    status, _ = env.get_admin("/healthz")
    assert status == 200, "/healthz answered %d" % status


def test_readyz_follows_redis(env):
    status, body = env.get_admin("/readyz")
    assert status == 200, "/readyz with Redis up answered %d: %s" % (status, body)
    env.stop_redis()
    assert wait_until(lambda: env.get_admin("/readyz")[0] == 503, 5), \
        "/readyz did not answer 503 within 5 s of Redis stopping"
    assert wait_until(lambda: env.metric("gateway_redis_up") == 0, 5), \
        "gateway_redis_up did not drop to 0 with Redis stopped"
    env.start_redis()
    assert wait_until(lambda: env.get_admin("/readyz")[0] == 200, 10, 0.2), \
        "/readyz did not come back to 200 within 10 s of Redis restarting"
    assert env.metric("gateway_redis_up") == 1


def test_readyz_requires_writable_redis(env):
    env.redis("CONFIG", "SET", "maxmemory", "1")     # noeviction: every write is refused
    try:
        assert wait_until(lambda: env.get_admin("/readyz")[0] == 503, 5), \
            "/readyz stayed 200 while Redis refused writes"
    finally:
        env.redis("CONFIG", "SET", "maxmemory", "0")
    assert wait_until(lambda: env.get_admin("/readyz")[0] == 200, 5), \
        "/readyz did not come back once Redis took writes again"


def test_status_page(env):
    status, headers, data = env.request(env.admin_port, "GET", "/")
    assert status == 200, "GET / answered %d" % status
    assert headers.get("content-type", "").startswith("text/html"), \
        "GET / content type is %r" % headers.get("content-type")


def test_metrics_text(env):
    status, headers, data = env.request(env.admin_port, "GET", "/metrics")
    assert status == 200, "/metrics answered %d" % status
    assert headers.get("content-type", "").startswith("text/plain"), \
        "/metrics content type is %r" % headers.get("content-type")
    text = data.decode()
    for name in ("gateway_redis_up", "gateway_build_info", "gateway_ussd_requests_total"):
        assert re.search(r"^%s(\{| )" % name, text, re.M), "/metrics lacks %s" % name
    assert env.metric("gateway_redis_up") == 1


def test_metrics_count_ussd_hops(env):
    before = env.metric("gateway_ussd_requests_total", {"dialect": "africastalking"}) or 0
    env.ussd_at("m1", "+8613999990001", "")
    after = env.metric("gateway_ussd_requests_total", {"dialect": "africastalking"})
    assert after is not None and after >= before + 1, \
        "gateway_ussd_requests_total{dialect=africastalking} went from %s to %s" % (before, after)


# ---- admin auth and errors ----

def test_v1_requires_token(env):
    path = "/v1/participants/T-0001"
    for token, what in ((False, "no token"), ("wrong-token-0123456789abcdef", "a wrong token"),
                        (TOKEN[:-1], "the token less its last character"),
                        (TOKEN + "x", "the token plus one character")):
        status, body = env.admin("GET", path, token=token)
        assert_error_json(status, body, 401, "GET %s with %s" % (path, what))
    for header in ("Basic " + TOKEN, "Bearer", "Bearer ", TOKEN):
        status, _, data = env.request(env.admin_port, "GET", path,
                                      headers={"Authorization": header})
        assert status == 401, "Authorization %r answered %d" % (header, status)
    status, body = env.admin("GET", "/v1/no-such-thing", token=False)
    assert_error_json(status, body, 401, "an unknown /v1 path without a token")
    status, body = env.admin("POST", "/v1/participants/import", roster([GOOD[0][1]]),
                             token=False, content_type="text/csv")
    assert_error_json(status, body, 401, "an import without a token")
    status, body = env.participant("T-0001")
    assert status == 404, "an import without a token changed something: %d %r" % (status, body)


def test_unknown_paths_404(env):
    status, body = env.admin("GET", "/v1/no-such-thing")
    assert_error_json(status, body, 404, "GET /v1/no-such-thing")
    status, _ = env.get_admin("/no-such-page")
    assert status == 404, "admin /no-such-page answered %d" % status
    for method, path in (("GET", "/no-such-page"), ("POST", "/ussd/no-such-dialect"),
                         ("GET", "/healthz/x")):
        status, _, _ = env.carrier(method, path, "" if method == "POST" else None)
        assert status == 404, "carrier %s %s answered %d" % (method, path, status)
    status, body = env.participant("NOPE-404")
    assert_error_json(status, body, 404, "an unknown participant")


# ---- bad input keeps the daemon alive ----

def test_ussd_unknown_phone_gets_registration_help(env):
    kind, text = env.ussd_at("u1", "+8613999990002", "")
    assert kind == "END", "an unknown phone got %s: %r" % (kind, text)
    assert HOTLINE in text, "the unknown-phone screen lacks the hotline %s: %r" % (HOTLINE, text)
    kind, text = env.ussd_hubtel("u2", "+8613999990002", "Initiation", "*120*12345#", 1)
    assert kind == "END" and HOTLINE in text, "Hubtel, unknown phone: %s %r" % (kind, text)


def test_ussd_busy_within_deadline_when_redis_down(env):
    env.stop_redis()
    time.sleep(0.3)
    started = time.monotonic()
    kind, text = env.ussd_at("busy1", "+8613800000101", "")
    took = time.monotonic() - started
    assert kind == "END", "with Redis down the hop got %s: %r" % (kind, text)
    assert text.strip(), "the busy END is empty"
    # hop_deadline_ms is 500 in the test config; leave room for a sanitizer build
    assert took < 1.5, "the busy answer took %.2f s (hop_deadline_ms = 500)" % took


def test_ussd_huge_body_rejected(env):
    status = post_huge(env.http_port, "/ussd/africastalking", 10 * 1024 * 1024,
                       "application/x-www-form-urlencoded")
    assert status is not None and 400 <= status < 500, \
        "a 10 MB form got %s, want 413 or another 4xx" % status
    assert_healthy(env, "a 10 MB body")


def test_ussd_broken_form_400(env):
    for body in ("sessionId=s1&phoneNumber=%G1&text=", "sessionId=s1&phoneNumber=%4",
                 "sessionId=s%00x&phoneNumber=13800000101&text=", "%%%&&&==="):
        status, headers, data = env.carrier(
            "POST", "/ussd/africastalking", body,
            {"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 400, "broken form %r answered %d: %r" % (body, status, data[:200])
        assert data.strip(), "broken form %r: 400 without a reason" % body
    assert_healthy(env, "broken forms")


def test_ussd_missing_fields_400(env):
    full = {"sessionId": "mf1", "serviceCode": "*120*12345#", "phoneNumber": "+8613800000101",
            "networkCode": "46000", "text": ""}
    for field in ("sessionId", "phoneNumber"):
        body = urllib.parse.urlencode({k: v for k, v in full.items() if k != field})
        status, _, data = env.carrier("POST", "/ussd/africastalking", body,
                                      {"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 400, "AT without %s answered %d: %r" % (field, status, data[:200])
        assert field.encode() in data, "AT without %s: the reason does not name it: %r" \
            % (field, data[:200])
    for field in ("SessionId", "Mobile", "Type"):
        obj = {"Mobile": "+8613800000101", "SessionId": "mf2", "ServiceCode": "*120*12345#",
               "Type": "Initiation", "Message": "*120*12345#", "Operator": "x", "Sequence": 1}
        del obj[field]
        status, _, data = env.carrier("POST", "/ussd/hubtel", json.dumps(obj),
                                      {"Content-Type": "application/json"})
        assert status == 400, "Hubtel without %s answered %d: %r" % (field, status, data[:200])
        assert field.encode() in data, "Hubtel without %s: the reason does not name it: %r" \
            % (field, data[:200])
    assert_healthy(env, "requests with missing fields")


def test_hubtel_broken_json_400(env):
    for body in ('{"SessionId": "x", ', "[1, 2]", "", "null", '"text"',
                 '{"SessionId":"x","Mobile":"+8613800000101","Type":"Bogus","Message":""}'):
        status, _, data = env.carrier("POST", "/ussd/hubtel", body,
                                      {"Content-Type": "application/json"})
        assert status == 400, "Hubtel body %r answered %d: %r" % (body, status, data[:200])
        assert data.strip(), "Hubtel body %r: 400 without a reason" % body
    assert_healthy(env, "broken JSON")


def test_garbage_request_lines(env):
    garbage = [b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
               b"GET\r\n\r\n", b"\r\n\r\n\r\n\r\n", b"FOO /x HTTP/1.1\r\nHost: t\r\n\r\n",
               b"GET /healthz HTTP/1.1\r\nHost t\r\nNo colon here\r\n\r\n",
               b"POST /ussd/africastalking HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
               b"POST /ussd/africastalking HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
               b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n", b"\x00" * 1000]
    for port in (env.http_port, env.admin_port):
        for data in garbage:
            got = raw_exchange(port, data)
            status = http_status(got)
            assert status is None or status >= 400, \
                "garbage %r on port %d answered %d" % (data[:30], port, status)
            assert_healthy(env, "garbage %r" % data[:30])


def test_huge_header(env):
    for port in (env.http_port, env.admin_port):
        data = (b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + b"x" * (100 * 1024)
                + b"\r\n\r\n")
        status = http_status(raw_exchange(port, data))
        assert status is None or 400 <= status < 500, \
            "a 100 KB header on port %d answered %d" % (port, status)
        assert_healthy(env, "a 100 KB header")


def test_slowloris_half_requests(env):
    socks = []
    try:
        for i in range(40):
            port = env.http_port if i % 2 else env.admin_port
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall([b"POST /ussd/africastalking HTTP/1.1\r\nHost: t\r\nContent-Le",
                       b"POST /ussd/africastalking HTTP/1.1\r\nContent-Length: 100\r\n\r\nsess",
                       b"GET /heal"][i % 3])
            socks.append(s)
        # the loop keeps serving others while those wait
        started = time.monotonic()
        assert_healthy(env, "40 half requests")
        kind, _ = env.ussd_at("slow1", "+8613999990003", "")
        assert kind == "END"
        assert time.monotonic() - started < 2, "serving took %.2f s beside half requests" \
            % (time.monotonic() - started)
    finally:
        for s in socks:
            s.close()
    time.sleep(0.2)
    assert_healthy(env, "closing 40 half requests")


# ---- roster import ----

def test_import_counts_rejections_and_values(env):
    text, bad_lines = mixed_roster()
    status, answer = env.import_csv(text)
    print("    import answered %d: %s" % (status, answer))
    assert status == 200, "import answered %d: %r" % (status, answer)
    assert answer.get("imported") == len(GOOD), "imported %r, want %d" % (
        answer.get("imported"), len(GOOD))
    assert answer.get("updated") == 0, "updated %r on a first import" % answer.get("updated")
    rejected = {r.get("line"): r.get("reason", "") for r in answer.get("rejected", [])}
    assert set(rejected) == set(bad_lines), "rejected lines %s, want %s" % (
        sorted(rejected), sorted(bad_lines))
    for line, column in bad_lines.items():
        assert rejected[line], "line %d rejected without a reason" % line
        if column:
            assert column in rejected[line], "line %d: reason %r does not name %s" % (
                line, rejected[line], column)
    for pid, _, phone, fen in GOOD:
        status, p = env.participant(pid)
        assert status == 200, "GET %s answered %d: %r" % (pid, status, p)
        print("    %s: phone %r, balance %r / %r fen" % (pid, p.get("phone"),
              p.get("account_balance_yuan"), p.get("account_balance_fen")))
        assert p.get("participant_id") == pid
        if phone is None:
            assert p.get("phone") in (None, ""), "%s has phone %r, want none" % (pid, p.get("phone"))
        else:
            assert p.get("phone") == phone, "%s: phone %r, want %s" % (pid, p.get("phone"), phone)
        assert fen_of(p) == fen, "%s: balance %r fen, want %d" % (pid, fen_of(p), fen)
    for row, _ in BAD:
        pid = row.split(",")[0]
        if pid:
            status, _ = env.participant(pid)
            assert status == 404, "rejected row %s was stored (GET answered %d)" % (pid, status)


def test_import_is_idempotent_and_upserts(env):
    text, bad_lines = mixed_roster()
    status, first = env.import_csv(text)
    assert status == 200 and first.get("imported") == len(GOOD), "first import: %r" % first
    def roster_keys():
        # the roster's keys; the queue's and the health probe's come and go on their own
        return sorted(k for k in env.redis("KEYS", "gw:*")
                      if not k.startswith("gw:{q}") and k != "gw:readyz")
    keys = roster_keys()
    status, again = env.import_csv(text)
    print("    the same file again: %s" % again)
    assert status == 200, "re-import answered %d: %r" % (status, again)
    assert again.get("imported") == 0, "re-import imported %r rows" % again.get("imported")
    assert again.get("updated") in (0, len(GOOD)), "re-import updated %r" % again.get("updated")
    assert sorted(r["line"] for r in again.get("rejected", [])) == sorted(bad_lines)
    assert roster_keys() == keys, "re-import changed the roster's Redis keys"
    changed = text.replace(",5321.47,", ",6000.01,") + GOOD[0][1].replace("T-0001", "T-0005") + "\n"
    status, third = env.import_csv(changed)
    print("    one row changed, one added: %s" % third)
    assert status == 200 and third.get("imported") == 1, "upsert answered %r" % third
    assert third.get("updated", 0) >= 1, "a changed row was not counted as updated: %r" % third
    status, p = env.participant("T-0001")
    assert status == 200 and fen_of(p) == 600001, "T-0001 after the update: %r" % p
    status, p = env.participant("T-0005")
    assert status == 200 and p.get("phone") == "+8613800000101", "T-0005: %r" % p


def test_import_quoted_fields_and_crlf(env):
    row = 'T-0201,13800000201,"张,三 ""小名""",1234,青山镇,上岭村,zh,2026,100,100,2026-12-31,1.00,,,no'
    status, answer = env.import_csv(roster([row, GOOD[1][1]], eol="\r\n"))
    assert status == 200 and answer.get("imported") == 2 and not answer.get("rejected"), \
        "a CRLF roster with a quoted name: %d %r" % (status, answer)
    status, p = env.participant("T-0201")
    assert status == 200 and p.get("name") == '张,三 "小名"', "T-0201: %r" % p


def test_import_excel_utf8_bom(env):
    status, answer = env.import_csv("\ufeff" + roster([GOOD[0][1]]))
    assert status == 200 and answer.get("imported") == 1, \
        "a roster saved by Excel (UTF-8 with BOM): %d %r" % (status, answer)


def test_import_wrong_header_lands_nothing(env):
    text = roster([GOOD[0][1]]).replace("participant_id,", "pid,", 1)
    status, answer = env.import_csv(text)
    print("    wrong header: %d %s" % (status, answer))
    if status == 200:
        lines = [r.get("line") for r in answer.get("rejected", [])]
        assert 1 in lines, "a wrong header was not rejected at line 1: %r" % answer
        assert answer.get("imported") == 0
    else:
        assert 400 <= status < 500, "a wrong header answered %d" % status
    status, _ = env.participant("T-0001")
    assert status == 404, "a row under a wrong header was stored"


# ---- configuration and signals ----

def config_line(text, needle):
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith(needle):
            return n
    raise AssertionError("%r not in the config" % needle)


def test_bad_config_names_file_line_key(env):
    cases = [({"http": {"lisen": "127.0.0.1:1"}}, "lisen", "lisen ="),
             ({"ussd": {"session_ttl_s": "soon"}}, "session_ttl_s", "session_ttl_s ="),
             ({"http": {"listen": "127.0.0.1:99999"}}, "listen", None),
             ({"admin": {"token": None}}, "token", None),
             ({"bogus": {"x": "1"}}, None, None)]
    for overrides, key, needle in cases:
        text = env.config_text(overrides)
        rc, out, path = env.run_gatewayd(text)
        what = "config %r" % overrides
        assert rc is not None, "%s: gatewayd kept running" % what
        assert rc != 0, "%s: gatewayd exited 0" % what
        # "FILE:LINE: key: reason"; the key may carry its section: "[admin] token"
        line = r"%d" % config_line(text, needle) if needle else r"\d+"
        if key:
            assert re.search(r"%s:%s: (\[[^\]]+\] )?%s: \S" % (re.escape(path), line, key), out), \
                "%s: want '%s:%s: %s: reason' in the output: %r" % (
                    what, path, line.replace("\\d+", "LINE"), key, out[-300:])
        else:
            assert re.search(r"%s:\d+: .*(bogus|section)" % re.escape(path), out), \
                "%s: want '%s:LINE: ...' about the section: %r" % (what, path, out[-300:])
    assert_healthy(env, "bad configs (the running daemon must not notice)")


def test_sighup_keeps_running(env):
    for _ in range(3):
        env.signal_gatewayd(signal.SIGHUP)
        time.sleep(0.3)
        assert_healthy(env, "SIGHUP")
    kind, text = env.ussd_at("hup1", "+8613999990004", "")
    assert kind == "END" and HOTLINE in text, "after SIGHUP: %s %r" % (kind, text)


def test_sigterm_exits_0(env):
    idle = socket.create_connection(("127.0.0.1", env.admin_port), timeout=5)
    idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")   # keep-alive, left open
    idle.recv(4096)
    half = socket.create_connection(("127.0.0.1", env.http_port), timeout=5)
    half.sendall(b"POST /ussd/africastalking HTTP/1.1\r\nContent-Length: 50\r\n\r\nsess")
    try:
        started = time.monotonic()
        rc = env.stop_gatewayd()
        assert rc is not None, "gatewayd did not exit within 12 s of SIGTERM"
        assert rc == 0, "gatewayd exited %d after SIGTERM" % rc
        print("    exited 0 in %.2f s" % (time.monotonic() - started))
    finally:
        idle.close()
        half.close()
