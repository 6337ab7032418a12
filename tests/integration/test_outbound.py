"""Outbound SMS end to end: POST /v1/messages -> the Redis queue -> a carrier API
(the fake carrier, over real HTTP) -> the message's status; retries, dead letters,
throttles, failover, the rate limit, lanes, bad input.

The fake carrier starts with this module; every provider account points at it."""
import calendar
import json
import os
import time

import fake_carrier
from fake_carrier import FakeCarrier
from harness import wait_until

CARRIER = FakeCarrier().start()
SIGNATURE = "【某县人社】"


def providers(**extra):
    """The three carrier accounts, all on the fake carrier; EXTRA overrides keys."""
    conf = {
        "provider at": {"type": "africastalking", "base_url": CARRIER.url,
                        "username": fake_carrier.DEFAULT_AT_USERNAME,
                        "api_key": fake_carrier.DEFAULT_AT_API_KEY, "sender": "12333",
                        "priority": 1, "max_tps": 0, "timeout_ms": 2000},
        "provider tw": {"type": "twilio", "base_url": CARRIER.url,
                        "account_sid": fake_carrier.DEFAULT_TWILIO_SID,
                        "auth_token": fake_carrier.DEFAULT_TWILIO_TOKEN, "sender": "+8610690000",
                        "priority": 2, "max_tps": 0, "timeout_ms": 2000},
        "provider kn": {"type": "kannel", "base_url": CARRIER.url,
                        "username": fake_carrier.DEFAULT_KANNEL_USERNAME,
                        "password": fake_carrier.DEFAULT_KANNEL_PASSWORD, "sender": "12333",
                        "priority": 3, "max_tps": 0, "timeout_ms": 2000},
    }
    for section, kv in extra.items():
        conf.setdefault(section, {}).update(kv)
    return conf


# No automatic unpaid reminders: the rosters loaded here are due 2026-12-31, so an
# import in December inside the send window would text them at once and the
# carrier would hold one message more (test_campaigns tests them, clock fixed).
CONFIG = dict(providers(), sms={"signature": SIGNATURE, "max_segments": 3,
                                "default_provider": "at"},
              reminders={"unpaid_offsets_days": ""})


def phone(i):
    return "+86139%08d" % i


def send(env, body, expect=202):
    status, answer = env.admin("POST", "/v1/messages", body)
    assert status == expect, (status, answer)
    return answer


def status_of(env, mid):
    status, answer = env.admin("GET", "/v1/messages/%s" % mid)
    assert status == 200, (status, answer)
    return answer


def wait_status(env, mid, want, timeout=15):
    got = wait_until(lambda: status_of(env, mid)["status"] == want, timeout)
    assert got, "message %s: status %r, want %r" % (mid, status_of(env, mid), want)
    return status_of(env, mid)


def setup(env):
    CARRIER.reset()


# ---- delivery through each provider ----

def test_send_through_africastalking(env):
    setup(env)
    answer = send(env, {"to": "138 0000 0001", "text": "您今年的养老保险费还没有缴纳。"})
    assert answer["count"] == 1 and answer["lane"] == "reply", answer
    assert answer["encoding"] == "ucs2" and answer["segments"] == 1, answer
    [m] = CARRIER.wait_messages(1, api="africastalking")
    assert m["to"] == "+8613800000001", m
    assert m["text"] == SIGNATURE + "您今年的养老保险费还没有缴纳。", m
    assert m["from"] == "12333", m
    st = wait_status(env, answer["id"], "sent")
    assert st["provider"] == "at" and st["carrier_id"] == m["carrier_id"].lower(), st
    assert st["attempts"] == 0, st


