"""Inbound SMS end to end: each carrier's callback, keywords, the opt-out list
and its effect on bulk sends, replies through the queue (to the fake carrier),
the coordinators' inbox, repeats of one carrier id, Twilio's signature."""
import base64
import hashlib
import hmac
import time
import urllib.parse

import fake_carrier
from fake_carrier import FakeCarrier
from harness import wait_until
from ussd_util import PHONE, load_roster

TWILIO_TOKEN = "inbound-twilio-token-0123456789"
CARRIER = FakeCarrier(twilio_token=TWILIO_TOKEN).start()
SIGNATURE = "【某县人社】"

CONFIG = {
    "provider at": {"type": "africastalking", "base_url": CARRIER.url,
                    "username": fake_carrier.DEFAULT_AT_USERNAME,
                    "api_key": fake_carrier.DEFAULT_AT_API_KEY, "max_tps": 0,
                    "timeout_ms": 2000, "priority": 1},
    "provider tw": {"type": "twilio", "base_url": CARRIER.url,
                    "account_sid": fake_carrier.DEFAULT_TWILIO_SID,
                    "auth_token": TWILIO_TOKEN, "sender": "+8610690000", "priority": 2},
    "sms": {"signature": SIGNATURE, "default_provider": "at"},
    # No automatic unpaid reminders: the roster's U-UNPAID is due 2026-12-31, so
    # an import in December inside the send window would text it at once and the
    # carrier would hold one message more (test_campaigns tests them, clock fixed).
    "reminders": {"unpaid_offsets_days": ""},
}

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def at_inbound(env, frm, text, mid):
    body = urllib.parse.urlencode({"from": frm, "to": "12333", "text": text,
                                   "date": "2026-12-01 10:00:00", "id": mid, "linkId": "l1"})
    status, headers, data = env.carrier("POST", "/sms/inbound/africastalking", body, FORM)
    return status, data.decode()


