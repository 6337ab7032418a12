"""Delivery reports from the three carriers, through the fake carrier: each
moves its message's status forward only, carrier ids matched whatever their
case or leading zeros, reports for no known message counted."""
import base64
import hashlib
import hmac
import time
import urllib.parse

import fake_carrier
from fake_carrier import FakeCarrier
from harness import wait_until

TWILIO_TOKEN = "dlr-twilio-token-0123456789"
CARRIER = FakeCarrier(twilio_token=TWILIO_TOKEN).start()

CONFIG = {
    "provider at": {"type": "africastalking", "base_url": CARRIER.url,
                    "username": fake_carrier.DEFAULT_AT_USERNAME,
                    "api_key": fake_carrier.DEFAULT_AT_API_KEY, "max_tps": 0, "priority": 1},
    "provider tw": {"type": "twilio", "base_url": CARRIER.url,
                    "account_sid": fake_carrier.DEFAULT_TWILIO_SID, "auth_token": TWILIO_TOKEN,
                    "sender": "+8610690000", "max_tps": 0, "priority": 2},
    "provider kn": {"type": "kannel", "base_url": CARRIER.url,
                    "username": fake_carrier.DEFAULT_KANNEL_USERNAME,
                    "password": fake_carrier.DEFAULT_KANNEL_PASSWORD, "sender": "12333",
                    "max_tps": 0, "priority": 3},
    "sms": {"default_provider": "at"},
}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def send_one(env, phone):
    status, answer = env.admin("POST", "/v1/messages", {"to": phone, "text": "test"})
    assert status == 202, answer
    [m] = CARRIER.wait_messages(1, to=phone)
    assert wait_until(lambda: status_of(env, answer["id"])["status"] == "sent", 10)
    return answer["id"], m


def status_of(env, mid):
    return env.admin("GET", "/v1/messages/%s" % mid)[1]


def at_dlr(env, cid, status):
    body = urllib.parse.urlencode({"id": cid, "status": status, "phoneNumber": "+8613800000001",
                                   "networkCode": "46000", "retryCount": "0"})
    return env.carrier("POST", "/dlr/africastalking", body, FORM)[0]


def test_africastalking_reports_move_forward_only(env):
    CARRIER.reset()
    mid, m = send_one(env, "+8613800000401")
    before = env.metric("gateway_dlr_total", {"provider": "africastalking",
                                              "status": "delivered"})
    assert at_dlr(env, m["carrier_id"].upper(), "Success") == 200     # case does not matter
    assert status_of(env, mid)["status"] == "delivered"
    assert at_dlr(env, m["carrier_id"], "Sent") == 200                # a late "sent"
    assert at_dlr(env, m["carrier_id"], "Failed") == 200              # final stays final
    assert status_of(env, mid)["status"] == "delivered"
    assert env.metric("gateway_dlr_total", {"provider": "africastalking",
                                            "status": "delivered"}) == before + 1
    mid2, m2 = send_one(env, "+8613800000402")
    assert at_dlr(env, m2["carrier_id"], "Buffered") == 200
    assert status_of(env, mid2)["status"] == "sent"
    assert at_dlr(env, m2["carrier_id"], "Rejected") == 200
    st = status_of(env, mid2)
    assert st["status"] == "failed", st


def test_report_before_its_message_is_counted_unmatched(env):
    CARRIER.reset()
    before = env.metric("gateway_dlr_unmatched_total") or 0
    assert at_dlr(env, "ATXid_not_yet_known", "Success") == 200
    assert env.metric("gateway_dlr_unmatched_total") == before + 1
    status, _, _ = env.carrier("POST", "/dlr/africastalking", "id=x&status=Whatever", FORM)
    assert status == 400
    status, _, _ = env.carrier("GET", "/dlr/kannel?id=1&status=3")
    assert status == 400


def test_twilio_reports_are_signed(env):
    env.restart_gatewayd({"sms": {"default_provider": "tw"}})
    CARRIER.reset()
    mid, m = send_one(env, "+8613800000403")
    host = "127.0.0.1:%d" % env.http_port
    params = {"MessageSid": m["carrier_id"], "MessageStatus": "delivered",
              "AccountSid": fake_carrier.DEFAULT_TWILIO_SID, "To": "+8613800000403"}
    data = "http://%s/dlr/twilio" % host + "".join(k + params[k] for k in sorted(params))
    sig = base64.b64encode(hmac.new(TWILIO_TOKEN.encode(), data.encode(),
                                    hashlib.sha1).digest()).decode()
    body = urllib.parse.urlencode(params)
    wrong = ("A" if sig[0] != "A" else "B") + sig[1:]     # never the right one
    status = env.carrier("POST", "/dlr/twilio", body,
                         dict(FORM, Host=host, **{"X-Twilio-Signature": wrong}))[0]
    assert status == 403
    assert status_of(env, mid)["status"] == "sent"
    status = env.carrier("POST", "/dlr/twilio", body,
                         dict(FORM, Host=host, **{"X-Twilio-Signature": sig}))[0]
    assert status == 200
    assert status_of(env, mid)["status"] == "delivered"


def test_kannel_dlr_url_carries_our_id(env):
    env.restart_gatewayd({"sms": {"default_provider": "kn"}})
    CARRIER.reset()
    mid, m = send_one(env, "+8613800000404")
    url = m["dlr_url"]
    assert url and "%d" in url and "/dlr/kannel" in url, m
    assert str(m["dlr_mask"]) == "31", m
    # Kannel fills %d with its status: 8 (submitted to the SMSC), then 1 (delivered)
    path = url.split(str(env.http_port), 1)[1]
    for value, want in (("8", "sent"), ("1", "delivered"), ("8", "delivered")):
        status, _, _ = env.carrier("GET", path.replace("%d", value))
        assert status == 200
        assert status_of(env, mid)["status"] == want, (value, status_of(env, mid))
    # our id with leading zeros is the same message
    mid2, m2 = send_one(env, "+8613800000405")
    path2 = m2["dlr_url"].split(str(env.http_port), 1)[1].replace("%d", "2")
    path2 = path2.replace("id=%s" % mid2, "id=000%s" % mid2)
    assert env.carrier("GET", path2)[0] == 200
    assert status_of(env, mid2)["status"] == "failed"