def test_bulk_waits_for_the_send_window_and_replies_do_not(env):
    """At 22:00 a one-off bulk SMS waits for the window's opening (the answer
    and gatewayctl say when); a reply to one resident goes at once."""
    target = calendar.timegm((2026, 12, 1, 22 - 8, 0, 0, 0, 0, 0))
    os.environ["GW_CLOCK_OFFSET_S"] = str(round(target - time.time()))
    try:
        env.restart_gatewayd({"reminders": {"send_window": "08:00-20:00"}})
    finally:
        del os.environ["GW_CLOCK_OFFSET_S"]
    try:
        CARRIER.reset()
        answer = send(env, {"to": [phone(1)], "text": "今晚通知"})
        assert answer["lane"] == "bulk", answer
        assert answer["goes_at"] == "2026-12-02T08:00:00+08:00", answer
        rc, out, err = env.gatewayctl("send", "--to", phone(2), "--text", "今晚通知", "--lane",
                                      "bulk")
        assert rc == 0 and "outside the send window: it goes at 2026-12-02T08:00:00+08:00" \
            in out, (out, err)
        reply = send(env, {"to": phone(3), "text": "您的问题已收到"})
        assert reply["lane"] == "reply" and "goes_at" not in reply, reply
        CARRIER.wait_messages(1)
        time.sleep(1.5)
        assert [m["to"] for m in CARRIER.messages()] == [phone(3)], CARRIER.messages()
        assert int(env.redis("HGET", "gw:{q}:stats", "deferred_window")) >= 2
    finally:
        env.restart_gatewayd()


def test_send_through_twilio_and_kannel(env):
    for name, api in (("tw", "twilio"), ("kn", "kannel")):
        env.restart_gatewayd({"sms": {"default_provider": name}})
        CARRIER.reset()
        answer = send(env, {"to": "+8613800000002", "text": "Pay before 2026-12-31 (€5 fee)"})
        [m] = CARRIER.wait_messages(1, api=api)
        assert m["text"] == SIGNATURE + "Pay before 2026-12-31 (€5 fee)", m
        assert m["to"] in ("+8613800000002", "8613800000002"), m
        st = wait_status(env, answer["id"], "sent")
        assert st["provider"] == name, st
        if api == "kannel":
            assert m["coding"] == 2, m          # the signature makes it UCS-2
            assert st["carrier_id"] == answer["id"], st
        else:
            assert st["carrier_id"] == m["carrier_id"].lower(), st


def test_gsm_text_without_signature_goes_as_gsm7(env):
    env.restart_gatewayd({"sms": {"signature": None, "default_provider": "kn"}})
    CARRIER.reset()
    # curly quotes and a full-width '！' are replaced, so the text stays GSM-7
    answer = send(env, {"to": "+8613800000003", "text": "“Reminder” – pay now！"})
    assert answer["encoding"] == "gsm7", answer
    [m] = CARRIER.wait_messages(1, api="kannel")
    assert m["coding"] in (0, None), m
    assert m["text"] == '"Reminder" - pay now!', m


def test_template_with_vars(env):
    setup(env)
    answer = send(env, {"to": "+8613800000004", "template": "test", "language": "en",
                        "vars": {"name": "Li Ming"}})
    [m] = CARRIER.wait_messages(1)
    assert m["text"].startswith(SIGNATURE) and "Li Ming" in m["text"], m
    assert answer["segments"] == m["segments"], (answer, m)


# ---- failures ----

def test_retries_then_success(env):
    setup(env)
    CARRIER.set_mode("fail", api="africastalking", count=2, status=503)
    answer = send(env, {"to": "+8613800000005", "text": "retry me"})
    [m] = CARRIER.wait_messages(1, timeout=20)
    assert CARRIER.requests("africastalking") == 3, CARRIER.state()["requests"]
    st = wait_status(env, answer["id"], "sent")
    assert st["attempts"] == 2, st
    assert env.metric("gateway_sms_submitted_total", {"provider": "at", "result": "retry"}) == 2


def test_permanent_failure_goes_dead(env):
    setup(env)
    CARRIER.set_mode("permanent", number="+8613800000006")
    answer = send(env, {"to": "+8613800000006", "text": "no such number"})
    st = wait_status(env, answer["id"], "failed")
    assert "InvalidPhoneNumber" in st.get("reason", "") or st.get("reason"), st
    assert CARRIER.requests("africastalking") == 1
    assert wait_until(lambda: env.redis("LLEN", "gw:{q}:dead") == 1, 5)
    status, q = env.admin("GET", "/v1/queue")
    assert status == 200 and "lanes" in q, q
    assert wait_until(lambda: env.admin("GET", "/v1/queue")[1]["dead"] == 1, 5)