def twilio_sig(url, params, token=TWILIO_TOKEN):
    data = url + "".join(k + params[k] for k in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def twilio_inbound(env, frm, text, sid, signature=True):
    params = {"From": frm, "To": "+8610690000", "Body": text, "MessageSid": sid,
              "AccountSid": fake_carrier.DEFAULT_TWILIO_SID, "NumMedia": "0"}
    host = "127.0.0.1:%d" % env.http_port
    headers = dict(FORM, Host=host)
    if signature is True:
        headers["X-Twilio-Signature"] = twilio_sig("http://%s/sms/inbound/twilio" % host, params)
    elif signature:
        headers["X-Twilio-Signature"] = signature
    status, h, data = env.carrier("POST", "/sms/inbound/twilio",
                                  urllib.parse.urlencode(params), headers)
    return status, data.decode()


def optouts(env):
    status, answer = env.admin("GET", "/v1/optouts")
    assert status == 200, answer
    return {o["phone"]: o for o in answer["optouts"]}


def setup(env):
    CARRIER.reset()
    load_roster(env)


def test_optout_then_bulk_is_skipped_but_replies_go(env):
    setup(env)
    phone = "+86" + PHONE["unpaid"]
    status, body = at_inbound(env, phone, " 退订 ", "at-1")
    assert status == 200, body
    [m] = CARRIER.wait_messages(1)
    assert m["to"] == phone and m["text"].startswith(SIGNATURE) and "退订" in m["text"], m
    o = optouts(env)
    assert phone in o and o[phone]["channel"] == "sms:africastalking", o
    # a bulk message to it is skipped just before sending; the others go
    other = "+86" + PHONE["paid"]
    status, answer = env.admin("POST", "/v1/messages", {"to": [phone, other], "text": "通知"})
    assert status == 202, answer
    CARRIER.wait_messages(1, to=other)
    time.sleep(0.5)
    assert len(CARRIER.messages(to=phone)) == 1
    status, st = env.admin("GET", "/v1/messages/%s" % answer["id"])
    assert st["status"] == "skipped", st
    # a reply (one number, the reply lane) still goes
    status, answer = env.admin("POST", "/v1/messages", {"to": phone, "text": "回复"})
    CARRIER.wait_messages(2, to=phone)
    # START restores
    at_inbound(env, phone, "start", "at-2")
    CARRIER.wait_messages(3, to=phone)
    assert phone not in optouts(env)
    env.admin("POST", "/v1/messages", {"to": [phone, other], "text": "通知二"})
    CARRIER.wait_messages(4, to=phone)


def test_repeated_carrier_id_is_processed_once(env):
    setup(env)
    phone = "+86" + PHONE["paid"]
    for _ in range(3):
        status, _ = at_inbound(env, phone, "帮助", "at-same")
        assert status == 200
    CARRIER.wait_messages(1)
    time.sleep(0.5)
    assert len(CARRIER.messages()) == 1
    assert env.metric("gateway_inbound_sms_total",
                      {"provider": "africastalking", "kind": "duplicate"}) == 2


def test_status_query_answers_the_contribution(env):
    setup(env)
    phone = "+86" + PHONE["unpaid"]
    owed = SIGNATURE + "您2026年度的居民养老保险还没有缴费，缴费档次200元，应缴200元，"
    # before the due date, and after it (it has passed: whom to ask)
    for day, keyword, session, tail in (
            ((2026, 12, 1), "ＣＸ", "at-cx", "请最迟于2026年12月31日缴费。"),
            ((2027, 1, 5), "CX", "at-cx-late", "缴费截止日2026年12月31日已过，请联系村协理员咨询。")):
        with env.local_time(*day):
            at_inbound(env, phone, keyword, session)
            [m] = CARRIER.wait_messages(1)
        assert m["text"] == owed + tail, m["text"]
        CARRIER.reset()
    # an English speaker gets English
    at_inbound(env, "+86" + PHONE["english"], "bal", "at-bal")
    m = CARRIER.wait_messages(1, to="+86" + PHONE["english"])[0]
    assert "Your 2026 pension contribution" in m["text"], m
    # an unknown phone gets the help text
    at_inbound(env, "+8613900009999", "查询", "at-unknown")
    m = CARRIER.wait_messages(1, to="+8613900009999")[0]
    assert "回复" in m["text"], m


def test_anything_else_goes_to_the_inbox(env):
    setup(env)
    phone = "+86" + PHONE["unpaid"]
    at_inbound(env, phone, "please stop sending me this", "at-x1")
    at_inbound(env, phone, "我家老人摔伤了，怎么报案？", "at-x2")
    CARRIER.wait_messages(2)
    assert phone not in optouts(env)            # a sentence with "stop" is no opt-out
    assert wait_until(lambda: len(env.admin("GET", "/v1/inbox")[1]["messages"]) == 2, 5)
    status, answer = env.admin("GET", "/v1/inbox?limit=1")
    assert status == 200 and len(answer["messages"]) == 1, answer
    newest = answer["messages"][0]
    assert newest["text"] == "我家老人摔伤了，怎么报案？" and newest["from"] == phone, newest
    assert [p["id"] for p in newest["participants"]] == ["U-UNPAID"], newest
    assert env.admin("GET", "/v1/inbox?limit=0")[0] == 400


def test_twilio_signature(env):
    setup(env)
    phone = "+86" + PHONE["paid"]
    status, body = twilio_inbound(env, phone, "HELP", "SM1")
    assert status == 200 and "<Response" in body, (status, body)
    CARRIER.wait_messages(1)
    for sig in (None, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=", twilio_sig("http://x/", {})):
        status, body = twilio_inbound(env, phone, "TD", "SM2", signature=sig)
        assert status == 403, (status, body)
    time.sleep(0.5)
    assert phone not in optouts(env)
    assert len(CARRIER.messages()) == 1
    # the refused id was not recorded: the real message with that id still counts
    status, body = twilio_inbound(env, phone, "TD", "SM2")
    assert status == 200
    assert wait_until(lambda: phone in optouts(env), 5)


def test_kannel_inbound_utf16(env):
    setup(env)
    phone = "+86" + PHONE["paid"]
    text = urllib.parse.quote_from_bytes("退订".encode("utf-16-be"))
    path = ("/sms/inbound/kannel?from=%s&to=12333&text=%s&id=k-1&coding=2&charset=UTF-16BE"
            % (urllib.parse.quote(phone), text))
    status, headers, data = env.carrier("GET", path)
    assert status == 200 and data == b"", (status, data)
    assert wait_until(lambda: phone in optouts(env), 5)
    status, _, _ = env.carrier("GET", "/sms/inbound/kannel?from=%2B8613800000201&text=%E4&id=k-2")
    assert status == 400


def test_admin_optouts_and_bad_input(env):
    setup(env)
    status, answer = env.admin("POST", "/v1/optouts", {"phone": "138 0000 0201", "action": "add"})
    assert status == 200 and answer == {"phone": "+8613800000201", "opted_out": True}, answer
    assert optouts(env)["+8613800000201"]["channel"] == "admin"
    status, answer = env.admin("POST", "/v1/optouts", {"phone": "+8613800000201",
                                                       "action": "remove"})
    assert status == 200 and answer["opted_out"] is False, answer
    assert "+8613800000201" not in optouts(env)
    for body in ({"phone": "12", "action": "add"}, {"phone": "+8613800000201"},
                 {"phone": "+8613800000201", "action": "maybe"}, "not json"):
        status, answer = env.admin("POST", "/v1/optouts", body)
        assert status == 400, (body, status, answer)
    status, _ = at_inbound(env, "", "TD", "at-noid")
    assert status == 400
    status, _, _ = env.carrier("POST", "/sms/inbound/africastalking", "text=TD", FORM)
    assert status == 400


def test_gatewayctl_optout_and_inbox(env):
    setup(env)
    rc, out, err = env.gatewayctl("optout", "add", "13800000202")
    assert rc == 0 and "+8613800000202 is opted out" in out, (rc, out, err)
    rc, out, err = env.gatewayctl("optout", "list")
    assert rc == 0 and "+8613800000202" in out and "(admin)" in out and "1 number" in out, out
    rc, out, err = env.gatewayctl("optout", "remove", "+8613800000202")
    assert rc == 0 and "again" in out, out
    rc, out, err = env.gatewayctl("optout", "add", "12")
    assert rc == 1 and "bad_phone" in err, (rc, out, err)
    rc, out, err = env.gatewayctl("inbox")
    assert rc == 0 and "empty" in out, out
    at_inbound(env, "+86" + PHONE["unpaid"], "我想问问补缴", "at-ctl")
    assert wait_until(lambda: "我想问问补缴" in env.gatewayctl("inbox", "--limit", "5")[1], 5)
    rc, out, err = env.gatewayctl("inbox", "--limit", "5")
    assert "李四 (U-UNPAID)" in out, out


def test_ussd_menu_5_shares_the_optout_list(env):
    setup(env)
    phone = PHONE["paid"]
    kind, text = env.ussd_at("rem-1", phone, "")
    assert "5 短信提醒开关" in text, text
    kind, text = env.ussd_at("rem-1", phone, "5")
    assert kind == "CON" and "您现在会收到" in text and "1 不再接收提醒" in text, text
    kind, text = env.ussd_at("rem-1", phone, "5*1")
    assert kind == "END" and "不再给您发提醒短信" in text, text
    o = optouts(env)
    assert "+86" + phone in o and o["+86" + phone]["channel"] == "ussd", o
    # the SMS side sees the same list: START by SMS, then the menu says it is on
    at_inbound(env, "+86" + phone, "订阅", "at-rem")
    assert wait_until(lambda: "+86" + phone not in optouts(env), 5)
    kind, text = env.ussd_at("rem-2", phone, "")
    kind, text = env.ussd_at("rem-2", phone, "5")
    assert "1 不再接收提醒" in text, text
    # opted out by SMS, turned back on from the menu
    at_inbound(env, "+86" + phone, "TD", "at-rem2")
    assert wait_until(lambda: "+86" + phone in optouts(env), 5)
    kind, text = env.ussd_at("rem-3", phone, "")
    kind, text = env.ussd_at("rem-3", phone, "5")
    assert "您已退订提醒短信" in text and "1 恢复接收提醒" in text, text
    kind, text = env.ussd_at("rem-3", phone, "5*1")
    assert kind == "END" and "已为您恢复" in text, text
    assert "+86" + phone not in optouts(env)
    kind, text = env.ussd_at("rem-4", phone, "")
    kind, text = env.ussd_at("rem-4", phone, "5")
    kind, text = env.ussd_at("rem-4", phone, "5*0")
    assert kind == "CON" and "1 " in text and "6 " in text, text     # back to the main menu


def test_carrier_blacklist_answer_adds_the_number(env):
    setup(env)
    for account, api, phone in (("at", "africastalking", "+8613800000301"),
                                ("tw", "twilio", "+8613800000302")):
        CARRIER.set_mode("blacklisted", number=phone)
        env.restart_gatewayd({"sms": {"default_provider": account}})
        status, answer = env.admin("POST", "/v1/messages", {"to": phone, "text": "通知"})
        assert status == 202, answer
        assert wait_until(lambda: env.admin("GET", "/v1/messages/%s" % answer["id"])[1]
                          .get("status") == "failed", 10)
        assert wait_until(lambda: phone in optouts(env), 5), optouts(env)
        assert optouts(env)[phone]["channel"] == "carrier:" + account
        assert CARRIER.requests(api) >= 1