def test_failover_to_the_next_provider(env):
    setup(env)
    CARRIER.set_mode("fail", api="africastalking", status=500)
    answer = send(env, {"to": [phone(i) for i in range(20)], "text": "failover"})
    assert answer["count"] == 20 and answer["lane"] == "bulk", answer
    msgs = CARRIER.wait_messages(20, timeout=30)
    assert {m["to"] for m in msgs} == {phone(i) for i in range(20)}
    assert all(m["api"] == "twilio" for m in msgs), [m["api"] for m in msgs]
    status, q = env.admin("GET", "/v1/queue")
    at = [p for p in q["providers"] if p["name"] == "at"][0]
    assert at["circuit_open"] is True, q
    # with the circuit open, the failing account is skipped, not tried per message
    tried = CARRIER.requests("africastalking")
    send(env, {"to": [phone(100 + i) for i in range(20)], "text": "failover 2"})
    CARRIER.wait_messages(40, timeout=30)
    assert CARRIER.requests("africastalking") == tried, CARRIER.state()["requests"]
    env.restart_gatewayd()      # the next tests start with closed circuits


def test_throttle_pauses_without_counting_an_attempt(env):
    setup(env)
    CARRIER.set_mode("throttle", api="africastalking", count=1, retry_after=2)
    t0 = time.monotonic()
    answer = send(env, {"to": "+8613800000007", "text": "slow down"})
    [m] = CARRIER.wait_messages(1, timeout=15)
    waited = m["monotonic"] - t0
    # paused for the Retry-After (2 s); the other accounts were free, but a
    # throttle is not a failure: it may go through any account after or during the pause
    st = wait_status(env, answer["id"], "sent")
    assert st["attempts"] == 0, st
    if m["api"] == "africastalking":
        assert waited >= 1.9, waited


def test_rate_limit_is_honoured(env):
    env.restart_gatewayd(dict(providers(**{"provider at": {"max_tps": 20}}),
                              sms={"default_provider": "at"},
                              **{"provider tw": None, "provider kn": None}))
    CARRIER.reset()
    n = 100
    send(env, {"to": [phone(i) for i in range(n)], "text": "rate"})
    msgs = CARRIER.wait_messages(n, timeout=30)
    times = sorted(m["monotonic"] for m in msgs)
    # the bucket holds a fifth of a second's worth: after it, 20 per second
    burst = 4
    rate = (n - burst) / (times[-1] - times[0])
    assert 18 <= rate <= 22, "measured %.1f messages/s, configured 20" % rate


def test_reply_lane_goes_before_bulk(env):
    env.restart_gatewayd(dict(providers(**{"provider at": {"max_tps": 20}}),
                              sms={"default_provider": "at"},
                              **{"provider tw": None, "provider kn": None}))
    CARRIER.reset()
    send(env, {"to": [phone(i) for i in range(60)], "text": "bulk"})
    CARRIER.wait_messages(5, timeout=10)
    send(env, {"to": "+8613800000008", "text": "reply"})
    CARRIER.wait_messages(1, to="+8613800000008", timeout=10)
    sent_bulk = len(CARRIER.messages(to=None)) - 1
    assert sent_bulk < 40, "the reply waited behind %d bulk messages" % sent_bulk


# ---- bad input changes nothing ----

def test_bad_requests_queue_nothing(env):
    setup(env)
    cases = [
        ({"to": "12345", "text": "x"}, "bad_phone"),
        ({"to": ["+8613800000001", "not a phone"], "text": "x"}, "bad_phone"),
        ({"to": "+8613800000001"}, "bad_request"),
        ({"to": "+8613800000001", "text": "x", "template": "test"}, "bad_request"),
        ({"to": "+8613800000001", "text": ""}, "bad_text"),
        ({"to": "+8613800000001", "text": "长" * 300}, "too_long"),
        ({"to": "+8613800000001", "template": "no_such"}, "bad_template"),
        ({"to": "+8613800000001", "template": "test"}, "bad_template"),
        ({"to": "+8613800000001", "template": "test", "vars": {"name": "a", "zz": "b"}},
         "bad_template"),
        ({"to": "+8613800000001", "template": "help", "vars": {"": "x"}}, "bad_template"),
        ({"to": "+8613800000001", "template": "test", "vars": {"nam": "x"}}, "bad_template"),
        ({"to": "+8613800000001", "template": "test", "vars": {"name": 1.5}}, "bad_template"),
        ({"to": "+8613800000001", "text": "x", "language": "fr"}, "bad_language"),
        ({"to": "+8613800000001", "text": "x", "lane": "fast"}, "bad_lane"),
        ({"to": "+8613800000001", "text": "x", "send_at": "tomorrow"}, "bad_send_at"),
        ({"to": "+8613800000001", "text": "x", "send_at": "2025-12-02T08:00:00+08:00"},
         "bad_send_at"),
        ({"to": "+8613800000001", "text": "x", "colour": "red"}, "bad_request"),
        ({"to": [], "text": "x"}, "bad_to"),
    ]
    for body, code in cases:
        status, answer = env.admin("POST", "/v1/messages", body)
        assert status == 400 and answer["error"] == code, (body, status, answer)
        assert answer["message"], answer
    status, answer = env.admin("POST", "/v1/messages", "{not json")
    assert status == 400 and answer["error"] == "bad_json", answer
    status, answer = env.admin("POST", "/v1/messages", {"to": "+8613800000001", "text": "x"},
                               token=False)
    assert status == 401, status
    assert env.redis("GET", "gw:{q}:seq") is None
    # nothing queued: the only key may be the daemon's own heartbeat, which
    # its queue writes each second whatever is sent
    left = [k for k in env.redis("KEYS", "gw:{q}:*") if k != "gw:{q}:consumers"]
    assert left == [], left
    time.sleep(0.3)
    assert CARRIER.requests() == 0
    status, answer = env.admin("GET", "/v1/messages/999")
    assert status == 404, answer


def test_send_at_schedules_for_later(env):
    setup(env)
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3))
    t0 = time.monotonic()
    send(env, {"to": "+8613800000009", "text": "later", "send_at": at})
    [m] = CARRIER.wait_messages(1, timeout=10)
    assert m["monotonic"] - t0 >= 1.5, m["monotonic"] - t0


def test_gatewayctl_send_and_status(env):
    setup(env)
    rc, out, err = env.gatewayctl("send", "--to", "13800000010", "--text", "您好")
    assert rc == 0, (rc, out, err)
    assert "queued" in out, out
    [m] = CARRIER.wait_messages(1)
    assert m["text"] == SIGNATURE + "您好", m
    rc, out, err = env.gatewayctl("--json", "send", "--to", "13800000010", "--text", "您好")
    assert rc == 0, err
    mid = json.loads(out)["id"]
    wait_status(env, mid, "sent")
    rc, out, err = env.gatewayctl("message", mid)
    assert rc == 0 and "sent" in out, (out, err)
    rc, out, err = env.gatewayctl("send", "--to", "12", "--text", "x")
    assert rc != 0 and "bad_phone" in (out + err) or "phone" in (out + err), (rc, out, err)
    rc, out, err = env.gatewayctl("queue")
    assert rc == 0 and "reply" in out, (out, err)
    assert "not read the queue's figures" not in out, out


def test_gatewayctl_queue_says_when_its_figures_are_not_current(env):
    """Started while Redis is down, gatewayd has no queue figures: gatewayctl
    queue says so rather than showing zeros as if the queue were empty."""
    env.stop_gatewayd()
    env.stop_redis()
    try:
        env.start_gatewayd()
        rc, out, err = env.gatewayctl("queue")
        assert rc == 0 and "has not read the queue's figures from Redis yet" in out, (out, err)
    finally:
        env.start_redis()
    assert wait_until(lambda: "not read" not in env.gatewayctl("queue")[1], 10)
    env.restart_gatewayd()


def test_metrics_name_queue_and_sms(env):
    setup(env)
    answer = send(env, {"to": "+8613800000011", "text": "metrics"})
    wait_status(env, answer["id"], "sent")
    assert env.metric("gateway_sms_submitted_total", {"provider": "at", "result": "accepted"}) >= 1
    assert env.metric("gateway_sms_segments_total", {"provider": "at"}) >= 1
    assert wait_until(lambda: env.metric("gateway_queue_depth",
                                         {"lane": "reply", "state": "ready"}) is not None, 5)
    assert env.metric("gateway_queue_oldest_seconds", {"lane": "bulk"}) is not None
    status, page = env.get_admin("/")
    assert status == 200 and "SMS accepted by carriers" in page, page[:500]
    assert "Queue: replies waiting" in page, page[:2000]


# ---- the Redis it runs on ----

def other_ports(env):
    from harness import free_port, merge_config, render_ini
    cfg = merge_config(merge_config(env.default_config(), env.overrides), {
        "http": {"listen": "127.0.0.1:%d" % free_port()},
        "admin": {"listen": "127.0.0.1:%d" % free_port()}})
    return render_ini(cfg)


def test_refuses_an_evicting_redis_and_warns_without_aof(env):
    env.redis("CONFIG", "SET", "maxmemory-policy", "allkeys-lru")
    try:
        rc, out, _ = env.run_gatewayd(other_ports(env), timeout=10)
    finally:
        env.redis("CONFIG", "SET", "maxmemory-policy", "noeviction")
    assert rc == 1, (rc, out)
    assert "maxmemory-policy allkeys-lru" in out and "noeviction" in out, out
    env.redis("CONFIG", "SET", "appendonly", "no")
    try:
        rc, out, _ = env.run_gatewayd(other_ports(env), timeout=3)
    finally:
        env.redis("CONFIG", "SET", "appendonly", "yes")
    assert rc is None, (rc, out)        # it runs (killed by the harness after 3 s)
    assert "appendonly is off" in out, out


# ---- a USSD screen sends its text by SMS ----

def test_ussd_contribution_screen_sends_a_confirmation_sms(env):
    from ussd_util import PHONE, load_roster
    setup(env)
    load_roster(env)
    with env.local_time(2026, 12, 1):     # the due date 2026-12-31 ahead
        session = "sms-confirm-1"
        kind, text = env.ussd_at(session, PHONE["unpaid"], "")
        assert kind == "CON", text
        kind, text = env.ussd_at(session, PHONE["unpaid"], "1")
        assert kind == "CON" and "1 把这些发短信给我" in text, text
        kind, text = env.ussd_at(session, PHONE["unpaid"], "1*1")
        assert kind == "END" and "短信" in text, text
        # the carrier repeating that hop does not queue a second SMS
        kind2, text2 = env.ussd_at(session, PHONE["unpaid"], "1*1")
        assert (kind2, text2) == (kind, text)
        [m] = CARRIER.wait_messages(1)
        assert m["to"] == "+86" + PHONE["unpaid"], m
        assert m["text"] == (SIGNATURE + "您2026年度的居民养老保险还没有缴费，缴费档次200元，"
                             "应缴200元，请最迟于2026年12月31日缴费。"), m["text"]
        time.sleep(0.5)
        assert len(CARRIER.messages()) == 1
        # in English, for the English speaker (no due date on record)
        kind, text = env.ussd_at("sms-confirm-2", PHONE["english"], "")
        kind, text = env.ussd_at("sms-confirm-2", PHONE["english"], "1")
        assert "1 Send this to me by SMS" in text, text
        kind, text = env.ussd_at("sms-confirm-2", PHONE["english"], "1*1")
        assert kind == "END" and "SMS" in text, text
        [m] = CARRIER.wait_messages(1, to="+86" + PHONE["english"])
        assert m["text"] == SIGNATURE + ("Your 2026 pension contribution is not paid yet. "
                                         "Tier: 500 yuan. Due: 500 yuan."), m["text"]


def test_a_year_without_a_tier_is_not_reported_as_no_record(env):
    """A resident on the roster for 2026 who has not chosen a tier yet (one is
    chosen when paying): the screen and its SMS say it is unpaid and by when,
    not that there is no record."""
    from ussd_util import load_roster
    setup(env)
    phone = "13800000241"
    load_roster(env, ["U-NOTIER,%s,钱八,1234,白水乡,石桥村,zh,2026,,,2026-12-31,500.00,,,no"
                      % phone])
    with env.local_time(2026, 12, 1):     # the due date 2026-12-31 ahead
        env.ussd_at("notier-1", phone, "")
        kind, text = env.ussd_at("notier-1", phone, "1")
        assert kind == "CON" and "还没有选缴费档次" in text and "2026年12月31日" in text, text
        assert "没有查到" not in text, text
        kind, text = env.ussd_at("notier-1", phone, "1*1")
        assert kind == "END", text
        [m] = CARRIER.wait_messages(1)
        assert m["text"] == (SIGNATURE + "您2026年度的居民养老保险还没有缴费，也还没有选缴费档次，"
                             "请最迟于2026年12月31日选档次并缴费。"), m["text"]
